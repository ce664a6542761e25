"""math/: two-operand components (NoFlo port names), Compare, Round and the aggregates."""

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data
            for ip in ips]


@pytest.mark.parametrize("name, first, second, result, a, b, expected", [
    ("Add", "augend", "addend", "sum", 2, 3, 5),
    ("Subtract", "minuend", "subtrahend", "difference", 2, 3, -1),
    ("Multiply", "multiplicand", "multiplier", "product", 2, 3.5, 7.0),
    ("Divide", "dividend", "divisor", "quotient", 6, 3, 2),
    ("Divide", "dividend", "divisor", "quotient", 1, 4, 0.25),
])
def test_two_operands_from_conf_or_from_the_port(name, first, second, result, a, b, expected):
    assert run_component(f"math/{name}", {first: [a], "conf": [b]})[result] == [expected]
    assert run_component(f"math/{name}", {first: [a], "conf": [{second: b}]})[result] == \
        [expected]
    assert run_component(f"math/{name}", {first: [str(a)], second: [b]})[result] == [expected]


def test_the_latest_second_operand_applies_and_brackets_pass():
    graph = build({"a": "math/Add"}, iips={"a.addend": 10}, inports={"augend": "a.augend"},
                  outports={"sum": "a.sum"})
    out = run_graph(graph, {"augend": [OPEN("g"), 1, 2, CLOSE("g")]}, ips=True)["sum"]
    assert shape(out) == ["<g", 11, 12, ">g"]


def test_bad_numbers_and_division_by_zero_go_to_error():
    result = run_component("math/Add", {"augend": [1, "x", None, True], "conf": [1]})
    assert result["sum"] == [2] and [e["input"] for e in result["error"]] == ["x", None, True]
    result = run_component("math/Divide", {"dividend": [1], "conf": [0]})
    assert result["quotient"] == [] and "division by zero" in result["error"][0]["message"]


def test_missing_second_operand_and_bad_conf_are_clear_process_errors():
    graph = build({"a": "math/Add"}, inports={"augend": "a.augend"}, outports={"sum": "a.sum"})
    with pytest.raises(ProcessFailed, match="give the addend on the 'addend' port"):
        run_graph(graph, {"augend": [1]})
    with pytest.raises(ProcessFailed, match="conf addend must be a number"):
        run_component("math/Add", {"augend": [1], "conf": ["ten"]})
    graph = build({"a": "math/Add"}, inports={"augend": "a.augend"}, outports={"sum": "a.sum"},
                  iips={"a.conf": 1})
    with pytest.raises(ProcessFailed, match="augend must be a number"):
        run_graph(graph, {"augend": ["x"]})


def test_compare_routes_to_pass_and_fail():
    result = run_component("math/Compare", {"value": [1, 5, "7"],
                                            "conf": ['{"comparison": 4, "operator": ">"}']})
    assert result["pass"] == [5, "7"] and result["fail"] == [1]
    result = run_component("math/Compare", {"value": [3, 4], "comparison": [4]})
    assert result["pass"] == [4] and result["fail"] == [3]
    result = run_component("math/Compare", {"value": [3], "operator": ["le"], "conf": [3]})
    assert result["pass"] == [3]


def test_compare_unknown_operator():
    with pytest.raises(ProcessFailed, match="unknown operator '=~'"):
        run_component("math/Compare", {"value": [1], "conf": [{"comparison": 1,
                                                              "operator": "=~"}]})


def test_round_places_modes_and_bad_input():
    assert run_component("math/Round", {"in": [2.5, 3.5, "1.26"]})["out"] == [2, 4, 1]
    assert run_component("math/Round", {"conf": [1], "in": [1.26]})["out"] == [1.3]
    assert run_component("math/Round", {"conf": [{"mode": "floor"}], "in": [-1.5]})["out"] == [-2]
    assert run_component("math/Round", {"conf": [{"places": 1, "mode": "ceil"}],
                                        "in": [1.21]})["out"] == [1.3]
    assert run_component("math/Round", {"in": ["x", float("inf")]})["error"]


def test_aggregates_over_the_whole_stream():
    values = [3, "1", 2.5]
    assert run_component("math/Sum", {"in": values})["out"] == [6.5]
    assert run_component("math/Average", {"in": values})["out"] == [6.5 / 3]
    assert run_component("math/Min", {"in": values})["out"] == [1]
    assert run_component("math/Max", {"in": values})["out"] == [3]


def test_aggregates_per_substream():
    items = [OPEN("a"), 1, 2, CLOSE("a"), OPEN("b"), 10, CLOSE("b"), OPEN("e"), CLOSE("e")]
    assert shape(run_component("math/Sum", {"in": items}, ips=True)["out"]) == \
        ["<a", 3, ">a", "<b", 10, ">b", "<e", 0, ">e"]
    assert shape(run_component("math/Average", {"in": items}, ips=True)["out"]) == \
        ["<a", 1.5, ">a", "<b", 10.0, ">b", "<e", ">e"]
    assert shape(run_component("math/Max", {"in": items}, ips=True)["out"]) == \
        ["<a", 2, ">a", "<b", 10, ">b", "<e", ">e"]


def test_aggregates_of_empty_streams():
    assert run_component("math/Sum", {"in": []})["out"] == [0]
    for name in ("Average", "Min", "Max"):
        assert run_component(f"math/{name}", {"in": []})["out"] == []


def test_aggregates_reject_non_numbers():
    result = run_component("math/Sum", {"in": [1, "x", 2]})
    assert result["out"] == [3] and result["error"][0]["input"] == "x"
    graph = build({"s": "math/Sum"}, inports={"in": "s.in"}, outports={"out": "s.out"})
    with pytest.raises(ProcessFailed, match="must be a number"):
        run_graph(graph, {"in": [{"a": 1}]})


def test_sum_of_a_range_per_brackets_from_core_group():
    graph = build({"r": "core/Range", "g": "core/Group", "s": "math/Sum"},
                  ["r.out -> g.in", "g.out -> s.in"], iips={"r.conf": 10, "g.size": 5},
                  outports={"out": "s.out"})
    assert run_graph(graph)["out"] == [10, 35]
