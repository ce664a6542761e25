"""flowpy:stats: the live counts a page subscribes to (flowpy/protocol/stats_commands.py)."""

from __future__ import annotations

import threading

from protocol_harness import ProtocolClient, build, matches


def counted(client: ProtocolClient, graph: str = "g") -> ProtocolClient:
    """A graph IN -> A (Repeat) -> B (Repeat) -> OUT; ``client`` receives its output."""
    build(
        client,
        graph,
        {"A": "core/Repeat", "B": "core/Repeat"},
        edges=[("A", "out", "B", "in")],
        inports={"in": ("A", "in")},
        outports={"out": ("B", "out")},
    )
    return client


def graph_entry(message: dict, graph: str = "g") -> dict:
    return next(g for g in message["payload"]["graphs"] if g["graph"] == graph)


def test_a_snapshot_answers_at_once_with_every_graph(runtime):
    page = counted(ProtocolClient(runtime, "page", extension=True))
    reply = page.request("flowpy", "stats", {"subscribe": False}, requestId="s1")
    assert reply["responseTo"] == "s1"
    entry = graph_entry(reply)
    assert entry["state"] == "not started" and entry["edges"] == []
    assert set(entry["processes"]) == {"A", "B"}
    assert entry["processes"]["A"] == {"state": "stopped", "errors": 0, "restarts": 0}
    assert runtime.stats.subscribers == 0  # subscribe: false subscribes nothing


def test_counts_follow_the_packets_and_pushes_come_until_unsubscribed(runtime):
    page = counted(ProtocolClient(runtime, "page", extension=True))
    page.request("network", "start", {"graph": "g"}, reply="started")
    for n in range(5):
        page.request(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": n},
            reply="packetsent",
        )
    out = matches("runtime", "packet", port="out", event="data")
    index = 0
    for _ in range(5):  # all five came out (around the packetsent replies)
        index = page.sink.wait_for(out, index)[0] + 1
    page.request("flowpy", "stats", {"graph": "g", "interval": 200})
    start = len(page.messages)
    pushed = page.sink.wait_for(matches("flowpy", "stats"), start)[1]
    assert "responseTo" not in pushed
    entry = graph_entry(pushed)
    assert entry["state"] == "running"
    assert entry["edges"] == [
        {
            "src": {"node": "A", "port": "out"},
            "tgt": {"node": "B", "port": "in"},
            "ips": 5,
            "queued": 0,
        }
    ]
    assert entry["inports"] == {"in": 5} and entry["outports"] == {"out": 5}
    assert entry["processes"]["A"]["state"] == "running"
    page.request("flowpy", "stats", {"subscribe": False})
    assert runtime.stats.subscribers == 0


def test_a_failed_process_is_failed_with_its_error(runtime):
    page = ProtocolClient(runtime, "page", extension=True)
    build(page, "g", {"F": "test/Fail"}, initials=[("boom", "F", "in")])
    page.request("network", "start", {"graph": "g"}, reply="started")
    page.expect("network", "processerror")
    entry = graph_entry(page.request("flowpy", "stats", {"subscribe": False}))
    assert entry["processes"]["F"]["state"] == "failed"
    assert entry["processes"]["F"]["errors"] == 1
    assert "cannot handle 'boom'" in entry["processes"]["F"]["error"]


def test_the_thread_exists_only_while_somebody_subscribed(runtime):
    def stats_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "flowpy-stats"]

    page = counted(ProtocolClient(runtime, "page", extension=True))
    assert stats_threads() == []
    page.request("flowpy", "stats", {"interval": 200})
    assert len(stats_threads()) == 1
    page.close()  # a client that goes away is unsubscribed
    assert runtime.stats.subscribers == 0
    for thread in stats_threads():
        thread.join(5)
    assert stats_threads() == []


def test_bad_requests_are_refused_and_change_nothing(runtime):
    page = counted(ProtocolClient(runtime, "page", extension=True))
    assert "interval" in page.error("flowpy", "stats", {"interval": 5})
    assert "not found" in page.error("flowpy", "stats", {"graph": "nope"})
    assert "subscribe" in page.error("flowpy", "stats", {"subscribe": "yes"})
    assert runtime.stats.subscribers == 0


def test_a_client_without_status_permission_is_refused(make_runtime):
    runtime = make_runtime(
        permissions={"secrets": {"reader": {"capabilities": ["protocol:component"]}}}
    )
    page = ProtocolClient(runtime, "page", secret="reader", extension=True)
    assert "not permitted" in page.error("flowpy", "stats", {})
    assert runtime.stats.subscribers == 0


def test_an_observer_takes_no_graph_output_and_never_holds_the_graph_back(runtime):
    """The live view says packets: false: graph output goes to the clients that take it only,
    so a page that never reads packets cannot hold the outport handler back."""
    feeder = counted(ProtocolClient(runtime, "feeder"))
    page = ProtocolClient(runtime, "page", extension=True)
    page.request("flowpy", "stats", {"packets": False, "subscribe": False})
    feeder.request("network", "start", {"graph": "g"}, reply="started")
    for n in range(3):
        feeder.request(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": n},
            reply="packetsent",
        )
    out = matches("runtime", "packet", port="out", event="data")
    index = 0
    for _ in range(3):
        index = feeder.sink.wait_for(out, index)[0] + 1
    page.request("runtime", "getruntime", {}, reply="runtime")  # after the three, in order
    assert [m for m in page.messages if out(m)] == []
    assert "packets" in page.error("flowpy", "stats", {"packets": "no"})
