"""net/WebSocketClient against a real WebSocket server on 127.0.0.1 (wsproto over plain
sockets, so the test owns every thread): messages both ways, JSON parsing, the server's
close ending the process, a stop ending it, and back-pressure reaching the server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest
from engine_helpers import build, start_network
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

from flowpy.testing import ProcessFailed, run_component


class Peer:
    """One server-side connection: ``recv()`` a text message (None once closed), ``send``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.SERVER)
        self.pending: list[str] = []
        self.part = ""
        self.open = True
        self.request: Request | None = None

    def _pump(self) -> bool:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, Request):
                self.request = event
                chosen = event.subprotocols[0] if event.subprotocols else None
                self.sock.sendall(self.ws.send(AcceptConnection(subprotocol=chosen)))
            elif isinstance(event, TextMessage):
                self.part += event.data
                if event.message_finished:
                    self.pending.append(self.part)
                    self.part = ""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.open = False
                if self.ws.state is ConnectionState.REMOTE_CLOSING:  # not an answer to ours
                    self.sock.sendall(self.ws.send(event.response()))
        return bool(data) and self.open

    def handshake(self) -> None:
        while self.ws.state.name == "CONNECTING":
            self._pump()

    def recv(self) -> str | None:
        while not self.pending:
            if not self.open or not self._pump():
                return None
        return self.pending.pop(0)

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))

    def close(self) -> None:
        if self.open:
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
            while self.open and self._pump():
                pass  # until the client answers the close


class Server:
    """A WebSocket server on a free port of 127.0.0.1 that runs ``handler(peer)`` for each
    connection, on threads it joins when it is closed."""

    def __init__(self, handler: Callable[[Peer], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.handler = handler
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, name="ws-test-accept")
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._serve, args=(sock,), name="ws-test-peer")
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            peer = Peer(sock)
            try:
                peer.handshake()
                self.handler(peer)
            except OSError:
                pass  # the client went away

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(), which close() does not
        self.listener.close()
        self.accepting.join()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(handler: Callable[[Peer], None]) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def echo(peer: Peer) -> None:
    while (text := peer.recv()) is not None:
        peer.send(text)


def test_websocket_client_sends_ips_and_receives_messages(serve):
    server = serve(echo)
    result = run_component(
        "net/WebSocketClient",
        {"conf": [{"url": server.url, "messages": 2}], "in": ["one", {"n": 2}]},
    )
    assert result["out"] == ["one", '{"n":2}']


def test_websocket_client_parses_json_and_answers_a_message_that_is_not(serve):
    server = serve(echo)
    result = run_component(
        "net/WebSocketClient",
        {"conf": [{"url": server.url, "json": True, "messages": 1}], "in": ["oops", {"n": 2}]},
    )
    assert result["out"] == [{"n": 2}]
    assert [e["input"] for e in result["error"]] == ["oops"]
    assert result["error"][0]["message"].startswith("a message that is not JSON")


def test_the_servers_close_ends_the_client(serve):
    def greet(peer: Peer) -> None:
        peer.send("hello")
        peer.send_bytes("d\u00e9j\u00e0 \xff".encode("latin-1"))  # not UTF-8: replaced
        peer.send("bye")
        peer.close()

    server = serve(greet)
    result = run_component("net/WebSocketClient", {"conf": [server.url]})
    assert result["out"] == ["hello", "d\ufffdj\ufffd \ufffd", "bye"]


def test_websocket_client_names_a_connection_it_cannot_make():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(ProcessFailed, match=f"cannot connect to ws://127.0.0.1:{port}/"):
        run_component("net/WebSocketClient", {"conf": [f"ws://127.0.0.1:{port}/"], "in": ["x"]})


def test_websocket_client_wants_a_ws_url():
    with pytest.raises(ProcessFailed, match="url must be a ws:// or wss:// URL, not 'http://x'"):
        run_component("net/WebSocketClient", {"conf": ["http://x"]})


def start(url, capacity=None):
    graph = build(
        {"c": "net/WebSocketClient", "b": "test/Block"}, ["c.out -> b.in"], iips={"c.conf": url}
    )
    return start_network(graph, capacity=capacity)


def test_a_graph_that_does_not_read_makes_the_server_wait(serve):
    # test/Block never reads: the client's reader stops, the socket buffers fill and the
    # server's send blocks (here: times out) instead of the client buffering without bound.
    outcome: dict[str, int] = {}
    stuck = threading.Event()

    def flood(peer: Peer) -> None:
        peer.sock.settimeout(2)
        sent = 0
        try:
            for _ in range(200_000):  # 200 MB, far more than any socket buffer
                peer.send("x" * 1024)
                sent += 1024
        except TimeoutError:
            outcome["sent"] = sent
            stuck.set()

    server = serve(flood)
    network, recorder = start(server.url, capacity=1)
    try:
        assert stuck.wait(60)
        assert outcome["sent"] < 50_000_000
    finally:
        assert network.stop(10.0, drain=False) == []  # no thread left behind
    assert recorder.errors == []


def test_a_stop_ends_a_client_waiting_for_messages(serve):
    connected = threading.Event()

    def wait(peer: Peer) -> None:
        connected.set()
        echo(peer)

    server = serve(wait)
    network, recorder = start(server.url)
    assert connected.wait(10)
    assert network.stop(10.0, drain=False) == []
    assert recorder.errors == []


def test_a_client_that_has_its_messages_ends_while_the_server_sends_more(serve):
    # The reader waits to hand over more than the process takes; when the process ends by
    # itself (messages: 1) the reader gives up instead of outliving it.
    def flood(peer: Peer) -> None:
        for n in range(1000):
            peer.send(str(n))
        echo(peer)

    server = serve(flood)
    result = run_component("net/WebSocketClient", {"conf": [{"url": server.url, "messages": 1}]})
    assert result["out"] == ["0"]
    assert [t.name for t in threading.enumerate() if t.name.endswith("-ws-reader")] == []


def test_websocket_client_sends_the_headers_and_subprotocols_of_its_conf(serve):
    seen: list[Request] = []

    def record(peer: Peer) -> None:
        assert peer.request is not None
        seen.append(peer.request)
        peer.send("ok")
        peer.close()

    server = serve(record)
    conf = {"url": server.url, "headers": {"X-Token": "abc"}, "subprotocols": ["fbp"]}
    result = run_component("net/WebSocketClient", {"conf": [conf]})
    assert result["out"] == ["ok"]
    headers = {name.decode().lower(): value.decode() for name, value in seen[0].extra_headers}
    assert headers["x-token"] == "abc"
    assert seen[0].subprotocols == ["fbp"]


def test_a_connection_that_breaks_ends_the_client_with_one_warning(serve, caplog):
    def vanish(peer: Peer) -> None:
        peer.send("before")
        peer.sock.shutdown(socket.SHUT_RDWR)  # no close frame

    server = serve(vanish)
    with caplog.at_level("WARNING"):
        result = run_component("net/WebSocketClient", {"conf": [server.url]})
    assert result["out"] == ["before"]
    broke = [r.getMessage() for r in caplog.records if "connection broke" in r.getMessage()]
    assert len(broke) == 1 and broke[0].startswith("process: the connection broke: ")
