"""A served network's failures are visible: in the log, in ``GET /``'s document, and to the
client whose packet no longer gets in (issue 12, "Failures must be visible")."""

from __future__ import annotations

import json
import logging
import threading

from protocol_harness import ProtocolClient, build


def failing_graph(client: ProtocolClient) -> None:
    """F fails on every IP and, by its node's error policy, stops (the network then ends)."""
    build(client, "g", {"F": "test/Fail"}, inports={"in": ("F", "in")}, main=True)
    client.request(
        "graph", "changenode", {"graph": "g", "id": "F", "metadata": {"onError": "stop"}}
    )


def records(caplog, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == level and r.name.startswith("flowpy.runtime")
    ]


def test_a_process_error_is_logged_with_node_component_and_message(runtime, client, caplog):
    caplog.set_level(logging.DEBUG, logger="flowpy")
    failing_graph(client)
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 5},
        reply="packetsent",
    )
    client.expect("network", "stopped", graph="g", running=False)
    errors = records(caplog, logging.ERROR)
    assert errors == [
        "graph g: process F (test/Fail) failed: ValueError: cannot handle 5 (on 5); process stopped"
    ]
    debug = "\n".join(records(caplog, logging.DEBUG))
    assert "graph g: process F (test/Fail) traceback:" in debug and "raise ValueError" in debug
    info = records(caplog, logging.INFO)
    assert "graph g: network started by client" in info
    assert (
        "graph g: network finished after a process error: "
        "process F (test/Fail) failed: ValueError: cannot handle 5"
    ) in info
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    assert records(caplog, logging.INFO)[-1].startswith(
        "graph g: network stopped: process F (test/Fail) failed: ValueError: cannot handle 5; "
        "then stopped by client"
    )


def test_no_log_line_per_packet_at_info(runtime, client, caplog):
    caplog.set_level(logging.INFO, logger="flowpy")
    build(
        client,
        "r",
        {"R": "core/Repeat"},
        inports={"in": ("R", "in")},
        outports={"out": ("R", "out")},
    )
    client.request("network", "start", {"graph": "r"}, reply="started")
    before = len(caplog.records)
    for n in range(20):
        client.request(
            "runtime",
            "packet",
            {"graph": "r", "port": "in", "event": "data", "payload": n},
            reply="packetsent",
        )
    assert [r.getMessage() for r in caplog.records[before:]] == []


def test_the_status_document_shows_state_and_last_error(runtime, client):
    failing_graph(client)
    assert runtime.status()["graphs"] == [
        {"id": "g", "main": True, "started": False, "running": False, "state": "not started"}
    ]
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 5},
        reply="packetsent",
    )
    client.expect("network", "stopped", graph="g", running=False)
    [entry] = runtime.status()["graphs"]
    assert entry["state"] == "finished" and entry["started"] and not entry["running"]
    error = entry["lastError"]
    assert error == {
        "node": "F",
        "component": "test/Fail",
        "type": "ValueError",
        "message": "cannot handle 5",
        "input": 5,
        "time": error["time"],
        "outcome": "stop",
    }
    assert error["time"].endswith("Z")
    assert entry["ended"]["reason"] == "process F (test/Fail) failed: ValueError: cannot handle 5"
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    [entry] = runtime.status()["graphs"]
    assert entry["state"] == "stopped" and entry["lastError"] == error
    client.request("network", "start", {"graph": "g"}, reply="started")
    [entry] = runtime.status()["graphs"]
    assert entry["state"] == "running" and "ended" not in entry
    assert entry["lastError"] == error  # the last one, until another happens


def test_the_sender_hears_the_process_error_and_why_its_next_packet_is_refused(runtime, client):
    failing_graph(client)
    sender = ProtocolClient(runtime, "sender")  # only sends packets, as `flowpy send` does
    client.request("network", "start", {"graph": "g"}, reply="started")
    sender.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 5},
        reply="packetsent",
    )
    error = sender.expect("network", "processerror", graph="g")["payload"]
    assert error["id"] == "F" and error["error"].startswith(
        "test/Fail: ValueError: cannot handle 5 (on 5)"
    )
    sender.expect("network", "stopped", graph="g", started=True, running=False)
    refusal = sender.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 6},
        reply="packetsent",
    )
    assert refusal["command"] == "error"
    assert refusal["payload"]["message"] == (
        "packet to g.in was not delivered: the network stopped: "
        "process F (test/Fail) failed: ValueError: cannot handle 5"
    )
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    refusal = sender.error(
        "runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": 7}
    )
    assert refusal.startswith(
        "network of graph 'g' is not running: the network stopped: "
        "process F (test/Fail) failed: ValueError: cannot handle 5"
    )


def test_a_network_never_started_says_so(runtime, client):
    failing_graph(client)
    assert client.error(
        "runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": 1}
    ) == ("network of graph 'g' is not running: start it first (network:start)")


def test_a_stopped_network_says_who_stopped_it(runtime, client):
    build(client, "r", {"R": "core/Repeat"}, inports={"in": ("R", "in")})
    client.request("network", "start", {"graph": "r"}, reply="started")
    client.request("network", "stop", {"graph": "r"}, reply="stopped")
    message = client.error(
        "runtime", "packet", {"graph": "r", "port": "in", "event": "data", "payload": 1}
    )
    assert message.startswith(
        "network of graph 'r' is not running: the network stopped: stopped by client"
    )
    assert runtime.status()["graphs"][0]["ended"]["reason"].startswith("stopped by client")


def test_who_stopped_a_network_is_named_to_clients_and_located_in_the_log_only(runtime, caplog):
    caplog.set_level(logging.INFO, logger="flowpy")
    stopper = ProtocolClient(runtime, "flowpy-client-10")
    stopper.sink.peer = "10.9.8.7:55698"  # as the server's connections carry it
    other = ProtocolClient(runtime, "flowpy-client-11")
    other.sink.peer = "10.1.1.1:40000"
    build(stopper, "r", {"R": "core/Repeat"}, inports={"in": ("R", "in")})
    stopper.request("network", "start", {"graph": "r"}, reply="started")
    stopper.request("network", "start", {"graph": "r"}, reply="started")  # a restart
    stopper.request("network", "stop", {"graph": "r"}, reply="stopped")
    message = other.error(
        "runtime", "packet", {"graph": "r", "port": "in", "event": "data", "payload": 1}
    )
    assert message == (
        "network of graph 'r' is not running: the network stopped: stopped by flowpy-client-10"
    )
    assert runtime.status()["graphs"][0]["ended"]["reason"] == "stopped by flowpy-client-10"
    for client in (stopper, other):
        assert not [m for m in client.messages if "10.9.8.7" in json.dumps(m)]
    assert "10.9.8.7" not in json.dumps(runtime.status())
    info = records(caplog, logging.INFO)
    assert "graph r: network started by flowpy-client-10 (10.9.8.7:55698)" in info
    assert (
        "graph r: network stopped: restarted by flowpy-client-10 (client at 10.9.8.7:55698)"
    ) in info
    assert info[-1] == (
        "graph r: network stopped: stopped by flowpy-client-10 (client at 10.9.8.7:55698)"
    )


def test_a_network_that_is_draining_says_it_is_stopping(runtime, client):
    build(
        client,
        "d",
        {"D": "time/Delay"},
        initials=[(60000, "D", "conf")],
        inports={"in": ("D", "in")},
    )
    client.request("network", "start", {"graph": "d"}, reply="started")
    client.request(
        "runtime",
        "packet",
        {"graph": "d", "port": "in", "event": "data", "payload": 1},
        reply="packetsent",
    )
    sender = ProtocolClient(runtime, "sender")
    hosted = runtime.get_graph("d")
    stopper = threading.Thread(
        target=client.request,
        args=("network", "stop", {"graph": "d"}),
        kwargs={"reply": "stopped"},
        name="test-stopper",
    )
    stopper.start()
    try:
        # D holds its IP for a minute, so the drain lasts until its deadline.
        assert hosted.stop_requested.wait(10)
        message = sender.error(
            "runtime", "packet", {"graph": "d", "port": "in", "event": "data", "payload": 2}
        )
        assert message.startswith("network of graph 'd' is stopping and takes no more input")
    finally:
        stopper.join(30)
    assert not stopper.is_alive()
