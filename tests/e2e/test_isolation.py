"""No client can hurt another, and nothing acknowledged is lost (issue 9).

Hostile and careless clients against a served runtime: text that is not valid Unicode and
numbers that are not finite, a client that reads nothing while others edit, debug floods, a
client that ignores ``packetsent``, and stops (SIGTERM included) in the middle of traffic.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from processes import ROOT, _python_env
from ws_clients import ReadingClient, build_chain, connect, frame, is_data, unread_by

from flowpy.runtime.runtime import Runtime
from flowpy.server import Service

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path):
    svc = Service(
        "127.0.0.1", 0, Runtime(state_dir=tmp_path / "state"), queue_size=8, send_buffer_size=8192
    ).start()
    try:
        yield svc
    finally:
        svc.stop()


def _packet(payload_json: str, request_id: str | None = None) -> str:
    rid = f',"requestId":"{request_id}"' if request_id else ""
    return (
        '{"protocol":"runtime","command":"packet","payload":{"graph":"g","port":"in",'
        f'"event":"data","payload":{payload_json}}}{rid}}}'
    )


# -- 1. text that is not valid Unicode, numbers that are not finite ---------------------------

HOSTILE = [
    # (frame text, protocol of the error, responseTo, words the error must contain)
    (_packet('"\\ud800"'), "runtime", None, ["'payload.payload'", "not valid Unicode"]),
    (_packet('{"\\udc00": 1}', "r1"), "runtime", "r1", ["'payload.payload'", "object key"]),
    (
        '{"protocol":"graph","command":"addnode","requestId":"r2","payload":{"graph":"g",'
        '"id":"\\ud800","component":"core/Repeat"}}',
        "graph",
        "r2",
        ["'payload.id'"],
    ),
    (
        '{"protocol":"graph","command":"\\ud800","requestId":"r3","payload":{}}',
        "graph",
        "r3",
        ["'command'"],
    ),
    (
        '{"protocol":"runtime","command":"getruntime","requestId":"\\ud800","payload":{}}',
        "runtime",
        None,
        ["'requestId'"],
    ),
    (_packet("1e400", "r4"), "runtime", "r4", ["'payload.payload'", "1e400", "finite"]),
    (_packet("NaN", "r5"), "runtime", "r5", ["'payload.payload'", "NaN", "finite"]),
    (_packet("[-Infinity]", "r6"), "runtime", "r6", ["'payload.payload[0]'", "finite"]),
]


def test_text_that_is_not_unicode_or_numbers_that_are_not_finite_are_refused_at_the_door(service):
    sender = ReadingClient(service.url, "sender")
    other = ReadingClient(service.url, "other")
    build_chain(sender, "g")
    sender.request("network", "start", {"graph": "g"})
    for text, protocol, response_to, words in HOSTILE:
        start = len(sender.messages)
        sender.send_raw(text)
        error = sender.wait_for(lambda m: m["command"] == "error", start)
        assert error["protocol"] == protocol, (text, error)
        assert error.get("responseTo") == response_to, (text, error)
        for word in words:
            assert word in error["payload"]["message"], (text, error)
    # Both connections are alive and nothing changed: the graph still has its one node, and
    # the one good packet is the only one that comes out.
    sender.request(
        "runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": "ok"}
    )
    for client in (sender, other):
        assert client.wait_for(is_data())["payload"]["payload"] == "ok"
        assert client.count(is_data()) == 1
    source = json.loads(other.request("component", "getsource", {"name": "g"})["payload"]["code"])
    assert list(source["processes"]) == ["n0"]
    assert other.request("runtime", "getruntime")["command"] == "runtime"
    sender.close()
    other.close()


def test_invalid_utf8_closes_the_connection_with_1007_and_nobody_else_notices(service):
    bystander = ReadingClient(service.url, "bystander")
    bad = connect(service.url)
    bad.send_frame(__import__("websocket").ABNF.create_frame(b"\xff\xfe{}", 0x1))
    opcode, data = bad.recv_data(control_frame=True)
    assert opcode == 0x8 and struct.unpack("!H", data[:2])[0] == 1007
    bad.close()
    assert bystander.request("runtime", "getruntime")["command"] == "runtime"
    bystander.close()


# -- 2. a client that reads nothing freezes nobody ----------------------------------------------


def test_a_client_that_reads_nothing_is_cut_and_never_blocks_editors_or_others(service):
    editor = ReadingClient(service.url, "editor")
    build_chain(editor, "g")  # exported ports: getruntime needs the graph for runtime:ports
    idle = connect(service.url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    idle.send(frame("runtime", "getruntime"))  # registered; from now on it reads nothing
    third = ReadingClient(service.url, "third")
    third.request("runtime", "getruntime")
    pad = "x" * 16_384
    for n in range(400):  # far more acks than the idle client's queue and buffers hold
        ack = editor.request(
            "graph", "changenode", {"graph": "g", "id": "n0", "metadata": {"n": n, "pad": pad}}
        )
        assert ack["command"] == "changenode", ack
        if n % 50 == 0:
            assert third.request("runtime", "getruntime", timeout=5)["command"] == "runtime"
    assert third.request("runtime", "getruntime", timeout=5)["command"] == "runtime"
    assert service.transport.stats()["cut"] == 1  # the idle one, not waited for
    for client in (editor, third):
        client.close()
    idle.close()


# -- 3. replies never wait behind what the client did not ask for (issue 22) -------------------

#: What the writer may leave unsent in the kernel (docs/protocol.md#lanes): 16 KB of
#: TCP_NOTSENT_LOWAT plus one batch of at most 16 KB (and one message, 1 KB here).
WRITE_AHEAD_BOUND = 16 * 1024 + 16 * 1024 + 1024
SIOCOUTQNSD = 0x894B  # Linux: the bytes of a TCP socket not yet sent


@pytest.fixture
def default_service(tmp_path):
    svc = Service("127.0.0.1", 0, Runtime(state_dir=tmp_path / "state")).start()
    try:
        yield svc
    finally:
        svc.stop()


def _server_side(service, ws):
    """The server's connection of client ``ws`` (by the client's port)."""
    port = ws.sock.getsockname()[1]
    for conn in service.transport.connections():
        if conn.peer and conn.peer.endswith(f":{port}"):
            return conn
    raise AssertionError(f"no connection from port {port}")


def _until(condition, what: str, timeout: float = 30.0) -> None:
    """Wait for a server-side condition that has no event of its own."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.01)


def _unsent(conn) -> int:
    import fcntl

    raw = fcntl.ioctl(conn.sock.raw.fileno(), SIOCOUTQNSD, b"\0" * 4)
    return struct.unpack("i", raw)[0]


def _reader_that_stops(url: str):
    """A plain client (it never sends network:edges) with a small receive buffer, registered
    with the runtime, that reads nothing until the test reads."""
    ws = connect(url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    ws.send(frame("runtime", "getruntime"))
    while json.loads(ws.recv())["command"] != "runtime":
        pass
    return ws


def _ask_while_flooded(service, ws, conn) -> list[dict]:
    """Send getruntime, wait until the server has queued the reply, then read: every message
    delivered ahead of the reply, which must overtake whatever was still queued."""
    queued = threading.Event()
    send = conn.send

    def spy(message, *args, **kwargs):
        ok = send(message, *args, **kwargs)
        if message.get("responseTo") == "ask":
            queued.set()
        return ok

    conn.send = spy
    ws.send(frame("runtime", "getruntime", request_id="ask"))
    assert queued.wait(30)
    assert _unsent(conn) <= WRITE_AHEAD_BOUND  # what is already in the kernel is small
    ahead = []
    ws.settimeout(30)
    while True:
        message = json.loads(ws.recv())
        if message.get("responseTo") == "ask":
            assert message["command"] == "runtime"
            return ahead
        ahead.append(message)


def _loop(client: ReadingClient) -> None:
    client.request("graph", "clear", {"id": "loop"})
    for node in ("a", "b"):
        client.request(
            "graph", "addnode", {"graph": "loop", "id": node, "component": "core/Repeat"}
        )
    for src, tgt in (("a", "b"), ("b", "a")):
        client.request(
            "graph",
            "addedge",
            {
                "graph": "loop",
                "src": {"node": src, "port": "out"},
                "tgt": {"node": tgt, "port": "in"},
            },
        )
    client.request(
        "graph",
        "addinitial",
        {"graph": "loop", "src": {"data": "round"}, "tgt": {"node": "a", "port": "in"}},
    )


def test_a_reply_overtakes_the_debug_data_of_a_client_that_never_selected_edges(default_service):
    """Scenario 1 of issue 22: a client that never sent network:edges receives every edge of
    a busy loop; its reply comes ahead of all but what the kernels already hold."""
    watcher = _reader_that_stops(default_service.url)
    conn = _server_side(default_service, watcher)
    builder = ReadingClient(default_service.url, "builder", keep=lambda m: "responseTo" in m)
    _loop(builder)
    builder.send("network", "edges", {"graph": "loop", "edges": []})  # only the watcher watches
    builder.request("network", "start", {"graph": "loop"})
    _until(lambda: conn.dropped > 0, "the watcher's debug queue is full")
    ahead = _ask_while_flooded(default_service, watcher, conn)
    assert sum(m["command"] == "data" for m in ahead) > 0  # it was flooded, on the debug lane
    rcvbuf = watcher.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    smallest = 150  # bytes of the smallest debug message of this graph, framed
    assert len(ahead) <= (WRITE_AHEAD_BOUND + rcvbuf) // smallest, len(ahead)
    stopped = builder.request("network", "stop", {"graph": "loop"})
    assert stopped["command"] == "stopped"
    builder.close()
    watcher.close()


def test_a_reply_overtakes_graph_output_queued_for_a_client_that_cannot_keep_up(default_service):
    """Scenario 2 of issue 22: graph output floods a plain client that reads slowly; the output
    waits in the server (back-pressure), and the client's reply overtakes it."""
    watcher = _reader_that_stops(default_service.url)
    conn = _server_side(default_service, watcher)
    feeder = ReadingClient(default_service.url, "feeder", keep=lambda m: "responseTo" in m)
    build_chain(feeder, "g", count=2)
    feeder.request("network", "start", {"graph": "g"})
    pad = "x" * 4096
    for n in range(1500):  # without waiting: the graph waits for the watcher instead
        feeder.send(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": {"n": n, "pad": pad}},
        )
    _until(lambda: conn.queued() >= 100, "output queued for the watcher")
    ahead = _ask_while_flooded(default_service, watcher, conn)
    packets = [m for m in ahead if m["command"] == "packet"]
    rcvbuf = watcher.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert len(packets) <= (WRITE_AHEAD_BOUND + rcvbuf) // len(pad) + 1, len(packets)
    assert conn.queued() >= 100 - len(packets)  # the rest still waits in the server
    numbers = [m["payload"]["payload"]["n"] for m in packets if is_data()(m)]
    assert numbers == list(range(len(numbers)))  # output in order, none lost
    stopped = feeder.request("network", "stop", {"graph": "g", "drain": False})
    assert stopped["command"] == "stopped"
    feeder.close()
    watcher.close()


def _flood_a_watcher(svc, count: int, pad: str, first: int):
    """A plain client (the watcher) that reads ``first`` outputs of a chain and answers a read
    mark, then stops reading while a feeder has sent ``count`` packets (``p{n}`` each);
    (watcher, its server-side connection, feeder, the numbers the watcher read)."""
    watcher = connect(svc.url)
    watcher.send(frame("runtime", "getruntime"))
    while json.loads(watcher.recv())["command"] != "runtime":
        pass
    conn = _server_side(svc, watcher)
    feeder = ReadingClient(svc.url, "feeder", keep=lambda m: "responseTo" in m)
    build_chain(feeder, "g", count=2)
    feeder.request("network", "start", {"graph": "g"})
    for n in range(count):
        payload = {"graph": "g", "port": "in", "event": "data", "payload": {"n": n, "pad": pad}}
        feeder.send("runtime", "packet", payload, request_id=f"p{n}")
    numbers = []
    while len(numbers) < first or conn.confirmed_read == 0:  # it answered a read mark
        message = json.loads(watcher.recv())
        if is_data()(message):
            numbers.append(message["payload"]["payload"]["n"])
    return watcher, conn, feeder, numbers


def test_what_a_client_has_not_read_stays_bounded_in_its_own_receive_buffer_too(tmp_path):
    """Issue 22: a client with default socket options reads graph output for a while, then
    stops. What the server wrote and the client has not read (the client's kernel queue plus
    the server's unsent bytes) stays under the read-ahead bound, not the size its receive
    buffer grew to; its reply overtakes the rest, which waits in the server."""
    read_ahead = 64 * 1024
    svc = Service(
        "127.0.0.1", 0, Runtime(state_dir=tmp_path / "state"), read_ahead=read_ahead
    ).start()
    try:
        pad = "x" * 4096
        watcher, conn, feeder, numbers = _flood_a_watcher(svc, 2000, pad, first=200)
        _until(lambda: conn.queued() >= 100, "output queued for the watcher")
        slack = 16 * 1024 + 8 * 1024  # one batch past the bound, or one message and a ping
        assert unread_by(watcher) + _unsent(conn) <= read_ahead + slack
        ahead = _ask_while_flooded(svc, watcher, conn)
        packets = [m for m in ahead if is_data()(m)]
        assert len(packets) <= (read_ahead + slack) // len(pad), len(packets)
        numbers += [m["payload"]["payload"]["n"] for m in packets]
        assert numbers == list(range(len(numbers)))  # in order, none lost
        stopped = feeder.request("network", "stop", {"graph": "g", "drain": False})
        assert stopped["command"] == "stopped"
        feeder.close()
        watcher.close()
    finally:
        svc.stop()


def test_output_flows_to_a_client_whose_own_request_keeps_the_reader_busy(tmp_path):
    """A client's ``network:stop`` drains the network on the reader of that client, so the
    server reads none of its pongs meanwhile: output to it must not wait for them (it would
    stall the drain until its deadline, and the stop would discard what the network held)."""
    read_ahead = 64 * 1024
    svc = Service(
        "127.0.0.1", 0, Runtime(state_dir=tmp_path / "state"), queue_size=8, read_ahead=read_ahead
    ).start()
    try:
        total = 300
        watcher, conn, feeder, numbers = _flood_a_watcher(svc, total, "x" * 4096, first=20)
        # The watcher stops reading: output piles up behind the read-ahead bound, and the
        # network fills behind it.
        _until(lambda: conn.queued() >= 8, "output queued for the watcher")
        watcher.send(frame("network", "stop", {"graph": "g"}, request_id="stop"))
        feeder.wait_until(lambda: len(feeder.messages) >= total)  # each packet answered
        acknowledged = {
            int(m["responseTo"][1:]) for m in feeder.messages if m["command"] == "packetsent"
        }
        assert len(acknowledged) > len(numbers) + 8 * 4  # more than the watcher's queues hold
        notices: list[str] = []
        stopped = False
        watcher.settimeout(30)
        while not (stopped and acknowledged <= set(numbers)):
            message = json.loads(watcher.recv())
            if is_data()(message):
                numbers.append(message["payload"]["payload"]["n"])
            elif message["command"] == "output":
                notices.append(message["payload"]["message"])
            elif message.get("responseTo") == "stop":
                assert message["command"] == "stopped", message
                stopped = True
            assert not [text for text in notices if "discarded" in text], notices
        assert numbers == list(range(len(numbers)))  # in order, none twice
        feeder.close()
        watcher.close()
    finally:
        svc.stop()


# -- 4. memory stays bounded whatever a client sends ------------------------------------------


def _masked_frames(texts: list[bytes]) -> bytes:
    """Client frames with a zero mask key, built at once: the client must be fast, not nice."""
    out = []
    for data in texts:
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        out.append(header + b"\0\0\0\0" + data)
    return b"".join(out)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


RSS_BOUND_MB = 150  # flowpy serve starts at ~45 MB; 200,000 x 4 KB would be 800 MB
IGNORE_ANSWERS_FOR = 3.0  # seconds the careless client sends without reading a single answer


def test_a_client_that_ignores_packetsent_meets_back_pressure_not_unbounded_memory(spawn_runtime):
    total, size = 200_000, 4096
    proc = spawn_runtime()
    driver = ReadingClient(proc.url, "driver")
    driver.request("graph", "clear", {"id": "g"})
    driver.request("graph", "addnode", {"graph": "g", "id": "d", "component": "core/Drop"})
    driver.request("graph", "addinport", {"graph": "g", "public": "in", "node": "d", "port": "in"})
    driver.request("network", "start", {"graph": "g"})
    driver.close()

    blaster = connect(proc.url)
    answered = bytearray(total)
    errors: list[str] = []
    all_sent = threading.Event()

    def read() -> None:
        # Careless: reads no answer for a while (or until it has sent everything, had the
        # server taken it all in by then), then reads them all.
        all_sent.wait(IGNORE_ANSWERS_FOR)
        got = 0
        while got < total:
            message = json.loads(blaster.recv())
            rid = message.get("responseTo", "")
            if message["command"] == "packetsent" and rid.startswith("p"):
                answered[int(rid[1:])] += 1
                got += 1
            elif message["command"] == "error":
                errors.append(message["payload"]["message"])
                got += 1

    reader = threading.Thread(target=read, name="test-blaster-reader")
    reader.start()
    pad = "x" * size
    head = (
        '{"protocol":"runtime","command":"packet","payload":{"graph":"g","port":"in",'
        '"event":"data","payload":"' + pad + '"},"requestId":"p'
    ).encode()
    for start in range(0, total, 1000):  # without waiting for a single answer
        blaster.sock.sendall(
            _masked_frames([head + str(n).encode() + b'"}' for n in range(start, start + 1000)])
        )
    all_sent.set()
    reader.join(300)
    assert not reader.is_alive(), f"{sum(answered)} of {total} answered"
    assert errors == []
    assert answered == bytes([1]) * total  # every packet answered exactly once
    peak = _peak_rss_mb(proc.proc.pid)
    blaster.close()
    assert peak < RSS_BOUND_MB, f"flowpy serve peaked at {peak:.0f} MB"


# -- 5. a graceful stop drains ------------------------------------------------------------------


def test_sigterm_drains_every_acknowledged_packet_to_the_clients(spawn_runtime):
    # 2800 x 4 KB: more than the receiver's queue (1024 messages) and the ~32 KB the server
    # writes ahead into the kernel hold, and less than that plus the network's two connections
    # (1024 each) hold, so every packet is acknowledged and most are still inside the network
    # when the SIGTERM comes.
    count, pad = 2800, "x" * 4000
    proc = spawn_runtime()
    sender = ReadingClient(proc.url, "sender", keep=lambda m: m["command"] != "packet")
    build_chain(sender, "g")
    sender.request("network", "start", {"graph": "g"})
    # A receiver that reads nothing for now: the graph's output waits for it (back-pressure),
    # so most of what the sender hands in is still inside the network at the SIGTERM.
    slow = connect(proc.url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    slow.send(frame("runtime", "getruntime"))
    while json.loads(slow.recv())["command"] != "runtime":  # registered with the runtime
        pass

    def acked() -> int:
        return sender.count(lambda m: m["command"] in ("packetsent", "error"))

    for start in range(0, count, 100):  # a window of 100 unacknowledged packets
        for n in range(start, start + 100):
            sender.send(
                "runtime",
                "packet",
                {"graph": "g", "port": "in", "event": "data", "payload": {"n": n, "pad": pad}},
            )
        sender.wait_until(lambda start=start: acked() >= start + 100, timeout=30)
    assert sender.count(lambda m: m["command"] == "packetsent") == count
    proc.proc.send_signal(signal.SIGTERM)
    received = []
    slow.settimeout(30)
    while True:
        opcode, data = slow.recv_data()
        if opcode == 0x8:
            break
        message = json.loads(data)
        if is_data()(message):
            received.append(message["payload"]["payload"]["n"])
    assert received == list(range(count))  # every acknowledged packet, in order, once
    assert proc.proc.wait(30) == 0
    assert "Traceback" not in proc.stderr()
    slow.close()
    sender.close()


def test_flowpy_run_drains_on_sigterm_what_it_read_from_stdin(tmp_path):
    lines = 200_000
    source = tmp_path / "numbers.txt"
    source.write_text("".join(f"{n}\n" for n in range(lines)))
    graph = tmp_path / "chain.fbp"
    graph.write_text("INPORT=a.IN:IN\nOUTPORT=b.OUT:OUT\na(core/Repeat) OUT -> IN b(core/Repeat)\n")
    with open(source, "rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowpy", "run", str(graph), "--stdin", "in", "--stdout", "out"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_python_env(),
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()  # running; the rest waits for us to read
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        err = proc.stderr.read().decode()
        assert proc.wait(30) == 128 + signal.SIGTERM, err
        taken = os.lseek(stdin.fileno(), 0, os.SEEK_CUR)  # what flowpy read, shared offset
    proc.stdout.close()
    proc.stderr.close()
    out = [json.loads(line) for line in (first + rest).splitlines()]
    expected = source.read_bytes()[:taken].count(b"\n")  # every whole line it read
    assert 0 < expected < lines, "stopped before the end of the file"
    assert out == list(range(expected)), err  # lines are read as JSON (--format json)
    assert "Traceback" not in err
