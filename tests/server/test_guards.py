"""What the transport refuses before it trusts anybody (issue 21): origins, handshake
deadlines, the listen backlog, message limits before a secret, the partial-message budget.

Unit tests of :mod:`flowpy.server.origins`, :mod:`flowpy.server.frames` and
:mod:`flowpy.server.budget`, and in-process :class:`flowpy.server.Service` tests around the
fake runtime. The same guards against a real ``flowpy serve`` are in
tests/e2e/test_hostile_clients.py.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from fake_runtime import FakeRuntime

from flowpy.server import Service, frames
from flowpy.server.budget import ByteBudget
from flowpy.server.origins import OriginError, OriginPolicy
from flowpy.server.service import listen

WAIT = 30.0


def masked(opcode: int, payload: bytes, fin: bool = True, announced: int | None = None) -> bytes:
    """A client frame (masked with zeros, so the payload is sent as is)."""
    length = len(payload) if announced is None else announced
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload


# -- origins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # no Origin: not a browser, not affected
        ("http://127.0.0.1:3569", True),  # the runtime's own
        ("HTTP://127.0.0.1:3569/", True),
        ("http://127.0.0.1:3570", False),  # another port is another origin
        ("https://127.0.0.1:3569", False),  # another scheme too
        ("http://evil.example.com", False),
        ("null", False),
        ("file://", False),
        ("not an origin", False),
        ("https://app.flowhub.io", True),  # listed
        ("https://app.flowhub.io:443", True),  # the same origin, its default port written
        ("http://app.flowhub.io", False),
    ],
)
def test_an_origin_is_allowed_when_it_is_the_runtimes_own_or_listed(origin, allowed) -> None:
    policy = OriginPolicy.of(["https://app.flowhub.io"])
    assert policy.allows(origin, "http", "127.0.0.1:3569") is allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost:3569", True),
        ("[::1]:3569", True),
        ("10.0.0.5:3569", True),  # an address: no resolver between the page and the runtime
        ("evil.example.com:3569", False),  # a name may be rebound to 127.0.0.1 by its owner
        ("flowpy.example.org:3569", False),
    ],
)
def test_the_own_origin_counts_only_for_an_address_or_localhost(host, allowed) -> None:
    """DNS rebinding: a page of evil.example.com whose name now resolves to 127.0.0.1 sends
    Origin and Host that match each other; only a listed origin lets such a name in."""
    assert OriginPolicy.of([]).allows(f"http://{host}", "http", host) is allowed
    assert OriginPolicy.of([f"http://{host}"]).allows(f"http://{host}", "http", host)


def test_opaque_origins_and_every_origin_are_allowed_only_when_written() -> None:
    assert OriginPolicy.of(["null", "file://"]).allows("null", "http", "h:1")
    assert OriginPolicy.of(["null", "file://"]).allows("file://", "http", "h:1")
    assert not OriginPolicy.of(["null"]).allows("file://", "http", "h:1")
    assert OriginPolicy.of("*").allows("http://evil.example.com", "http", "h:1")
    assert not OriginPolicy.of([]).allows("http://evil.example.com", "http", "h:1")


@pytest.mark.parametrize(
    "bad",
    ["app.flowhub.io", "https://app.flowhub.io/path", "ftp://x", "https://", "", "https://x:99999"],
)
def test_a_value_that_is_not_an_origin_is_refused(bad) -> None:
    with pytest.raises(OriginError, match="not an origin"):
        OriginPolicy.of([bad])


@pytest.fixture
def origin_service() -> Iterator[Service]:
    service = Service(
        "127.0.0.1", 0, FakeRuntime(), allow_origins=["https://app.flowhub.io"]
    ).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.mark.parametrize("origin", ["http://evil.example.com", "null", "file://"])
def test_create_app_refuses_a_foreign_origin_with_403_before_the_upgrade(
    origin_service: Service, origin: str, caplog
) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(origin_service.url, origin=origin, timeout=WAIT)
    assert refused.value.status_code == 403
    assert origin_service.transport.stats()["connections"] == 0
    assert f"--allow-origin {origin}" in caplog.text


@pytest.mark.parametrize("origin", ["https://app.flowhub.io", "own", None])
def test_create_app_accepts_listed_own_and_absent_origins(
    origin_service: Service, origin: str | None
) -> None:
    if origin == "own":
        origin = f"http://127.0.0.1:{origin_service.port}"
    options: dict[str, Any] = {"origin": origin} if origin else {"suppress_origin": True}
    ws = websocket.create_connection(origin_service.url, timeout=WAIT, **options)
    ws.send(json.dumps({"protocol": "test", "command": "echo", "payload": 1}))
    assert json.loads(ws.recv())["payload"] == 1
    ws.close()


# -- handshakes and the backlog -----------------------------------------------------------------


def _server_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("flowpy-http-")}


def _wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize(
    "sent", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr"], ids=["silent", "half-a-request"]
)
def test_a_socket_that_does_not_finish_its_handshake_is_closed_at_the_deadline(sent) -> None:
    service = Service("127.0.0.1", 0, FakeRuntime(), handshake_timeout=0.5).start()
    try:
        ws = websocket.create_connection(service.url, timeout=WAIT)  # before the stray socket
        stray = socket.create_connection(("127.0.0.1", service.port), timeout=WAIT)
        stray.sendall(sent)
        thread = f"flowpy-http-{stray.getsockname()[1]}"
        _wait_until(lambda: thread in _server_threads(), "the server never took the socket")
        assert stray.recv(1) == b""  # closed by the server (a timeout would raise)
        _wait_until(lambda: thread not in _server_threads(), f"{thread} is still alive")
        # The WebSocket accepted earlier is past its handshake: its deadline does not apply.
        ws.send(json.dumps({"protocol": "test", "command": "echo", "payload": 2}))
        assert json.loads(ws.recv())["payload"] == 2
        ws.close()
        stray.close()
    finally:
        service.stop()


def test_stop_closes_sockets_still_in_their_handshake() -> None:
    service = Service("127.0.0.1", 0, FakeRuntime()).start()  # the default 10 s deadline
    strays = [
        socket.create_connection(("127.0.0.1", service.port), timeout=WAIT) for _ in range(20)
    ]
    for stray in strays:
        stray.sendall(b"GET / HTTP/1.1\r\n")
    _wait_until(lambda: service.handshakes.pending() == 20, "the server never took them")
    stopper = threading.Thread(target=service.stop, name="test-stopper")
    stopper.start()
    stopper.join(WAIT)
    assert not stopper.is_alive(), "stop() waited for the half-open sockets"
    assert not _server_threads()
    for stray in strays:
        assert stray.recv(1) == b""
        stray.close()


def test_the_listen_backlog_takes_a_thousand_connects_nobody_accepts_yet() -> None:
    """With werkzeug's backlog (128) the kernel drops the SYNs past it: those connects stay
    pending until somebody accepts (the clients retransmit, seconds apart)."""
    count = 1000
    listener = listen("127.0.0.1", 0)
    selector = selectors.DefaultSelector()
    clients = []
    try:
        for _ in range(count):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(listener.getsockname())
            selector.register(client, selectors.EVENT_WRITE)
            clients.append(client)
        established = 0
        deadline = time.monotonic() + 20.0  # a bound for the test, never the figure
        while established < count and time.monotonic() < deadline:
            for key, _ in selector.select(1.0):
                selector.unregister(key.fileobj)
                assert key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                established += 1
        assert established == count
    finally:
        for client in clients:
            client.close()
        listener.close()
        selector.close()


# -- frames: limits at the header, and the limit of a client without a secret -----------------


def test_a_frame_announcing_more_than_the_limit_is_refused_at_its_header() -> None:
    codec = frames.PlainCodec(max_message_size=1024)
    header = masked(0x1, b"", announced=63 * 1024 * 1024)
    with pytest.raises(frames.FrameError) as refused:
        list(codec.receive(header))
    assert refused.value.code == frames.TOO_BIG


def test_a_limit_changed_after_one_message_applies_to_the_next_in_the_same_read() -> None:
    codec = frames.PlainCodec(max_message_size=16)
    big = b"x" * 100
    events = codec.receive(masked(0x1, b"auth") + masked(0x1, big))
    assert next(events) == frames.Text("auth")
    codec.max_message_size = 1000  # the client presented its secret
    assert next(events) == frames.Text(big.decode())


def test_fragments_count_toward_the_limit() -> None:
    codec = frames.PlainCodec(max_message_size=10)
    with pytest.raises(frames.FrameError) as refused:
        list(codec.receive(masked(0x1, b"123456", fin=False) + masked(0x0, b"123456")))
    assert refused.value.code == frames.TOO_BIG


def test_partial_messages_of_all_connections_share_one_budget() -> None:
    budget = ByteBudget(1000)
    first, second = frames.PlainCodec(10_000, budget), frames.PlainCodec(10_000, budget)
    whole = masked(0x1, b"y" * 600)
    assert list(first.receive(whole[:100])) == []  # held: the whole frame is counted
    assert budget.used == len(whole)
    with pytest.raises(frames.FrameError) as refused:
        list(second.receive(whole[:100]))
    assert refused.value.code == frames.TRY_AGAIN_LATER
    assert list(first.receive(whole[100:])) == [frames.Text("y" * 600)]
    assert budget.used == 0  # given back once complete
    assert list(second.receive(whole[:100])) == []
    second.release()  # the connection ended
    assert budget.used == 0


class _Authenticating(FakeRuntime):
    """The fake runtime, with the endpoint's ``trusted``: a client that sent "let me in"."""

    def __init__(self) -> None:
        super().__init__()
        self.trusted_clients: set[Any] = set()

    def receive_text(self, client: Any, text: str) -> None:
        if text == "let me in":
            self.trusted_clients.add(client)
            return
        super().receive_text(client, text)

    def trusted(self, client: Any) -> bool:
        return client in self.trusted_clients


def test_a_client_not_trusted_yet_may_send_only_small_messages_then_large_ones() -> None:
    service = Service("127.0.0.1", 0, _Authenticating(), untrusted_message_size=1024).start()
    big = json.dumps({"protocol": "test", "command": "echo", "payload": "z" * 200_000})
    try:
        stranger = websocket.create_connection(service.url, timeout=WAIT)
        stranger.sock.sendall(masked(0x1, b"", announced=200_000))  # the header alone
        opcode, data = stranger.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == frames.TOO_BIG
        stranger.close()
        # The secret and a large message in one write: the large one is parsed only once
        # the secret has lifted the limit.
        friend = websocket.create_connection(service.url, timeout=WAIT)
        friend.sock.sendall(masked(0x1, b"let me in") + masked(0x1, big.encode()))
        assert json.loads(friend.recv())["payload"] == "z" * 200_000
        friend.close()
    finally:
        service.stop()
    assert service.transport.budget.used == 0


def test_random_payloads_survive_the_incremental_parser() -> None:
    """Frames split at every byte boundary give the same messages as one read."""
    payloads = [os.urandom(n).hex().encode() for n in (0, 1, 125, 126, 700, 70_000)]
    stream = b"".join(masked(0x1, p) for p in payloads)
    codec = frames.PlainCodec(1 << 20, ByteBudget(1 << 20))
    got = []
    for start in range(0, len(stream), 997):
        got += [e.data for e in codec.receive(stream[start : start + 997])]
    assert got == [p.decode() for p in payloads]
    assert codec.budget.used == 0
