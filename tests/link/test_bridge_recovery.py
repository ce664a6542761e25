"""A Bridge whose remote comes back without the graph waits for the graph, losing nothing.

B is a real ``flowpy serve``; A is a network in this process. Waits are on conditions
(``Store``), never sleeps.
"""

from __future__ import annotations

import logging
import threading

import pytest
from bridge_fixtures import ECHO, LocalNetwork, Store, component_of, registry
from engine_helpers import build

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine.ip import IP
from flowpy.link.client import Client

pytestmark = pytest.mark.integration


class Phased(Component):
    """Test source: integers 0..first-1, then (once ``Phased.go`` is set) first..first+then-1."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))
    go = threading.Event()

    def run(self) -> None:
        conf = next_data(self.inports["conf"])
        out = self.outports["out"]
        first, then = conf["first"], conf["then"]
        out.send_many([IP.make_data(n) for n in range(first)])
        while not Phased.go.wait(0.05):  # the stop check is what needs the slice
            if self.stopping.is_set():
                return
        for n in range(first, first + then):
            out.send_data(n)


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    Phased.go.clear()
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("b-")]
    assert left == [], f"threads still running: {left}"


def _graph(url: str, first: int, then: int, window: int):
    conf = {"url": url, "start": True, "window": window, "reconnect": {"initial": 0.05, "max": 0.3}}
    return build(
        {
            "src": "test/Phased",
            "b": "core/Bridge",
            "sink": "test/Record",
            "st": "test/Record",
            "err": "test/Record",
        },
        ["src.out -> b.in[in]", "b.out[out] -> sink.in", "b.status -> st.in", "b.error -> err.in"],
        {"src.conf": {"first": first, "then": then}, "b.conf": conf},
    )


def _make_echo(url: str) -> None:
    """Build the echo graph (in -> Repeat -> out) on a runtime that lacks it, step by step,
    as a protocol client does: the Bridge may look at any moment in between."""
    with Client(url) as client:
        client.graph("clear", id="echo", name="echo", main=True)
        client.graph("addnode", graph="echo", id="r", component="core/Repeat")
        client.graph("addinport", graph="echo", public="in", node="r", port="in")
        client.graph("addoutport", graph="echo", public="out", node="r", port="out")


def test_a_remote_back_without_the_graph_is_retried_and_nothing_is_lost(
    spawn_runtime, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="flowpy.link.link")
    state = tmp_path / "b-state"
    b = spawn_runtime("--graph", ECHO, "--state-dir", str(state))
    first, then, window = 200, 500, 40
    reg = registry()
    reg.register("test/Phased", Phased)
    with LocalNetwork(_graph(b.url, first, then, window), reg) as net:
        assert Store.wait_count("sink", first)
        b.kill()  # everything sent so far has come back: B held nothing
        assert Store.wait_match("st", lambda s: s.get("state") == "reconnecting")
        b2 = spawn_runtime("--port", str(b.port), "--state-dir", str(state))  # no graph
        assert b2.port == b.port
        Phased.go.set()  # the rest is sent while B lacks the graph
        assert Store.wait_match("st", lambda s: s.get("state") == "graph-missing")
        missing = next(s for s in Store.data("st") if s.get("state") == "graph-missing")
        assert "remote graph 'echo' not found" in missing["reason"]
        assert missing["retry_in"] > 0
        assert Store.wait_match("err", lambda e: e.get("type") == "graph-missing")
        # the Bridge waits with a full window (back-pressure), not with everything
        link = component_of(net, "b").link
        assert Store.wait_match("st", lambda s: s.get("type") == "retry")
        assert link.unacknowledged <= 2 * window  # a window written, a window waiting
        assert net.process_errors() == []

        _make_echo(b2.url)
        assert Store.wait_count("sink", first + then, timeout=60), Store.data("sink")[-3:]
        assert Store.data("sink") == list(range(first + then))  # once each, in order
        states = net.states()
        assert states.index("graph-missing") < len(states) - 1
        assert states[-1] == "connected"
        restarts = [s for s in Store.data("st") if s.get("type") == "remote-restart"]
        assert [r["unaccounted"] for r in restarts] == [0]
        assert net.stop() == []
    assert net.process_errors() == []
    assert [e["type"] for e in Store.data("err")] == ["graph-missing"]
    assert Store.data("sink") == list(range(first + then))
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "flowpy.link.link" and r.levelno == logging.WARNING
    ]
    assert any("-> graph-missing" in w and "'echo' not found" in w for w in warnings), warnings
    assert any("-> reconnecting" in w for w in warnings), warnings
    infos = [
        r.getMessage()
        for r in caplog.records
        if r.name == "flowpy.link.link" and r.levelno == logging.INFO
    ]
    assert any("graph-missing -> connected" in i for i in infos), infos


def test_a_graph_missing_at_the_first_connect_is_still_a_configuration_error(spawn_runtime):
    b = spawn_runtime("--graph", ECHO)
    graph = _graph(b.url, 1, 0, 10)
    graph.initials[-1].data["graph"] = "nope"
    reg = registry()
    reg.register("test/Phased", Phased)
    Phased.go.set()
    with LocalNetwork(graph, reg) as net:
        assert net.wait_process_error()
        [(node, message)] = net.process_errors()
        assert node == "b" and "remote graph 'nope' not found" in message
        assert "graph-missing" not in net.states()
        assert net.stop() == []
