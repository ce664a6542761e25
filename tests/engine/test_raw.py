"""The raw form: a data IP travels as its bare payload, a bracket as its IP; components that
handle whole batches read and send it, and nothing makes an object per data IP on their way."""

from __future__ import annotations

import pytest
from engine_helpers import Collect, build, registry, run_to_end

from flowpy import (
    IP,
    Aggregate,
    Component,
    InPort,
    InPorts,
    OutPort,
    OutPorts,
    Transform,
    count_data,
    raw_data,
)
from flowpy.engine.connection import Connection
from flowpy.engine.failures import Failure
from flowpy.engine.network import Network, NetworkListener
from flowpy.engine.ports import InputPort, OutputPort


def ports(capacity: int = 16) -> tuple[OutputPort, InputPort, Connection]:
    conn = Connection(capacity)
    return OutputPort(OutPort("out"), {None: [conn]}), InputPort(InPort("in"), {None: conn}), conn


def test_raw_data_is_payloads_and_brackets_are_ips():
    out, inport, _ = ports()
    bracket_as_payload = IP.close("not a bracket")
    out.send(IP.open("g"))
    out.send_data(1)
    out.send_data(bracket_as_payload)  # data whose payload is an IP stays data
    out.send(IP.make_data(None))
    out.send(IP.close("g"))
    items = inport.recv_raw()
    assert items[0] == IP.open("g") and items[1] == 1 and items[4] == IP.close("g")
    assert items[2] == IP.make_data(bracket_as_payload) and items[3] == IP.make_data(None)
    assert count_data(items) == 3


def test_recv_and_iteration_give_ips_whatever_form_they_travelled_in():
    out, inport, conn = ports()
    out.send_raw([1, IP.open("g"), 2, IP.close("g")])
    out.send_raw(raw_data([IP.open("payload"), 3]))
    out.close()
    assert inport.recv() == IP.make_data(1)
    assert inport.recv_many(2) == [IP.open("g"), IP.make_data(2)]
    assert list(inport) == [IP.close("g"), IP.make_data(IP.open("payload")), IP.make_data(3)]


@pytest.mark.parametrize(
    "values, data",
    [([], 0), ([1, 2, 3], 3), ([IP.open(), 1, IP.make_data(2), IP.close()], 2)],
)
def test_count_data_counts_data_ips_only(values, data):
    assert count_data(values) == data


def test_raw_data_wraps_only_payloads_that_are_ips():
    assert raw_data(iter([1, "a", None])) == [1, "a", None]
    assert raw_data([IP.open("x"), 2]) == [IP.make_data(IP.open("x")), 2]


def count_ips_made(monkeypatch) -> list[int]:
    """A cell counting the IP objects made from now on."""
    made = [0]
    original = IP.__init__

    def counting(self, kind, data=None):
        made[0] += 1
        original(self, kind, data)

    monkeypatch.setattr(IP, "__init__", counting)
    return made


def test_a_batch_pipeline_makes_no_object_per_data_ip(monkeypatch):
    made = count_ips_made(monkeypatch)
    nodes = {"src": "core/Range", "sink": "core/Count", "c": "test/Collect"}
    nodes.update({f"r{i}": "core/Repeat" for i in range(3)})
    edges = [
        "src.out -> r0.in",
        "r0.out -> r1.in",
        "r1.out -> r2.in",
        "r2.out -> sink.in",
        "sink.out -> c.in",
    ]
    Collect.seen = {}
    run_to_end(build(nodes, edges, {"src.conf": 5000}))
    assert Collect.seen["c"] == [IP.make_data(5000)]
    assert made[0] < 10, f"{made[0]} IP objects for 5000 data IPs"


class Failures(NetworkListener):
    def __init__(self) -> None:
        self.failures: list[Failure] = []

    def process_failed(self, network, failure):
        self.failures.append(failure)


class FailOnTwo(Component):
    """Reads raw batches and fails on a batch holding the payload 2."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        inport = self.inports["in"]
        while True:
            items = inport.recv_raw(1)
            if 2 in items:
                raise ValueError("two")
            self.outports["out"].send_raw(items)


def test_a_failure_in_a_batch_reader_names_the_ip_as_an_ip():
    reg = registry()
    reg.register("test/FailOnTwo", FailOnTwo)
    graph = build(
        {"src": "core/Range", "f": "test/FailOnTwo", "c": "test/Collect"},
        ["src.out -> f.in", "f.out -> c.in"],
        {"src.conf": 4},
    )
    graph.change_node("f", {"onError": "continue"})
    listener = Failures()
    Collect.seen = {}
    network = Network(graph, reg, listener)
    network.start()
    assert network.wait(20)
    network.stop()
    assert [failure.ip for failure in listener.failures] == [IP.make_data(2)]
    assert Collect.seen["c"] == [IP.make_data(0), IP.make_data(1), IP.make_data(3)]


def test_iter_raw_hands_out_raw_items_and_leaves_the_rest_for_a_fresh_instance():
    out, inport, _ = ports()
    out.send_raw([1, IP.open("g"), 2])
    out.close()
    seen = []
    for item in inport.iter_raw():
        seen.append(item)
        if item == IP.open("g"):
            break  # as a failing run() would: what is left waits on the port
    assert seen == [1, IP.open("g")]
    assert list(inport) == [IP.make_data(2)]


class Double(Transform):
    def transform(self, value):
        return value * 2


class Sum(Aggregate):
    def new_state(self):
        return [0]

    def add(self, state, value):
        state[0] += value

    def finish(self, state, empty):
        return [] if empty else [state[0]]


def test_the_shapes_make_no_object_per_data_ip(monkeypatch):
    made = count_ips_made(monkeypatch)
    reg = registry()
    reg.register("test/Double", Double)
    reg.register("test/Sum", Sum)
    graph = build(
        {"src": "core/Range", "d": "test/Double", "s": "test/Sum", "c": "test/Collect"},
        ["src.out -> d.in", "d.out -> s.in", "s.out -> c.in"],
        {"src.conf": 1000},
    )
    Collect.seen = {}
    network = Network(graph, reg)
    network.start()
    assert network.wait(20)
    network.stop()
    assert Collect.seen["c"] == [IP.make_data(999 * 1000)]
    assert made[0] < 10, f"{made[0]} IP objects for 1000 data IPs"
