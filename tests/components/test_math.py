"""math/: two-operand components (in/operand/out, NoFlo names as aliases), Compare, Round and
the aggregates."""

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.engine import portspec
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


@pytest.mark.parametrize(
    "name, a, b, expected",
    [
        ("Add", 2, 3, 5),
        ("Subtract", 2, 3, -1),
        ("Multiply", 2, 3.5, 7.0),
        ("Divide", 6, 3, 2),
        ("Divide", 1, 4, 0.25),
    ],
)
def test_two_operands_from_conf_or_from_the_port(name, a, b, expected):
    assert run_component(f"math/{name}", {"in": [a], "conf": [b]})["out"] == [expected]
    assert run_component(f"math/{name}", {"in": [a], "conf": [{"operand": b}]})["out"] == [expected]
    assert run_component(f"math/{name}", {"in": [str(a)], "operand": [b]})["out"] == [expected]


@pytest.mark.parametrize(
    "name, first, second, result",
    [
        ("Add", "augend", "addend", "sum"),
        ("Subtract", "minuend", "subtrahend", "difference"),
        ("Multiply", "multiplicand", "multiplier", "product"),
        ("Divide", "dividend", "divisor", "quotient"),
    ],
)
def test_the_noflo_port_names_still_work_for_a_release_with_one_warning(
    name, first, second, result, caplog, monkeypatch
):
    monkeypatch.setattr(portspec, "_warned", set())  # what this process has said so far
    expected = {"Add": 8, "Subtract": 4, "Multiply": 12, "Divide": 3}[name]
    by_port = build(
        {"a": f"math/{name}"},
        iips={f"a.{second.upper()}": 2},
        inports={"x": f"a.{first}"},
        outports={"y": f"a.{result}"},
    )
    by_conf = build(
        {"a": f"math/{name}"},
        iips={"a.conf": {second: 2}},
        inports={"x": "a.in"},
        outports={"y": "a.out"},
    )
    for graph in (by_port, by_port, by_conf, by_conf):
        assert run_graph(graph, {"x": [6]})["y"] == [expected]
    warnings = [r.getMessage() for r in caplog.records if "is deprecated" in r.getMessage()]
    assert sorted(warnings) == sorted(
        [
            f"math/{name}: port {first!r} is deprecated, it is called 'in' now (the old name "
            "goes in the next release)",
            f"math/{name}: port {second!r} is deprecated, it is called 'operand' now (the old "
            "name goes in the next release)",
            f"math/{name}: port {result!r} is deprecated, it is called 'out' now (the old name "
            "goes in the next release)",
            f"math/{name}: conf option {second!r} is deprecated, it is called 'operand' now (the "
            "old name goes in the next release)",
        ]
    )


def test_the_latest_second_operand_applies_and_brackets_pass():
    graph = build(
        {"a": "math/Add"}, iips={"a.operand": 10}, inports={"in": "a.in"}, outports={"out": "a.out"}
    )
    out = run_graph(graph, {"in": [OPEN("g"), 1, 2, CLOSE("g")]}, ips=True)["out"]
    assert shape(out) == ["<g", 11, 12, ">g"]


def test_bad_numbers_and_division_by_zero_go_to_error():
    result = run_component("math/Add", {"in": [1, "x", None, True], "conf": [1]})
    assert result["out"] == [2] and [e["input"] for e in result["error"]] == ["x", None, True]
    result = run_component("math/Divide", {"in": [1], "conf": [0]})
    assert result["out"] == [] and "division by zero" in result["error"][0]["message"]


def test_missing_second_operand_and_bad_conf_are_clear_process_errors():
    graph = build({"a": "math/Add"}, inports={"in": "a.in"}, outports={"out": "a.out"})
    with pytest.raises(ProcessFailed, match="give the operand on the 'operand' port"):
        run_graph(graph, {"in": [1]})
    with pytest.raises(ProcessFailed, match="conf operand must be a number"):
        run_component("math/Add", {"in": [1], "conf": ["ten"]})
    graph = build(
        {"a": "math/Add"}, inports={"in": "a.in"}, outports={"out": "a.out"}, iips={"a.conf": 1}
    )
    with pytest.raises(ProcessFailed, match="in must be a number"):
        run_graph(graph, {"in": ["x"]})


def test_compare_routes_to_out_and_rejected():
    result = run_component(
        "math/Compare", {"in": [1, 5, "7"], "conf": ['{"operand": 4, "operator": ">"}']}
    )
    assert result["out"] == [5, "7"] and result["rejected"] == [1]
    result = run_component("math/Compare", {"in": [3, 4], "operand": [4]})
    assert result["out"] == [4] and result["rejected"] == [3]
    result = run_component("math/Compare", {"in": [3], "operator": ["le"], "conf": [3]})
    assert result["out"] == [3]


def test_compare_still_takes_noflo_names():
    graph = build(
        {"c": "math/Compare"},
        iips={"c.conf": {"comparison": 4, "operator": ">"}},
        inports={"x": "c.value"},
        outports={"p": "c.pass", "f": "c.fail"},
    )
    result = run_graph(graph, {"x": [1, 5]})
    assert result == {"p": [5], "f": [1]}


def test_compare_unknown_operator():
    with pytest.raises(ProcessFailed, match="unknown operator '=~'"):
        run_component("math/Compare", {"in": [1], "conf": [{"operand": 1, "operator": "=~"}]})


def test_round_places_modes_and_bad_input():
    assert run_component("math/Round", {"in": [2.5, 3.5, "1.26"]})["out"] == [2, 4, 1]
    assert run_component("math/Round", {"conf": [1], "in": [1.26]})["out"] == [1.3]
    assert run_component("math/Round", {"conf": [{"mode": "floor"}], "in": [-1.5]})["out"] == [-2]
    assert run_component("math/Round", {"conf": [{"places": 1, "mode": "ceil"}], "in": [1.21]})[
        "out"
    ] == [1.3]
    assert run_component("math/Round", {"in": ["x", float("inf")]})["error"]


def test_aggregates_over_the_whole_stream():
    values = [3, "1", 2.5]
    assert run_component("math/Sum", {"in": values})["out"] == [6.5]
    assert run_component("math/Average", {"in": values})["out"] == [6.5 / 3]
    assert run_component("math/Min", {"in": values})["out"] == [1]
    assert run_component("math/Max", {"in": values})["out"] == [3]


def test_aggregates_per_substream():
    items = [OPEN("a"), 1, 2, CLOSE("a"), OPEN("b"), 10, CLOSE("b"), OPEN("e"), CLOSE("e")]
    assert shape(run_component("math/Sum", {"in": items}, ips=True)["out"]) == [
        "<a",
        3,
        ">a",
        "<b",
        10,
        ">b",
        "<e",
        0,
        ">e",
    ]
    assert shape(run_component("math/Average", {"in": items}, ips=True)["out"]) == [
        "<a",
        1.5,
        ">a",
        "<b",
        10.0,
        ">b",
        "<e",
        ">e",
    ]
    assert shape(run_component("math/Max", {"in": items}, ips=True)["out"]) == [
        "<a",
        2,
        ">a",
        "<b",
        10,
        ">b",
        "<e",
        ">e",
    ]


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
    graph = build(
        {"r": "core/Range", "g": "core/Group", "s": "math/Sum"},
        ["r.out -> g.in", "g.out -> s.in"],
        iips={"r.conf": 10, "g.size": 5},
        outports={"out": "s.out"},
    )
    assert run_graph(graph)["out"] == [10, 35]
