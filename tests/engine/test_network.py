"""The network: wiring, IIPs, brackets, fan-in/out, addressable ports, completion, errors, stop."""

import threading

import pytest
from engine_helpers import Collect, Recorder, build, registry, run_to_end

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine.connection import EndOfStream
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.graphs.model import PortRef


@pytest.fixture(autouse=True)
def clean_collect():
    Collect.seen.clear()
    yield
    Collect.seen.clear()


def datas(ips):
    return [ip.data for ip in ips if ip.is_data]


def test_pipeline_with_iip_runs_to_completion():
    graph = build(
        {
            "range": "core/Range",
            "rep": "core/Repeat",
            "count": "core/Count",
            "sink": "test/Collect",
        },
        ["range.out -> rep.in", "rep.out -> count.in", "count.out -> sink.in"],
        {"range.conf": 5000},
    )
    rec = run_to_end(graph)
    assert datas(Collect.seen["sink"]) == [5000]
    assert rec.events[0] == ("started",)
    assert rec.events[-2:] == [("finished",), ("stopped",)]


def test_process_threads_are_named_after_nodes():
    graph = build({"a": "test/Block"}, [])
    net = Network(graph, registry())
    net.start()
    try:
        assert "a" in {t.name for t in threading.enumerate()}
        assert "test-IN" in {t.name for t in threading.enumerate()}
    finally:
        assert net.stop() == []


def test_port_names_match_case_insensitively():
    graph = build(
        {"e": "test/Emit", "r": "core/Repeat", "c": "test/Collect"},
        ["e.OUT -> r.In", "r.out -> c.IN"],
        {"e.CONF": [1, 2, 3]},
    )
    run_to_end(graph)
    assert datas(Collect.seen["c"]) == [1, 2, 3]


def test_brackets_are_preserved_end_to_end():
    items = [{"<": "outer"}, 1, {"<": "inner"}, 2, {">": "inner"}, {">": "outer"}, None]
    graph = build(
        {"e": "test/Emit", "r1": "core/Repeat", "r2": "core/Repeat", "c": "test/Collect"},
        ["e.out -> r1.in", "r1.out -> r2.in", "r2.out -> c.in"],
        {"e.conf": items},
    )
    run_to_end(graph)
    assert Collect.seen["c"] == [
        IP.open("outer"),
        IP.make_data(1),
        IP.open("inner"),
        IP.make_data(2),
        IP.close("inner"),
        IP.close("outer"),
        IP.make_data(None),
    ]


def test_fan_in_merges_and_ends_after_every_writer():
    graph = build(
        {"a": "test/Emit", "b": "test/Emit", "c": "test/Collect"},
        ["a.out -> c.in", "b.out -> c.in"],
        {"a.conf": list(range(100)), "b.conf": list(range(100, 200))},
    )
    run_to_end(graph)
    got = datas(Collect.seen["c"])
    assert sorted(got) == list(range(200))
    assert [n for n in got if n < 100] == list(range(100))


def test_fan_out_sends_every_ip_to_every_edge():
    graph = build(
        {"a": "test/Emit", "c1": "test/Collect", "c2": "test/Collect"},
        ["a.out -> c1.in", "a.out -> c2.in"],
        {"a.conf": [1, 2, 3]},
    )
    run_to_end(graph)
    assert datas(Collect.seen["c1"]) == datas(Collect.seen["c2"]) == [1, 2, 3]


def test_split_and_merge_through_addressable_ports():
    graph = build(
        {
            "e": "test/Emit",
            "s": "core/Split",
            "m": "core/Merge",
            "c0": "test/Collect",
            "c": "test/Collect",
        },
        [
            "e.out -> s.in",
            "s.out[0] -> m.in[0]",
            "s.out[1] -> m.in[1]",
            "s.out[2] -> c0.in",
            "m.out -> c.in",
        ],
        {"e.conf": list(range(50))},
    )
    run_to_end(graph)
    assert datas(Collect.seen["c0"]) == list(range(50))
    got = datas(Collect.seen["c"])
    assert sorted(got) == sorted(list(range(50)) * 2)


def test_addressable_slots_are_reported_and_read_separately():
    from flowpy import Component, InPort, InPorts, OutPort, OutPorts

    seen = {}

    class Slots(Component):
        inports = InPorts(InPort("in", addressable=True))
        outports = OutPorts(OutPort("out", addressable=True))

        def run(self):
            seen["in"] = self.inports["in"].connected_slots()
            seen["out"] = self.outports["out"].connected_slots()
            seen["a"] = [ip.data for ip in self.inports["in"]["a"] if ip.is_data]
            seen[3] = [ip.data for ip in self.inports["in"][3] if ip.is_data]

    reg = registry()
    reg.register("test/Slots", Slots)
    graph = build(
        {"x": "test/Emit", "y": "test/Emit", "s": "test/Slots", "c": "test/Collect"},
        ["x.out -> s.in[a]", "y.out -> s.in[3]", "s.out[7] -> c.in"],
        {"x.conf": ["x1", "x2"], "y.conf": ["y1"]},
    )
    net = Network(graph, reg)
    net.start()
    assert net.wait(10)
    net.stop()
    assert seen == {"in": [3, "a"], "out": [7], "a": ["x1", "x2"], 3: ["y1"]}


@pytest.mark.parametrize(
    "edges, message",
    [
        (["a.nope -> c.in"], "has no outport 'nope'"),
        (["a.out -> c.missing"], "has no inport 'missing'"),
        (["a.out[1] -> c.in"], "not addressable"),
    ],
)
def test_invalid_wiring_is_a_clear_error_at_start_and_nothing_runs(edges, message):
    graph = build({"a": "test/Emit", "c": "test/Collect"}, edges, {"a.conf": [1]})
    net = Network(graph, registry())
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(NetworkError, match=message):
        net.start()
    assert not net.started
    assert {t.name for t in threading.enumerate()} == before


def test_unknown_component_is_a_clear_error():
    graph = build({"a": "nowhere/Thing"})
    with pytest.raises(NetworkError, match="unknown component 'nowhere/Thing'"):
        Network(graph, registry()).start()


def test_required_port_must_be_connected():
    graph = build({"r": "core/Range"})
    with pytest.raises(NetworkError, match="required inport 'conf'"):
        Network(graph, registry()).start()


def test_process_error_is_reported_and_downstream_sees_end_of_stream():
    graph = build(
        {
            "e": "test/Emit",
            "f": "test/Fail",
            "c": "test/Collect",
            "e2": "test/Emit",
            "c2": "test/Collect",
        },
        ["e.out -> f.in", "f.out -> c.in", "e2.out -> c2.in"],
        {"e.conf": list(range(10)), "f.conf": 3, "e2.conf": ["still", "working"]},
    )
    rec = run_to_end(graph)
    assert len(rec.errors) == 1
    node, message, tb = rec.errors[0]
    assert node == "f" and "failing on purpose at IP 3" in message and "Traceback" in tb
    assert datas(Collect.seen["c"]) == [0, 1, 2]
    assert datas(Collect.seen["c2"]) == ["still", "working"]


def test_upstream_of_a_failed_process_is_not_blocked_forever():
    # The failed process stops reading; its upstream must still be able to finish.
    graph = build(
        {"r": "core/Range", "f": "test/Fail", "c": "test/Collect"},
        ["r.out -> f.in", "f.out -> c.in"],
        {"r.conf": 100000, "f.conf": 0},
    )
    rec = run_to_end(graph)
    assert [e[0] for e in rec.errors] == ["f"]


def test_stop_while_blocked_on_a_full_connection():
    graph = build(
        {"r": "core/Range", "b": "test/Block"},
        ["r.out -> b.in"],
        {"r.conf": 10**9},
    )
    rec = Recorder()
    net = Network(graph, registry(), rec, capacity=16)
    net.start()
    assert not net.wait(0.2)  # Range is blocked: its connection is full and nobody reads
    assert net.running
    assert net.stop(timeout=5) == []
    assert not net.running and not net.started
    assert rec.errors == []
    assert rec.events[-1] == ("stopped",)
    assert ("finished",) not in rec.events


def test_start_stop_start_runs_again():
    graph = build({"r": "core/Range", "c": "test/Collect"}, ["r.out -> c.in"], {"r.conf": 3})
    net = Network(graph, registry())
    for _ in range(3):
        net.start()
        assert net.wait(10)
        assert net.stop() == []
    assert datas(Collect.seen["c"]) == [0, 1, 2] * 3


def test_graph_ports_connect_deliver_and_disconnect_inports_first():
    graph = build({"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"})
    rec = Recorder()
    net = Network(graph, registry(), rec)
    net.start()
    accepted = []
    net.inport_event("in", "connect", accepted.append)
    net.send_inport("in", IP.open("g"), accepted.append)
    for n in range(3):
        net.send_inport(
            "IN", IP.make_data(n), accepted.append
        )  # public names match case-insensitively too
    net.send_inport("in", IP.close("g"), accepted.append)
    assert rec.wait_for(lambda: len(rec.outputs) == 5)
    assert rec.outputs == [
        ("out", IP.open("g")),
        ("out", IP.make_data(0)),
        ("out", IP.make_data(1)),
        ("out", IP.make_data(2)),
        ("out", IP.close("g")),
    ]
    assert rec.wait_for(lambda: len(accepted) == 6) and all(accepted)
    net.stop()
    ports = [e for e in rec.events if e[0] == "port"]
    assert ports == [
        ("port", "in", "in", "connect"),
        ("port", "out", "out", "connect"),
        ("port", "in", "in", "disconnect"),
        ("port", "out", "out", "disconnect"),
    ]
    # exported ports connect before the network announces itself started, and before any data
    assert rec.events[:3] == [
        ("port", "in", "in", "connect"),
        ("port", "out", "out", "connect"),
        ("started",),
    ]
    first_ip = next(i for i, e in enumerate(rec.events) if e[0] == "ip")
    assert first_ip > rec.events.index(("port", "out", "out", "connect"))


def test_closing_a_graph_inport_lets_the_network_finish():
    graph = build({"c": "core/Count"}, [], inports={"in": "c.in"}, outports={"out": "c.out"})
    rec = Recorder()
    net = Network(graph, registry(), rec)
    net.start()
    for n in range(10):
        net.send_inport("in", IP.make_data(n))
    net.close_inport("in")
    assert net.wait(10)
    assert rec.outputs == [("out", IP.make_data(10))]
    assert ("finished",) in rec.events
    net.stop()


def test_send_to_unknown_graph_inport_or_stopped_network_is_an_error():
    graph = build({"r": "core/Repeat"}, [], inports={"in": "r.in"})
    net = Network(graph, registry())
    with pytest.raises(NetworkError, match="not running"):
        net.send_inport("in", IP.make_data(1))
    net.start()
    with pytest.raises(NetworkError, match="no exported inport 'nope'"):
        net.send_inport("nope", IP.make_data(1))
    net.stop()
    with pytest.raises(NetworkError, match="not running"):
        net.send_inport("in", IP.make_data(1))


def test_graph_inport_acceptance_waits_for_back_pressure():
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    net = Network(graph, registry(), capacity=2)
    net.start()
    accepted = []
    cond = threading.Condition()

    def ack(ok):
        with cond:
            accepted.append(ok)
            cond.notify_all()

    for n in range(4):
        net.send_inport("in", IP.make_data(n), ack)
    with cond:
        assert cond.wait_for(lambda: len(accepted) == 2, 5)
        assert not cond.wait_for(
            lambda: len(accepted) > 2, 0.2
        )  # the rest wait: the inport is full
    net.stop(drain=False)  # Block never reads: nothing could drain


def test_console_output_goes_to_the_listener():
    graph = build(
        {"e": "test/Emit", "o": "core/Output"},
        ["e.out -> o.in"],
        {"e.conf": ["text", {"a": [1, 2]}, 3]},
    )
    rec = run_to_end(graph)
    assert rec.console == [("o", "text"), ("o", '{"a":[1,2]}'), ("o", "3")]


def test_tap_sees_every_ip_on_one_edge_only():
    graph = build(
        {"e": "test/Emit", "b": "core/Repeat", "r": "core/Repeat", "c": "test/Collect"},
        ["e.out -> b.in", "b.out -> r.in", "r.out -> c.in"],
        {"e.conf": []},
        inports={"in": "b.in"},
    )
    net = Network(graph, registry())
    net.start()
    seen = []
    untap = net.tap(PortRef("b", "out"), PortRef("r", "in"), seen.append)
    net.send_inport("in", IP.open("x"))
    net.send_inport("in", IP.make_data(1))
    net.send_inport("in", IP.close("x"))
    net.close_inport("in")
    assert net.wait(10)
    untap()
    net.stop()
    assert seen == [IP.open("x"), IP.make_data(1), IP.close("x")]
    assert Collect.seen["c"] == seen


def test_a_tapped_edge_takes_ips_sent_one_by_one():
    """core/Split sends IP by IP (OutputPort.send), the path a tap must wrap as well."""
    graph = build(
        {"s": "core/Split", "c": "test/Collect"}, ["s.out[0] -> c.in"], inports={"in": "s.in"}
    )
    Collect.seen.pop("c", None)
    rec = Recorder()
    net = Network(graph, registry(), rec)
    net.start()
    seen = []
    untap = net.tap(PortRef("s", "out", 0), PortRef("c", "in"), seen.append)
    for n in range(3):
        net.send_inport("in", IP.make_data(n))
    net.close_inport("in")
    assert net.wait(10)
    untap()
    assert net.stop() == []
    assert rec.errors == []
    assert datas(seen) == [0, 1, 2] and datas(Collect.seen["c"]) == [0, 1, 2]


def test_an_outport_may_close_early():
    from flowpy import Component, InPort, InPorts, OutPort, OutPorts

    class First(Component):
        inports = InPorts(InPort("in"))
        outports = OutPorts(OutPort("out"))

        def run(self):
            self.outports["out"].send(self.inports["in"].recv())
            self.outports["out"].close()
            for _ in self.inports["in"]:
                pass

    reg = registry()
    reg.register("test/First", First)
    graph = build(
        {"e": "test/Emit", "f": "test/First", "c": "test/Collect"},
        ["e.out -> f.in", "f.out -> c.in"],
        {"e.conf": [1, 2, 3]},
    )
    net = Network(graph, reg)
    net.start()
    assert net.wait(10)
    net.stop()
    assert datas(Collect.seen["c"]) == [1]


def test_recv_with_timeout_in_a_component():
    from flowpy import Component, InPort, InPorts

    outcome = []

    class Patient(Component):
        inports = InPorts(InPort("in"))

        def run(self):
            try:
                self.inports["in"].recv(timeout=0.05)
            except TimeoutError:
                outcome.append("timeout")

    reg = registry()
    reg.register("test/Patient", Patient)
    graph = build({"p": "test/Patient"}, [], inports={"in": "p.in"})
    net = Network(graph, reg)
    net.start()
    assert net.wait(10)
    net.stop()
    assert outcome == ["timeout"]


def test_stopping_is_announced_before_threads_are_joined_and_edges_are_listed():
    graph = build(
        {"r": "core/Range", "b": "test/Block"},
        ["r.out -> b.in"],
        {"r.conf": 10**9},
        outports={"out": "r.out"},
    )
    order = []

    class Watch(Recorder):
        def stopping(self, network):
            order.append(("stopping", network.running))

        def stopped(self, network):
            order.append(("stopped", network.running))

    net = Network(graph, registry(), Watch(), capacity=4)
    net.start()
    assert net.edges == [(("r", "out", None), ("b", "in", None))]
    net.stop()
    assert order == [("stopping", True), ("stopped", False)]


class Burst(Component):
    """Sends its ``conf`` list with one ``send_many`` (one lock round-trip)."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        self.outports["out"].send_many([IP.make_data(v) for v in next_data(self.inports["conf"])])


class BatchRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list] = []

    def outport_ips(self, network, port, ips):
        with self.cond:
            self.batches.append([ip.data for ip in ips])
        super().outport_ips(network, port, ips)  # the default: each to outport_ip


class OnlyOutportIp(NetworkListener):
    """A listener that knows nothing of batches: the default ``outport_ips`` feeds it."""

    def __init__(self) -> None:
        self.seen: list = []
        self.done = threading.Event()

    def outport_ip(self, network, port, ip):
        self.seen.append(ip.data)
        if len(self.seen) == 10:
            self.done.set()


def test_ips_queued_together_at_a_graph_outport_reach_a_listener_together():
    graph = build({"b": "test/Burst"}, [], {"b.conf": list(range(10))}, outports={"out": "b.out"})
    reg = registry()
    reg.register("test/Burst", Burst)
    batching, plain = BatchRecorder(), OnlyOutportIp()
    net = Network(graph, reg, batching, capacity=16)
    net.add_listener(plain)
    net.start()
    assert batching.wait_for(lambda: len(batching.outputs) == 10)
    assert plain.done.wait(10)
    net.stop()
    assert batching.batches == [list(range(10))]
    assert [ip.data for _, ip in batching.outputs] == plain.seen == list(range(10))


def test_a_listener_lacking_methods_of_the_protocol_is_refused_when_added():
    class Partial:  # duck-typed, and missing all but one method the network calls
        def outport_ip(self, network, port, ip): ...

    graph = build({"b": "test/Burst"}, [], {"b.conf": [1]}, outports={"out": "b.out"})
    net = Network(graph, registry())
    with pytest.raises(TypeError, match="is not a NetworkListener"):
        net.add_listener(Partial())
    with pytest.raises(TypeError, match="is not a NetworkListener"):
        Network(graph, registry(), [Recorder(), Partial()])
    assert net.structure.processes == []  # nothing was started or changed


def test_the_running_component_of_a_node_can_be_inspected():
    graph = build({"r": "core/Range", "c": "test/Collect"}, ["r.out -> c.in"], {"r.conf": 3})
    net = Network(graph, registry())
    with pytest.raises(KeyError):
        net.component("c")  # not running yet
    net.start()
    assert isinstance(net.component("c"), Collect) and net.component("c").node_id == "c"
    with pytest.raises(KeyError, match="nope"):
        net.component("nope")
    assert net.wait(10)
    net.stop()


class Linger(Component):
    """Waits for the stop, then records how long it may still take to wind down."""

    inports = InPorts(InPort("in"))
    budgets: list[float] = []

    def run(self) -> None:
        self.stopping.wait()
        Linger.budgets.append(self.time_to_stop(100.0))


def test_a_component_learns_the_time_left_by_the_network_stop_timeout():
    reg = registry()
    reg.register("test/Linger", Linger)
    Linger.budgets = []
    assert Linger("x").time_to_stop(3.0) == 3.0  # no stop under way: what it asks for
    net = Network(build({"l": "test/Linger"}), reg)
    net.start()
    assert net.stop(timeout=2.0) == []
    assert len(Linger.budgets) == 1 and 0 < Linger.budgets[0] <= 2.0 * 0.8


def test_every_inport_request_is_answered_even_when_a_stop_cuts_it_short():
    """Accepted, or refused with False: a request queued at the stop is never forgotten."""
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    net = Network(graph, registry(), capacity=4)
    net.start()
    answers: dict[int, list[bool]] = {}
    cond = threading.Condition()

    def answer(n):
        def record(ok):
            with cond:
                answers.setdefault(n, []).append(ok)
                cond.notify_all()

        return record

    # 4 fit into b's inport, one waits in the IN handler, 2 stay in its request queue (a
    # writer that had to wait resumes at the queue's low watermark, half its capacity).
    total = 4 + 1 + 2
    for n in range(total):
        net.send_inport("in", IP.make_data(n), answer(n))
    with cond:
        assert cond.wait_for(lambda: len(answers) == 4, 10)
    assert net.stop(timeout=5, drain=False) == []  # an immediate stop cuts them short
    assert sorted(answers) == list(range(total))
    assert all(len(a) == 1 for a in answers.values())
    assert [answers[n][0] for n in range(total)] == [True] * 4 + [False] * (total - 4)


def test_on_queued_runs_before_any_process_can_read_the_ip():
    """The hook a link session counts acceptance with: it must come before anything the
    network makes of the IP, or an output could overtake the acknowledgement of its input."""
    graph = build({"c": "test/Collect"}, [], inports={"in": "c.in"})
    Collect.seen.pop("c", None)
    net = Network(graph, registry(), capacity=4)
    net.start()
    seen_at_queue: list[int] = []
    answers: list[bool] = []
    total = 300
    for n in range(total):
        net.send_inport(
            "in",
            IP.make_data(n),
            answers.append,
            lambda: seen_at_queue.append(len(Collect.seen.get("c", []))),
        )
    net.close_inport("in")
    assert net.wait(10)
    assert net.stop() == []
    assert len(seen_at_queue) == total and answers == [True] * total
    # when IP n entered, the collector had seen at most the n before it
    assert all(seen <= n for n, seen in enumerate(seen_at_queue))
    assert datas(Collect.seen["c"]) == list(range(total))


class _Relay(Component):
    """Forwards IP by IP with recv() (never draining its inport in one go) and counts."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))
    relayed = 0
    enough = threading.Event()

    def run(self) -> None:
        inport, out = self.inports["in"], self.outports["out"]
        while not self.stopping.is_set():
            try:
                ip = inport.recv()
            except EndOfStream:
                return
            _Relay.relayed += 1
            if _Relay.relayed >= 5000:
                _Relay.enough.set()
            out.send(ip)


def test_a_loop_holding_less_than_its_room_never_deadlocks():
    """a -> b -> a with capacity 4 and 9 IPs circulating (4 + 4 buffered + 1 in hand fits).
    A writer resumes at the low watermark; a reader that took less must still wake it
    before it blocks itself, or a and b wait for each other beside free room."""
    reg = registry()
    reg.register("test/Relay", _Relay)
    graph = build({"a": "test/Relay", "b": "test/Relay"}, ["a.out -> b.in", "b.out -> a.in"], {})
    for n in range(5):
        graph.add_initial(n, PortRef("a", "in"))
    for n in range(4):
        graph.add_initial(100 + n, PortRef("b", "in"))
    _Relay.relayed = 0
    _Relay.enough.clear()
    net = Network(graph, reg, capacity=4)
    net.start()
    try:
        assert _Relay.enough.wait(20), f"stuck after {_Relay.relayed} IPs"
    finally:
        assert net.stop(timeout=5) == []


def test_many_ips_to_a_graph_inport_as_one_request_are_counted_in_and_accepted_once():
    """send_inport_many: in order, on_queued counts every IP as it enters (in parts, while the
    inport is full), and on_accepted runs once, after the last."""
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    net = Network(graph, registry(), capacity=2)
    net.start()
    queued: list[int] = []
    accepted: list[bool] = []
    cond = threading.Condition()

    def on_queued(n: int) -> None:
        with cond:
            queued.append(n)
            cond.notify_all()

    def on_accepted(ok: bool) -> None:
        with cond:
            accepted.append(ok)
            cond.notify_all()

    net.send_inport_many("in", [IP.make_data(n) for n in range(5)], on_accepted, on_queued)
    with cond:  # Block never reads: two go in, the rest wait for room
        assert cond.wait_for(lambda: sum(queued) == 2, 5)
        assert not cond.wait_for(lambda: accepted or sum(queued) > 2, 0.2)
    net.stop(drain=False)
    assert accepted == [False]  # stopped before the rest went in: said once


def test_many_ips_to_a_graph_inport_arrive_in_order_among_single_ones():
    graph = build({"r": "core/Repeat"}, [], inports={"in": "r.in"}, outports={"out": "r.out"})
    rec = Recorder()
    net = Network(graph, registry(), rec)
    net.start()
    accepted: list[bool] = []
    queued: list[int] = []
    net.send_inport("in", IP.open("g"), accepted.append)
    net.send_inport_many("in", [IP.make_data(n) for n in range(3)], accepted.append, queued.append)
    net.send_inport("in", IP.close("g"), accepted.append)
    assert rec.wait_for(lambda: len(rec.outputs) == 5)
    assert [ip for _, ip in rec.outputs] == [
        IP.open("g"),
        IP.make_data(0),
        IP.make_data(1),
        IP.make_data(2),
        IP.close("g"),
    ]
    assert rec.wait_for(lambda: len(accepted) == 3) and all(accepted)
    assert sum(queued) == 3
    net.stop()
