"""The schema checker itself: it must exist, accept good messages and catch bad ones."""

from __future__ import annotations

import protocol_schemas
import pytest


def test_the_fbp_protocol_schemas_are_installed():
    root = protocol_schemas.root_schema()  # fails (raises) without `npm ci --prefix tests/js`
    assert set(root) == set(protocol_schemas.PROTOCOLS) | {"flowpy"}  # + our extension's
    assert "packet" in root["runtime"]["output"]
    assert {"welcome", "packet", "packets", "ack", "bye", "error"} <= set(root["flowpy"]["output"])


@pytest.mark.parametrize(
    "message",
    [
        {
            "protocol": "runtime",
            "command": "packet",
            "payload": {"graph": "g", "port": "out", "event": "data", "payload": [1]},
        },
        {"protocol": "component", "command": "componentsready", "payload": 3, "responseTo": "r"},
        {
            "protocol": "network",
            "command": "connect",
            "payload": {
                "id": "A() OUT -> IN B()",
                "graph": "g",
                "tgt": {"node": "B", "port": "in"},
            },
        },
        {
            "protocol": "trace",
            "command": "dump",
            "payload": {"graph": "g", "type": "flowtrace.json", "flowtrace": "{}"},
        },
        {
            "protocol": "flowpy",
            "command": "packets",
            "payload": {
                "graph": "g",
                "packets": [
                    {"port": "out", "event": "data", "payload": 1, "seq": 1},
                    {"port": "out", "event": "disconnect", "seq": 2},
                ],
            },
        },
        {
            "protocol": "flowpy",
            "command": "error",
            "payload": {"message": "m", "seq": 3},
            "responseTo": "r",
        },
    ],
)
def test_valid_messages_pass(message):
    assert protocol_schemas.errors(message) == []


@pytest.mark.parametrize(
    "message, problem",
    [
        (
            {
                "protocol": "runtime",
                "command": "packet",
                "responseTo": "r",
                "payload": {"graph": "g", "port": "out", "event": "data"},
            },
            "responseTo",
        ),
        (
            {
                "protocol": "network",
                "command": "data",
                "payload": {
                    "id": "x",
                    "graph": "g",
                    "tgt": {"node": "a", "port": "b"},
                    "data": 1,
                    "type": "int",
                },
            },
            "type",
        ),
        (
            {
                "protocol": "graph",
                "command": "addnode",
                "payload": {"id": "a", "component": "c", "graph": "g", "metadata": {"x": 1.5}},
            },
            "integer",
        ),
        ({"protocol": "network", "command": "persist", "payload": {}}, "no output schema"),
        (
            {
                "protocol": "network",
                "command": "status",
                "payload": {"graph": "g", "running": True},
                "secret": "s",
            },
            "secret",
        ),
        ({"protocol": "runtime", "command": "error", "payload": {"message": float("nan")}}, "JSON"),
        (
            {
                "protocol": "flowpy",
                "command": "packet",
                "payload": {"graph": "g", "port": "out", "event": "data", "seq": 0},
            },
            "minimum",
        ),
        (
            {
                "protocol": "flowpy",
                "command": "packets",
                "payload": {
                    "graph": "g",
                    "packets": [{"port": "out", "event": "data", "seq": 1, "graph": "g"}],
                },
            },
            "graph",
        ),
        ({"protocol": "flowpy", "command": "welcome", "payload": {"version": 1}}, "session"),
    ],
)
def test_invalid_messages_are_caught(message, problem):
    problems = protocol_schemas.errors(message)
    assert problems and problem in " ".join(problems)
