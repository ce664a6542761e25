"""trace:start/stop/clear/dump: a bounded buffer of network events, dumped as Flowtrace JSON."""

from __future__ import annotations

import json

from protocol_harness import (
    ProtocolClient,
    build,
)


def traced_chain(c: ProtocolClient, values: range) -> None:
    build(
        c,
        "g",
        {"A": "core/Repeat", "B": "core/Drop"},
        edges=[("A", "out", "B", "in")],
        initials=[(v, "A", "in") for v in values],
    )


def dump(c: ProtocolClient) -> dict:
    reply = c.request("trace", "dump", {"graph": "g"})
    assert reply["payload"]["type"] == "flowtrace.json"
    assert isinstance(reply["payload"]["flowtrace"], str)
    return json.loads(reply["payload"]["flowtrace"])


def test_start_and_dump(runtime, client):
    traced_chain(client, range(3))
    client.request("network", "edges", {"graph": "g", "edges": []})  # tracing needs no watcher
    reply = client.request("trace", "start", {"graph": "g", "buffersize": 10}, requestId="t")
    assert reply["payload"] == {"graph": "g", "buffersize": 10} and reply["responseTo"] == "t"
    client.send("network", "start", {"graph": "g"})
    client.expect("network", "stopped", graph="g")
    trace = dump(client)
    assert trace["header"]["main"] == "g"
    assert trace["header"]["metadata"]["runtime"] == runtime.id
    assert "g" in trace["header"]["graphs"]
    data = [e["payload"]["data"] for e in trace["events"] if e["command"] == "data"]
    assert data == [0, 1, 2, 0, 1, 2]  # the IIPs, then what crossed A -> B
    assert all(e["protocol"] == "network" and e["graph"] == "g" for e in trace["events"])


def test_the_buffer_is_bounded(runtime, client):
    traced_chain(client, range(20))
    client.request("trace", "start", {"graph": "g", "buffersize": 5})
    client.send("network", "start", {"graph": "g"})
    client.expect("network", "stopped", graph="g")
    events = dump(client)["events"]
    assert len(events) == 5 and events[-1]["command"] == "disconnect"


def test_stop_and_clear(runtime, client):
    traced_chain(client, range(2))
    client.request("trace", "start", {"graph": "g"})
    client.send("network", "start", {"graph": "g"})
    client.expect("network", "stopped", graph="g")
    assert client.request("trace", "stop", {"graph": "g"})["payload"] == {"graph": "g"}
    recorded = len(dump(client)["events"])
    assert recorded > 0
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.expect("network", "stopped", graph="g", started=True)
    assert len(dump(client)["events"]) == recorded  # stopped: nothing new
    assert client.request("trace", "clear", {"graph": "g"})["payload"] == {"graph": "g"}
    assert dump(client)["events"] == []


def test_dump_without_a_trace_is_empty(runtime, client):
    traced_chain(client, range(1))
    assert dump(client)["events"] == []


def test_trace_errors(runtime, client):
    traced_chain(client, range(1))
    assert client.error("trace", "start", {}) == "No graph specified"
    assert client.error("trace", "dump", {"graph": "x"}) == "Requested graph not found"
    assert (
        client.error("trace", "start", {"graph": "g", "buffersize": "big"})
        == "'buffersize' must be an integer, got string"
    )
    assert (
        client.error("trace", "start", {"graph": "g", "buffersize": 0})
        == "'buffersize' must be between 1 and 100000, got 0"
    )
    assert client.messages[-1]["protocol"] == "trace"
