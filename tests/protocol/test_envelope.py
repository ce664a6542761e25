"""Frames and envelopes: bad input of every kind is answered, changes nothing, breaks nothing."""

from __future__ import annotations

import json

import pytest
from protocol_harness import (
    ProtocolClient,
)

from flowpy.wire.envelope import MAX_DEPTH, MAX_FRAME_BYTES, EnvelopeError, decode_text, parse


def last(c: ProtocolClient) -> dict:
    assert c.messages, "nothing was sent"
    return c.messages[-1]


def test_not_json_is_a_runtime_error(runtime, client):
    client.endpoint.receive_text(client.client, "{not json")
    reply = last(client)
    assert (reply["protocol"], reply["command"]) == ("runtime", "error")
    assert "not valid JSON" in reply["payload"]["message"]


@pytest.mark.parametrize(
    "text, kind", [("[1, 2]", "array"), ('"hi"', "string"), ("3", "number"), ("null", "null")]
)
def test_not_an_object_is_a_runtime_error(runtime, client, text, kind):
    client.endpoint.receive_text(client.client, text)
    assert last(client)["payload"]["message"] == f"a message must be a JSON object, got {kind}"


def test_binary_frames_are_refused(runtime, client):
    client.endpoint.receive_binary(client.client, b"\x00\x01")
    assert last(client) == {
        "protocol": "runtime",
        "command": "error",
        "payload": {"message": "binary frames are not supported"},
    }


@pytest.mark.parametrize(
    "message, protocol, text",
    [
        ({"command": "getruntime"}, "runtime", "message has no 'protocol'"),
        ({"protocol": 3, "command": "x"}, "runtime", "'protocol' must be a string, got number"),
        ({"protocol": "nope", "command": "x"}, "runtime", "unknown protocol 'nope'"),
        ({"protocol": "graph"}, "graph", "message has no 'command'"),
        ({"protocol": "graph", "command": ["a"]}, "graph", "'command' must be a string, got array"),
        (
            {"protocol": "graph", "command": "frobnicate", "payload": {}},
            "graph",
            "unknown command graph:frobnicate",
        ),
        (
            {"protocol": "network", "command": "start", "payload": [1]},
            "network",
            "'payload' must be an object, got array",
        ),
        (
            {"protocol": "network", "command": "start", "payload": {}, "secret": 5},
            "network",
            "'secret' must be a string, got number",
        ),
        (
            {"protocol": "runtime", "command": "getruntime", "requestId": True},
            "runtime",
            "'requestId' must be a string, got boolean",
        ),
    ],
)
def test_bad_envelopes_name_the_problem(runtime, client, message, protocol, text):
    client.endpoint.receive(client.client, message)
    reply = last(client)
    assert (reply["protocol"], reply["command"]) == (protocol, "error")
    assert reply["payload"]["message"].startswith(text)


def test_huge_frames_are_refused_before_parsing(runtime, client):
    text = json.dumps(
        {"protocol": "runtime", "command": "getruntime", "payload": {"pad": "x" * MAX_FRAME_BYTES}}
    )
    client.endpoint.receive_text(client.client, text)
    assert "too large" in last(client)["payload"]["message"]


def test_multibyte_text_is_measured_in_bytes():
    text = json.dumps({"p": "é" * (MAX_FRAME_BYTES // 2 + 10)}, ensure_ascii=False)
    assert len(text) < MAX_FRAME_BYTES
    with pytest.raises(EnvelopeError, match="too large"):
        decode_text(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 200_000])
def test_deep_nesting_is_refused(runtime, client, depth):
    text = (
        '{"protocol": "runtime", "command": "getruntime", "payload": {"x": '
        + "[" * depth
        + "]" * depth
        + "}}"
    )
    client.endpoint.receive_text(client.client, text)
    assert "nested too deeply" in last(client)["payload"]["message"]


def test_deep_nesting_of_decoded_messages_is_refused(runtime, client):
    value: list = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    client.endpoint.receive(
        client.client,
        {"protocol": "graph", "command": "clear", "payload": {"id": "g", "deep": value}},
    )
    assert "nested too deeply" in last(client)["payload"]["message"]
    assert runtime.get_graph("g") is None


def test_nesting_within_the_limit_is_fine(runtime, client):
    value: list = []
    for _ in range(MAX_DEPTH - 5):
        value = [value]
    reply = client.request("graph", "clear", {"id": "g", "deep": value})
    assert reply["command"] == "clear"


def test_wrong_field_types_change_nothing(runtime, client):
    client.request("graph", "clear", {"id": "g"})
    before = len(runtime.get_graph("g").graph.nodes)
    text = client.error("graph", "addnode", {"graph": "g", "id": 5, "component": "core/Repeat"})
    assert text == "'id' must be a string, got number"
    text = client.error(
        "graph",
        "addnode",
        {"graph": "g", "id": "a", "component": "core/Repeat", "metadata": {"x": "left"}},
    )
    assert text == "'metadata.x' must be a number, got string"
    assert len(runtime.get_graph("g").graph.nodes) == before


def test_the_runtime_keeps_working_after_bad_input(runtime, client):
    for text in ["", "{", "[]", "\x00", '{"protocol": "graph", "command": "addnode"}']:
        client.endpoint.receive_text(client.client, text)
    reply = client.request("runtime", "getruntime", reply="runtime")
    assert reply["payload"]["type"] == "flowpy"


def test_request_id_is_answered_with_response_to(runtime, client):
    reply = client.request("runtime", "getruntime", reply="runtime", requestId="r-1")
    assert reply["responseTo"] == "r-1"
    error = client.request("graph", "addnode", {"id": "a"}, requestId="r-2")
    assert error["command"] == "error" and error["responseTo"] == "r-2"


def test_numeric_request_ids_are_answered_as_strings(runtime, client):
    reply = client.request("runtime", "getruntime", reply="runtime", requestId=7)
    assert reply["responseTo"] == "7"


def test_envelope_errors_carry_response_to(runtime, client):
    client.endpoint.receive(client.client, {"protocol": "graph", "command": 1, "requestId": "q"})
    assert last(client)["responseTo"] == "q"


def test_no_response_to_without_request_id(runtime, client):
    client.request("runtime", "getruntime", reply="runtime")
    assert "responseTo" not in last(client)


def test_network_edges_reply_never_carries_response_to(runtime, client):
    client.request("graph", "clear", {"id": "g"})
    reply = client.request("network", "edges", {"graph": "g", "edges": []}, requestId="e")
    assert reply["command"] == "edges" and "responseTo" not in reply


def test_output_messages_have_only_the_envelope_keys(runtime, client):
    client.request("runtime", "getruntime", reply="runtime", requestId="x", secret="s")
    for message in client.messages:
        assert set(message) <= {"protocol", "command", "payload", "responseTo"}


def test_secret_is_taken_from_top_level_or_payload_and_stripped():
    top = parse(
        {
            "protocol": "graph",
            "command": "clear",
            "secret": "a",
            "payload": {"id": "g", "secret": "b"},
        }
    )
    assert top.secret == "a" and "secret" not in top.payload
    inner = parse({"protocol": "graph", "command": "clear", "payload": {"id": "g", "secret": "b"}})
    assert inner.secret == "b" and inner.payload == {"id": "g"}
    empty = parse(
        {"protocol": "graph", "command": "clear", "secret": "", "payload": {"secret": ""}}
    )
    assert empty.secret is None


def test_secret_is_never_echoed(runtime, client):
    client.request("graph", "clear", {"id": "g", "secret": "hush"}, secret="hush")
    assert "hush" not in json.dumps(client.messages)


def test_missing_payload_is_an_empty_one(runtime, client):
    client.endpoint.receive(client.client, {"protocol": "runtime", "command": "getruntime"})
    assert last(client)["command"] == "runtime"


def test_unknown_envelope_keys_are_ignored(runtime, client):
    client.endpoint.receive(
        client.client, {"protocol": "runtime", "command": "getruntime", "payload": {}, "extra": 1}
    )
    assert last(client)["command"] == "runtime"
