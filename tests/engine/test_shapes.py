"""The public component shapes: Transform (one data IP at a time) and Aggregate (one result
per bracketed substream), with brackets passing through and bad input rejected."""

from __future__ import annotations

import threading

import pytest

from flowpy import (
    IP,
    Aggregate,
    BadInput,
    Component,
    InPort,
    InPorts,
    OutPort,
    OutPorts,
    Transform,
)
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph, PortRef
from flowpy.testing import ProcessFailed, run_component, run_graph


class Double(Transform):
    """Doubles numbers; refuses the rest."""

    outports = OutPorts(OutPort("out"), OutPort("error"))

    def transform(self, value):
        if not isinstance(value, int):
            raise BadInput(f"not a number: {value!r}")
        return value * 2


class Spell(Transform):
    """Each word as a bracketed stream of its letters; brackets also go to `copy`."""

    outports = OutPorts(OutPort("out"), OutPort("copy"))

    def setup(self):
        self.bracket_targets.append(self.outports["copy"])

    def handle(self, value):
        out = self.outports["out"]
        out.send_many([IP.open(value), *map(IP.make_data, value), IP.close(value)])


class Count(Aggregate):
    def new_state(self):
        return [0]

    def add(self, state, value):
        state[0] += 1

    def finish(self, state, empty):
        return [] if empty else [state[0]]


def test_a_transform_sends_one_value_per_data_ip_and_passes_brackets():
    result = run_component(Double, {"in": [IP.open("g"), 1, IP.close("g"), 2]}, ips=True)
    assert result["out"] == [IP.open("g"), IP.make_data(2), IP.close("g"), IP.make_data(4)]


def test_bad_input_goes_to_error_or_fails_the_process_naming_the_node():
    result = run_component(Double, {"in": [1, "x", 3]})
    assert result["out"] == [2, 6]
    [error] = result["error"]
    assert (error["message"], error["input"], error["type"]) == (
        "not a number: 'x'",
        "x",
        "BadInput",
    )

    class Plain(Double):
        outports = OutPorts(OutPort("out"))

    with pytest.raises(ProcessFailed, match="not a number: 'x'"):
        run_component(Plain, {"in": [1, "x"]})


def test_handle_sends_what_it_likes_and_bracket_targets_widen_where_brackets_go():
    result = run_component(Spell, {"in": [IP.open("s"), "ab"]}, ips=True)
    assert result["out"] == [
        IP.open("s"),
        IP.open("ab"),
        IP.make_data("a"),
        IP.make_data("b"),
        IP.close("ab"),
    ]
    assert result["copy"] == [IP.open("s")]


def test_an_aggregate_gives_one_result_per_substream():
    stream = [IP.open("a"), 1, 2, IP.close("a"), IP.open("b"), 3, IP.close("b")]
    result = run_component(Count, {"in": stream}, ips=True)
    assert result["out"] == [
        IP.open("a"),
        IP.make_data(2),
        IP.close("a"),
        IP.open("b"),
        IP.make_data(1),
        IP.close("b"),
    ]
    assert run_component(Count, {"in": [5, 6, 7]})["out"] == [3]


class Seen(Transform):
    """Counts every value it handles (a side effect) and forwards it."""

    handled = 0
    lock = threading.Lock()

    def transform(self, value):
        with Seen.lock:
            Seen.handled += 1
        return value


class KeepsReading(Seen):
    ends_with_out = False


class First(Component):
    """Reads one IP, then ends: its upstream's sends are discarded from then on."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        self.outports["out"].send(self.inports["in"].recv())


@pytest.mark.parametrize("shape, reads_everything", [(Seen, False), (KeepsReading, True)])
def test_a_transform_ends_with_its_reader_unless_it_says_otherwise(shape, reads_everything):
    registry = Registry()
    registry.register("test/T", shape)
    registry.register("test/First", First)
    graph = Graph("g")
    graph.add_node("t", "test/T")
    graph.add_node("f", "test/First")
    graph.add_edge(PortRef("t", "out"), PortRef("f", "in"))
    graph.add_inport("in", "t", "in")
    graph.add_outport("out", "f", "out")
    Seen.handled = 0
    total = 5000  # far more than the connections between the feeder, t and f hold
    assert run_graph(graph, {"in": range(total)}, registry=registry)["out"] == [0]
    assert (Seen.handled == total) is reads_everything
