"""Wire shapes and the one JSON policy (docs/protocol.md, "JSON policy")."""

from __future__ import annotations

import json
import math
import sys

import pytest

from flowpy.wire import MAX_DEPTH, JsonPolicyError, edge_id, encode, jsonable, message, parse
from flowpy.wire.jsonpolicy import encode_scalar


@pytest.mark.parametrize("value", ["s", 1, 2.5, True, None, [1, [2]], {"a": {"b": [None]}}])
def test_json_values_pass_through_untouched(value):
    assert jsonable(value) is value


def test_other_python_values_become_json():
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    value = {
        "t": (1, 2),
        "s": frozenset([3]),
        "b": b"\x00\xff",
        "n": math.nan,
        "i": [math.inf, -math.inf],
        4: Thing(),
    }
    converted = jsonable(value)
    assert converted == {
        "t": [1, 2],
        "s": [3],
        "b": "AP8=",
        "n": None,
        "i": [None, None],
        "4": "<thing>",
    }
    json.dumps(converted, allow_nan=False)


def test_encode_follows_the_same_policy_as_jsonable():
    value = {"t": (1, 2), "s": {3}, "b": b"\x00\xff", "n": math.nan, (1, 2): "tuple key"}
    assert (
        json.loads(encode(value))
        == jsonable(value)
        == {"t": [1, 2], "s": [3], "b": "AP8=", "n": None, "(1, 2)": "tuple key"}
    )


class Text(str):
    """A str subclass: not the exact type the fast path takes."""


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**70,
        True,
        False,
        None,
        2.5,
        math.nan,
        math.inf,
        "",
        "plain",
        'q"u\\o\nte',
        "é ü 😀",
        "\ud800 lone",
        "\x00\x1f\x7f",
        Text("sub"),
        b"\x00",
    ],
)
def test_encode_scalar_writes_what_encode_writes(value):
    assert encode_scalar(value) == encode(value)


def test_a_broken_repr_does_not_stop_a_message():
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "repr failed" in json.loads(encode({"x": Broken()}))["x"]


def test_integers_python_cannot_write_become_null_as_infinities_do():
    huge = 10**5000  # past the 4,300 digits Python writes by default
    assert encode(huge) == encode_scalar(huge) == "null"
    assert json.loads(encode({"v": [1, huge, -huge, 10**4000]})) == {"v": [1, None, None, 10**4000]}
    assert jsonable([True, huge]) == [True, None]
    written = json.loads(encode({huge: 1, 2: 3}))  # a key: text, as any odd key
    assert written["2"] == 3 and len(written) == 2
    assert message("runtime", "packet", {"payload": huge})  # a message is still written


def test_a_program_s_own_lower_digit_limit_is_respected():
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)  # the lowest a program may set
    try:
        assert json.loads(encode([10**700, 10**600])) == [None, 10**600]
    finally:
        sys.set_int_max_str_digits(limit)


def test_lone_surrogates_are_written_as_escapes_as_javascript_does():
    text = encode({"s": "a\ud800b", "ok": "é"})
    text.encode("utf-8")  # valid UTF-8, so any writer can send it
    assert "\\ud800" in text
    assert json.loads(text) == {"s": "a\ud800b", "ok": "é"}  # nothing lost


def test_cycles_and_depth_are_cut_not_fatal():
    loop: list = []
    loop.append(loop)
    json.loads(encode({"loop": loop}))
    value: list = []
    for _ in range(200):
        value = [value]
    json.loads(encode(jsonable(value)))


@pytest.mark.parametrize(
    "text, field",
    [
        ('{"payload": {"payload": "\\ud800"}}', "'payload.payload'"),
        ('{"payload": {"list": [1, "\\udfff"]}}', "'payload.list[1]'"),
        ('{"payload": {"\\ud800": 1}}', "'payload': an object key"),
        ('{"command": "\\ud83d"}', "'command'"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(text, field):
    _, problem = parse(text)
    assert problem is not None and problem.startswith(field) and "not valid Unicode" in problem
    problem.encode("utf-8")  # the answer itself can be sent


def test_surrogate_pairs_are_fine():
    value, problem = parse('{"emoji": "\\ud83d\\ude00"}')
    assert problem is None and value == {"emoji": "\U0001f600"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused_naming_the_field(literal):
    _, problem = parse('{"payload": {"x": [0, ' + literal + "]}}")
    assert (
        problem == f"'payload.x[1]': {literal} is not a finite number (JSON numbers must be finite)"
    )


def test_ordinary_numbers_are_untouched():
    value, problem = parse('{"a": 1.5, "b": 1e300, "c": -0.0, "d": 12345678901234567890}')
    assert problem is None and value == {"a": 1.5, "b": 1e300, "c": -0.0, "d": 12345678901234567890}


def test_depth_is_limited():
    _, problem = parse("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert problem is not None and "nested too deeply" in problem
    _, problem = parse("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert problem is None
    with pytest.raises(JsonPolicyError, match="nested too deeply"):
        parse("[" * 200_000 + "]" * 200_000)


def test_not_json_is_an_error():
    with pytest.raises(JsonPolicyError, match="not valid JSON"):
        parse("{nope")


def test_edge_ids_follow_noflo():
    assert edge_id(None, {"node": "A", "port": "in"}) == "DATA -> IN A()"
    assert (
        edge_id({"node": "A", "port": "out", "index": 2}, {"node": "B", "port": "in"})
        == "A() OUT[2] -> IN B()"
    )


def test_response_to_only_where_the_schema_allows_it():
    assert message("graph", "addnode", {}, "r")["responseTo"] == "r"
    assert "responseTo" not in message("runtime", "packet", {}, "r")
    assert "responseTo" not in message("network", "edges", {}, "r")
    assert "responseTo" not in message("graph", "addnode", {})


def test_what_is_written_is_never_nested_deeper_than_what_is_read():
    deep: list = []
    for _ in range(3 * MAX_DEPTH):
        deep = [deep]
    text = encode(
        message(
            "runtime", "packet", {"graph": "g", "port": "out", "event": "data", "payload": deep}
        )
    )
    value, problem = parse(text)
    assert problem is None
    assert value["payload"]["event"] == "data"
    shallow = {"text": "[" * (2 * MAX_DEPTH), "list": [[1, 2], [3]]}  # brackets inside text
    assert encode(shallow) == '{"text":"' + "[" * (2 * MAX_DEPTH) + '","list":[[1,2],[3]]}'


def test_a_wide_shallow_message_is_not_walked_but_deep_nesting_is_still_found(monkeypatch):
    import flowpy.wire.jsonpolicy as policy

    walked: list[object] = []
    real_problem_in, real_jsonable = policy.problem_in, policy.jsonable
    monkeypatch.setattr(
        policy, "problem_in", lambda v, *a: walked.append(v) or real_problem_in(v, *a)
    )
    monkeypatch.setattr(policy, "jsonable", lambda v, *a: walked.append(v) or real_jsonable(v, *a))
    # a batch of the link extension: hundreds of brackets, three levels
    batch = {
        "protocol": "flowpy",
        "command": "packets",
        "payload": {
            "graph": "g",
            "packets": [
                {"port": "in", "event": "data", "seq": n, "payload": {"s": '[{"\\', "n": [n]}}
                for n in range(300)
            ],
        },
    }
    text = encode(batch)
    assert parse(text) == (batch, None)
    assert walked == []
    # nesting past the limit, with brackets, quotes and backslashes in strings around it
    deep: object = 0
    for _ in range(MAX_DEPTH + 1):
        deep = ["]]}\\", {"k": deep, "q": '"['}]
    _, problem = parse(json.dumps(deep))
    assert problem is not None and "nested too deeply" in problem
    assert len(walked) >= 1


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def test_the_bracket_shape_never_passes_text_that_nests_too_deeply():
    """The quick pre-check of parse and encode may send shallow text to the exact walk, but
    never lets deep text past it: nests of every depth around the limit, with strings that
    hold brackets, quotes and backslashes between, before or after them."""
    from flowpy.wire.jsonpolicy import _may_nest_too_deeply

    strings = ["", "x", "[", "]", "{}", '"[', '\\"]', "\\\\", "[[[", '"', "}{"]
    for depth in range(MAX_DEPTH - 4, MAX_DEPTH + 4):
        for n, s in enumerate(strings):
            value: object = [s, 1]
            for level in range(depth - 1):
                pick = strings[(n + level) % len(strings)]
                value = [pick, value] if level % 2 else {"a" + pick: value, pick: pick}
            value = [value] * 40  # enough brackets for the shape to be looked at
            text = json.dumps(value, separators=(",", ":"))
            if _depth(value) > MAX_DEPTH - 1:
                assert _may_nest_too_deeply(text), (depth, s)
    assert not _may_nest_too_deeply(json.dumps([{"s": '[{"', "n": [n]} for n in range(300)]))
