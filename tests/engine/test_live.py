"""Live editing: a running network follows its graph's changes without losing an IP."""

from __future__ import annotations

import random
import threading
import time

import pytest
from engine_helpers import Recorder, build, ref, registry

from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError
from flowpy.graphs.model import Graph, GraphError, PortRef


class Follow:
    """Makes the network follow the graph, as the runtime's hosted graph does."""

    def __init__(self, graph: Graph, network: Network) -> None:
        self.graph, self.network = graph, network
        self.removing: str | None = None
        graph.subscribe(self._follow)

    def _follow(self, event: str, payload: dict) -> None:
        if event == "removeedge" and payload["src"]["node"] == self.removing:
            payload = {**payload, "ending": True}  # the source goes: a real end of stream
        self.network.apply_edit(event, payload)

    def remove_node(self, node: str) -> None:
        self.removing = node
        try:
            self.graph.remove_node(node)
        finally:
            self.removing = None


class Collector(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.values: list = []

    def outport_ips(self, network, port, ips):
        with self.cond:
            self.values.extend(ip.data for ip in ips if ip.is_data)
            self.cond.notify_all()


def feed(network: Network, values, port: str = "in") -> threading.Thread:
    def run():
        try:
            for value in values:
                network.send_inport(port, IP.make_data(value))
        except NetworkError:
            pass

    thread = threading.Thread(target=run, name="test-feed")
    thread.start()
    return thread


def slots(graph: Graph) -> tuple[set[str], set]:
    """The graph's processes and edges as the network names its slots."""

    def slot(port: PortRef):
        index = port.index
        if isinstance(index, str) and index.isdecimal():
            index = int(index)
        return (port.node, port.port.lower(), index)

    with graph.lock:
        return set(graph.nodes), {(slot(e.src), slot(e.tgt)) for e in graph.edges}


def chain(length: int, **extra) -> Graph:
    nodes = {f"r{n}": "core/Repeat" for n in range(length)}
    edges = [f"r{n}.out -> r{n + 1}.in" for n in range(length - 1)]
    return build(
        nodes, edges, inports={"in": "r0.in"}, outports={"out": f"r{length - 1}.out"}, **extra
    )


def test_a_node_spliced_into_a_running_chain_loses_nothing_and_keeps_the_order():
    count = 10_000
    graph = chain(4)
    rec = Collector()
    net = Network(graph, registry(), rec, capacity=16)
    net.start()
    Follow(graph, net)
    feeder = feed(net, range(count))
    assert rec.wait_for(lambda: len(rec.values) >= 1000)  # flowing, thousands in flight
    graph.add_node("x", "core/Repeat")
    graph.remove_edge(ref("r2.out"), ref("r3.in"))
    graph.add_edge(ref("r2.out"), ref("x.in"))
    graph.add_edge(ref("x.out"), ref("r3.in"))
    assert net.topology() == slots(graph)
    assert "x" in {t.name for t in threading.enumerate()}
    assert rec.wait_for(lambda: len(rec.values) == count, 30), len(rec.values)
    feeder.join()
    assert rec.values == list(range(count))  # every IP once, in order
    assert net.stop(timeout=5, drain=False) == []


def test_a_removed_edge_delivers_what_it_holds_and_its_source_waits_for_a_new_one():
    count = 5000
    graph = chain(3)
    rec = Collector()
    net = Network(graph, registry(), rec, capacity=16)
    net.start()
    Follow(graph, net)
    feeder = feed(net, range(count))
    assert rec.wait_for(lambda: len(rec.values) >= 500)
    graph.remove_edge(ref("r1.out"), ref("r2.in"))  # r1 now waits: nothing is dropped
    graph.add_edge(ref("r1.out"), ref("r2.in"))
    assert rec.wait_for(lambda: len(rec.values) == count, 30), len(rec.values)
    feeder.join()
    assert rec.values == list(range(count))
    graph.remove_edge(ref("r0.out"), ref("r1.in"))
    graph.add_node("bypass", "core/Repeat")
    graph.add_edge(ref("r0.out"), ref("bypass.in"))
    graph.add_edge(ref("bypass.out"), ref("r2.in"))  # fan-in with r1's old stream
    feeder = feed(net, range(count, 2 * count))
    assert rec.wait_for(lambda: len(rec.values) == 2 * count, 30), len(rec.values)
    feeder.join()
    assert sorted(rec.values) == list(range(2 * count))  # each once
    assert net.topology() == slots(graph)
    assert net.stop(timeout=5, drain=False) == []


def test_removing_a_node_ends_the_streams_it_sent_and_stops_its_thread():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat", "c": "test/Collect"},
        ["a.out -> b.in", "b.out -> c.in"],
        inports={"in": "a.in"},
    )
    net = Network(graph, registry(), Recorder())
    net.start()
    follow = Follow(graph, net)
    net.send_inport("in", IP.make_data(1))
    collector = next(p.thread for p in net.structure.processes if p.node_id == "c")
    follow.remove_node("b")
    assert "b" not in {t.name for t in threading.enumerate()}
    assert collector is not None
    collector.join(10)  # c ends: b was its only writer, and b went away
    assert not collector.is_alive(), "c never saw end-of-stream"
    assert net.topology() == ({"a", "c"}, set()) == slots(graph)
    assert net.stop(timeout=5, drain=False) == []


def test_an_iip_added_to_a_running_network_is_delivered_at_once_and_can_be_taken_back():
    graph = chain(2)
    rec = Collector()
    net = Network(graph, registry(), rec)
    net.start()
    Follow(graph, net)
    graph.add_initial("live", ref("r0.in"))
    assert rec.wait_for(lambda: rec.values == ["live"])
    graph.add_node("idle", "test/Block")  # reads nothing: an IIP for it waits in its port
    graph.add_initial("taken back", ref("idle.in"))
    graph.remove_initial(ref("idle.in"))
    assert len(net.structure.plan.targets[("idle", "in", None)]) == 0
    assert net.stop(timeout=5, drain=False) == []


def test_exported_ports_follow_while_running():
    graph = chain(2)
    rec = Collector()
    net = Network(graph, registry(), rec)
    net.start()
    Follow(graph, net)
    graph.add_node("side", "core/Repeat")
    graph.add_inport("side_in", "side", "in")
    graph.add_outport("side_out", "side", "out")
    net.send_inport("side_in", IP.make_data("through the side"))
    assert rec.wait_for(lambda: "through the side" in rec.values)
    graph.rename_outport("side_out", "renamed")
    net.send_inport("side_in", IP.make_data(2))
    assert rec.wait_for(
        lambda: (
            ("ip", "renamed", IP.make_data(2)) in rec.events
            or any(e[:2] == ("port", "out") for e in rec.events)
        )
    )
    graph.remove_inport("side_in")
    with pytest.raises(NetworkError):
        net.send_inport("side_in", IP.make_data(3))
    events = [e for e in rec.events if e[0] == "port"]
    assert ("port", "in", "side_in", "connect") in events
    assert ("port", "out", "side_out", "connect") in events
    assert ("port", "in", "side_in", "disconnect") in events
    assert net.stop(timeout=5, drain=False) == []


def test_edits_a_running_network_cannot_follow_are_refused_before_the_graph_changes():
    inner = build({"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"})
    reg = registry()
    from flowpy.engine.subgraph import subgraph_class

    reg.register("test/Sub", subgraph_class("test/Sub", inner))
    graph = build({"a": "core/Repeat", "s": "test/Sub"}, ["a.out -> s.in"], inports={"in": "a.in"})
    net = Network(graph, reg, Recorder())
    net.start()
    assert "subgraph" in net.check_edit("addnode", {"id": "t", "component": "test/Sub"})
    assert "subgraph" in net.check_edit(
        "addedge", {"src": {"node": "s", "port": "out"}, "tgt": {"node": "a", "port": "in"}}
    )
    assert "unknown component" in net.check_edit("addnode", {"id": "u", "component": "no/Such"})
    assert "has no inport 'nope'" in net.check_edit(
        "addedge", {"src": {"node": "a", "port": "out"}, "tgt": {"node": "a", "port": "nope"}}
    )
    assert net.check_edit("addnode", {"id": "fine", "component": "core/Repeat"}) is None
    # Running subgraph instances are copies: editing the graph they came from changes nothing.
    inner.add_node("extra", "core/Repeat")
    assert "s/extra" not in net.topology()[0]
    assert net.stop(timeout=5, drain=False) == []


def test_five_hundred_random_edits_while_data_flows():
    rng = random.Random(1234)
    graph = build({"head": "core/Repeat"}, [], inports={"in": "head.in"})
    net = Network(graph, registry(), Collector(), capacity=8)
    net.start()
    Follow(graph, net)
    stop_feeding = threading.Event()

    def run():
        n = 0
        while not stop_feeding.is_set():
            try:
                net.send_inport("in", IP.make_data(n))
            except NetworkError:
                return
            n += 1

    feeder = threading.Thread(target=run, name="test-feed")
    feeder.start()
    counter = 0
    began = time.monotonic()
    for _ in range(500):
        nodes = sorted(graph.nodes)
        others = [n for n in nodes if n != "head"]
        edges = list(graph.edges)
        choice = rng.random()
        try:
            if choice < 0.25 or len(nodes) < 3:
                counter += 1
                graph.add_node(f"n{counter}", rng.choice(["core/Repeat", "core/Drop"]))
            elif choice < 0.5:
                src = rng.choice(nodes)
                tgt = rng.choice(nodes)
                if graph.nodes[src].component == "core/Drop":
                    continue
                graph.add_edge(PortRef(src, "out"), PortRef(tgt, "in"))
            elif choice < 0.7 and edges:
                edge = rng.choice(edges)
                graph.remove_edge(edge.src, edge.tgt)
            elif choice < 0.8 and others:
                graph.remove_node(rng.choice(others))
            elif choice < 0.9 and others:
                counter += 1
                graph.rename_node(rng.choice(others), f"n{counter}")
            else:
                graph.add_initial(counter, PortRef(rng.choice(nodes), "in"))
        except GraphError:
            continue  # an edit the graph itself refuses (a duplicate edge): nothing changed
        assert net.topology() == slots(graph)
        assert time.monotonic() - began < 120, "edits took too long: a deadlock?"
    stop_feeding.set()
    assert net.stop(timeout=5, drain=False) == []
    feeder.join(10)
    names = {t.name for t in threading.enumerate()}
    assert not names & (set(graph.nodes) | {"head"}), "process threads outlived the stop"


def test_a_network_that_finished_comes_back_to_life_when_a_node_is_added():
    graph = build(
        {"range": "core/Range", "drop": "core/Drop"}, ["range.out -> drop.in"], {"range.conf": 3}
    )
    rec = Collector()
    net = Network(graph, registry(), rec)
    net.start()
    assert net.wait(10)  # every process ended by itself
    Follow(graph, net)
    graph.add_node("again", "core/Repeat")
    graph.add_inport("in", "again", "in")
    graph.add_outport("out", "again", "out")
    net.send_inport("in", IP.make_data("alive"))
    assert rec.wait_for(lambda: rec.values == ["alive"])
    assert net.stop(timeout=5, drain=False) == []
