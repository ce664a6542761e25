"""flow/: Filter, Route, Gate, Take, Skip, Last, Batch, Collect, Zip, Sort, Distinct, Kick."""

import time

import pytest
from engine_helpers import build

from flowpy import IP, NetworkError
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


PEOPLE = [
    {"name": "ann", "age": 30, "city": "Oslo"},
    {"name": "bob", "age": 0, "city": "Rome"},
    {"name": "cy", "age": 12, "city": "Oslo"},
]


def test_filter_passes_truthy_results_and_rejects_the_rest():
    result = run_component("flow/Filter", {"conf": ["age >= `18`"], "in": PEOPLE})
    assert [p["name"] for p in result["out"]] == ["ann"]
    assert [p["name"] for p in result["rejected"]] == ["bob", "cy"]


def test_filter_truth_is_jmespaths_zero_is_true_empty_and_null_are_false():
    result = run_component("flow/Filter", {"conf": ["@"], "in": [0, "", [], {}, None, False, "x"]})
    assert result["out"] == [0, "x"]


def test_filter_without_rejected_drops_and_brackets_go_to_both():
    graph = build(
        {"f": "flow/Filter"},
        iips={"f.conf": "a"},
        inports={"in": "f.in"},
        outports={"out": "f.out"},
    )
    assert run_graph(graph, {"in": [{"a": 1}, {"a": None}]})["out"] == [{"a": 1}]
    result = run_component(
        "flow/Filter", {"conf": ["a"], "in": [OPEN("g"), {"a": 0}, CLOSE("g")]}, ips=True
    )
    assert shape(result["out"]) == ["<g", {"a": 0}, ">g"]
    assert shape(result["rejected"]) == ["<g", ">g"]


def test_filter_bad_expression_and_failing_expression():
    with pytest.raises(ProcessFailed, match="bad JMESPath"):
        run_component("flow/Filter", {"conf": ["a =="], "in": [1]})
    assert run_component("flow/Filter", {"conf": ["length(@)"], "in": [5]})["error"]
    with pytest.raises(NetworkError, match="required inport 'conf' is not connected"):
        run_component("flow/Filter", {"in": [1]})
    with pytest.raises(ProcessFailed, match="must be a JMESPath expression"):
        run_component("flow/Filter", {"conf": [{"expression": 3}], "in": [1]})


def route_graph(conf, slots, unmatched=True):
    edges = [f"r.out[{slot}] -> s{n}.in" for n, slot in enumerate(slots)]
    nodes = {"r": "flow/Route", **{f"s{n}": "core/Repeat" for n in range(len(slots))}}
    outports = {f"s{n}": f"s{n}.out" for n in range(len(slots))}
    if unmatched:
        outports["unmatched"] = "r.unmatched"
    return build(nodes, edges, iips={"r.conf": conf}, inports={"in": "r.in"}, outports=outports)


def test_route_by_value_to_named_slots_and_unmatched():
    result = run_graph(
        route_graph("city", ["Oslo", "Rome"]), {"in": PEOPLE + [{"city": "X"}]}, ips=True
    )
    assert [p.data["name"] for p in result["s0"]] == ["ann", "cy"]
    assert [p.data["name"] for p in result["s1"]] == ["bob"]
    assert [p.data for p in result["unmatched"]] == [{"city": "X"}]


def test_route_with_a_routes_list_for_fbp_numeric_indexes_and_brackets_everywhere():
    conf = {"expression": "city", "routes": ["Rome", "Oslo"]}
    result = run_graph(
        route_graph(conf, [0, 1]), {"in": [OPEN("g"), *PEOPLE, CLOSE("g")]}, ips=True
    )
    assert shape(result["s0"]) == ["<g", PEOPLE[1], ">g"]
    assert shape(result["s1"]) == ["<g", PEOPLE[0], PEOPLE[2], ">g"]
    assert shape(result["unmatched"]) == ["<g", ">g"]


def test_route_numbers_and_booleans_name_slots_and_unmatched_is_dropped_when_unconnected():
    result = run_graph(route_graph("age > `18`", ["true"], unmatched=False), {"in": PEOPLE})
    assert [p["name"] for p in result["s0"]] == ["ann"]
    result = run_graph(route_graph({"expression": "age", "routes": {"12": 0}}, [0]), {"in": PEOPLE})
    assert [p["name"] for p in result["s0"]] == ["cy"]


def test_gate_starts_closed_holds_input_and_opens():
    graph = build(
        {"g": "flow/Gate"}, inports={"in": "g.in", "open": "g.open"}, outports={"out": "g.out"}
    )
    assert run_graph(graph, {"in": [1, 2], "open": [True]})["out"] == [1, 2]


def test_gate_that_can_never_open_ends_instead_of_hanging():
    graph = build(
        {"g": "flow/Gate"}, inports={"in": "g.in", "close": "g.close"}, outports={"out": "g.out"}
    )
    assert run_graph(graph, {"in": [1, 2], "close": [True]}, timeout=5)["out"] == []


def test_gate_open_then_close_with_a_kick_sequence():
    # open, then close after the first IP: the second IP is held, then discarded at the end
    graph = build(
        {"g": "flow/Gate"}, inports={"in": "g.in"}, outports={"out": "g.out"}, iips={"g.open": True}
    )
    assert run_graph(graph, {"in": [OPEN("b"), 1, CLOSE("b")]}, ips=True)["out"] == [
        OPEN("b"),
        IP.make_data(1),
        CLOSE("b"),
    ]


def test_take_forwards_n_and_ends_closing_open_brackets():
    items = [OPEN("a"), 1, OPEN("b"), 2, 3, CLOSE("b"), 4, CLOSE("a"), 5]
    out = run_component("flow/Take", {"conf": [2], "in": items}, ips=True)["out"]
    assert shape(out) == ["<a", 1, "<b", 2, ">b", ">a"]
    assert run_component("flow/Take", {"conf": [0], "in": [1]})["out"] == []
    assert run_component("flow/Take", {"conf": [5], "in": [1, 2]})["out"] == [1, 2]


def test_take_ends_an_endless_upstream_graph():
    graph = build(
        {"i": "time/Interval", "t": "flow/Take"},
        ["i.out -> t.in"],
        iips={"i.conf": 1, "t.conf": 3},
        outports={"out": "t.out"},
    )
    assert run_graph(graph, timeout=10)["out"] == [0, 1, 2]


def test_skip_drops_the_first_n():
    out = run_component(
        "flow/Skip", {"conf": ["2"], "in": [OPEN("g"), 1, 2, 3, CLOSE("g")]}, ips=True
    )["out"]
    assert shape(out) == ["<g", 3, ">g"]


def test_take_refuses_a_negative_count():
    with pytest.raises(ProcessFailed, match="count must be a whole number >= 0"):
        run_component("flow/Take", {"conf": [-1], "in": [1]})


def test_last_per_substream_whole_stream_and_empty():
    items = [OPEN("a"), 1, 2, CLOSE("a"), OPEN("b"), CLOSE("b")]
    assert shape(run_component("flow/Last", {"in": items}, ips=True)["out"]) == [
        "<a",
        2,
        ">a",
        "<b",
        ">b",
    ]
    assert run_component("flow/Last", {"in": [1, 2, 3]})["out"] == [3]
    assert run_component("flow/Last", {"in": []})["out"] == []


def test_batch_lists_of_n_never_spanning_substreams():
    assert run_component("flow/Batch", {"conf": [2], "in": [1, 2, 3, 4, 5]})["out"] == [
        [1, 2],
        [3, 4],
        [5],
    ]
    items = [OPEN("a"), 1, 2, 3, CLOSE("a"), OPEN("b"), 4, CLOSE("b"), OPEN("c"), CLOSE("c")]
    assert shape(run_component("flow/Batch", {"conf": [2], "in": items}, ips=True)["out"]) == [
        "<a",
        [1, 2],
        [3],
        ">a",
        "<b",
        [4],
        ">b",
        "<c",
        ">c",
    ]
    assert run_component("flow/Batch", {"conf": [3], "in": []})["out"] == []


def test_batch_sends_full_lists_before_the_stream_ends_and_ends_when_nobody_reads():
    graph = build(
        {"i": "time/Interval", "b": "flow/Batch", "t": "flow/Take"},
        ["i.out -> b.in", "b.out -> t.in"],
        iips={"i.conf": 1, "b.conf": 2, "t.conf": 2},
        outports={"out": "t.out"},
    )
    assert run_graph(graph, timeout=10)["out"] == [[0, 1], [2, 3]]


def test_batch_refuses_zero():
    with pytest.raises(ProcessFailed, match="size must be a positive whole number"):
        run_component("flow/Batch", {"conf": [0], "in": [1]})


def test_collect_per_substream_and_whole_stream():
    items = [OPEN("a"), 1, 2, CLOSE("a"), OPEN("b"), CLOSE("b")]
    assert shape(run_component("flow/Collect", {"in": items}, ips=True)["out"]) == [
        "<a",
        [1, 2],
        ">a",
        "<b",
        [],
        ">b",
    ]
    assert run_component("flow/Collect", {"in": []})["out"] == [[]]


def test_sort_by_value_key_reverse_and_mixed_kinds():
    assert run_component("flow/Sort", {"in": [3, 1, 2]})["out"] == [1, 2, 3]
    people = run_component(
        "flow/Sort", {"conf": ['{"key": "age", "reverse": true}'], "in": PEOPLE}
    )["out"]
    assert [p["name"] for p in people] == ["ann", "cy", "bob"]
    assert run_component("flow/Sort", {"in": ["b", 2, None, "a", 1, {"k": 1}]})["out"] == [
        None,
        1,
        2,
        "a",
        "b",
        {"k": 1},
    ]


def test_sort_per_substream_and_empty_stream():
    items = [OPEN("a"), 2, 1, CLOSE("a"), OPEN("b"), 9, 8, CLOSE("b")]
    assert shape(run_component("flow/Sort", {"in": items}, ips=True)["out"]) == [
        "<a",
        1,
        2,
        ">a",
        "<b",
        8,
        9,
        ">b",
    ]
    assert run_component("flow/Sort", {"in": []})["out"] == []


def test_sort_key_failure_goes_to_error():
    result = run_component("flow/Sort", {"conf": ["length(@)"], "in": ["ab", 5, "a"]})
    assert result["out"] == ["a", "ab"] and result["error"][0]["input"] == 5


def test_distinct_by_value_and_by_key_per_substream():
    assert run_component("flow/Distinct", {"in": [1, 2, 1, [1], [1], {"a": 1}, {"a": 1}]})[
        "out"
    ] == [1, 2, [1], {"a": 1}]
    assert [
        p["name"] for p in run_component("flow/Distinct", {"conf": ["city"], "in": PEOPLE})["out"]
    ] == ["ann", "bob"]
    items = [OPEN("a"), 1, 1, CLOSE("a"), OPEN("b"), 1, CLOSE("b")]
    assert shape(run_component("flow/Distinct", {"in": items}, ips=True)["out"]) == [
        "<a",
        1,
        ">a",
        "<b",
        1,
        ">b",
    ]


def test_zip_one_from_each_slot_in_lockstep_ending_with_the_shortest():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat", "z": "flow/Zip"},
        ["a.out -> z.in[0]", "b.out -> z.in[1]"],
        inports={"a": "a.in", "b": "b.in"},
        outports={"out": "z.out"},
    )
    result = run_graph(
        graph, {"a": [OPEN("g"), 1, 2, 3, CLOSE("g")], "b": [OPEN("x"), "x", "y"]}, ips=True
    )
    assert shape(result["out"]) == ["<g", [1, "x"], [2, "y"]]


def test_zip_with_a_long_stream_keeps_memory_bounded_by_back_pressure():
    graph = build(
        {"r": "core/Range", "s": "core/Split", "z": "flow/Zip", "c": "core/Count"},
        ["r.out -> s.in", "s.out[0] -> z.in[0]", "s.out[1] -> z.in[1]", "z.out -> c.in"],
        iips={"r.conf": 20000},
        outports={"n": "c.out"},
    )
    assert run_graph(graph, timeout=30)["n"] == [20000]


def test_kick_sends_data_for_each_bang():
    assert run_component("flow/Kick", {"data": [{"go": 1}], "in": [None, "x"]})["out"] == [
        {"go": 1},
        {"go": 1},
    ]
    graph = build(
        {"k": "flow/Kick"},
        iips={"k.conf": "hello"},
        inports={"in": "k.in"},
        outports={"out": "k.out"},
    )
    assert run_graph(graph, {"in": [1, OPEN("g"), 2, CLOSE("g")]}, ips=True)["out"] == [
        IP.make_data("hello"),
        OPEN("g"),
        IP.make_data("hello"),
        CLOSE("g"),
    ]


def test_kick_with_data_connected_but_empty_uses_conf():
    assert run_component("flow/Kick", {"data": [], "conf": [7], "in": [1]})["out"] == [7]


def test_removebrackets_drops_brackets_only():
    items = [OPEN("a"), 1, OPEN("b"), 2, CLOSE("b"), CLOSE("a")]
    out = run_component("flow/RemoveBrackets", {"in": items}, ips=True)["out"]
    assert shape(out) == [1, 2]


def test_aggregators_never_hang_on_unbalanced_brackets():
    start = time.monotonic()
    out = run_component("flow/Collect", {"in": [OPEN("a"), 1]}, ips=True, timeout=5)["out"]
    assert shape(out) == ["<a", [1]] and time.monotonic() - start < 5
    with pytest.raises(ProcessFailed, match="close bracket 'a' without an open bracket"):
        run_component("flow/Collect", {"in": [CLOSE("a")]})
