"""strings/: JSON, case, split/join (per substream), regex replace, templates, numbers."""

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def without_error_port(component, inputs, out="out"):
    graph = build(
        {"p": component}, inports={k: f"p.{k}" for k in inputs}, outports={out: f"p.{out}"}
    )
    return run_graph(graph, inputs)


def test_parsejson_parses_and_sends_bad_text_to_error():
    result = run_component("strings/ParseJson", {"in": ['{"a": [1, null]}', "nope", 3]})
    assert result["out"] == [{"a": [1, None]}]
    assert [e["input"] for e in result["error"]] == ["nope", 3]
    assert "not JSON" in result["error"][0]["message"]


def test_parsejson_bad_text_without_error_port_fails_the_process_clearly():
    with pytest.raises(ProcessFailed, match="p: not JSON"):
        without_error_port("strings/ParseJson", {"in": ["{oops"]})


def test_stringify_compact_by_default_indent_from_conf_and_brackets_pass():
    out = run_component(
        "strings/Stringify", {"in": [OPEN("g"), {"a": [1, "é"]}, CLOSE("g")]}, ips=True
    )["out"]
    assert shape(out) == ["<g", '{"a":[1,"é"]}', ">g"]
    assert run_component("strings/Stringify", {"conf": [2], "in": [[1]]})["out"] == ["[\n  1\n]"]


def test_stringify_rejects_values_json_cannot_hold():
    assert run_component("strings/Stringify", {"in": [float("nan")]})["error"]


def test_upper_lower_trim_length():
    assert run_component("strings/Upper", {"in": ["abc", "É"]})["out"] == ["ABC", "É"]
    assert run_component("strings/Lower", {"in": ["ABC"]})["out"] == ["abc"]
    assert run_component("strings/Trim", {"in": ["  a b \n"]})["out"] == ["a b"]
    assert run_component("strings/Length", {"in": ["", "héllo"]})["out"] == [0, 5]


def test_upper_bad_input_to_error_or_process_error():
    assert run_component("strings/Upper", {"in": [1]})["error"][0]["input"] == 1
    with pytest.raises(ProcessFailed, match="Upper wants a string"):
        without_error_port("strings/Upper", {"in": [None]})


def test_empty_streams_give_nothing():
    for name in ("strings/Upper", "strings/ParseJson", "strings/SplitStr"):
        assert run_component(name, {"in": []})["out"] == []


def test_splitstr_brackets_each_string_and_default_separator_is_newline():
    out = run_component("strings/SplitStr", {"conf": [","], "in": ["a,b", ""]}, ips=True)["out"]
    assert shape(out) == ["<split", "a", "b", ">split", "<split", "", ">split"]
    assert run_component("strings/SplitStr", {"in": ["x\ny"]})["out"] == ["x", "y"]
    named = run_component(
        "strings/SplitStr", {"conf": ['{"separator": " ", "group": "w"}'], "in": ["a b"]}, ips=True
    )["out"]
    assert shape(named) == ["<w", "a", "b", ">w"]


def test_splitstr_refuses_an_empty_separator():
    with pytest.raises(ProcessFailed, match="separator must be a non-empty string"):
        run_component("strings/SplitStr", {"conf": [""], "in": ["a"]})


def test_join_joins_each_substream_inside_its_brackets():
    items = [OPEN("a"), "x", "y", CLOSE("a"), OPEN("b"), CLOSE("b"), OPEN("c"), 1, CLOSE("c")]
    out = run_component("strings/Join", {"conf": ["-"], "in": items}, ips=True)["out"]
    assert shape(out) == ["<a", "x-y", ">a", "<b", "", ">b", "<c", "1", ">c"]


def test_join_without_brackets_joins_the_whole_stream_and_an_empty_stream_gives_empty():
    assert run_component("strings/Join", {"in": ["a", "b", {"k": 1}]})["out"] == ['a,b,{"k":1}']
    assert run_component("strings/Join", {"in": []})["out"] == [""]


def test_join_nested_brackets_outer_ones_only_pass():
    items = [OPEN("f"), OPEN("r"), "a", "b", CLOSE("r"), OPEN("r"), "c", CLOSE("r"), CLOSE("f")]
    out = run_component("strings/Join", {"in": items}, ips=True)["out"]
    assert shape(out) == ["<f", "<r", "a,b", ">r", "<r", "c", ">r", ">f"]


def test_splitstr_then_join_round_trips():
    graph = build(
        {"s": "strings/SplitStr", "j": "strings/Join"},
        ["s.out -> j.in"],
        iips={"s.conf": ",", "j.conf": "+"},
        inports={"in": "s.in"},
        outports={"out": "j.out"},
    )
    assert run_graph(graph, {"in": ["a,b,c", "d"]})["out"] == ["a+b+c", "d"]


def test_replace_uses_regex_groups_and_count():
    conf = {"pattern": r"(\d+)", "replacement": r"<\1>"}
    assert run_component("strings/Replace", {"conf": [conf], "in": ["a1b22"]})["out"] == [
        "a<1>b<22>"
    ]
    once = {"pattern": "a", "replacement": "b", "count": 1}
    assert run_component("strings/Replace", {"conf": [once], "in": ["aaa"]})["out"] == ["baa"]


def test_replace_bad_pattern_is_a_clear_process_error():
    with pytest.raises(ProcessFailed, match="bad pattern"):
        run_component("strings/Replace", {"conf": [{"pattern": "("}], "in": ["x"]})
    with pytest.raises(ProcessFailed, match="conf needs a pattern"):
        run_component("strings/Replace", {"conf": [{"replacement": "x"}], "in": ["x"]})


def test_template_fills_fields_nested_keys_and_format_specs():
    conf = "{name} owes {amount:.2f} in {address.city} ({tags.0})"
    value = {"name": "Ann", "amount": 3, "address": {"city": "Oslo"}, "tags": ["vip"]}
    assert run_component("strings/Template", {"conf": [conf], "in": [value]})["out"] == [
        "Ann owes 3.00 in Oslo (vip)"
    ]


def test_template_missing_field_and_non_object_go_to_error():
    result = run_component("strings/Template", {"conf": ["{a}"], "in": [{}, "x", {"a": 1}]})
    assert result["out"] == ["1"]
    assert "no field 'a'" in result["error"][0]["message"]
    assert "wants an object" in result["error"][1]["message"]


def test_template_never_reaches_python_attributes():
    result = run_component("strings/Template", {"conf": ["{a.__class__}"], "in": [{"a": "x"}]})
    assert result["out"] == [] and result["error"]


def test_template_refuses_huge_widths():
    result = run_component("strings/Template", {"conf": ["{a:>999999999}"], "in": [{"a": 1}]})
    assert result["out"] == [] and "width" in result["error"][0]["message"]


def test_parsenumber_ints_floats_and_bad_text():
    result = run_component("strings/ParseNumber", {"in": ["42", " 4.5 ", "1e3", 7, "x", "nan"]})
    assert result["out"] == [42, 4.5, 1000.0, 7]
    assert [e["input"] for e in result["error"]] == ["x", "nan"]
    assert run_component("strings/ParseNumber", {"conf": ['{"int": true}'], "in": ["4.9"]})[
        "out"
    ] == [4]
