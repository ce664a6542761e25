"""Wire shapes: JSON-safe values from any Python object, edge ids, envelopes."""

from __future__ import annotations

import json
import math

import pytest

from flowpy.wire import edge_id, jsonable, message


@pytest.mark.parametrize("value", ["s", 1, 2.5, True, None, [1, [2]], {"a": {"b": [None]}}])
def test_json_values_pass_through_untouched(value):
    assert jsonable(value) is value


def test_other_python_values_become_json():
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    value = {"t": (1, 2), "s": frozenset([3]), "b": b"\x00\xff", "n": math.nan, 4: Thing()}
    converted = jsonable(value)
    assert converted == {"t": [1, 2], "s": [3], "b": "AP8=", "n": "nan", "4": "<thing>"}
    json.dumps(converted, allow_nan=False)


def test_nesting_is_cut_at_the_depth_limit():
    value: list = []
    for _ in range(200):
        value = [value]
    json.dumps(jsonable(value))  # no RecursionError, and serialisable


def test_edge_ids_follow_noflo():
    assert edge_id(None, {"node": "A", "port": "in"}) == "DATA -> IN A()"
    assert edge_id({"node": "A", "port": "out", "index": 2}, {"node": "B", "port": "in"}) \
        == "A() OUT[2] -> IN B()"


def test_response_to_only_where_the_schema_allows_it():
    assert message("graph", "addnode", {}, "r")["responseTo"] == "r"
    assert "responseTo" not in message("runtime", "packet", {}, "r")
    assert "responseTo" not in message("network", "edges", {}, "r")
    assert "responseTo" not in message("graph", "addnode", {})
