"""Graphs used as components: inline wiring, nesting, brackets and back-pressure across, cycles."""

import threading

import pytest
from engine_helpers import Collect, Recorder, build, registry

from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError
from flowpy.engine.subgraph import subgraph_class


@pytest.fixture(autouse=True)
def clean_collect():
    Collect.seen.clear()
    yield
    Collect.seen.clear()


def double_graph():
    """in -> Split -> out[0], out[1]: every IP twice, through a Merge."""
    return build(
        {"split": "core/Split", "merge": "core/Merge"},
        ["split.out[0] -> merge.in[0]", "split.out[1] -> merge.in[1]"],
        inports={"IN": "split.in"},
        outports={"out": "merge.out"},
        name="double",
    )


def test_subgraph_component_describes_its_exported_ports():
    cls = subgraph_class("sub/Double", double_graph())
    info = cls.describe("sub/Double")
    assert info["subgraph"] is True
    assert info["name"] == "sub/Double"
    assert info["inPorts"] == [{"id": "in", "type": "all"}]
    assert info["outPorts"] == [{"id": "out", "type": "all"}]


def test_subgraph_is_wired_inline_brackets_included():
    reg = registry()
    reg.register("sub/Double", subgraph_class("sub/Double", double_graph()))
    graph = build(
        {"e": "test/Emit", "d": "sub/Double", "c": "test/Collect"},
        ["e.out -> d.in", "d.OUT -> c.in"],
        {"e.conf": [{"<": "g"}, 1, 2, {">": "g"}]},
    )
    net = Network(graph, reg)
    net.start()
    assert net.wait(10)
    net.stop()
    got = Collect.seen["c"]
    assert sorted(ip.data for ip in got if ip.is_data) == [1, 1, 2, 2]
    assert sum(ip.is_open for ip in got) == 2 and sum(ip.is_close for ip in got) == 2


def test_nested_subgraphs_and_iips_into_subgraph_ports():
    reg = registry()
    inner = build(
        {"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"}, name="inner"
    )
    reg.register("sub/Inner", subgraph_class("sub/Inner", inner))
    middle = build(
        {"a": "sub/Inner", "b": "sub/Inner"},
        ["a.out -> b.in"],
        inports={"in": "a.in"},
        outports={"out": "b.out"},
        name="middle",
    )
    reg.register("sub/Middle", subgraph_class("sub/Middle", middle))
    graph = build({"m": "sub/Middle", "c": "test/Collect"}, ["m.out -> c.in"], {"m.in": "hello"})
    rec = Recorder()
    net = Network(graph, reg, rec)
    net.start()
    assert net.wait(10)
    net.stop()
    assert Collect.seen["c"] == [IP.make_data("hello")]
    assert rec.errors == []


def test_exported_ports_of_the_top_graph_may_point_into_a_subgraph():
    reg = registry()
    inner = build(
        {"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"}, name="inner"
    )
    reg.register("sub/Inner", subgraph_class("sub/Inner", inner))
    graph = build({"s": "sub/Inner"}, [], inports={"x": "s.in"}, outports={"y": "s.out"})
    rec = Recorder()
    net = Network(graph, reg, rec)
    net.start()
    net.send_inport("x", IP.make_data(42))
    assert rec.wait_for(lambda: rec.outputs == [("y", IP.make_data(42))])
    net.stop()


def test_back_pressure_crosses_the_subgraph_boundary():
    reg = registry()
    inner = build({"b": "test/Block"}, [], inports={"in": "b.in"}, name="blocker")
    reg.register("sub/Blocker", subgraph_class("sub/Blocker", inner))
    graph = build({"r": "core/Range", "s": "sub/Blocker"}, ["r.out -> s.in"], {"r.conf": 10**9})
    net = Network(graph, reg, capacity=8)
    net.start()
    assert "s/b" in {t.name for t in threading.enumerate()}  # inner processes: outer/inner ids
    assert not net.wait(0.2)  # Range is held back by the full connection inside the subgraph
    assert net.stop() == []


def test_a_graph_that_contains_itself_is_refused():
    reg = registry()
    loop = build({}, name="loop")
    reg.register("sub/Loop", subgraph_class("sub/Loop", loop))
    loop.add_node("again", "sub/Loop")
    with pytest.raises(NetworkError, match="contains itself"):
        Network(build({"x": "sub/Loop"}), reg).start()


def test_unknown_subgraph_port_is_a_clear_error():
    reg = registry()
    reg.register("sub/Double", subgraph_class("sub/Double", double_graph()))
    graph = build({"e": "test/Emit", "d": "sub/Double"}, ["e.out -> d.nope"], {"e.conf": []})
    with pytest.raises(NetworkError, match="has no inport 'nope'"):
        Network(graph, reg).start()


def test_different_graphs_with_the_same_name_are_not_a_cycle():
    reg = registry()
    inner = build(
        {"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"}, name="Same"
    )
    reg.register("sub/Inner", subgraph_class("sub/Inner", inner))
    outer = build(
        {"i": "sub/Inner"}, [], inports={"in": "i.in"}, outports={"out": "i.out"}, name="Same"
    )
    reg.register("sub/Outer", subgraph_class("sub/Outer", outer))
    graph = build({"o": "sub/Outer", "c": "test/Collect"}, ["o.out -> c.in"], {"o.in": 1})
    net = Network(graph, reg)
    net.start()
    assert net.wait(10)
    net.stop()
    assert Collect.seen["c"] == [IP.make_data(1)]
