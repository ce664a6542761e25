"""A graceful stop drains: nothing the network accepted through an exported inport is lost.

Every wait here is on a condition or an event; the bounds on how long a stop may take are
correctness bounds (a stop must end within its deadline), generous on purpose.
"""

from __future__ import annotations

import sys
import threading
import time

from engine_helpers import Recorder, build, registry

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine.connection import Connection, EndOfStream
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError
from flowpy.engine.ports import InputPort, PortSpec


class GatedRecorder(Recorder):
    """Holds the graph outport handler until ``gate`` opens, so IPs pile up inside."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.discards: list[tuple[int, bool]] = []

    def outport_ip(self, network, port, ip):
        self.entered.set()
        self.gate.wait()
        super().outport_ip(network, port, ip)

    def discarded(self, network, count, drained):
        self._add(("discarded", count, drained))
        self.discards.append((count, drained))


class Feeder:
    """Sends 0, 1, 2, ... into an exported inport from a thread until the network refuses;
    records every answer."""

    def __init__(self, net: Network, port: str = "in", limit: int = 10_000) -> None:
        self.net, self.port, self.limit = net, port, limit
        self.cond = threading.Condition()
        self.answers: dict[int, list[bool]] = {}
        self.sent = 0
        self.refused: NetworkError | None = None
        self.thread = threading.Thread(target=self._run, name="test-feeder")
        self.thread.start()

    def _answer(self, n: int):
        def record(ok: bool) -> None:
            with self.cond:
                self.answers.setdefault(n, []).append(ok)
                self.cond.notify_all()

        return record

    def _run(self) -> None:
        for n in range(self.limit):
            try:
                self.net.send_inport(self.port, IP.make_data(n), self._answer(n))
            except NetworkError as exc:
                with self.cond:
                    self.refused = exc
                    self.cond.notify_all()
                return
            with self.cond:
                self.sent = n + 1

    def accepted(self) -> list[int]:
        with self.cond:
            return sorted(n for n, answers in self.answers.items() if answers == [True])

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


def _stop_in_thread(net: Network, **options) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(net.stop(**options)), name="test-stop")
    thread.start()
    return thread, result


def test_a_stop_drains_every_accepted_ip_to_the_outports():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat"},
        ["a.out -> b.in"],
        inports={"in": "a.in"},
        outports={"out": "b.out"},
    )
    rec = GatedRecorder()
    net = Network(graph, registry(), rec, capacity=4)
    net.start()
    feeder = Feeder(net)
    assert rec.entered.wait(10)  # the outport handler holds the first IP ...
    assert feeder.wait(lambda: len(feeder.answers) >= 10)  # ... and the network fills up
    stopper, result = _stop_in_thread(net, timeout=30)
    assert feeder.wait(lambda: feeder.refused is not None)  # the stop refuses new input
    assert "stopping" in str(feeder.refused)
    rec.gate.set()  # now the network may drain
    stopper.join(30)
    feeder.thread.join(30)
    assert result == [[]]
    accepted = feeder.accepted()
    assert accepted == list(range(len(accepted))) and len(accepted) >= 10
    assert all(len(answers) == 1 for answers in feeder.answers.values())
    assert sorted(feeder.answers) == list(range(feeder.sent))  # every request answered
    assert [ip.data for _, ip in rec.outputs if ip.is_data] == accepted  # all out, in order
    assert net.stats["discarded"] == 0 and rec.discards == []


def test_a_drain_that_cannot_finish_stops_at_its_deadline_and_reports_what_it_cut():
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    rec = GatedRecorder()
    net = Network(graph, registry(), rec, capacity=4)
    net.start()
    feeder = Feeder(net, limit=4)
    assert feeder.wait(lambda: len(feeder.answers) == 4)  # all four inside
    began = time.monotonic()
    assert net.stop(timeout=1.0) == []
    assert time.monotonic() - began < 10  # within its deadline (1 s), with a margin
    assert rec.discards == [(4, False)]
    assert net.stats["discarded"] == 4


def test_a_runaway_loop_fed_by_an_inport_still_stops_within_the_deadline():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat"},
        ["a.out -> b.in", "b.out -> a.in"],
        inports={"in": "a.in"},
    )
    rec = GatedRecorder()
    net = Network(graph, registry(), rec)
    net.start()
    net.send_inport("in", IP.make_data("round and round"))
    began = time.monotonic()
    assert net.stop(timeout=1.0) == []
    assert time.monotonic() - began < 10
    assert len(rec.discards) == 1 and rec.discards[0][1] is False


def test_a_graph_without_inports_holds_nothing_a_client_handed_in_and_stops_at_once():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat"},
        ["a.out -> b.in", "b.out -> a.in"],
        {"a.in": "looping"},
    )
    rec = GatedRecorder()
    net = Network(graph, registry(), rec)
    net.start()
    began = time.monotonic()
    assert net.stop(timeout=60) == []
    assert time.monotonic() - began < 30  # no drain to wait for: far from the 60 s deadline
    assert rec.discards and rec.discards[0][1] is True  # the looping IP, cut and reported


def test_an_immediate_stop_does_not_drain():
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    rec = GatedRecorder()
    net = Network(graph, registry(), rec, capacity=4)
    net.start()
    feeder = Feeder(net, limit=3)
    assert feeder.wait(lambda: len(feeder.answers) == 3)  # all three inside
    began = time.monotonic()
    assert net.stop(timeout=60, drain=False) == []
    assert time.monotonic() - began < 30
    assert rec.discards == [(3, True)]


def test_a_drain_can_be_cut_short():
    graph = build({"b": "test/Block"}, [], inports={"in": "b.in"})
    rec = GatedRecorder()
    net = Network(graph, registry(), rec, capacity=4)
    net.start()
    feeder = Feeder(net, limit=3)
    assert feeder.wait(lambda: len(feeder.answers) == 3)
    stopper, result = _stop_in_thread(net, timeout=120)
    assert rec.wait_for(lambda: net.draining)
    net.cut_drain()
    stopper.join(30)
    assert not stopper.is_alive() and result == [[]]
    assert rec.discards == [(3, False)]


def test_a_network_that_finishes_while_draining_reports_one_stop_not_a_finish():
    graph = build({"a": "core/Repeat"}, [], inports={"in": "a.in"}, outports={"out": "a.out"})
    rec = GatedRecorder()
    rec.gate.set()
    net = Network(graph, registry(), rec)
    net.start()
    net.send_inport("in", IP.make_data(1))
    assert net.stop(timeout=10) == []  # the inport's end of stream ends every process
    names = [event[0] for event in rec.events]
    assert "finished" not in names and names[-1] == "stopped"
    assert [ip.data for _, ip in rec.outputs if ip.is_data] == [1]


class _HeldGIL:
    """While inside, a thread woken by this one cannot run until this one blocks: the
    interpreter does not hand the GIL over before the switch interval (an hour) has passed.
    That forces the interleaving a drain must cope with: a reader woken, not yet running."""

    def __enter__(self):
        self.interval = sys.getswitchinterval()
        sys.setswitchinterval(3600)

    def __exit__(self, *exc):
        sys.setswitchinterval(self.interval)


def _blocked_reader(read) -> threading.Thread:
    thread = threading.Thread(target=lambda: _until_end(read), name="test-reader")
    thread.start()
    return thread


def _until_end(read) -> None:
    try:
        while True:
            read()
    except EndOfStream:
        pass


def test_a_reader_woken_by_the_end_of_its_stream_is_not_idle_before_it_runs():
    conn = Connection(4, writers=1, name="a")
    blocked = threading.Event()
    conn.watch = blocked.set  # called as the reader blocks, as a drain's is
    reader = _blocked_reader(conn.recv)
    assert blocked.wait(10) and conn.reader_waiting
    with _HeldGIL():
        conn.close_writer()  # wakes the reader, which cannot run yet
        waiting = conn.reader_waiting
    reader.join(10)
    assert waiting is False


def test_a_selecting_reader_poked_is_not_idle_before_it_runs():
    a, b = Connection(4, name="a"), Connection(4, name="b")
    port = InputPort(PortSpec("in", addressable=True), {0: a, 1: b})
    blocked = threading.Event()
    port._ensure_selector().watch = blocked.set
    reader = _blocked_reader(lambda: port.recv())
    assert blocked.wait(10) and a.reader_waiting and b.reader_waiting
    with _HeldGIL():
        a.close_writer()
        waiting = (a.reader_waiting, b.reader_waiting)
    b.close_writer()
    reader.join(10)
    assert waiting == (False, False)


def test_a_total_made_at_end_of_stream_comes_out_of_every_stop():
    lost = []
    for cycle in range(20):  # the race lost the count in about half of the stops
        graph = build(
            {"pass": "core/Repeat", "count": "core/Count"},
            ["pass.out -> count.in"],
            inports={"in": "pass.in"},
            outports={"out": "count.out"},
        )
        rec = Recorder()
        net = Network(graph, registry(), rec)
        net.start()
        feeder = Feeder(net, limit=5)
        assert feeder.wait(lambda f=feeder: len(f.accepted()) == 5)
        assert net.stop(timeout=10) == []
        feeder.thread.join(10)
        totals = [ip.data for _, ip in rec.outputs if ip.is_data]
        if totals != [5]:
            lost.append((cycle, totals))
    assert lost == []


class _EmitAll(Component):
    """Sends the items of its conf, then says so (``sent``)."""

    sent = threading.Event()
    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        for item in next_data(self.inports["conf"]):
            self.outports["out"].send_data(item)
        _EmitAll.sent.set()


class _HoldSlot(Component):
    """Once everything is sent, takes one IP through the view of in[0] (whose iteration
    takes a batch) and holds on to the rest until the network stops."""

    holding = threading.Event()
    inports = InPorts(InPort("in", addressable=True))

    def run(self) -> None:
        assert _EmitAll.sent.wait(10)
        next(iter(self.inports["in"][0]))
        _HoldSlot.holding.set()
        self.stopping.wait()


def test_a_stop_counts_the_ips_a_view_of_a_slot_took_as_discarded():
    _EmitAll.sent.clear()
    _HoldSlot.holding.clear()
    reg = registry()
    reg.register("test/EmitAll", _EmitAll)
    reg.register("test/HoldSlot", _HoldSlot)
    graph = build(
        {"e": "test/EmitAll", "h": "test/HoldSlot"},
        ["e.out -> h.in[0]"],
        {"e.conf": list(range(50))},
    )
    rec = GatedRecorder()
    net = Network(graph, reg, rec)
    net.start()
    assert _HoldSlot.holding.wait(10)
    assert net.stop(timeout=10, drain=False) == []
    assert net.stats["discarded"] == 49  # all but the one handed out, none in a connection


def test_an_immediate_stop_counts_what_processes_held_as_discarded():
    """Acknowledged = delivered + discarded over stops that cut traffic off: IPs in
    connections, in a process's hands (a send refused, a batch its inport iteration took,
    the one time/Delay waits with) are all counted."""
    for _cycle in range(5):
        graph = build(
            {"a": "core/Repeat", "d": "time/Delay", "b": "core/Repeat"},
            ["a.out -> d.in", "d.out -> b.in"],
            {"d.conf": 1},
            inports={"in": "a.in"},
            outports={"out": "b.out"},
        )
        rec = GatedRecorder()
        rec.gate.set()
        net = Network(graph, registry(), rec, capacity=64)
        net.start()
        feeder = Feeder(net, limit=100_000)
        assert rec.wait_for(lambda r=rec: len(r.outputs) >= 20)  # traffic flows
        assert feeder.wait(lambda f=feeder: len(f.answers) >= 200)  # and piles up inside
        assert net.stop(timeout=10, drain=False) == []
        feeder.thread.join(10)
        delivered = [ip.data for _, ip in rec.outputs if ip.is_data]
        discarded = sum(count for count, _drained in rec.discards)
        assert len(feeder.accepted()) == len(delivered) + discarded
