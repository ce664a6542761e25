"""The WebSocket transport (flowpy.server) end to end, with websocket-client.

Two kinds of server:

* in-process :class:`flowpy.server.Service` around :class:`fake_runtime.FakeRuntime`, to
  drive the transport through what the real runtime only does under load (many senders at
  once, floods of droppable messages, back-pressured streams to a client that does not read);
* real ``python -m flowpy serve`` processes (conftest), for the handshake, the status page,
  bad frames, and a clean stop on SIGTERM/SIGINT.

No test sleeps to synchronise: each waits for a message, an event or a process exit.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from fake_runtime import FakeRuntime
from processes import ROOT, free_port

from flowpy import server as flowpy_server
from flowpy import wire
from flowpy.server import ClientConnection, Service

pytestmark = pytest.mark.integration

RECV_TIMEOUT = 30.0


def connect(url: str, **options: Any) -> websocket.WebSocket:
    options.setdefault("subprotocols", ["noflo"])
    ws = websocket.create_connection(url, timeout=RECV_TIMEOUT, **options)
    return ws


def send(ws: websocket.WebSocket, protocol: str, command: str, payload: Any = None) -> None:
    message = {"protocol": protocol, "command": command, "payload": payload or {}}
    ws.send(json.dumps(message))


def recv(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def recv_until(ws: websocket.WebSocket, command: str) -> tuple[dict[str, Any], list[dict]]:
    """Read messages until one with ``command``; returns it and those before it."""
    before = []
    while True:
        message = recv(ws)
        if message["command"] == command:
            return message, before
        before.append(message)


def get_status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=RECV_TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def flowpy_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("flowpy-")}


# ---------------------------------------------------------------------------------------------
# In-process server around the fake runtime
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def service(fake: FakeRuntime) -> Iterator[Service]:
    svc = Service("127.0.0.1", 0, fake, queue_size=16, send_buffer_size=8192).start()
    try:
        yield svc
    finally:
        svc.stop()


def test_noflo_subprotocol_is_answered(service: Service) -> None:
    ws = connect(service.url)
    assert ws.getsubprotocol() == "noflo"
    ws.close()
    ws = connect(service.url, subprotocols=["other", "noflo"])
    assert ws.getsubprotocol() == "noflo"
    ws.close()


def test_client_asking_no_subprotocol_is_accepted(service: Service) -> None:
    ws = connect(service.url, subprotocols=None)
    assert ws.getsubprotocol() is None
    send(ws, "test", "echo", {"hello": "world"})
    assert recv(ws) == {"protocol": "test", "command": "echo", "payload": {"hello": "world"}}
    ws.close()


def test_status_page_is_the_runtime_status_as_json(service: Service) -> None:
    ws = connect(service.url)
    send(ws, "test", "echo", 1)
    recv(ws)  # the server has registered the connection once it has answered
    status = get_status(service.port)
    assert status["label"] == "fake"
    assert status["clients"] == 1
    assert status["transport"] == {"connections": 1, "dropped": 0, "cut": 0, "unencodable": 0}
    ws.close()


def test_binary_and_text_frames_reach_the_runtime_and_the_connection_stays_open(
    service: Service,
) -> None:
    ws = connect(service.url)
    ws.send_binary(b"\x00\xff")
    assert recv(ws)["payload"]["message"] == "binary frames are not supported (2 bytes)"
    ws.send("{not json")
    assert recv(ws)["command"] == "error"
    send(ws, "test", "echo", [1, 2, 3])
    assert recv(ws)["payload"] == [1, 2, 3]
    ws.close()


def test_unicode_and_non_finite_numbers_are_sent_as_valid_json(service: Service) -> None:
    ws = connect(service.url)
    send(ws, "test", "echo", {"text": "héllo ✓ \u2028", "nested": [{"x": 1.5}]})
    assert recv(ws)["payload"] == {"text": "héllo ✓ \u2028", "nested": [{"x": 1.5}]}
    ws.close()
    text = flowpy_server.encode({"payload": {"a": float("nan"), "b": [float("inf")], "c": {1, 2}}})
    assert json.loads(text) == {"payload": {"a": None, "b": [None], "c": [1, 2]}}


def test_client_sockets_have_no_nagle_delay(service: Service) -> None:
    """Back-to-back replies (packetsent, then the packet it caused) must not wait 40 ms for
    the client's delayed ACK."""
    ws = connect(service.url)
    send(ws, "test", "echo", 1)
    recv(ws)
    (conn,) = service.transport.connections()
    assert conn.sock.raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    ws.close()


def test_one_writer_frames_never_interleave(service: Service) -> None:
    """Eight threads send 200 large messages each to one client at the same time."""
    threads, count, size = 8, 200, 3000
    ws = connect(service.url)
    send(ws, "test", "concurrent", {"threads": threads, "count": count, "size": size})
    seen = {n: [] for n in range(threads)}
    done, items = recv_until(ws, "done")
    for item in items:
        assert item["command"] == "item"
        assert len(item["payload"]["pad"]) == size
        seen[item["payload"]["thread"]].append(item["payload"]["seq"])
    assert seen == {n: list(range(count)) for n in range(threads)}
    ws.close()


def _slow_client(url: str) -> websocket.WebSocket:
    """A client with a tiny receive buffer, named "slow", that the test then does not read."""
    ws = connect(url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    send(ws, "test", "name", {"name": "slow"})
    assert recv(ws)["command"] == "named"
    return ws


def test_slow_client_loses_debug_messages_and_stalls_nobody(
    service: Service, fake: FakeRuntime
) -> None:
    count, size = 1000, 4096  # 4 MB: far more than the slow client's buffers hold
    slow = _slow_client(service.url)
    fast = connect(service.url)
    send(fast, "test", "name", {"name": "fast"})
    assert recv(fast)["command"] == "named"
    control = connect(service.url)
    # Debug traffic to the slow client, a stream that must not lose anything (runtime:packet)
    # to the fast one.
    send(control, "test", "produce", {"count": count, "size": size,
                                      "to": {"slow": "debug", "fast": "stream"}})  # fmt: skip

    # The fast client gets every message, in order, while the slow one reads nothing.
    seqs = [recv(fast)["payload"]["seq"] for _ in range(count)]
    assert seqs == list(range(count))
    # And the producer (a network, in real life) finished without waiting for the slow one.
    produced, _ = recv_until(control, "produced")
    assert produced["payload"] == {"count": count}
    assert fake.produced.is_set()
    dropped = fake.results.count(False)
    assert dropped > 0
    status = get_status(service.port)
    assert status["transport"]["dropped"] == dropped

    # What the slow client does get is intact and in order.
    slow.settimeout(RECV_TIMEOUT)
    received = []
    while len(received) < count - dropped:
        received.append(recv(slow)["payload"]["seq"])
    assert received == sorted(received)
    assert received[0] == 0
    for ws in (slow, fast, control):
        ws.close()


def test_stream_messages_wait_for_a_slow_client(service: Service, fake: FakeRuntime) -> None:
    count, size = 300, 16 * 1024  # 4.8 MB: more than queue, writer and socket buffers hold
    slow = _slow_client(service.url)
    control = connect(service.url)
    send(control, "test", "produce", {"count": count, "size": size, "to": {"slow": "stream"}})
    # The producer is held back by the slow client (it cannot finish: the data does not fit
    # anywhere until the client reads) ...
    assert not fake.produced.wait(0.5)
    # ... and the control client is not: its own traffic still flows.
    send(control, "test", "echo", "still here")
    assert recv(control)["payload"] == "still here"
    # Once the slow client reads, everything arrives, nothing dropped, in order.
    seqs = [recv(slow)["payload"]["seq"] for _ in range(count)]
    assert seqs == list(range(count))
    recv_until(control, "produced")
    assert fake.results == [True] * count
    assert get_status(service.port)["transport"]["dropped"] == 0
    slow.close()
    control.close()


def test_disconnect_reaches_the_runtime(service: Service, fake: FakeRuntime) -> None:
    ws = connect(service.url)
    send(ws, "test", "echo", 1)
    recv(ws)
    assert fake.clients
    ws.close()
    assert fake.disconnected.wait(RECV_TIMEOUT)
    assert fake.clients == []


def test_stop_joins_every_thread_even_with_a_client_that_does_not_read(fake: FakeRuntime) -> None:
    before = flowpy_threads()
    svc = Service("127.0.0.1", 0, fake, queue_size=4, send_buffer_size=8192).start()
    slow = _slow_client(svc.url)
    control = connect(svc.url)
    send(control, "test", "produce", {"count": 200, "size": 64 * 1024, "to": {"slow": "stream"}})
    assert not fake.produced.wait(0.2)  # blocked on the slow client
    started = time.monotonic()
    svc.stop()
    assert time.monotonic() - started < 10
    assert fake.shut_down
    assert fake.produced.is_set()  # the blocked send gave up when the server stopped
    assert fake.results.count(False) > 0
    assert flowpy_threads() == before
    slow.close()
    control.close()


# ---------------------------------------------------------------------------------------------
# ClientConnection on its own, with a socket the test controls
# ---------------------------------------------------------------------------------------------


class _GatedSocket:
    """sendall blocks until the gate opens; records what was written."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.written: list[bytes] = []
        self.shut = False

    def sendall(self, data: bytes) -> None:
        self.entered.set()
        self.gate.wait()
        if self.shut:
            raise BrokenPipeError("shut down")
        self.written.append(data)

    def send(self, data: bytes, flags: int = 0) -> int:
        """A send that never blocks (the sender's shortcut): nothing passes a closed gate."""
        assert flags & socket.MSG_DONTWAIT
        if self.shut:
            raise BrokenPipeError("shut down")
        if not self.gate.is_set():
            raise BlockingIOError("would block")
        self.written.append(data)
        return len(data)

    def shutdown(self, how: int) -> None:
        self.shut = True
        self.gate.set()


class _LineCodec:
    """Frames as JSON lines, so the test can read back what the writer wrote."""

    def text(self, text: str) -> bytes:
        return text.encode() + b"\n"

    def close(self, code: int, reason: str = "") -> bytes:
        return b""

    def pong(self, data: bytes) -> bytes:
        return b""


def _connection(**options: Any) -> tuple[ClientConnection, _GatedSocket]:
    sock = _GatedSocket()
    return ClientConnection(sock, _LineCodec(), **options), sock


def _messages(sock: _GatedSocket) -> list[Any]:
    lines = b"".join(sock.written).decode().splitlines()
    return [json.loads(line)["n"] for line in lines]


def _blocked_send(
    conn: ClientConnection, message: dict, lane: wire.Lane = wire.STREAM
) -> tuple[threading.Thread, list]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(conn.send(message, lane)))
    thread.start()
    return thread, result


def _hold_writer(conn: ClientConnection, sock: _GatedSocket) -> None:
    """Message 0 goes to the writer, which then blocks on the socket."""
    assert conn.send({"n": 0}, wire.URGENT)
    assert sock.entered.wait(RECV_TIMEOUT)


def test_debug_is_dropped_and_stream_waits_when_full() -> None:
    conn, sock = _connection(queue_size=2)
    _hold_writer(conn, sock)
    assert conn.send({"n": 1}, wire.STREAM) and conn.send({"n": 2}, wire.STREAM)  # full now
    assert conn.send({"n": "d1"}, wire.DEBUG) and conn.send({"n": "d2"}, wire.DEBUG)
    assert conn.send({"n": "dropped"}, wire.DEBUG) is False  # at once, counted
    assert conn.dropped == 1
    thread, result = _blocked_send(conn, {"n": 3})
    thread.join(0.2)
    assert thread.is_alive()  # waits for room: runtime:packet back-pressure
    assert conn.send({"n": "reply"}, wire.URGENT) and conn.send({"n": "news"}, wire.NEWS)
    sock.gate.set()
    thread.join(RECV_TIMEOUT)
    assert result == [True]
    conn.close()
    written = _messages(sock)
    assert [n for n in written if isinstance(n, int)] == [0, 1, 2, 3]
    assert sorted(map(str, written)) == sorted(map(str, [0, 1, 2, 3, "d1", "d2", "reply", "news"]))
    assert conn.dropped == 1 and conn.sent == 8
    assert conn.send({"n": 4}) is False and conn.send({"n": 5}, wire.DEBUG) is False


def test_replies_and_news_overtake_queued_output_and_output_overtakes_debug_data() -> None:
    conn, sock = _connection(queue_size=8)
    _hold_writer(conn, sock)
    conn.send({"n": "d1"}, wire.DEBUG)
    conn.send({"n": "p1"}, wire.STREAM)
    conn.send({"n": "news"}, wire.NEWS)
    conn.send({"n": "d2"}, wire.DEBUG)
    conn.send({"n": "p2"}, wire.STREAM)
    conn.send({"n": "end"}, wire.REPORT)  # a port's disconnect: in order with its packets
    conn.send({"n": "reply"}, wire.URGENT)
    sock.gate.set()
    conn.close()
    assert _messages(sock) == [0, "news", "reply", "p1", "p2", "end", "d1", "d2"]


def test_replies_and_news_never_wait_and_a_client_past_the_hard_limit_is_cut() -> None:
    conn, sock = _connection(queue_size=1, hard_limit=3)
    _hold_writer(conn, sock)
    assert all(conn.send({"n": n}, wire.NEWS) for n in range(1, 4))  # past the queue size
    assert conn.send({"n": 4}, wire.URGENT) is False  # the hard limit: cut, not waited for
    assert conn.stalled and conn.closed and sock.shut
    assert "reads too slowly" in conn.cut_reason
    conn.close()
    assert not conn._writer.is_alive()


def test_blocked_send_returns_false_when_the_connection_closes() -> None:
    conn, sock = _connection(queue_size=1)
    _hold_writer(conn, sock)
    conn.send({"n": 1})
    thread, result = _blocked_send(conn, {"n": 2})
    thread.join(0.1)
    assert thread.is_alive()
    conn.begin_close()
    thread.join(RECV_TIMEOUT)
    assert result == [False]
    # finish_close: the writer is stuck on a client that never reads: the socket is shut down
    conn.finish_close(time.monotonic() + 0.1)
    assert sock.shut
    assert not conn._writer.is_alive()


def test_blocked_send_gives_up_at_the_shutdown_deadline() -> None:
    conn, sock = _connection(queue_size=1)
    _hold_writer(conn, sock)
    conn.send({"n": 1})
    thread, result = _blocked_send(conn, {"n": 2})
    conn.set_deadline(time.monotonic() + 0.05)
    thread.join(RECV_TIMEOUT)
    assert result == [False]
    conn.abort()
    conn.close()


def test_a_message_that_cannot_be_framed_is_dropped_and_the_writer_goes_on(caplog) -> None:
    class PickyCodec(_LineCodec):
        def text(self, text: str) -> bytes:
            if "poison" in text:
                raise ValueError("cannot frame this")
            return super().text(text)

    sock = _GatedSocket()
    sock.gate.set()
    conn = ClientConnection(sock, PickyCodec())
    for n in (1, "poison", 2):
        assert conn.send({"n": n})
    conn.close()
    assert _messages(sock) == [1, 2]
    assert conn.unencodable == 1 and conn.sent == 2
    assert "cannot be written" in caplog.text


def test_when_the_writer_ends_the_connection_is_closed_at_once() -> None:
    class BrokenSocket(_GatedSocket):
        def sendall(self, data: bytes) -> None:
            raise ConnectionResetError("gone")

        def send(self, data: bytes, flags: int = 0) -> int:
            raise ConnectionResetError("gone")

    sock = BrokenSocket()
    conn = ClientConnection(sock, _LineCodec())
    conn.send({"n": 1})
    conn._writer.join(RECV_TIMEOUT)
    assert not conn._writer.is_alive()
    assert sock.shut and conn.closed  # the reader wakes up, the runtime hears of it
    assert conn.send({"n": 2}) is False


# ---------------------------------------------------------------------------------------------
# The real `flowpy serve`
# ---------------------------------------------------------------------------------------------


def test_served_runtime_answers_noflo_and_getruntime(runtime_server) -> None:
    ws = connect(runtime_server.url)
    assert ws.getsubprotocol() == "noflo"
    send(ws, "runtime", "getruntime")
    reply = recv(ws)
    assert reply["protocol"] == "runtime" and reply["command"] == "runtime"
    assert reply["payload"]["version"] == "0.7"
    ws.close()
    ws = connect(runtime_server.url, subprotocols=None)
    send(ws, "runtime", "getruntime")
    assert recv(ws)["command"] == "runtime"
    ws.close()


def test_served_status_page(runtime_server) -> None:
    status = get_status(runtime_server.port)
    assert isinstance(status, dict)
    assert status["transport"]["connections"] >= 0


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01binary",
        "not json at all",
        "[1, 2, 3]",
        '"just a string"',
        "{}",
        '{"protocol": "nope", "command": "x", "payload": {}}',
        '{"protocol": "runtime", "command": "nope", "payload": {}}',
        '{"protocol": "graph", "command": "addnode", "payload": "not an object"}',
        '{"protocol": "runtime", "command": "packet", "payload": {"graph": 1, "port": []}}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=[
        "binary", "not-json", "array", "string", "empty-object", "unknown-protocol",
        "unknown-command", "payload-not-object", "wrong-field-types", "deeply-nested",
    ],
)  # fmt: skip
def test_bad_frames_get_an_error_and_the_connection_stays_open(runtime_server, frame) -> None:
    ws = connect(runtime_server.url)
    if isinstance(frame, bytes):
        ws.send_binary(frame)
    else:
        ws.send(frame)
    reply = recv(ws)
    assert reply["command"] == "error", reply
    assert reply["payload"]["message"]
    send(ws, "runtime", "getruntime")
    assert recv_until(ws, "runtime")[0]["payload"]["version"] == "0.7"
    ws.close()


def test_a_client_that_never_reads_debug_data_does_not_stall_the_network(spawn_runtime) -> None:
    """Debug data for every edge goes to a client that reads nothing; the network still runs
    to the end at full speed, and the driving client gets its results."""
    count = 50_000  # 100k debug messages: far more than the idle client's queue and buffers
    proc = spawn_runtime()
    idle = connect(proc.url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    send(idle, "runtime", "getruntime")
    recv(idle)  # registered, debug on, watching every edge; from now on it reads nothing
    ws = connect(proc.url)
    graph = "debugflood"
    steps = [
        ("graph", "clear", {"id": graph}),
        ("graph", "addnode", {"graph": graph, "id": "range", "component": "core/Range"}),
        ("graph", "addnode", {"graph": graph, "id": "repeat", "component": "core/Repeat"}),
        ("graph", "addnode", {"graph": graph, "id": "count", "component": "core/Count"}),
        ("graph", "addedge", {"graph": graph, "src": {"node": "range", "port": "out"},
                              "tgt": {"node": "repeat", "port": "in"}}),
        ("graph", "addedge", {"graph": graph, "src": {"node": "repeat", "port": "out"},
                              "tgt": {"node": "count", "port": "in"}}),
        ("graph", "addinitial", {"graph": graph, "src": {"data": count},
                                 "tgt": {"node": "range", "port": "conf"}}),
        ("graph", "addoutport", {"graph": graph, "public": "count", "node": "count",
                                 "port": "out"}),
    ]  # fmt: skip
    for protocol, command, payload in steps:
        send(ws, protocol, command, payload)
        assert recv_until(ws, command)[0]["protocol"] == protocol
    send(ws, "network", "start", {"graph": graph})
    while True:
        message = recv(ws)
        payload = message["payload"]
        if message["command"] == "packet" and payload.get("event") == "data":
            assert payload == {"graph": graph, "port": "count", "event": "data", "payload": count}
            break
    stopped = recv_until(ws, "stopped")[0]["payload"]
    assert stopped["started"] is True and stopped["running"] is False  # finished by itself
    status = get_status(proc.port)
    assert status["transport"]["dropped"] > 0, status
    assert status["transport"]["connections"] == 2
    ws.close()
    idle.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_cleanly_and_promptly(spawn_runtime, sig) -> None:
    proc = spawn_runtime()
    reader = connect(proc.url)
    send(reader, "runtime", "getruntime")
    recv(reader)
    idle = connect(proc.url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    started = time.monotonic()
    returncode = proc.stop(sig, timeout=15)
    elapsed = time.monotonic() - started
    assert returncode == 0, str(proc)
    assert elapsed < 10, f"stopping took {elapsed:.1f}s"
    assert "Traceback" not in proc.stderr(), str(proc)
    assert len([line for line in proc.stdout if "listening on" in line]) == 1
    reader.close()
    idle.close()


def _serve_exit(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "flowpy", "serve", "--host", "127.0.0.1"] + args
    command += ["--state-dir", str(tmp_path / "state")]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_port_in_use_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve_exit(["--port", str(port)], tmp_path)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_permissions_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "permissions.json"
    bad.write_text("{not json")
    result = _serve_exit(["--port", "0", "--permissions", str(bad)], tmp_path)
    assert result.returncode == 2
    assert "is not JSON" in result.stderr
    missing = _serve_exit(["--port", "0", "--permissions", str(tmp_path / "nope.json")], tmp_path)
    assert missing.returncode == 2 and "cannot read permissions file" in missing.stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"secrets": {"tok": {"capabilities": ["protocol:everything"]}}}')
    wrong = _serve_exit(["--port", "0", "--permissions", str(invalid)], tmp_path)
    assert wrong.returncode == 2 and "protocol:everything" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_components_dir_that_is_not_a_directory_is_a_clear_error(tmp_path) -> None:
    result = _serve_exit(["--port", "0", "--components-dir", str(tmp_path / "nope")], tmp_path)
    assert result.returncode == 2
    assert "--components-dir" in result.stderr and "not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_gthread_serves_the_app(tmp_path) -> None:
    """The deployment documented in docs/deployment.md (gunicorn is optional: skipped without)."""
    pytest.importorskip("gunicorn")
    port = free_port()
    app = f"flowpy.server:create_app(state_dir={str(tmp_path / 'state')!r})"
    command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "8", "-w", "1",
               "-b", f"127.0.0.1:{port}", "-c", "python:flowpy.server", app]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # gunicorn logs to stderr; connections queue once it listens
            if "Listening at" in line:
                break
        else:
            pytest.fail(f"gunicorn exited with {proc.wait()}")
        ws = connect(f"ws://127.0.0.1:{port}/")
        assert ws.getsubprotocol() == "noflo"
        send(ws, "graph", "clear", {"id": "g"})
        send(ws, "graph", "addnode", {"graph": "g", "id": "r", "component": "core/Repeat"})
        send(ws, "graph", "addinport", {"graph": "g", "public": "in", "node": "r", "port": "in"})
        send(ws, "network", "start", {"graph": "g"})
        assert recv_until(ws, "started")[0]["payload"]["started"] is True
        assert get_status(port)["transport"]["connections"] == 1
        ws.close()
        proc.send_signal(signal.SIGTERM)  # worker_exit stops the running network
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_a_client_that_reads_nothing_is_cut_after_the_stall_timeout() -> None:
    """A STREAM send waiting on a full queue the writer takes nothing from gives up on the
    client (False, the socket shut), so one dead client cannot hold a graph's output forever."""
    conn, sock = _connection(queue_size=1, stall_timeout=0.2)
    _hold_writer(conn, sock)  # the writer is stuck on a socket nobody reads
    conn.send({"n": 1})  # the queue is full
    thread, result = _blocked_send(conn, {"n": 2})
    thread.join(RECV_TIMEOUT)
    assert result == [False]
    assert conn.stalled and conn.closed and sock.shut
    assert conn.send({"n": 3}) is False  # gone for good
    conn.close()
    assert not conn._writer.is_alive()


def test_a_slow_reader_is_not_cut_while_the_writer_makes_progress() -> None:
    conn, sock = _connection(queue_size=1, stall_timeout=30.0)
    _hold_writer(conn, sock)
    conn.send({"n": 1})
    thread, result = _blocked_send(conn, {"n": 2})
    sock.gate.set()  # the client reads again
    thread.join(RECV_TIMEOUT)
    conn.close()
    assert result == [True] and not conn.stalled
    assert _messages(sock) == [0, 1, 2]


def test_a_stalled_client_is_disconnected_and_the_others_go_on(fake: FakeRuntime) -> None:
    svc = Service(
        "127.0.0.1", 0, fake, queue_size=16, send_buffer_size=8192, stall_timeout=0.5
    ).start()
    try:
        count, size = 300, 16 * 1024  # 4.8 MB: more than queue, writer and socket buffers hold
        slow = _slow_client(svc.url)
        control = connect(svc.url)
        send(control, "test", "produce", {"count": count, "size": size, "to": {"slow": "stream"}})
        produced, _ = recv_until(control, "produced")  # the producer was not held forever
        assert produced["payload"] == {"count": count}
        assert fake.results.count(False) > 0 and fake.results[0] is True
        assert fake.disconnected.wait(RECV_TIMEOUT)  # the runtime saw the client go
        assert get_status(svc.port)["transport"]["cut"] == 1
        slow.close()
        control.close()
    finally:
        svc.stop()


def test_what_the_senders_shortcut_could_not_write_goes_out_first() -> None:
    """A message that finds the connection idle is written by its sender without blocking;
    the rest of a frame the socket did not take is the writer's first job, so frames never
    mix, whoever writes them."""

    class HalfSocket(_GatedSocket):
        def send(self, data: bytes, flags: int = 0) -> int:
            half = len(data) // 2
            self.written.append(data[:half])
            return half

    sock = HalfSocket()
    sock.gate.set()
    conn = ClientConnection(sock, _LineCodec())
    for n in range(20):
        assert conn.send({"n": n}, wire.URGENT if n % 2 else wire.STREAM)
    conn.close()
    written = _messages(sock)  # every line whole: no frame was cut into by another
    assert written[0] == 0 and sorted(written) == list(range(20))
    assert [n for n in written if n % 2] == list(range(1, 20, 2))  # each lane in order
    assert [n for n in written if not n % 2] == list(range(0, 20, 2))
    assert conn.sent == 20
