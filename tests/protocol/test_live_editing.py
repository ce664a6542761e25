"""graph:* edits on a running network take effect at once, as in NoFlo (docs/protocol.md)."""

from __future__ import annotations

import threading

from protocol_harness import ProtocolClient, build, matches


def packet(c: ProtocolClient, value) -> None:
    c.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": value},
        reply="packetsent",
    )


def outputs(c: ProtocolClient, port: str = "out") -> list:
    return [
        m["payload"].get("payload")
        for m in c.messages
        if m["command"] == "packet"
        and m["payload"].get("port") == port
        and m["payload"].get("event") == "data"
    ]


def data_edges(c: ProtocolClient, start: int) -> set[str]:
    return {m["payload"]["id"] for m in c.messages[start:] if m["command"] == "data"}


def edge(src: str, tgt: str) -> dict:
    return {"graph": "g", "src": {"node": src, "port": "out"}, "tgt": {"node": tgt, "port": "in"}}


def running_chain(c: ProtocolClient) -> None:
    nodes = {f"r{n}": "core/Repeat" for n in range(5)}
    build(
        c,
        "g",
        nodes,
        edges=[(f"r{n}", "out", f"r{n + 1}", "in") for n in range(4)],
        inports={"in": ("r0", "in")},
        outports={"out": ("r4", "out")},
    )
    c.request("network", "start", {"graph": "g"}, reply="started")


def test_a_running_network_follows_every_edit(runtime, client):
    running_chain(client)
    for n in range(5):
        packet(client, n)
    client.sink.wait_for(lambda m: outputs(client) == [0, 1, 2, 3, 4])

    client.request("graph", "addnode", {"graph": "g", "id": "x", "component": "core/Repeat"})
    assert "x" in {t.name for t in threading.enumerate()}  # its process runs at once
    client.request("graph", "removeedge", edge("r2", "r3"))
    client.request("graph", "addedge", edge("r2", "x"))
    client.request("graph", "addedge", edge("x", "r3"))
    start = len(client.messages)
    packet(client, "spliced")
    client.sink.wait_for(lambda m: outputs(client)[-1:] == ["spliced"])
    assert "r2() OUT -> IN x()" in data_edges(client, start)  # debug data follows
    assert "r2() OUT -> IN r3()" not in data_edges(client, start)

    client.request(
        "graph",
        "addinitial",
        {"graph": "g", "src": {"data": "IIP-live"}, "tgt": {"node": "r0", "port": "in"}},
    )
    client.sink.wait_for(lambda m: outputs(client)[-1:] == ["IIP-live"])

    start = len(client.messages)
    client.request(
        "graph", "addoutport", {"graph": "g", "public": "tap", "node": "x", "port": "out"}
    )
    ports = client.sink.wait_for(matches("runtime", "ports", graph="g"), start)[1]
    assert {p["id"] for p in ports["payload"]["outPorts"]} == {"out", "tap"}
    client.sink.wait_for(matches("runtime", "packet", port="tap", event="connect"), start)
    packet(client, "both")
    client.sink.wait_for(lambda m: outputs(client, "tap")[-1:] == ["both"])
    client.sink.wait_for(lambda m: outputs(client)[-1:] == ["both"])  # and through r3, r4
    assert outputs(client) == [0, 1, 2, 3, 4, "spliced", "IIP-live", "both"]

    # Removing a node closes what it sent: downstream ends where it has no other writer.
    client.request("graph", "removenode", {"graph": "g", "id": "r1"})
    downstream = {"r1", "r2", "x", "r3", "r4"}
    for thread in [t for t in threading.enumerate() if t.name in downstream]:
        thread.join(10)
    assert not downstream & {t.name for t in threading.enumerate()}
    assert "r0" in {t.name for t in threading.enumerate()}  # upstream waits for a new edge
    error = client.error("graph", "addedge", edge("r0", "r2"))
    assert "process 'r2' has ended" in error and error.endswith("stop the network first")


def test_an_edit_the_running_network_cannot_follow_is_refused_and_changes_nothing(runtime, client):
    build(
        client,
        "sub",
        {"s": "core/Repeat"},
        inports={"in": ("s", "in")},
        outports={"out": ("s", "out")},
    )  # another graph is a component: graphs/sub
    running_chain(client)
    error = client.error("graph", "addnode", {"graph": "g", "id": "y", "component": "graphs/sub"})
    assert error.startswith("cannot addnode while the network runs:")
    assert "subgraph" in error and error.endswith("stop the network first")
    assert "y" not in runtime.get_graph("g").graph.nodes
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    client.request("graph", "addnode", {"graph": "g", "id": "y", "component": "graphs/sub"})


def test_running_instances_of_a_subgraph_do_not_follow_edits_of_its_graph(runtime, client):
    build(
        client,
        "sub",
        {"s": "core/Repeat"},
        edges=[],
        inports={"in": ("s", "in")},
        outports={"out": ("s", "out")},
    )
    build(
        client,
        "g",
        {"inner": "graphs/sub"},
        inports={"in": ("inner", "in")},
        outports={"out": ("inner", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    network = runtime.get_graph("g").network
    before = network.topology()
    client.request("graph", "addnode", {"graph": "sub", "id": "extra", "component": "core/Repeat"})
    assert network.topology() == before  # a copy taken at the start, as in NoFlo
    packet(client, "still")
    client.sink.wait_for(lambda m: outputs(client)[-1:] == ["still"])


def test_removing_a_node_with_waiting_ips_is_reported_as_an_edit_not_a_stop(runtime, client):
    build(
        client,
        "g",
        {"d": "time/Delay", "o": "core/Repeat"},
        edges=[("d", "out", "o", "in")],
        initials=[(60000, "d", "conf")],
        inports={"in": ("d", "in")},
        outports={"out": ("o", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    for n in range(3):  # d holds the first for a minute: the others wait in its connection
        packet(client, n)
    start = len(client.messages)
    client.request("graph", "removenode", {"graph": "g", "id": "d"})
    notice = client.sink.wait_for(matches("network", "output"), start)[1]
    assert notice["payload"]["message"].startswith("graph g: removing process 'd' discarded ")
    assert runtime.get_graph("g").last_stop is None  # nobody stopped it
    assert not any("stopping discarded" in str(m["payload"]) for m in client.messages[start:])


def test_an_edge_to_an_unknown_node_is_refused_as_the_stopped_graph_refuses_it(runtime, client):
    running_chain(client)
    running = client.error("graph", "addedge", edge("r4", "ghost"))
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    stopped = client.error("graph", "addedge", edge("r4", "ghost"))
    assert running == stopped
    assert "unknown node 'ghost'" in running
