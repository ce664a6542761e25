"""time/: every wait ends at once on a network stop; Throttle paces without dropping."""

import threading
import time
from datetime import datetime

import pytest
from engine_helpers import build

from flowpy import IP, Network, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


class Collect(NetworkListener):
    def __init__(self):
        self.ips = []
        self.first = threading.Event()

    def outport_ips(self, network, port, ips):
        self.ips.extend(ips)
        self.first.set()


def started(graph):
    listener = Collect()
    network = Network(graph, Registry(), listener)
    network.start()
    for port in network.exported_inports:
        network.close_inport(port)
    return network, listener


def stop_time(network):
    start = time.monotonic()
    stuck = network.stop(5.0, drain=False)
    assert stuck == []
    return time.monotonic() - start


def test_delay_delays_each_data_ip_and_keeps_order():
    start = time.monotonic()
    out = run_component(
        "time/Delay", {"conf": [50], "in": [OPEN("g"), 1, 2, CLOSE("g")]}, ips=True
    )["out"]
    assert out == [OPEN("g"), IP.make_data(1), IP.make_data(2), CLOSE("g")]
    assert time.monotonic() - start >= 0.1


def test_delay_stops_at_once_on_a_network_stop():
    graph = build(
        {"r": "core/Range", "d": "time/Delay"},
        ["r.out -> d.in"],
        iips={"r.conf": 3, "d.conf": 60_000},
        outports={"out": "d.out"},
    )
    network, _ = started(graph)
    time.sleep(0.1)
    assert stop_time(network) < 1.0


def test_interval_counts_until_count_and_starts_where_told():
    start = time.monotonic()
    assert run_component("time/Interval", {"conf": [{"ms": 20, "count": 3, "start": 5}]})[
        "out"
    ] == [5, 6, 7]
    assert time.monotonic() - start >= 0.05


def test_interval_runs_until_the_network_stops():
    graph = build({"i": "time/Interval"}, iips={"i.conf": 10}, outports={"out": "i.out"})
    network, listener = started(graph)
    assert listener.first.wait(5)
    assert stop_time(network) < 1.0
    values = [ip.data for ip in listener.ips]
    assert values == list(range(len(values))) and len(values) >= 1


def test_interval_ends_on_an_ip_on_stop():
    graph = build(
        {"i": "time/Interval"},
        iips={"i.conf": 10_000},
        inports={"stop": "i.stop"},
        outports={"out": "i.out"},
    )
    start = time.monotonic()
    assert run_graph(graph, {"stop": [True]}, timeout=5)["out"] == []
    assert time.monotonic() - start < 2


def test_interval_refuses_bad_conf():
    with pytest.raises(ProcessFailed, match="ms must be more than 0"):
        run_component("time/Interval", {"conf": [0]})
    with pytest.raises(ProcessFailed, match="ms must be a number"):
        run_component("time/Interval", {"conf": ["soon"]})


def test_throttle_paces_without_dropping():
    start = time.monotonic()
    out = run_component("time/Throttle", {"conf": [20], "in": list(range(6))})["out"]
    elapsed = time.monotonic() - start
    assert out == list(range(6))
    assert elapsed >= 5 / 20 * 0.9  # five gaps of 50 ms


def test_throttle_applies_back_pressure_upstream_and_stops_at_once():
    graph = build(
        {"r": "core/Range", "t": "time/Throttle"},
        ["r.out -> t.in"],
        iips={"r.conf": 100_000, "t.conf": 2},
        outports={"out": "t.out"},
    )
    network, listener = started(graph)
    assert listener.first.wait(5)
    time.sleep(0.3)
    assert stop_time(network) < 1.0
    assert len(listener.ips) <= 2  # one at once, the next after 0.5 s: nothing dropped either


def test_throttle_refuses_a_rate_of_zero():
    with pytest.raises(ProcessFailed, match="rate must be more than 0"):
        run_component("time/Throttle", {"conf": [0], "in": [1]})


def test_debounce_sends_the_last_of_a_burst_and_flushes_at_the_end():
    assert run_component("time/Debounce", {"conf": [200], "in": [1, 2, 3]})["out"] == [3]
    out = run_component(
        "time/Debounce", {"conf": [200], "in": [1, 2, OPEN("g"), 3, CLOSE("g")]}, ips=True
    )["out"]
    assert out == [IP.make_data(2), OPEN("g"), IP.make_data(3), CLOSE("g")]
    assert run_component("time/Debounce", {"conf": [10], "in": []})["out"] == []


def test_debounce_sends_after_quiet_time_while_the_stream_goes_on():
    graph = build(
        {"i": "time/Interval", "d": "time/Debounce", "t": "flow/Take"},
        ["i.out -> d.in", "d.out -> t.in"],
        iips={"i.conf": {"ms": 100, "count": 3}, "d.conf": 20, "t.conf": 3},
        outports={"out": "t.out"},
    )
    assert run_graph(graph, timeout=10)["out"] == [0, 1, 2]


def test_timestamp_adds_iso_time_to_objects_and_wraps_other_values():
    out = run_component("time/Timestamp", {"in": [{"a": 1}, 2]})["out"]
    assert out[0]["a"] == 1 and datetime.fromisoformat(out[0]["timestamp"]).tzinfo is not None
    assert out[1]["value"] == 2 and "timestamp" in out[1]
    named = run_component("time/Timestamp", {"conf": ["at"], "in": [{}]})["out"]
    assert list(named[0]) == ["at"]
