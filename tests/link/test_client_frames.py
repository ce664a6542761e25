"""flowpy.link.client at the frame level, against a hand-made server: what the client does
with frames a real runtime seldom sends (RFC 6455: masking, control frames, closing)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from ws_clients import unread_by

from flowpy.link.client import Client, ConnectionClosed
from flowpy.wire import wsframes
from flowpy.wire.wsframes import Close, FrameCodec

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


class RawServer:
    """One WebSocket connection, the server side written by hand: the test sends bytes and
    reads the client's frames through the server codec (which insists on masking)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}"
        self.conn: socket.socket | None = None
        self.codec = FrameCodec(client=False)
        self.events: list[wsframes.Event] = []
        self._accepted = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="raw-server-accept")
        self._thread.start()

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Protocol: noflo\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.conn = conn
        self._accepted.set()

    def send(self, data: bytes) -> None:
        assert self._accepted.wait(10)
        assert self.conn is not None
        self.conn.sendall(data)

    def next_event(self) -> wsframes.Event:
        """The client's next frame (raises on a timeout or an unmasked frame)."""
        assert self._accepted.wait(10) and self.conn is not None
        while not self.events:
            data = self.conn.recv(65536)
            assert data, "the client closed the socket"
            self.events += self.codec.receive(data)
        return self.events.pop(0)

    def close(self) -> None:
        self._thread.join(10)
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.close()


def text(message: dict) -> bytes:
    return FrameCodec(client=False).text(json.dumps(message))


def test_a_masked_frame_from_the_runtime_is_refused_with_1002(server):
    client = Client(server.url, timeout=5).connect()
    try:
        masked = FrameCodec(client=True).text('{"protocol": "runtime", "command": "x"}')
        server.send(masked)
        assert server.next_event() == Close(
            wsframes.PROTOCOL_ERROR, "server frames must not be masked"
        )
        assert client.closed.wait(5)
        assert "broke the WebSocket protocol" in client.close_reason
        with pytest.raises(ConnectionClosed):
            client.send("runtime", "getruntime")
    finally:
        client.close(timeout=2)


def test_the_runtime_closing_first_is_answered_with_its_code(server):
    client = Client(server.url, timeout=5).connect()
    try:
        server.send(FrameCodec(client=False).close(wsframes.GOING_AWAY, "stopping"))
        assert server.next_event() == Close(wsframes.GOING_AWAY, "")
        assert client.closed.wait(5)
        assert client.close_reason == "closed by the runtime"
    finally:
        client.close(timeout=2)


def test_replies_come_to_their_requests_however_they_are_interleaved(server):
    client = Client(server.url, timeout=5).connect()
    try:
        pendings = client.send_packets_nowait("g", "in", [("data", n) for n in range(50)])
        ids = [
            json.loads(server.next_event().data)["requestId"]  # type: ignore[union-attr]
            for _ in range(50)
        ]
        replies = b"".join(
            text(
                {
                    "protocol": "runtime",
                    "command": "packetsent",
                    "responseTo": ids[n],
                    "payload": {"graph": "g", "port": "in", "event": "data", "payload": n},
                }
            )
            for n in reversed(range(50))
        )
        server.send(replies)
        assert [client.wait(p)[-1]["payload"]["payload"] for p in pendings] == list(range(50))
    finally:
        client.close(timeout=2)


def test_the_reader_answers_a_ping_without_waiting_behind_a_blocked_send(server):
    """A send the runtime does not read yet blocks its sender, never the reader: the reader's
    pong is queued and written after that send, and the reader reads on meanwhile (the
    runtime may be waiting for exactly what it reads next before it reads again)."""
    client = Client(server.url, timeout=5).connect()
    try:
        big = "x" * (24 << 20)  # more than both kernels' buffers hold: its send must wait
        sender = threading.Thread(
            target=client.send, args=("runtime", "packet", {"payload": big}), name="test-sender"
        )
        sender.start()
        assert server._accepted.wait(10) and server.conn is not None
        while unread_by(server.conn) == 0:  # the send has begun; it cannot end before we read
            sender.join(0.01)
        runtime_codec = FrameCodec(client=False)
        pings = b"".join(runtime_codec.ping(b"mark%d" % n) for n in range(1000))
        server.send(pings + text({"protocol": "runtime", "command": "x"}))
        assert client.recv_message(timeout=10)["command"] == "x"  # the reader read on
        assert sender.is_alive()
        first = server.next_event()
        assert isinstance(first, wsframes.Text) and len(first.data) > len(big)
        # One pong held while the send waited, for the last ping: not one per ping.
        assert server.next_event() == wsframes.Pong(b"mark999")
        sender.join(10)
        assert not sender.is_alive()
        server.send(runtime_codec.ping(b"after"))
        assert server.next_event() == wsframes.Pong(b"after")  # nothing else came between
    finally:
        client.close(timeout=2)
