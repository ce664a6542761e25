"""csv/: Parse lines or texts (header per substream, quoted newlines), Format objects."""

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def test_parse_lines_with_the_first_row_as_header():
    out = run_component("csv/Parse", {"in": ["name,city", "ann,Oslo", "", "bob,Rome"]})["out"]
    assert out == [{"name": "ann", "city": "Oslo"}, {"name": "bob", "city": "Rome"}]


def test_parse_whole_text_and_quoted_fields_spanning_lines():
    text = 'a,b\n1,"x, ""y""\nz"\n2,3\n'
    assert run_component("csv/Parse", {"in": [text]})["out"] == [
        {"a": "1", "b": 'x, "y"\nz'},
        {"a": "2", "b": "3"},
    ]
    lines = ["a,b", '1,"first', 'second"']
    assert run_component("csv/Parse", {"in": lines})["out"] == [{"a": "1", "b": "first\nsecond"}]


def test_parse_header_resets_per_bracketed_substream():
    items = [OPEN("f1"), "a,b", "1,2", CLOSE("f1"), OPEN("f2"), "x", "9", CLOSE("f2")]
    out = run_component("csv/Parse", {"in": items}, ips=True)["out"]
    assert shape(out) == ["<f1", {"a": "1", "b": "2"}, ">f1", "<f2", {"x": "9"}, ">f2"]


def test_parse_options_delimiter_no_header_names_and_numbers():
    assert run_component("csv/Parse", {"conf": [";"], "in": ["a;b", "1;2"]})["out"] == [
        {"a": "1", "b": "2"}
    ]
    assert run_component("csv/Parse", {"conf": ['{"header": false}'], "in": ["1,2"]})["out"] == [
        ["1", "2"]
    ]
    assert run_component(
        "csv/Parse", {"conf": [{"header": ["x", "y"], "numbers": True}], "in": ["1,2.5", "a,"]}
    )["out"] == [{"x": 1, "y": 2.5}, {"x": "a", "y": ""}]
    assert run_component("csv/Parse", {"conf": [{"delimiter": "\\t"}], "in": ["a\tb", "1\t2"]})[
        "out"
    ] == [{"a": "1", "b": "2"}]


def test_parse_short_rows_get_nulls_long_rows_and_open_quotes_go_to_error():
    result = run_component("csv/Parse", {"in": ["a,b,c", "1", "1,2,3,4", '"open']})
    assert result["out"] == [{"a": "1", "b": None, "c": None}]
    messages = [e["message"] for e in result["error"]]
    assert "row 3 has 4 fields, the header 3" in messages[0]
    assert "not closed" in messages[1]


def test_parse_bad_input_without_error_port_fails_clearly_and_empty_stream_gives_nothing():
    graph = build({"p": "csv/Parse"}, inports={"in": "p.in"}, outports={"out": "p.out"})
    with pytest.raises(ProcessFailed, match="csv/Parse wants text"):
        run_graph(graph, {"in": [{"not": "text"}]})
    assert run_component("csv/Parse", {"in": []})["out"] == []


def test_format_header_then_rows_quoting_and_missing_keys():
    out = run_component("csv/Format", {"in": [{"a": 1, "b": "x,y"}, {"a": None}, [3, 4]]})["out"]
    assert out == ["a,b", '1,"x,y"', ",", "3,4"]


def test_format_columns_header_per_substream_and_no_header():
    items = [OPEN("g"), {"b": 1, "a": 2}, CLOSE("g"), OPEN("g"), {"a": 3}, CLOSE("g")]
    out = run_component("csv/Format", {"conf": [{"columns": ["a", "b"]}], "in": items}, ips=True)[
        "out"
    ]
    assert shape(out) == ["<g", "a,b", "2,1", ">g", "<g", "a,b", "3,", ">g"]
    assert run_component(
        "csv/Format", {"conf": ['{"header": false, "delimiter": ";"}'], "in": [{"a": 1, "b": [1]}]}
    )["out"] == ["1;[1]"]


def test_format_rejects_scalars():
    assert run_component("csv/Format", {"in": [5]})["error"][0]["input"] == 5


def test_parse_then_format_round_trips():
    graph = build(
        {"p": "csv/Parse", "f": "csv/Format"},
        ["p.out -> f.in"],
        inports={"in": "p.in"},
        outports={"out": "f.out"},
    )
    lines = ["id,note", '1,"a, b"', "2,c"]
    assert run_graph(graph, {"in": lines})["out"] == lines
