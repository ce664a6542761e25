"""runtime:getruntime, runtime:ports and runtime:packet in both directions."""

from __future__ import annotations

import threading
import uuid

from protocol_harness import (
    Gate,
    ProtocolClient,
    RecordingSink,
    build,
    matches,
)

from flowpy import wire
from flowpy.runtime.graph_events import PortOutput
from flowpy.runtime.permissions import ALL_CAPABILITIES

EVENTS = ["connect", "begingroup", "data", "endgroup", "disconnect"]


def repeat_graph(c: ProtocolClient, graph: str = "main", component: str = "core/Repeat") -> None:
    build(
        c,
        graph,
        {"R": component},
        inports={"in": ("R", "in")},
        outports={"out": ("R", "out")},
        main=True,
    )


# -- getruntime -----------------------------------------------------------------------------


def test_getruntime_describes_the_runtime(runtime, client):
    info = client.request("runtime", "getruntime", reply="runtime")["payload"]
    assert info["version"] == "0.7"
    assert info["type"] == "flowpy"
    assert info["label"] == "flowpy"
    assert uuid.UUID(info["id"]).version == 4
    assert info["allCapabilities"] == list(ALL_CAPABILITIES)
    assert "component:setsource" not in info["capabilities"]
    assert "graph" not in info  # no main graph yet


def test_getruntime_names_the_main_graph_and_sends_its_ports(runtime, client):
    repeat_graph(client)
    start = len(client.messages)
    client.send("runtime", "getruntime", {})
    assert client.commands(start) == ["runtime:runtime", "runtime:ports"]
    assert client.messages[start]["payload"]["graph"] == "main"
    ports = client.messages[start + 1]["payload"]
    assert ports == {
        "graph": "main",
        "inPorts": [{"id": "in", "type": "all", "description": "IPs of any kind"}],
        "outPorts": [{"id": "out", "type": "all", "description": "the same IPs, in order"}],
    }


def test_runtime_id_is_stable_across_restarts(make_runtime, tmp_path):
    first = make_runtime(state_dir=tmp_path / "s")
    second = make_runtime(state_dir=tmp_path / "s")
    other = make_runtime(state_dir=tmp_path / "t")
    assert first.id == second.id != other.id
    assert (tmp_path / "s" / "runtime-id").read_text().strip() == first.id


def test_label_is_reported(make_runtime):
    c = ProtocolClient(make_runtime(label="my runtime"))
    assert c.request("runtime", "getruntime", reply="runtime")["payload"]["label"] == "my runtime"


def test_status_document(runtime, client):
    repeat_graph(client)
    client.request("network", "start", {"graph": "main"}, reply="started")
    status = runtime.status()
    assert status["id"] == runtime.id
    assert status["graphs"] == [
        {"id": "main", "main": True, "started": True, "running": True, "state": "running"}
    ]


# -- runtime:ports --------------------------------------------------------------------------


def test_ports_go_to_every_client_when_exports_change(runtime, client):
    other = ProtocolClient(runtime, "other")
    build(client, "g", {"R": "core/Repeat"})
    client.request("graph", "addinport", {"graph": "g", "public": "IN", "node": "R", "port": "in"})
    ports = other.expect("runtime", "ports", graph="g")["payload"]
    assert [p["id"] for p in ports["inPorts"]] == ["IN"]
    client.request("graph", "renameinport", {"graph": "g", "from": "IN", "to": "input"})
    assert other.expect("runtime", "ports", graph="g")["payload"]["inPorts"][0]["id"] == "input"
    client.request("graph", "removeinport", {"graph": "g", "public": "input"})
    assert other.expect("runtime", "ports", graph="g")["payload"]["inPorts"] == []


def test_removing_an_exported_node_updates_ports(runtime, client):
    repeat_graph(client, "g")
    client.request("graph", "removenode", {"graph": "g", "id": "R"})
    ports = client.expect("runtime", "ports", graph="g", inPorts=[], outPorts=[])
    assert ports["payload"]["graph"] == "g"


# -- runtime:packet in ------------------------------------------------------------------------


def test_packets_flow_through_with_all_five_events(runtime, client):
    repeat_graph(client)
    before = len(client.messages)
    client.request("network", "start", {"graph": "main"}, reply="started")
    # the exported ports connect before network:started (fbp-spec counts packets after it)
    commands = [(m["command"], m["payload"].get("event")) for m in client.since(before)]
    assert commands.index(("packet", "connect")) < commands.index(("started", None))
    start = len(client.messages)
    sent = [
        {"event": "connect"},
        {"event": "begingroup", "payload": "group-a"},
        {"event": "data", "payload": {"n": 1, "list": [1, 2]}},
        {"event": "data", "payload": None},
        {"event": "endgroup", "payload": "group-a"},
        {"event": "disconnect"},
    ]
    for packet in sent:
        reply = client.request(
            "runtime", "packet", {"graph": "main", "port": "in", **packet}, reply="packetsent"
        )
        assert reply["payload"] == {"graph": "main", "port": "in", **packet}
    client.sink.wait_for(matches("runtime", "packet", port="out", event="endgroup"), start)
    received = [
        m["payload"]
        for m in client.since(start)
        if m["command"] == "packet" and m["payload"]["port"] == "out"
    ]
    assert received == [
        {"graph": "main", "port": "out", "event": "begingroup", "payload": "group-a"},
        {"graph": "main", "port": "out", "event": "data", "payload": {"n": 1, "list": [1, 2]}},
        {"graph": "main", "port": "out", "event": "data", "payload": None},
        {"graph": "main", "port": "out", "event": "endgroup", "payload": "group-a"},
    ]
    client.request("network", "stop", {"graph": "main"}, reply="stopped")
    assert [
        m["payload"]["event"]
        for m in client.messages
        if m["command"] == "packet" and m["payload"]["port"] == "out"
    ] == ["connect", "begingroup", "data", "data", "endgroup", "disconnect"]


def test_packetsent_keeps_type_and_schema_and_never_the_secret(runtime, client):
    repeat_graph(client)
    client.request("network", "start", {"graph": "main"}, reply="started")
    reply = client.request(
        "runtime",
        "packet",
        {
            "graph": "main",
            "port": "IN",
            "event": "data",
            "payload": [1],
            "type": "array",
            "schema": "https://example.net/s.json",
            "secret": "x",
        },
        reply="packetsent",
        secret="x",
    )
    assert reply["payload"] == {
        "graph": "main",
        "port": "IN",
        "event": "data",
        "payload": [1],
        "type": "array",
        "schema": "https://example.net/s.json",
    }


def test_endgroup_and_connect_may_lack_a_payload(runtime, client):
    repeat_graph(client)
    client.request("network", "start", {"graph": "main"}, reply="started")
    for event in ("connect", "begingroup", "endgroup", "disconnect"):
        reply = client.request(
            "runtime", "packet", {"graph": "main", "port": "in", "event": event}, reply="packetsent"
        )
        assert "payload" not in reply["payload"]
    _, out = client.sink.wait_for(matches("runtime", "packet", port="out", event="endgroup"))
    assert "payload" not in out["payload"]


def test_packetsent_waits_until_the_network_accepts(runtime, client):
    """A back-pressured network delays the ack: that is the client's flow control."""
    repeat_graph(client, component="test/Gate")
    client.request("network", "start", {"graph": "main"}, reply="started")
    capacity = runtime.network_capacity
    acked = threading.Event()
    acks: list[int] = []
    lock = threading.Lock()

    def send_all() -> None:
        for n in range(capacity + 2):
            client.send(
                "runtime", "packet", {"graph": "main", "port": "in", "event": "data", "payload": n}
            )
        acked.set()

    # The inport handler's own queue absorbs some requests without blocking the sender, so
    # send from a thread and watch the acks instead of the sender.
    sender = threading.Thread(target=send_all)
    sender.start()
    client.sink.wait_for(matches("runtime", "packetsent", payload=capacity - 1))
    with lock:
        acks = [m["payload"]["payload"] for m in client.messages if m["command"] == "packetsent"]
    assert acks == list(range(capacity))  # the connection is full: no ack beyond it
    assert not any(
        m["command"] == "packet" and m["payload"]["event"] == "data" for m in client.messages
    )
    Gate.go.set()
    client.sink.wait_for(matches("runtime", "packetsent", payload=capacity + 1))
    sender.join()
    assert acked.is_set()
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=capacity + 1))
    outputs = [
        m["payload"]["payload"]
        for m in client.messages
        if m["command"] == "packet" and m["payload"]["event"] == "data"
    ]
    assert outputs == list(range(capacity + 2))


def test_packet_errors(runtime, client):
    repeat_graph(client)
    assert client.error(
        "runtime", "packet", {"graph": "main", "port": "in", "event": "data"}
    ).endswith("is not running: start it first (network:start)")
    client.request("network", "start", {"graph": "main"}, reply="started")
    assert (
        client.error("runtime", "packet", {"graph": "nope", "port": "in", "event": "data"})
        == "graph 'nope' not found"
    )
    assert (
        client.error("runtime", "packet", {"graph": "main", "port": "zz", "event": "data"})
        == "graph 'main' has no exported inport 'zz' (it has: in)"
    )
    assert client.error(
        "runtime", "packet", {"graph": "main", "port": "in", "event": "shout"}
    ).startswith("'event' must be one")
    assert (
        client.error("runtime", "packet", {"port": "in", "event": "data"}) == "No graph specified"
    )
    assert (
        client.error("runtime", "packet", {"graph": "main", "event": "data"})
        == "'port' is required"
    )
    assert all(m["protocol"] == "runtime" for m in client.messages if m["command"] == "error")


# -- runtime:packet out ---------------------------------------------------------------------


def test_outport_packets_wait_for_a_client(make_runtime):
    """Never dropped: with nobody allowed to receive, the graph outport handler waits."""
    rt = make_runtime(
        permissions={
            "secrets": {
                "admin": {"capabilities": ["protocol:graph", "network:control"]},
                "reader": {"capabilities": ["protocol:runtime"]},
            },
        }
    )
    admin = ProtocolClient(rt, "admin", secret="admin")
    build(
        admin,
        "g",
        {"R": "core/Repeat"},
        initials=[("hello", "R", "in")],
        outports={"out": ("R", "out")},
    )
    waiting = threading.Event()
    hosted = rt.get_graph("g")
    emit = hosted.emit

    def spy(event):
        if isinstance(event, PortOutput):
            waiting.set()
        return emit(event)

    hosted.emit = spy
    admin.request("network", "start", {"graph": "g"}, reply="started")
    assert waiting.wait(10)
    reader = ProtocolClient(rt, "reader")
    reader.send("runtime", "getruntime", {}, secret="reader")  # presents its secret
    packet = reader.expect("runtime", "packet", graph="g", port="out", event="data")
    assert packet["payload"]["payload"] == "hello"
    assert "responseTo" not in packet


def test_a_waiting_outport_does_not_block_stop(make_runtime):
    rt = make_runtime(
        permissions={"anonymous": {"capabilities": ["protocol:graph", "network:control"]}}
    )
    admin = ProtocolClient(rt, "admin")
    build(
        admin,
        "g",
        {"R": "core/Repeat"},
        initials=[("x", "R", "in"), ("y", "R", "in")],
        outports={"out": ("R", "out")},
    )
    admin.request("network", "start", {"graph": "g"}, reply="started")
    reply = admin.request("network", "stop", {"graph": "g"}, reply="stopped")
    assert reply["payload"]["started"] is False
    assert rt.get_graph("g").network.wait(5)


def test_outport_packets_only_reach_allowed_clients(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {
                "all": {"capabilities": ["protocol:runtime", "protocol:graph", "network:control"]},
                "a": {"capabilities": ["protocol:runtime"], "graphs": {"g": {"outports": ["a"]}}},
                "none": {"capabilities": ["protocol:runtime"], "graphs": {}},
            }
        }
    )
    owner = ProtocolClient(rt, "owner", secret="all")
    only_a = ProtocolClient(rt, "only-a", secret="a")
    nothing = ProtocolClient(rt, "nothing", secret="none")
    for c in (only_a, nothing):
        c.request("runtime", "getruntime", reply="runtime")
    build(
        owner,
        "g",
        {"R": "core/Repeat", "S": "core/Repeat"},
        inports={"in": ("R", "in"), "in2": ("S", "in")},
        outports={"a": ("R", "out"), "b": ("S", "out")},
    )
    owner.request("network", "start", {"graph": "g"}, reply="started")
    start = len(owner.messages)
    owner.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in2", "event": "data", "payload": 2},
        reply="packetsent",
    )
    owner.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 1},
        reply="packetsent",
    )
    owner.sink.wait_for(matches("runtime", "packet", port="b", event="data"), start)
    owner.sink.wait_for(matches("runtime", "packet", port="a", event="data"), start)
    only_a.sink.wait_for(matches("runtime", "packet", port="a", event="data", payload=1))
    assert not any(
        m["command"] == "packet" and m["payload"]["port"] == "b" for m in only_a.messages
    )
    assert not any(m["command"] == "packet" for m in nothing.messages)


def test_port_events_announce_connect_and_disconnect_for_both_directions(runtime, client):
    repeat_graph(client)
    client.request("network", "start", {"graph": "main"}, reply="started")
    client.request("network", "stop", {"graph": "main"}, reply="stopped")
    events = [
        (m["payload"]["port"], m["payload"]["event"])
        for m in client.messages
        if m["command"] == "packet"
    ]
    assert events == [
        ("in", "connect"),
        ("out", "connect"),
        ("in", "disconnect"),
        ("out", "disconnect"),
    ]


class GoneSink(RecordingSink):
    """A connection that has gone away but is not disconnected yet: takes nothing."""

    def send(self, message: dict, lane=wire.NEWS, cancelled=None) -> bool:
        super().send(message, lane, cancelled)
        return False


def test_an_outport_packet_nobody_took_waits_for_another_client(make_runtime):
    rt = make_runtime()
    gone = GoneSink("gone")
    gone_client = rt.connect(gone)
    owner = ProtocolClient(rt, "owner")
    build(
        owner,
        "g",
        {"R": "core/Repeat"},
        initials=[("late", "R", "in")],
        outports={"out": ("R", "out")},
    )
    owner.close()  # only the gone client is left
    attempted = threading.Event()
    original = gone.send

    def spy(message, lane=wire.NEWS, cancelled=None):
        if message["command"] == "packet" and message["payload"]["event"] == "data":
            attempted.set()
        return original(message, lane, cancelled)

    gone.send = spy
    rt.get_graph("g").start()
    assert attempted.wait(10)
    newcomer = ProtocolClient(rt, "newcomer")
    assert newcomer.expect("runtime", "packet", event="data")["payload"]["payload"] == "late"
    rt.disconnect(gone_client)


def test_nothing_is_accepted_after_shutdown(runtime, client):
    runtime.shutdown()
    assert client.error("graph", "clear", {"id": "g"}) == "the runtime is shutting down"
    assert client.messages[-1]["protocol"] == "graph"


def test_each_message_takes_the_lane_that_says_how_it_may_wait(runtime, client):
    """Replies never wait (URGENT), news to others never waits either (NEWS), graph output
    waits for the client (STREAM), debug data gives way (DEBUG)."""
    other = ProtocolClient(runtime, "other")
    build(
        client,
        "g",
        {"A": "core/Repeat", "B": "core/Repeat"},
        edges=[("A", "out", "B", "in")],
        inports={"in": ("A", "in")},
        outports={"out": ("B", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 1},
        reply="packetsent",
    )
    client.sink.wait_for(matches("runtime", "packet", event="data"))
    client.sink.wait_for(matches("network", "data"))

    def lanes_of(c: ProtocolClient, protocol: str, command: str) -> set:
        return {
            lane
            for m, lane in zip(c.messages, c.sink.lanes, strict=True)
            if (m["protocol"], m["command"]) == (protocol, command)
        }

    assert lanes_of(client, "graph", "addnode") == {wire.URGENT}  # its own request
    assert lanes_of(other, "graph", "addnode") == {wire.NEWS}  # somebody else's
    assert lanes_of(client, "runtime", "packetsent") == {wire.URGENT}
    data_lanes = {
        lane
        for m, lane in zip(client.messages, client.sink.lanes, strict=True)
        if m["command"] == "packet" and m["payload"].get("event") == "data"
    }
    assert data_lanes == {wire.STREAM}
    assert lanes_of(client, "network", "data") == {wire.DEBUG}
