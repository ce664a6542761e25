"""objects/: JMESPath Get, Set (conf or value port), keys/values, Merge per substream, Create."""

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def test_get_evaluates_jmespath_including_expressions_that_start_with_brackets():
    people = [{"name": "a", "age": 30}, {"name": "b", "age": 10}]
    assert run_component("objects/Get", {"conf": ["user.name"], "in": [{"user": {"name": "x"}}]})[
        "out"
    ] == ["x"]
    assert run_component("objects/Get", {"conf": ["[?age > `18`].name"], "in": [people]})[
        "out"
    ] == [["a"]]
    assert run_component("objects/Get", {"conf": ["{n: name}"], "in": [people[0]]})["out"] == [
        {"n": "a"}
    ]
    assert run_component("objects/Get", {"conf": ['{"expression": "length(@)"}'], "in": [people]})[
        "out"
    ] == [2]


def test_get_null_results_go_to_missed_when_connected_else_out():
    result = run_component("objects/Get", {"conf": ["a"], "in": [{"a": 1}, {"b": 2}]})
    assert result["out"] == [1] and result["missed"] == [{"b": 2}]
    graph = build(
        {"g": "objects/Get"},
        iips={"g.conf": "a"},
        inports={"in": "g.in"},
        outports={"out": "g.out"},
    )
    assert run_graph(graph, {"in": [{"b": 2}]})["out"] == [None]


def test_get_failing_expression_goes_to_error_and_bad_expression_fails_clearly():
    result = run_component("objects/Get", {"conf": ["length(a)"], "in": [{"a": 3}, {"a": "xy"}]})
    assert result["out"] == [2] and "length" in result["error"][0]["message"]
    with pytest.raises(ProcessFailed, match="bad JMESPath expression 'a\\['"):
        run_component("objects/Get", {"conf": ["a["], "in": [{}]})


def test_get_brackets_pass():
    out = run_component(
        "objects/Get", {"conf": ["a"], "in": [OPEN("g"), {"a": 1}, CLOSE("g")]}, ips=True
    )["out"]
    assert shape(out) == ["<g", 1, ">g"]


def test_set_from_conf_leaves_the_input_unchanged():
    original = {"a": 1}
    result = run_component(
        "objects/Set", {"conf": [{"key": "b", "value": [2]}], "in": [original, "x"]}
    )
    assert result["out"] == [{"a": 1, "b": [2]}] and original == {"a": 1}
    assert "wants an object" in result["error"][0]["message"]


def test_set_value_from_the_value_port_latest_applies():
    assert run_component("objects/Set", {"conf": ["k"], "value": ["v"], "in": [{}, {"k": 0}]})[
        "out"
    ] == [{"k": "v"}, {"k": "v"}]


def test_set_without_a_value_anywhere_is_a_clear_error():
    with pytest.raises(ProcessFailed, match="give the value"):
        run_graph(
            build(
                {"s": "objects/Set"},
                iips={"s.conf": "k"},
                inports={"in": "s.in"},
                outports={"out": "s.out"},
            ),
            {"in": [{}]},
        )


def test_removeproperty_keys_values_size():
    assert run_component(
        "objects/RemoveProperty", {"conf": [["a", "z"]], "in": [{"a": 1, "b": 2}]}
    )["out"] == [{"b": 2}]
    assert run_component("objects/Keys", {"in": [{"b": 1, "a": 2}]})["out"] == [["b", "a"]]
    assert run_component("objects/Values", {"in": [{"b": 1, "a": 2}]})["out"] == [[1, 2]]
    assert run_component("objects/Size", {"in": [{"a": 1}, [1, 2], "abc"]})["out"] == [1, 2, 3]
    assert run_component("objects/Keys", {"in": [[1]]})["error"][0]["input"] == [1]
    assert run_component("objects/Size", {"in": [5]})["error"]


def test_splitarray_brackets_each_array():
    out = run_component("objects/SplitArray", {"in": [[1, 2], []]}, ips=True)["out"]
    assert shape(out) == ["<array", 1, 2, ">array", "<array", ">array"]
    assert run_component("objects/SplitArray", {"in": [{"a": 1}]})["error"]


def test_merge_per_substream_deep_by_default():
    items = [
        OPEN("x"),
        {"a": {"b": 1}, "c": 1},
        {"a": {"d": 2}, "c": 3},
        CLOSE("x"),
        OPEN("y"),
        CLOSE("y"),
    ]
    out = run_component("objects/Merge", {"in": items}, ips=True)["out"]
    assert shape(out) == ["<x", {"a": {"b": 1, "d": 2}, "c": 3}, ">x", "<y", {}, ">y"]
    shallow = run_component(
        "objects/Merge", {"conf": ['{"deep": false}'], "in": [{"a": {"b": 1}}, {"a": {"d": 2}}]}
    )
    assert shallow["out"] == [{"a": {"d": 2}}]


def test_merge_whole_stream_empty_stream_and_bad_input():
    assert run_component("objects/Merge", {"in": []})["out"] == [{}]
    result = run_component("objects/Merge", {"in": [{"a": 1}, 5, {"b": 2}]})
    assert result["out"] == [{"a": 1, "b": 2}] and result["error"][0]["input"] == 5


def test_create_keys_slots_by_conf_names_in_lockstep():
    graph = build(
        {"a": "core/Repeat", "b": "core/Repeat", "c": "objects/Create"},
        ["a.out -> c.in[0]", "b.out -> c.in[1]"],
        iips={"c.conf": ["name", "age"]},
        inports={"names": "a.in", "ages": "b.in"},
        outports={"out": "c.out"},
    )
    result = run_graph(graph, {"names": ["ann", "bob", "extra"], "ages": [30, 40]})
    assert result["out"] == [{"name": "ann", "age": 30}, {"name": "bob", "age": 40}]


def test_create_without_conf_keys_by_slot_index():
    graph = build(
        {"a": "core/Repeat", "c": "objects/Create"},
        ["a.out -> c.in[0]"],
        inports={"in": "a.in"},
        outports={"out": "c.out"},
    )
    assert run_graph(graph, {"in": [1]})["out"] == [{"0": 1}]
