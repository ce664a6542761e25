"""Error policies: a failure while handling an IP goes to the error port, or is reported and
the process goes on, restarts (within an intensity) or stops (flowpy.engine.failures)."""

from __future__ import annotations

import pytest
from engine_helpers import Collect, build, registry

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.engine.failures import ErrorPolicy, Failure
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.graphs import fbp, json_format
from flowpy.graphs.model import PortRef


class Failures(NetworkListener):
    """Keeps every failure the network reports."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []

    def process_failed(self, network, failure):
        self.failures.append(failure)


class Count(Component):
    """Counts data IPs; the count of this instance leaves when the stream ends."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        count = 0
        for ip in self.inports["in"]:
            if ip.data == "boom":
                raise RuntimeError("boom")
            count += 1
        self.outports["out"].send_data(count)


def run_graph(graph, policy: ErrorPolicy | None = None) -> tuple[Failures, Network]:
    reg = registry()
    reg.register("test/Count", Count)
    Collect.seen = {}
    listener = Failures()
    network = Network(graph, reg, listener, error_policy=policy)
    network.start()
    assert network.wait(20), "network did not finish"
    assert network.stop() == []
    return listener, network


def parse_graph(items, conf=None, edges=(), nodes=None, metadata=None):
    graph = build(
        {"e": "test/Emit", "p": "strings/ParseNumber", "c": "test/Collect", **(nodes or {})},
        ["e.out -> p.in", "p.out -> c.in", *edges],
        {"e.conf": items, **({"p.conf": conf} if conf is not None else {})},
    )
    if metadata:
        graph.change_node("p", metadata)
    return graph


def seen(node="c"):
    return [ip.data for ip in Collect.seen.get(node, []) if ip.is_data]


def test_continue_reports_the_failing_ip_and_goes_on_with_the_next():
    listener, network = run_graph(parse_graph(["1", "x", "3"]), ErrorPolicy("continue"))
    assert seen() == [1, 3]
    [failure] = listener.failures
    assert (failure.node, failure.component, failure.type) == (
        "p",
        "strings/ParseNumber",
        "ValueError",
    )
    assert failure.ip is not None and failure.ip.data == "x"
    assert failure.outcome == "continue" and "not 'x'" in failure.message
    assert network.restarts["p"] == 1


def test_the_default_policy_stops_the_process_as_before():
    listener, _ = run_graph(parse_graph(["1", "x", "3"]))
    assert seen() == [1]
    assert [f.outcome for f in listener.failures] == ["stop"]
    assert "process stopped" in listener.failures[0].line()


def test_ips_taken_in_a_batch_are_not_lost_when_a_fresh_instance_goes_on():
    items = [("x" if n % 10 == 3 else str(n)) for n in range(500)]
    listener, _ = run_graph(parse_graph(items), ErrorPolicy("continue"))
    assert seen() == [n for n in range(500) if n % 10 != 3]
    assert len(listener.failures) == 50


def test_restart_within_its_intensity_then_the_process_stops():
    metadata = {"onError": "restart", "maxRestarts": "2", "restartWithin": "60"}
    listener, network = run_graph(
        parse_graph(["1", "x", "2", "y", "3", "z", "4"], metadata=metadata)
    )
    assert seen() == [1, 2, 3]
    assert [f.outcome for f in listener.failures] == ["restart", "restart", "stop"]
    assert listener.failures[-1].gave_up and "too many restarts" in listener.failures[-1].line()
    assert network.restarts["p"] == 2


def test_a_fresh_instance_gets_the_iips_again():
    listener, _ = run_graph(
        parse_graph(["1.5", "x", "2.7"], conf={"int": True}), ErrorPolicy("continue")
    )
    assert seen() == [1, 2]


class Labels(Component):
    """Labels each data IP of `in` with the values on the slots of the addressable `label`
    (IIPs), read once at the start; fails on "boom"."""

    inports = InPorts(InPort("in"), InPort("label", addressable=True))
    outports = OutPorts(OutPort("out"))

    def labels(self) -> list:
        return sorted(ip.data for ip in self.inports["label"])  # every slot, merged

    def run(self) -> None:
        labels = self.labels()
        for ip in self.inports["in"]:
            if ip.data == "boom":
                raise RuntimeError("boom")
            self.outports["out"].send_data([*labels, ip.data])


class LabelsAsOptions(Labels):
    def labels(self) -> list:
        port = self.inports["label"]
        return sorted(port.recv_option() for _ in port.connected_slots())


# (Read slot by slot through views, port[i], the IIPs came back already: a fresh instance's
# views read the connections the IIPs are preloaded in again.)
@pytest.mark.parametrize("cls", [Labels, LabelsAsOptions])
def test_a_restarted_instance_gets_the_iips_on_an_addressable_inport_again(cls):
    reg = registry()
    reg.register("test/Labels", cls)
    Collect.seen = {}
    graph = build(
        {"e": "test/Emit", "l": "test/Labels", "c": "test/Collect"},
        ["e.out -> l.in", "l.out -> c.in"],
        {"e.conf": ["a", "boom", "b"], "l.label[0]": "A", "l.label[1]": "B"},
    )
    graph.change_node("l", {"onError": "restart"})
    listener = Failures()
    network = Network(graph, reg, listener)
    network.start()
    assert network.wait(20)
    assert network.stop() == []
    assert [f.outcome for f in listener.failures] == ["restart"]
    assert network.restarts["l"] == 1
    assert seen() == [["A", "B", "a"], ["A", "B", "b"]]  # the fresh instance has both


class EchoSlot(Component):
    """Forwards in[0] (read through the view), failing on "x"."""

    inports = InPorts(InPort("in", addressable=True))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        for ip in self.inports["in"][0]:
            if ip.data == "x":
                raise RuntimeError("x")
            self.outports["out"].send(ip)


def test_ips_a_view_of_a_slot_took_in_a_batch_are_not_lost_when_a_fresh_instance_goes_on():
    reg = registry()
    reg.register("test/EchoSlot", EchoSlot)
    Collect.seen = {}
    items = [("x" if n % 10 == 3 else n) for n in range(300)]
    graph = build(
        {"e": "test/Emit", "s": "test/EchoSlot", "c": "test/Collect"},
        ["e.out -> s.in[0]", "s.out -> c.in"],
        {"e.conf": items},
    )
    listener = Failures()
    network = Network(graph, reg, listener, error_policy=ErrorPolicy("continue"))
    network.start()
    assert network.wait(20)
    assert network.stop() == []
    assert seen() == [n for n in range(300) if n % 10 != 3]
    assert len(listener.failures) == 30


def test_a_failure_outside_an_ip_stops_whatever_the_policy():
    listener, _ = run_graph(parse_graph(["1", "2"], conf={"bogus": 1}), ErrorPolicy("continue"))
    [failure] = listener.failures
    assert failure.ip is None and failure.outcome == "stop" and "bogus" in failure.message
    assert seen() == []


def test_a_wired_error_port_gets_the_failure_as_data_and_nothing_is_reported():
    # flow/Filter compares text with a number: bad input, with a hint at its common cause.
    graph = build(
        {"e": "test/Emit", "f": "flow/Filter", "c": "test/Collect", "err": "test/Collect"},
        ["e.out -> f.in", "f.out -> c.in", "f.error -> err.in"],
        {"e.conf": [{"age": 20}, {"age": "x"}, {"age": 30}], "f.conf": "age >= `18`"},
    )
    listener, network = run_graph(graph)  # the default policy would stop: the port catches
    assert seen() == [{"age": 20}, {"age": 30}]
    [error] = seen("err")
    assert set(error) == {"node", "component", "type", "message", "input", "time", "hint"}
    assert (error["node"], error["component"], error["input"]) == ("f", "flow/Filter", {"age": "x"})
    assert listener.failures == []


def test_state_of_the_failed_instance_is_gone_after_a_restart():
    graph = build(
        {"e": "test/Emit", "n": "test/Count", "c": "test/Collect"},
        ["e.out -> n.in", "n.out -> c.in"],
        {"e.conf": ["a", "b", "boom", "c"]},
    )
    listener, _ = run_graph(graph, ErrorPolicy("continue"))
    assert seen() == [1]  # the fresh instance counted only "c"


def test_fbp_node_metadata_sets_the_policy():
    text = (
        "e(test/Emit) OUT -> IN p(strings/ParseNumber:onError=continue) OUT -> IN c(test/Collect)\n"
    )
    graph = json_format.load(fbp.parse(text))
    assert graph.nodes["p"].metadata == {"onError": "continue"}
    graph.add_initial(["1", "x", "3"], PortRef("e", "conf"))
    listener, _ = run_graph(graph)
    assert seen() == [1, 3] and [f.outcome for f in listener.failures] == ["continue"]


def test_a_process_inside_a_subgraph_inherits_the_subgraph_nodes_policy():
    from flowpy.engine.subgraph import subgraph_class

    inner = build(
        {"p": "strings/ParseNumber"},
        inports={"in": "p.in"},
        outports={"out": "p.out"},
        name="inner",
    )
    reg = registry()
    reg.register("test/Inner", subgraph_class("test/Inner", inner))
    graph = build(
        {"e": "test/Emit", "s": "test/Inner", "c": "test/Collect"},
        ["e.out -> s.in", "s.out -> c.in"],
        {"e.conf": ["1", "x", "3"]},
    )
    graph.change_node("s", {"onError": "continue"})
    Collect.seen = {}
    listener = Failures()
    network = Network(graph, reg, listener)
    network.start()
    assert network.wait(20)
    network.stop()
    assert seen() == [1, 3] and [f.node for f in listener.failures] == ["s/p"]


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ({"maxRestarts": "inf"}, "maxRestarts must be a whole number >= 0, not 'inf'"),
        ({"maxRestarts": "nan"}, "maxRestarts must be a whole number >= 0, not 'nan'"),
        ({"maxRestarts": "1.5"}, "maxRestarts must be a whole number >= 0, not '1.5'"),
        ({"restartWithin": "nan"}, "restartWithin must be a number of seconds > 0, not 'nan'"),
        ({"restartWithin": "soon"}, "restartWithin must be a number of seconds > 0, not 'soon'"),
    ],
)
def test_a_restart_limit_that_is_no_count_or_duration_refuses_the_start(metadata, says):
    graph = parse_graph(["1"], metadata={"onError": "restart", **metadata})
    with pytest.raises(NetworkError) as refused:
        Network(graph, registry()).start()
    assert str(refused.value) == f"node 'p': {says}"


def test_a_bad_policy_in_metadata_refuses_the_start():
    graph = parse_graph(["1"], metadata={"onError": "explode"})
    reg = registry()
    with pytest.raises(NetworkError, match="node 'p': onError must be one of"):
        Network(graph, reg).start()


class Telling(Failures):
    """Keeps failures and says it told the people watching (as `flowpy run` does)."""

    def process_failed(self, network, failure):
        super().process_failed(network, failure)
        return True


def failing_network(listener: NetworkListener | None) -> Network:
    reg = registry()
    reg.register("test/Count", Count)
    graph = build({"e": "test/Emit", "c": "test/Count"}, ["e.out -> c.in"], {"e.conf": ["boom"]})
    network = Network(graph, reg, *([listener] if listener is not None else []))
    network.start()
    assert network.wait(20), "network did not finish"
    assert network.stop() == []
    return network


@pytest.mark.parametrize("listener", [None, Failures()], ids=["no listener", "a silent one"])
def test_a_failure_nobody_told_people_of_is_logged_once_with_its_traceback_at_debug(
    listener, caplog
):
    caplog.set_level("DEBUG", logger="flowpy.engine")
    failing_network(listener)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "process c (test/Count) failed: RuntimeError: boom (on 'boom'); process stopped"
    ]
    [debug] = [r.getMessage() for r in caplog.records if "traceback" in r.getMessage()]
    assert debug.startswith("process c (test/Count) traceback:\n") and "raise RuntimeError" in debug
    assert all(r.levelname == "DEBUG" for r in caplog.records if "Traceback" in r.getMessage())


def test_a_failure_a_listener_told_people_of_is_not_logged_again(caplog):
    caplog.set_level("DEBUG", logger="flowpy.engine")
    listener = Telling()
    failing_network(listener)
    [failure] = listener.failures
    assert failure.node == "c" and failure.outcome == "stop"
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
