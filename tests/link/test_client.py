"""flowpy.link.client against a real ``flowpy serve``: requests, errors, packets, closing."""

import threading

import pytest
from processes import ROOT

from flowpy.link.client import Client, ClientError, ConnectionClosed, RequestError

pytestmark = pytest.mark.integration

ECHO = str(ROOT / "examples" / "echo.json")


@pytest.fixture
def echo_runtime(spawn_runtime):
    return spawn_runtime("--graph", ECHO)


def test_getruntime_and_ports(echo_runtime):
    with Client(echo_runtime.url) as client:
        info = client.getruntime()
        assert info["type"] == "flowpy" and info["graph"] == "echo"
        assert info["id"]
        # runtime:ports follows getruntime; the client keeps it per graph
        client.network_status("echo")
        assert [p["id"] for p in client.ports["echo"]["inPorts"]] == ["in"]


def test_component_list_collects_until_componentsready(echo_runtime):
    with Client(echo_runtime.url) as client:
        names = {c["name"] for c in client.list_components()}
    assert {"core/Repeat", "core/Drop", "core/Range"} <= names


def test_error_replies_raise_protocol_error(echo_runtime):
    with Client(echo_runtime.url) as client:
        with pytest.raises(RequestError, match="Requested graph not found"):
            client.graph("addnode", graph="nope", id="x", component="core/Repeat")
        with pytest.raises(RequestError) as err:
            client.send_packet("echo", "in", "data", 1)  # network not started
        assert err.value.protocol == "runtime"
        # the connection keeps working after errors
        assert client.getruntime()["graph"] == "echo"


def test_graph_building_and_packets_in_and_out(echo_runtime):
    with Client(echo_runtime.url) as client:
        client.graph("clear", id="g", main=False)
        client.graph("addnode", graph="g", id="r", component="core/Repeat")
        client.graph("addinport", graph="g", public="in", node="r", port="in")
        client.graph("addoutport", graph="g", public="out", node="r", port="out")
        started = client.start_network("g")
        assert started["started"] is True
        values = [None, 0, 1.5, "s", [1, [2]], {"k": {"n": None}}, True]
        client.send_packet("g", "in", "begingroup", "grp")
        assert client.send_stream("g", "in", values, window=3) == len(values)
        client.send_packet("g", "in", "endgroup", "grp")
        got = []
        while len(got) < len(values) + 2:
            packet = client.recv_packet()
            if packet["graph"] == "g" and packet["event"] in ("data", "begingroup", "endgroup"):
                got.append((packet["event"], packet.get("payload")))
        data = [("data", v) for v in values]
        assert got == [("begingroup", "grp"), *data, ("endgroup", "grp")]
        assert client.stop_network("g")["started"] is False


def test_secret_is_required_when_the_runtime_has_one(spawn_runtime):
    proc = spawn_runtime("--graph", ECHO, secret="s3cret")
    with Client(proc.url) as anonymous:
        assert anonymous.getruntime()["capabilities"] == []
        with pytest.raises(RequestError, match="not permitted"):
            anonymous.start_network("echo")
    with Client(proc.url, secret="s3cret") as client:
        assert "protocol:runtime" in client.getruntime()["capabilities"]
        assert client.start_network("echo")["started"] is True


def test_requests_from_many_threads_get_their_own_replies(echo_runtime):
    with Client(echo_runtime.url) as client:
        results, errors = [], []

        def worker(n):
            try:
                for _ in range(20):
                    results.append(client.network_status("echo")["graph"])
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and results == ["echo"] * 80


def test_closed_runtime_fails_pending_and_later_calls(spawn_runtime):
    proc = spawn_runtime("--graph", ECHO)
    client = Client(proc.url, timeout=5).connect()
    try:
        client.getruntime()
        proc.stop()
        assert client.closed.wait(10)
        with pytest.raises(ConnectionClosed):
            client.getruntime()
        with pytest.raises(ConnectionClosed):
            client.recv_packet(timeout=1)
    finally:
        client.close()


def test_connect_to_nothing_is_a_clear_error():
    from processes import free_port

    with pytest.raises(ClientError, match="cannot connect"):
        Client(f"ws://127.0.0.1:{free_port()}/", timeout=2).connect()


def test_send_and_listen_commands(echo_runtime):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with Client(echo_runtime.url) as client:
        client.start_network("echo")
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowpy",
            "listen",
            echo_runtime.url,
            "--port",
            "out",
            "--count",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # Its first stderr line says it is connected: from then on it sees every packet.
        assert "listening to echo.out" in listener.stderr.readline()
        sender = subprocess.run(
            [
                sys.executable,
                "-m",
                "flowpy",
                "send",
                echo_runtime.url,
                "--port",
                "in",
                "--window",
                "2",
            ],
            input='1\n"two"\n{"three": 3}\n',
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert sender.returncode == 0, sender.stderr
        assert "sent 3 packets" in sender.stderr
        out, err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    packets = [json.loads(line) for line in out.splitlines()]
    assert [p["payload"] for p in packets if p["event"] == "data"] == [1, "two", {"three": 3}]
    assert listener.returncode == 0, err


def test_send_many_writes_a_batch_in_order_and_on_close_fires(spawn_runtime):
    proc = spawn_runtime("--graph", ECHO)
    closed = threading.Event()
    cond = threading.Condition()
    acks, outputs = [], []

    def on_message(message):
        with cond:
            if message.get("command") == "packetsent":
                acks.append(message["responseTo"])
            elif message.get("command") == "packet" and message["payload"]["event"] == "data":
                outputs.append(message["payload"]["payload"])
            cond.notify_all()

    client = Client(proc.url, on_message=on_message, on_close=lambda c: closed.set()).connect()
    try:
        client.start_network("echo")
        client.send_many(
            [
                (
                    "runtime",
                    "packet",
                    {"graph": "echo", "port": "in", "event": "data", "payload": n},
                    f"p{n}",
                )
                for n in range(50)
            ]
        )
        # packetsent replies name requests nobody waits for: they are not matched to any
        # other request (this one), so they reach on_message with their responseTo
        assert client.network_status("echo")["running"] is True
        with cond:
            assert cond.wait_for(lambda: len(acks) == 50 and len(outputs) == 50, 10)
        assert acks == [f"p{n}" for n in range(50)]
        assert outputs == list(range(50))
        proc.stop()
        assert closed.wait(10)
    finally:
        client.close()


def test_serve_registers_remote_and_directory_components(spawn_runtime, tmp_path):
    remote = spawn_runtime("--graph", ECHO)
    library = tmp_path / "lib"
    library.mkdir()
    (library / "Twice.fbp").write_text(
        "INPORT=a.IN:IN\nOUTPORT=b.OUT:OUT\na(core/Repeat) OUT -> IN b(core/Repeat)\n"
    )
    local = spawn_runtime("--remote", f"echoer={remote.url}", "--components-dir", str(library))
    with Client(local.url) as client:
        components = {c["name"]: c for c in client.list_components()}
    assert [p["id"] for p in components["remote/echoer"]["inPorts"]] == ["in"]
    assert [p["id"] for p in components["remote/echoer"]["outPorts"]] == ["out"]
    twice = next(c for name, c in components.items() if name.endswith("/Twice"))
    assert twice["subgraph"] is True


def test_serve_starts_despite_an_unreachable_remote(spawn_runtime):
    """It used to refuse to start; now it starts and keeps discovering (test_serve_remote)."""
    from processes import free_port

    local = spawn_runtime("--remote", f"gone=ws://127.0.0.1:{free_port()}")
    assert "remote/gone: cannot discover" in local.stderr()
    assert local.stop() == 0


def test_values_json_cannot_carry_are_sent_by_the_json_policy_not_refused(echo_runtime):
    with Client(echo_runtime.url).connect() as client:
        client.start_network("echo")
        for value in (float("nan"), {3}, b"\x00\x01", float("inf")):
            client.send_packet("echo", "in", "data", value)  # packetsent, not an error
        # Text no UTF-8 can carry is written as its escape, which the runtime refuses by name.
        with pytest.raises(RequestError, match="lone surrogate"):
            client.send_packet("echo", "in", "data", "lone \ud800 surrogate")
        got = []
        while len(got) < 4:
            packet = client.recv_packet(timeout=30)
            if packet["event"] == "data":
                got.append(packet["payload"])
    assert got == [None, [3], "AAE=", None]
