"""network:start/stop/getstatus/debug/edges/persist and what running networks report."""

from __future__ import annotations

import json

import pytest
from protocol_harness import (
    ProtocolClient,
    build,
    matches,
)

from flowpy import wire
from flowpy.runtime.runtime import Runtime

IIP_ID = "DATA -> IN A()"
AB = "A() OUT -> IN B()"
BC = "B() OUT -> IN C()"


def chain(
    c: ProtocolClient, graph: str = "g", iips: tuple = ("hello",), last: str = "core/Drop", **kwargs
) -> None:
    """IIPs -> A (Repeat) -> B (Repeat) -> C."""
    build(
        c,
        graph,
        {"A": "core/Repeat", "B": "core/Repeat", "C": last},
        edges=[("A", "out", "B", "in"), ("B", "out", "C", "in")],
        initials=[(v, "A", "in") for v in iips],
        **kwargs,
    )


def debug_ids(c: ProtocolClient, command: str = "data", start: int = 0) -> list[str]:
    return [
        m["payload"]["id"]
        for m in c.since(start)
        if m["protocol"] == "network" and m["command"] == command
    ]


# -- start / stop / status -------------------------------------------------------------------


def test_start_reports_started_with_response_to(runtime, client):
    build(client, "g", {"W": "test/Wait"})
    reply = client.request("network", "start", {"graph": "g"}, reply="started", requestId="go")
    assert reply["responseTo"] == "go"
    assert set(reply["payload"]) == {"graph", "started", "running", "time"}
    assert reply["payload"]["started"] is True and reply["payload"]["running"] is True
    status = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    uptime = status["payload"].pop("uptime")
    assert status["payload"] == {"graph": "g", "running": True, "started": True}
    assert isinstance(uptime, float) and 0 <= uptime < 60
    later = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    assert later["payload"]["uptime"] >= uptime


def test_stop_reports_stopped_and_status_follows(runtime, client):
    build(client, "g", {"W": "test/Wait"})
    client.request("network", "start", {"graph": "g"}, reply="started")
    reply = client.request("network", "stop", {"graph": "g"}, reply="stopped")
    assert reply["payload"]["started"] is False and reply["payload"]["running"] is False
    assert reply["payload"]["uptime"] >= 0
    status = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    assert status["payload"] == {"graph": "g", "running": False, "started": False}


def test_a_network_that_finishes_stays_started_until_stopped(runtime, client):
    chain(client)
    client.send("network", "start", {"graph": "g"})
    finished = client.expect("network", "stopped", graph="g")["payload"]
    assert finished["started"] is True and finished["running"] is False
    status = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    # exactly these fields: fbp-test compares a finished network's status field by field
    assert status["payload"] == {"graph": "g", "running": False, "started": True}
    stopped = client.request("network", "stop", {"graph": "g"}, reply="stopped")["payload"]
    assert stopped["started"] is False and stopped["running"] is False
    status = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    assert status["payload"] == {"graph": "g", "running": False, "started": False}


def test_stop_of_a_network_that_never_ran_answers_the_asker(runtime, client):
    other = ProtocolClient(runtime, "other")
    build(client, "g", {"W": "test/Wait"})
    reply = client.request("network", "stop", {"graph": "g"}, reply="stopped")
    assert reply["payload"]["started"] is False
    assert not any(m["command"] == "stopped" for m in other.messages)


def test_starting_a_started_network_restarts_it(runtime, client):
    build(client, "g", {"W": "test/Wait"})
    client.request("network", "start", {"graph": "g"}, reply="started")
    start = len(client.messages)
    client.request("network", "start", {"graph": "g"}, reply="started")
    assert [c for c in client.commands(start) if c.startswith("network:")] == [
        "network:stopped",
        "network:started",
    ]


def test_invalid_graphs_do_not_start(runtime, client):
    build(client, "g", {"A": "core/Repeat", "X": "nowhere/Nothing"})
    reply = client.request("network", "start", {"graph": "g"}, reply="started")
    assert reply["command"] == "error"
    assert reply["payload"] == {
        "message": "node 'X': unknown component 'nowhere/Nothing'",
        "graph": "g",
    }
    status = client.request("network", "getstatus", {"graph": "g"}, reply="status")
    assert status["payload"]["started"] is False


@pytest.mark.parametrize("command", ["start", "stop", "getstatus", "debug", "edges"])
def test_graph_must_exist(runtime, client, command):
    assert client.error("network", command, {"enable": True, "edges": []}) == "No graph specified"
    assert (
        client.error("network", command, {"graph": "zz", "enable": True, "edges": []})
        == "Requested graph not found"
    )


def test_process_errors_are_reported(runtime, client):
    build(client, "g", {"F": "test/Fail"}, initials=[("bad", "F", "in")])
    client.send("network", "start", {"graph": "g"})
    error = client.expect("network", "processerror", graph="g")["payload"]
    assert error["id"] == "F"
    assert error["error"] == "test/Fail: ValueError: cannot handle 'bad'; process stopped"


def test_console_output_becomes_network_output(runtime, client):
    build(
        client,
        "g",
        {"S": "test/Say", "O": "core/Output"},
        initials=[("hi", "S", "in"), ({"a": 1}, "O", "in")],
    )
    client.send("network", "start", {"graph": "g"})
    client.sink.wait_for(matches("network", "output", message="said hi"))
    client.sink.wait_for(matches("network", "output", message='{"a":1}'))


# -- debug data ---------------------------------------------------------------------------------


def test_unsubscribed_clients_see_every_edge_and_the_iips(runtime, client):
    """What fbp-test expects: data for the IIP and the edges without any network:edges."""
    chain(client)
    client.send("network", "start", {"graph": "g"})
    client.expect("network", "stopped", graph="g")
    assert debug_ids(client) == [IIP_ID, AB, BC]
    data = [m["payload"] for m in client.messages if m["command"] == "data"]
    assert data[0] == {
        "id": IIP_ID,
        "graph": "g",
        "tgt": {"node": "A", "port": "in"},
        "data": "hello",
    }
    assert data[1] == {
        "id": AB,
        "graph": "g",
        "src": {"node": "A", "port": "out"},
        "tgt": {"node": "B", "port": "in"},
        "data": "hello",
    }
    assert debug_ids(client, "connect") == [AB, BC]
    assert debug_ids(client, "disconnect") == [AB, BC]


def test_debug_data_only_for_subscribed_edges(runtime, client):
    chain(client)
    picky = ProtocolClient(runtime, "picky")
    silent = ProtocolClient(runtime, "silent")
    edges = [{"src": {"node": "B", "port": "OUT"}, "tgt": {"node": "C", "port": "in"}}]
    reply = picky.request("network", "edges", {"graph": "g", "edges": edges})
    assert reply["payload"] == {"graph": "g", "edges": edges}
    silent.request("network", "edges", {"graph": "g", "edges": []})
    client.send("network", "start", {"graph": "g"})
    for c in (client, picky, silent):
        c.expect("network", "stopped", graph="g")
    assert debug_ids(picky) == [BC]
    assert debug_ids(silent) == []
    assert debug_ids(client) == [IIP_ID, AB, BC]
    debug_lanes = [
        lane
        for m, lane in zip(picky.messages, picky.sink.lanes, strict=True)
        if m["command"] in ("connect", "data", "disconnect")
    ]
    assert debug_lanes and all(lane is wire.DEBUG for lane in debug_lanes)


def test_subscriptions_change_while_running(runtime, client):
    build(
        client,
        "g",
        {"A": "core/Repeat", "B": "core/Repeat"},
        edges=[("A", "out", "B", "in")],
        inports={"in": ("A", "in")},
        outports={"out": ("B", "out")},
    )
    client.request("network", "edges", {"graph": "g", "edges": []})
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.send("runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": 1})
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=1))  # crossed A -> B
    edge = {"src": {"node": "A", "port": "out"}, "tgt": {"node": "B", "port": "in"}}
    client.request("network", "edges", {"graph": "g", "edges": [edge]})
    client.send("runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": 2})
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=2))
    assert [m["payload"]["data"] for m in client.messages if m["command"] == "data"] == [2]


def test_brackets_on_edges(runtime, client):
    build(
        client,
        "g",
        {"A": "core/Repeat", "B": "core/Drop"},
        edges=[("A", "out", "B", "in")],
        inports={"in": ("A", "in")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    for event, payload in [("begingroup", "grp"), ("data", 1), ("endgroup", "grp")]:
        client.request(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": event, "payload": payload},
            reply="packetsent",
        )
    client.sink.wait_for(matches("network", "endgroup", group="grp"))
    commands = [
        m["command"]
        for m in client.messages
        if m["protocol"] == "network" and m["command"] in ("begingroup", "data", "endgroup")
    ]
    assert commands == ["begingroup", "data", "endgroup"]


def test_debug_off_sends_no_edge_data(runtime, client):
    chain(client)
    reply = client.request("network", "debug", {"graph": "g", "enable": False}, reply="status")
    assert reply["payload"] == {"graph": "g", "running": False, "started": False, "debug": False}
    client.send("network", "start", {"graph": "g"})
    client.expect("network", "stopped", graph="g")
    assert debug_ids(client) == [] and debug_ids(client, "connect") == []
    assert client.error("network", "debug", {"graph": "g"}) == "'enable' is required"


def test_secure_edges_hide_their_data(runtime, client):
    build(client, "g", {"A": "core/Repeat", "B": "core/Drop"}, initials=[("secret", "A", "in")])
    client.request(
        "graph",
        "addedge",
        {
            "graph": "g",
            "src": {"node": "A", "port": "out"},
            "tgt": {"node": "B", "port": "in"},
            "metadata": {"secure": True},
        },
    )
    client.send("network", "start", {"graph": "g"})
    assert client.expect("network", "data", id="A() OUT -> IN B()")["payload"]["data"] == "DATA"


def test_a_slow_debugger_loses_debug_data_but_never_slows_the_network(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {"watch": {"capabilities": ["network:data"]}},
            "anonymous": {"capabilities": ["protocol:graph", "protocol:network"]},
        }
    )
    owner = ProtocolClient(rt, "owner")
    watcher = ProtocolClient(rt, "watcher", secret="watch")
    watcher.request("runtime", "getruntime", reply="runtime")  # presents its secret
    watcher.sink.open.clear()  # and stops reading
    chain(owner, iips=tuple(range(50)))
    owner.send("network", "start", {"graph": "g"})
    owner.expect("network", "stopped", graph="g")
    assert watcher.sink.dropped > 0
    watcher.sink.reopen()


def test_edges_validation(runtime, client):
    client.request("graph", "clear", {"id": "g"})
    assert (
        client.error("network", "edges", {"graph": "g", "edges": "all"})
        == "'edges' must be an array of {src, tgt} objects"
    )
    assert (
        client.error("network", "edges", {"graph": "g", "edges": [{"src": {}}]})
        == "edges[0]: 'node' is required"
    )


# -- persist ------------------------------------------------------------------------------------


def test_persist_saves_graphs_for_the_next_start(make_runtime, tmp_path):
    state = tmp_path / "persisted"
    rt = make_runtime(state_dir=state)
    c = ProtocolClient(rt)
    chain(c, "one", main=True)
    build(c, "two", {"X": "core/Drop"})
    reply = c.request("network", "persist", {}, reply="output")
    assert reply["payload"]["message"].startswith("persisted 2 graph(s)")
    index = json.loads((state / "graphs.json").read_text())
    assert index["main"] == "one" and set(index["graphs"]) == {"one", "two"}
    again = Runtime(registry=rt.registry, state_dir=state)
    try:
        assert again.main_graph == "one"
        assert set(again.graphs()) == {"one", "two"}
        assert list(again.get_graph("one").graph.nodes) == ["A", "B", "C"]
    finally:
        again.shutdown()


def test_a_graph_that_cannot_be_saved_never_keeps_the_others_from_being_persisted(
    make_runtime, tmp_path
):
    state = tmp_path / "persisted"
    rt = make_runtime(state_dir=state)
    c = ProtocolClient(rt)
    chain(c, "main", main=True)
    build(c, "blocked", {"X": "core/Drop"})
    build(c, "zz-" + "w" * 125, {"Y": "core/Drop"})  # the longest id: its file fits too
    (state / "graphs" / "blocked.json").mkdir(parents=True)  # nothing can replace a directory
    message = c.error("network", "persist", {})
    assert message.startswith("persisted 2 graph(s) in ")
    assert message.endswith("but could not persist graph 'blocked': Is a directory")
    index = json.loads((state / "graphs.json").read_text())
    assert index["main"] == "main" and set(index["graphs"]) == {"main", "zz-" + "w" * 125}
    again = Runtime(registry=rt.registry, state_dir=state)
    try:
        assert again.main_graph == "main"
        assert set(again.graphs()) == {"main", "zz-" + "w" * 125}
        assert list(again.get_graph("main").graph.nodes) == ["A", "B", "C"]
    finally:
        again.shutdown()


def test_persisted_file_names_stay_short_whatever_the_id(make_runtime, tmp_path):
    state = tmp_path / "persisted"
    rt = make_runtime(state_dir=state)
    c = ProtocolClient(rt)
    wide = "\u00e9" * 128  # 256 bytes in UTF-8: as a file name, longer than 255 bytes
    build(c, wide, {"X": "core/Drop"}, main=True)
    reply = c.request("network", "persist", {}, reply="output")
    assert reply["payload"]["message"].startswith("persisted 1 graph(s)")
    again = Runtime(registry=rt.registry, state_dir=state)
    try:
        assert set(again.graphs()) == {wide} and again.main_graph == wide
    finally:
        again.shutdown()


def test_persist_needs_its_capability(make_runtime):
    rt = make_runtime(secret="s")
    c = ProtocolClient(rt, secret="s")
    info = c.request("runtime", "getruntime", reply="runtime")["payload"]
    assert "network:persist" in info["capabilities"]
    anonymous = ProtocolClient(rt, "anon")
    assert anonymous.error("network", "persist", {}) == "network:persist is not permitted"
