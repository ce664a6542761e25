"""core/Bridge and remote/NAME between real runtimes: A (this process) → Bridge → B → Bridge → A.

B is a real ``flowpy serve`` (a Repeat chain exported as in/out); A is a network run in this
process with the Bridge in it. Waits are on conditions (``Store``), never sleeps.
"""

from __future__ import annotations

import json
import threading

import pytest
from bridge_fixtures import (
    ECHO,
    LocalNetwork,
    Store,
    as_items,
    bridge_graph,
    registry,
    write_graph,
)
from engine_helpers import Block

from flowpy.graphs.model import PortRef
from flowpy.link.client import Client
from flowpy.link.config import LinkConfig, LinkError
from flowpy.link.link import backoff_delay

pytestmark = pytest.mark.integration

EVERY_JSON = [
    None,
    True,
    False,
    0,
    -7,
    2**53,
    1.5,
    -0.25,
    "",
    "text",
    "ünï €",
    [],
    [1, [2, [3]]],
    {},
    {"k": {"n": None, "l": [1, "x", {"deep": True}]}},
]
NESTED = [
    {"<": "outer"},
    1,
    {"<": "inner"},
    {"a": 1},
    [None],
    {">": "inner"},
    "two",
    {"<": None},
    3,
    {">": None},
    {">": "outer"},
]


def conf(url: str, **extra) -> dict:
    return {"url": url, "start": True, "reconnect": {"initial": 0.05, "max": 0.5}, **extra}


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Every thread a Bridge or remote process starts is joined by the time its network
    has stopped (names: ``<node>-link``, ``<node>-deliver``, ``<node>-<n>-reader``,
    ``<node>-in-<port>``)."""
    yield
    prefixes = ("b-", "r-")
    left = [t.name for t in threading.enumerate() if t.name.startswith(prefixes)]
    assert left == [], f"threads still running: {left}"


@pytest.fixture
def echo(spawn_runtime):
    return spawn_runtime("--graph", ECHO)


def data_of(node: str) -> list:
    return [ip.data for ip in Store.get(node) if ip.is_data]


# -- configuration ---------------------------------------------------------------------------


def test_conf_parsing():
    c = LinkConfig.parse("ws://h:1/?secret=s&graph=g&window=5&start=1&x=y")
    assert (c.url, c.secret, c.graph, c.window, c.start) == ("ws://h:1/?x=y", "s", "g", 5, True)
    c = LinkConfig.parse(
        {
            "url": "ws://h:1",
            "reconnect": {"initial": 0.5, "max": 2},
            "map": {"in": {0: "a"}, "out": {"1": "b"}},
        }
    )
    assert (c.reconnect_initial, c.reconnect_max) == (0.5, 2)
    assert c.map_in == {"0": "a"} and c.map_out == {"1": "b"}
    assert LinkConfig.parse('{"url": "ws://h:1", "window": 3}').window == 3  # noflo-ui strings
    for bad in (
        3,
        "http://h",
        {"url": "ws://h", "window": 0},
        {"url": "ws://h", "nope": 1},
        {"url": "ws://h", "map": {"in": {"0": 5}}},
    ):
        with pytest.raises(LinkError):
            LinkConfig.parse(bad)


def test_backoff_grows_with_jitter_and_a_cap():
    delays = [backoff_delay(n, 0.1, 2.0) for n in range(1, 12)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(1.0 <= d <= 2.0 for d in delays[6:])  # capped, never below half the cap
    assert len({round(backoff_delay(5, 0.1, 2.0), 6) for _ in range(20)}) > 1  # jitter


# -- data through A → B → A ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["extension", "plain"])
def test_every_json_type_and_nested_brackets_in_order(echo, mode):
    items = EVERY_JSON + NESTED + [{"count": 500}]
    expected = EVERY_JSON + NESTED + list(range(500))
    graph = bridge_graph(conf(echo.url, extension=mode == "extension"), items)
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-out", len(expected)), Store.get("sink-out")[-3:]
        assert as_items(Store.get("sink-out")) == expected
        connected = [s for s in net.statuses() if s.get("state") == "connected"]
        assert connected and connected[0]["mode"] == mode
        assert {"type": "port", "port": "out", "event": "connect"} in net.statuses()
        assert net.stop() == []
    assert net.process_errors() == []
    assert Store.data("err") == []


def test_the_bridge_asks_for_no_debug_data_while_someone_debugs_the_remote(spawn_runtime, tmp_path):
    from bridge_fixtures import component_of

    chain = tmp_path / "chain.json"  # in -> r0 -> r1 -> out: one edge to debug
    chain.write_text(
        json.dumps(
            {
                "properties": {"name": "chain"},
                "processes": {
                    "r0": {"component": "core/Repeat"},
                    "r1": {"component": "core/Repeat"},
                },
                "connections": [
                    {
                        "src": {"process": "r0", "port": "out"},
                        "tgt": {"process": "r1", "port": "in"},
                    }
                ],
                "inports": {"in": {"process": "r0", "port": "in"}},
                "outports": {"out": {"process": "r1", "port": "out"}},
            }
        )
    )
    remote = spawn_runtime("--graph", str(chain))
    with Client(remote.url).connect() as watcher:
        watcher.request("network", "debug", {"graph": "chain", "enable": True}, expect=("status",))
        graph = bridge_graph(conf(remote.url), [{"count": 200}])
        with LocalNetwork(graph) as net:
            assert Store.wait_count("sink-out", 200)
            link = component_of(net, "b").link
            assert net.stop() == []
        watched = []
        while not any(m["command"] == "data" for m in watched):
            watched.append(watcher.recv_message(timeout=10))  # the debugger does get data
    assert link.stats["debug"] == 0


def test_numeric_indexes_mapped_through_conf(echo):
    graph = bridge_graph(
        conf(echo.url, map={"in": {"0": "in"}, "out": {"0": "out"}}),
        inputs={"0": ["a", "b", {"count": 100}]},
        outputs=("0",),
    )
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-0", 102)
        assert data_of("sink-0") == ["a", "b", *range(100)]
        assert net.stop() == []


def test_several_mapped_ports_at_once(spawn_runtime, tmp_path):
    path = write_graph(tmp_path / "pair.json", "pair", {"in": "out", "In2": "other"})
    b = spawn_runtime("--graph", path)
    graph = bridge_graph(
        conf(b.url),
        inputs={"in": [{"count": 300}], "in2": [{"count": 300, "start": 1000}]},
        outputs=("out", "OTHER"),
    )
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-out", 300) and Store.wait_count("sink-OTHER", 300)
        assert data_of("sink-out") == list(range(300))
        assert data_of("sink-OTHER") == list(range(1000, 1300))
        assert net.stop() == []
    assert Store.data("err") == []


def test_unmapped_remote_outport_goes_to_error(spawn_runtime, tmp_path):
    path = write_graph(tmp_path / "pair.json", "pair", {"in": "out", "in2": "other"})
    b = spawn_runtime("--graph", path)
    graph = bridge_graph(conf(b.url), inputs={"in": [1, 2], "in2": ["lost", {"<": "g"}]})
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-out", 2)
        assert Store.wait_count("err", 2)
        errors = Store.data("err")
        assert [(e["type"], e["port"], e["event"]) for e in errors] == [
            ("unmapped", "other", "data"),
            ("unmapped", "other", "begingroup"),
        ]
        assert errors[0]["payload"] == "lost"
        assert net.stop() == []


def test_inputs_ended_and_remote_stopped_ends_the_bridge(echo):
    graph = bridge_graph(conf(echo.url), [1, 2, 3])
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-out", 3)
        with Client(echo.url) as client:
            client.stop_network("echo")
        assert net.network.wait(30), "the Bridge did not end after the remote network stopped"
        assert net.stop() == []
    assert net.process_errors() == []


# -- failures ---------------------------------------------------------------------------------


def test_link_cut_mid_stream_loses_and_duplicates_nothing(echo):
    from tcp_proxy import TcpProxy

    total = 6000
    items = [{"<": "all"}, {"count": total}, {">": "all"}]
    with TcpProxy(echo.host, echo.port) as proxy:
        graph = bridge_graph(conf(proxy.url, window=50), items)
        with LocalNetwork(graph) as net:
            for n, at in enumerate((500, 2000, 3500), start=1):
                assert Store.wait_count("sink-out", at), f"stalled before {at}"
                assert proxy.cut() == 1
                assert proxy.wait_connections(n + 1), "the Bridge did not reconnect"
            assert Store.wait_count("sink-out", total + 2, timeout=60)
            got = as_items(Store.get("sink-out"))
            assert got == [{"<": "all"}, *range(total), {">": "all"}]
            states = net.states()
            assert states[:2] == ["connecting", "connected"]
            assert states[2:8] == ["reconnecting", "connected"] * 3
            assert all(
                s["mode"] == "extension" for s in net.statuses() if s.get("state") == "connected"
            )
            assert net.stop() == []
    assert Store.data("err") == []


def test_remote_killed_and_restarted_reconnects_and_reports_the_loss(spawn_runtime, tmp_path):
    state = tmp_path / "b-state"
    b = spawn_runtime("--graph", ECHO, "--state-dir", str(state))
    port = b.port
    total = 4000
    graph = bridge_graph(conf(b.url, window=100), [{"count": total}])
    with LocalNetwork(graph) as net:
        assert Store.wait_count("sink-out", 1000)
        b.kill()
        assert Store.wait_match("st", lambda s: s.get("state") == "reconnecting")
        b2 = spawn_runtime("--graph", ECHO, "--port", str(port), "--state-dir", str(state))
        assert b2.port == port
        assert Store.wait_match("sink-out", lambda v: v == total - 1, timeout=60), (
            "traffic did not resume after the restart"
        )
        got = data_of("sink-out")
        assert got == sorted(set(got)), "out of order or duplicated"
        restarts = [s for s in net.statuses() if s.get("type") == "remote-restart"]
        assert len(restarts) == 1
        lost = total - len(got)
        assert restarts[0]["unaccounted"] == lost
        if lost:
            assert [e["unaccounted"] for e in Store.data("err") if e["type"] == "lost"] == [lost]
        assert net.states()[-1] == "connected"
        assert net.stop() == []


def test_a_wrong_secret_at_the_first_connect_ends_the_bridge_with_one_error(spawn_runtime):
    b = spawn_runtime("--graph", ECHO, secret="right")
    graph = bridge_graph(conf(b.url, secret="wrong", reconnect={"initial": 0.1, "max": 0.2}), [1])
    with LocalNetwork(graph) as net:
        assert net.wait_process_error()
        [(node, message)] = net.process_errors()
        assert node == "b" and "wrong secret?" in message
        assert Store.wait_count("err", 1)  # recorded in the err node's own thread
        [error] = Store.data("err")
        assert error["type"] == "fatal" and "wrong secret?" in error["message"]
        assert not [s for s in net.statuses() if s.get("type") in ("refused", "retry")]
        assert net.stop() == []


def test_a_secret_refused_after_a_connection_is_retried_with_backoff(spawn_runtime, tmp_path):
    state = tmp_path / "b-state"
    b = spawn_runtime("--graph", ECHO, "--state-dir", str(state), secret="right")
    graph = bridge_graph(conf(b.url, secret="right", reconnect={"initial": 0.1, "max": 0.2}), [1])
    with LocalNetwork(graph) as net:
        assert Store.wait_match("st", lambda s: s.get("state") == "connected")
        b.kill()
        b2 = spawn_runtime(
            "--graph", ECHO, "--port", str(b.port), "--state-dir", str(state), secret="rotated"
        )
        assert b2.port == b.port
        assert Store.wait_for(
            lambda: sum(1 for s in Store.data("st") if s.get("type") == "refused") >= 3
        )
        refused = [s for s in net.statuses() if s.get("type") == "refused"]
        assert "wrong secret" in refused[0]["message"]
        attempts = [r["attempt"] for r in refused[:3]]  # counted on from the lost connection
        assert attempts == list(range(attempts[0], attempts[0] + 3))
        assert [e["type"] for e in Store.data("err")] == ["refused"]  # once per streak
        assert net.stop() == []
    assert net.process_errors() == []


def test_unknown_remote_graph_is_a_process_error(echo):
    graph = bridge_graph(conf(echo.url, graph="nope"), [1])
    with LocalNetwork(graph) as net:
        assert net.wait_process_error()
        [(node, message)] = net.process_errors()
        assert node == "b" and "remote graph 'nope' not found" in message
        assert Store.wait_count("err", 1)  # recorded in the err node's own thread
        assert [e["type"] for e in Store.data("err")] == ["fatal"]
        assert net.stop() == []


def test_missing_mapped_port_is_a_process_error(echo):
    graph = bridge_graph(conf(echo.url), [1], outputs=("out", "nope"))
    with LocalNetwork(graph) as net:
        assert net.wait_process_error()
        [(node, message)] = net.process_errors()
        assert "no exported outport 'nope'" in message
        # the err node records in its own thread: wait for it rather than race it
        assert Store.wait_match("err", lambda e: e.get("type") == "fatal")
        assert net.stop() == []


def test_outport_not_allowed_by_the_token(spawn_runtime, tmp_path):
    permissions = tmp_path / "permissions.json"
    permissions.write_text(
        json.dumps(
            {
                "secrets": {
                    "tok": {
                        "capabilities": [
                            "protocol:runtime",
                            "protocol:graph",
                            "protocol:network",
                            "network:control",
                            "network:status",
                        ],
                        "graphs": {"echo": {"inports": ["in"], "outports": []}},
                    }
                }
            }
        )
    )
    b = spawn_runtime("--graph", ECHO, "--permissions", str(permissions))
    graph = bridge_graph(conf(b.url, secret="tok"), [1])
    with LocalNetwork(graph) as net:
        assert net.wait_process_error()
        [(_, message)] = net.process_errors()
        assert "no exported outport 'out' that this secret may receive from" in message
        assert net.stop() == []
    # Sending alone is allowed: the same token feeds the inport.
    graph = bridge_graph(conf(b.url, secret="tok"), [1, 2], outputs=())
    with LocalNetwork(graph) as net:
        assert net.network.wait(30)  # inputs ended, all acknowledged, nothing to wait for
        assert net.process_errors() == [] and Store.data("err") == []


def test_stop_while_unreachable_does_not_hang():
    from processes import free_port

    graph = bridge_graph(conf(f"ws://127.0.0.1:{free_port()}"), [1])
    with LocalNetwork(graph) as net:
        assert Store.wait_for(
            lambda: sum(1 for s in Store.data("st") if s.get("type") == "retry") >= 2
        )
        assert net.states() == ["connecting"]
        assert net.stop(timeout=5.0) == []
        assert net.stop_seconds < 2.5


def test_stop_with_a_full_window_and_a_blocked_downstream(echo):
    """B's output cannot go anywhere (Block never reads): the link fills up end to end, and
    a stop still ends everything within the stop timeout."""
    graph = bridge_graph(conf(echo.url, window=20), [{"count": 50_000}], outputs=())
    graph.add_node("block", "test/Block")
    graph.add_edge(PortRef("b", "out", "out"), PortRef("block", "in"))
    reg = registry()
    reg.register("test/Block", Block)
    with LocalNetwork(graph, reg) as net:
        assert Store.wait_match("st", lambda s: s.get("state") == "connected")
        assert net.stop(timeout=5.0) == []
        assert net.stop_seconds < 3


# -- remote/NAME ------------------------------------------------------------------------------


def test_remote_component_in_a_graph(spawn_runtime, tmp_path):
    from engine_helpers import build

    from flowpy.link.remote import RemoteError, register_remotes

    path = write_graph(tmp_path / "pair.json", "pair", {"in": "out", "In2": "Other"})
    b = spawn_runtime("--graph", path, secret="s")
    reg = registry()
    assert register_remotes(reg, [f"pair={b.url}?secret=s"]) == ["remote/pair"]
    info = reg.describe("remote/pair")
    assert [p["id"] for p in info["inPorts"]] == ["in", "in2"]
    assert [p["id"] for p in info["outPorts"]] == ["out", "other"]
    assert "'pair'" in info["description"]
    graph = build(
        {
            "src": "test/Emit",
            "src2": "test/Emit",
            "r": "remote/pair",
            "sink": "test/Record",
            "sink2": "test/Record",
        },
        ["src.out -> r.in", "src2.out -> r.IN2", "r.out -> sink.in", "r.other -> sink2.in"],
        {"src.conf": [{"<": "g"}, {"count": 200}, {">": "g"}], "src2.conf": ["x", "y"]},
    )
    with LocalNetwork(graph, reg) as net:
        assert Store.wait_count("sink", 202) and Store.wait_count("sink2", 2)
        assert as_items(Store.get("sink")) == [{"<": "g"}, *range(200), {">": "g"}]
        assert data_of("sink2") == ["x", "y"]
        assert net.stop() == []
    assert net.process_errors() == []
    with pytest.raises(RemoteError, match="wrong or missing secret"):
        register_remotes(reg, [f"nosecret={b.url}"])
    with pytest.raises(RemoteError, match="expected NAME="):
        register_remotes(reg, ["justaurl"])
    assert "remote/nosecret" not in reg.names()


def test_the_example_in_the_docs_runs(spawn_runtime):
    import re

    from bridge_fixtures import ROOT

    from flowpy.graphs import fbp
    from flowpy.graphs import json_format as graph_json

    b = spawn_runtime("--graph", ECHO, secret="s3cret")
    text = (ROOT / "docs" / "bridge.md").read_text(encoding="utf-8")
    source = re.search(r"```fbp\n(.*?)```", text, re.S).group(1)
    graph = graph_json.load(fbp.parse(source.replace("ws://127.0.0.1:3570", b.url)))
    with LocalNetwork(graph) as net:
        rec = net.recorder
        assert rec.wait_for(lambda: len([c for c in rec.console if c[0] == "print"]) >= 5)
        assert [text for node, text in rec.console if node == "print"] == list("01234")
        assert any('"state":"connected"' in text for node, text in rec.console if node == "log")
        assert net.stop() == []


@pytest.mark.parametrize("close_timeout, stop_timeout", [(0.5, 5.0), (30.0, 2.0)])
def test_stop_while_the_remote_reads_nothing(echo, caplog, close_timeout, stop_timeout):
    """A remote that stops reading mid-stream leaves the Bridge stuck in a socket write; the
    stop still ends it: the link cuts the connection once close_timeout has passed, or
    sooner when the network's stop timeout is shorter (every thread joined in time)."""
    from tcp_proxy import TcpProxy

    big = "x" * 400_000  # a window of these (20 MB) is more than the socket buffers hold
    with TcpProxy(echo.host, echo.port) as proxy:
        graph = bridge_graph(conf(proxy.url, window=50, close_timeout=close_timeout), [big] * 300)
        with LocalNetwork(graph) as net:
            assert proxy.wait_bytes_up(2_000_000)
            proxy.pause()
            assert net.stop(timeout=stop_timeout) == []
    assert "cutting the connection" in caplog.text


@pytest.mark.parametrize("mode", ["extension", "plain"])
def test_a_slow_local_downstream_slows_the_link_with_bounded_buffers(echo, mode):
    """The sink reads nothing: out[] fills, then the remote's output waits, then its input,
    so the remote stops acknowledging and the Bridge's window fills: back-pressure all the way
    round, with at most a window of remote packets held by the Bridge. Then all of it flows."""
    from bridge_fixtures import Gate, component_of

    window = 40
    # plain mode: packets big enough that the socket buffers cannot hide the back-pressure
    value = "v" * (20_000 if mode == "plain" else 10)
    total = 4000
    graph = bridge_graph(
        conf(echo.url, window=window, extension=mode == "extension"),
        [[n, value] for n in range(total)],
        outputs=(),
        error=False,
    )
    graph.add_node("gate", "test/Gate")
    graph.add_edge(PortRef("b", "out", "out"), PortRef("gate", "in"))
    reg = registry()
    reg.register("test/Gate", Gate)
    Gate.open = threading.Event()
    with LocalNetwork(graph, reg) as net:
        assert Store.wait_match("st", lambda s: s.get("state") == "connected")
        link = component_of(net, "b").link
        with link.window.cond:
            assert link.window.cond.wait_for(lambda: len(link.window) >= window, 60), (
                "the window never filled: no back-pressure from the remote"
            )
        assert link.stats["inbox_peak"] <= window
        Gate.open.set()
        assert Store.wait_count("gate", total, timeout=60)
        assert [ip.data[0] for ip in Store.get("gate")] == list(range(total))
        assert link.stats["inbox_peak"] <= window
        assert net.stop() == []


def test_plain_mode_survives_cuts_at_least_once(echo):
    """Without the extension: the Bridge reconnects after every cut and re-sends what B had
    not acknowledged; B's output in flight at a cut may be lost (best effort)."""
    from bridge_fixtures import component_of
    from tcp_proxy import TcpProxy

    total = 3000
    with TcpProxy(echo.host, echo.port) as proxy:
        graph = bridge_graph(conf(proxy.url, window=50, extension=False), [{"count": total}])
        with LocalNetwork(graph) as net:
            for n, at in enumerate((500, 1500), start=1):
                assert Store.wait_count("sink-out", at), f"stalled before {at}"
                proxy.cut()
                assert proxy.wait_connections(n + 1)
            assert Store.wait_match("sink-out", lambda v: v == total - 1, timeout=60)
            got = data_of("sink-out")
            assert set(got) <= set(range(total)) and len(set(got)) > total // 2
            link = component_of(net, "b").link
            assert link.stats["connects"] == 3 and link.mode == "plain"
            # B's network ran throughout: its uptime says so, no restart is reported
            assert not [s for s in net.statuses() if s.get("type") == "remote-restart"]
            assert net.states()[:6] == [
                "connecting",
                "connected",
                "reconnecting",
                "connected",
                "reconnecting",
                "connected",
            ]
            assert net.stop() == []


def test_plain_mode_notices_a_remote_network_that_restarted_while_away(echo):
    """No session to ask: the remote network's uptime, shorter than the link's absence,
    tells the Bridge that whatever the network held was lost."""
    from tcp_proxy import TcpProxy

    total = 300
    with TcpProxy(echo.host, echo.port) as proxy:
        # stop=False: the Bridge stays after its input ended instead of stopping B's network
        graph = bridge_graph(
            conf(proxy.url, window=50, extension=False, stop=False), [{"count": total}]
        )
        with LocalNetwork(graph) as net:
            assert Store.wait_count("sink-out", total)
            proxy.hold()  # the Bridge stays away until the remote network has restarted
            assert proxy.cut() == 1
            assert Store.wait_match("st", lambda s: s.get("state") == "reconnecting")
            with Client(echo.url) as admin:
                remote = admin.getruntime()["graph"]
                admin.stop_network(remote)
                admin.start_network(remote)
            proxy.admit()
            assert Store.wait_match("st", lambda s: s.get("type") == "remote-restart")
            restart = next(s for s in net.statuses() if s.get("type") == "remote-restart")
            assert "started again while the link was down" in restart["message"]
            assert restart["unaccounted"] == 0  # everything had come back before the cut
            assert net.states()[-1] == "connected"
            assert net.stop() == []


def test_a_runtime_that_ignores_the_extension_gets_plain_packets(tmp_path):
    """Like NoFlo or flowd: flowpy:hello goes unanswered. The Bridge falls back to plain
    runtime:packet after hello_timeout, once: it does not wait again at a reconnect."""
    from tcp_proxy import TcpProxy

    from flowpy.protocol import Endpoint
    from flowpy.runtime import Runtime
    from flowpy.server import Service

    class Silent(Endpoint):
        def receive_text(self, client, text):
            if '"protocol":"flowpy"' not in text.replace(" ", ""):
                super().receive_text(client, text)

    runtime = Runtime(state_dir=tmp_path / "state")
    runtime.load_graph_file(ECHO)
    service = Service("127.0.0.1", 0, Silent(runtime)).start()
    try:
        port = int(service.url.rsplit(":", 1)[1].strip("/"))
        with TcpProxy("127.0.0.1", port) as proxy:
            # stop=False: the link must outlive its input here, to be cut and come back.
            graph = bridge_graph(conf(proxy.url, hello_timeout=0.3, stop=False), [{"count": 100}])
            with LocalNetwork(graph) as net:
                assert Store.wait_count("sink-out", 100)
                proxy.cut()
                assert Store.wait_for(
                    lambda: net.states()[-1:] == ["connected"] and len(net.states()) >= 4
                )
                modes = [s for s in net.statuses() if s.get("type") == "mode"]
                assert len(modes) == 1 and "no answer to flowpy:hello" in modes[0]["message"]
                assert all(
                    s["mode"] == "plain" for s in net.statuses() if s.get("state") == "connected"
                )
                assert net.stop() == []
    finally:
        service.stop()
