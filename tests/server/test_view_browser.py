"""The live view in a real browser (Chromium through Playwright; see tests/support/browser.py).

A runtime is served in-process on a free port with a graph that keeps IPs flowing: a ticker
sends until the network stops, through a Repeat into a Drop, with an IIP and an exported
inport, so the drawing has every kind of thing the page draws. Every wait is on something
the page shows (Playwright's auto-waiting locators and wait_for_function), never a sleep.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import protocol_schemas
import pytest

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph, PortRef
from flowpy.runtime import Runtime
from flowpy.server.service import Service

pytestmark = pytest.mark.integration
WAIT_MS = 15_000


class Ticker(Component):
    """Sends its IIP again and again, about a hundred a second, until the network stops."""

    inports = InPorts(InPort("data", description="what to send"))
    outports = OutPorts(OutPort("out", description="the same, again and again"))

    def run(self) -> None:
        value = self.inports["data"].recv().data
        while not self.stopping.wait(0.01):  # pacing a source, not waiting for anything
            self.outports["out"].send_data(value)


def ticking_graph() -> Graph:
    graph = Graph("ticks")
    graph.add_node("ticker", "test/Ticker")
    graph.add_node("repeat", "core/Repeat")
    graph.add_node("drop", "core/Drop")
    graph.add_edge(PortRef("ticker", "out"), PortRef("repeat", "in"))
    graph.add_edge(PortRef("repeat", "out"), PortRef("drop", "in"))
    graph.add_initial({"tick": 1}, PortRef("ticker", "data"))
    graph.add_inport("extra", "repeat", "in")
    return graph


@contextlib.contextmanager
def serve(tmp_path: Path, **options: Any) -> Iterator[Service]:
    """The ticking graph, running, served on a free port; every message the runtime sent
    (to the page, here) must be schema-valid."""
    registry = Registry()
    registry.register("test/Ticker", Ticker)
    runtime = Runtime(registry=registry, state_dir=tmp_path / "state", **options)
    runtime.add_graph("ticks", ticking_graph(), main=True)
    runtime.get_graph("ticks").start()
    sent = tmp_path / "sent.jsonl"
    service = Service("127.0.0.1", 0, runtime, record_sent=str(sent)).start()
    try:
        yield service
    finally:
        service.stop()
    messages = [json.loads(line) for line in sent.read_text().splitlines()]
    assert any(m["command"] == "stats" for m in messages)
    problems = [
        f"{m}: {protocol_schemas.errors(m)}" for m in messages if protocol_schemas.errors(m)
    ]
    assert not problems, "\n".join(problems)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Service]:
    with serve(tmp_path) as service:
        yield service


def http_url(service: Service) -> str:
    return service.url.replace("ws://", "http://")


def open_view(page: Any, service: Service) -> None:
    page.goto(http_url(service))
    page.wait_for_function("window.flowpyView.draws > 0", timeout=WAIT_MS)


def edge_ips(page: Any, key: str) -> int:
    return int(page.locator(f'g.edge[data-key="{key}"]').get_attribute("data-ips") or 0)


def test_the_page_draws_the_graph_with_its_ports_edges_exports_and_iips(
    page: Any, served: Service, tmp_path: Path
) -> None:
    open_view(page, served)
    assert page.locator("#label").inner_text() == "flowpy"
    assert page.locator("#ws-url").inner_text() == served.url + "/"
    nodes = page.locator("g.node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.node)")) == [
        "drop",
        "repeat",
        "ticker",
    ]
    ports = page.locator('g.node[data-node="repeat"] g.port')
    assert sorted(
        ports.evaluate_all("ps => ps.map(p => p.dataset.dir + ':' + p.dataset.port)")
    ) == ["in:in", "out:out"]
    assert sorted(
        page.locator("g.edge[data-key]").evaluate_all("es => es.map(e => e.dataset.key)")
    ) == ["repeat.out>drop.in", "ticker.out>repeat.in"]
    assert page.locator('g.export[data-export="extra"]').count() == 1
    assert page.locator("g.iip text").text_content() == '{"tick":1}'
    shot = tmp_path / "live-view.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    print(f"drawn in {page.evaluate('window.flowpyView.drawMs'):.0f} ms")


def test_counts_rise_while_packets_flow(page: Any, served: Service) -> None:
    open_view(page, served)
    key = "ticker.out>repeat.in"
    page.wait_for_function(
        f"""() => Number(document.querySelector(
        'g.edge[data-key="{key}"]').dataset.ips) > 0""",
        timeout=WAIT_MS,
    )
    first = edge_ips(page, key)
    page.wait_for_function(
        f"""() => Number(document.querySelector(
        'g.edge[data-key="{key}"]').dataset.ips) > {first}""",
        timeout=WAIT_MS,
    )
    label = page.locator(f'g.edge[data-key="{key}"] text.count').text_content() or ""
    assert "IPs" in label and "/s" in label
    assert page.locator('g.node[data-node="ticker"]').get_attribute("data-state") == "running"
    assert page.locator("#graph-state").inner_text().startswith("running")


def test_stop_stops_the_network(page: Any, served: Service) -> None:
    open_view(page, served)
    page.locator("#stop").click()
    page.locator("#graph-state.stopped").wait_for(timeout=WAIT_MS)
    hosted = served.endpoint.runtime.get_graph("ticks")
    status = json.loads(
        page.evaluate("fetch('/', {headers: {Accept: 'application/json'}}).then(r => r.text())")
    )
    assert status["graphs"][0]["state"] == "stopped"
    assert not hosted.is_started
    page.locator("#start").click()
    page.locator("#graph-state.running").wait_for(timeout=WAIT_MS)


def test_clicking_an_edge_shows_the_ips_that_cross_it(page: Any, served: Service) -> None:
    open_view(page, served)
    page.locator('g.edge[data-key="repeat.out>drop.in"] path.hit').click(force=True)
    assert "repeat OUT → IN drop" in page.locator("#inspected-edge").inner_text()
    page.locator("#ips li.ip").first.wait_for(timeout=WAIT_MS)
    assert page.locator("#ips li.ip").first.inner_text() == '{"tick":1}'


def test_a_runtime_with_a_secret_shows_nothing_until_the_secret_is_given(
    page: Any, tmp_path: Path
) -> None:
    with serve(tmp_path, secret="s3cret") as service:
        page.goto(http_url(service))
        page.get_by_text("needs a secret").wait_for(timeout=WAIT_MS)
        assert page.locator("g.node").count() == 0
        page.locator("#secret").fill("s3cret")
        page.locator("#secret-form button").click()
        page.wait_for_function("window.flowpyView.draws > 0", timeout=WAIT_MS)
        assert page.locator("g.node").count() == 3
        assert page.locator("#stop").is_visible()


def test_a_client_without_network_control_sees_no_start_or_stop(page: Any, tmp_path: Path) -> None:
    viewer = {"capabilities": ["network:status", "protocol:component", "component:getsource"]}
    with serve(tmp_path, permissions={"secrets": {"look": viewer}}) as service:
        page.goto(http_url(service))
        page.locator("#secret").fill("look")
        page.locator("#secret-form button").click()
        page.wait_for_function("window.flowpyView.draws > 0", timeout=WAIT_MS)
        page.wait_for_function(
            "document.querySelector('#graph-state').textContent.startsWith('running')",
            timeout=WAIT_MS,
        )
        assert not page.locator("#start").is_visible()
        assert not page.locator("#stop").is_visible()


def big_graph(nodes: int = 200) -> Graph:
    """``nodes`` processes: 20 chains of Repeats, each chain fanning into the next one's
    middle, so the layout has crossings to avoid and not just parallel lines."""
    graph = Graph("big")
    chains, length = 20, nodes // 20
    for c in range(chains):
        for i in range(length):
            graph.add_node(f"c{c}n{i}", "core/Repeat")
            if i:
                graph.add_edge(PortRef(f"c{c}n{i - 1}", "out"), PortRef(f"c{c}n{i}", "in"))
        if c:
            graph.add_edge(
                PortRef(f"c{c - 1}n{length - 1}", "out"), PortRef(f"c{c}n{length // 2}", "in")
            )
    return graph


def test_a_200_node_graph_is_drawn_without_overlapping_boxes(page: Any, tmp_path: Path) -> None:
    with serve(tmp_path) as service:
        service.endpoint.runtime.add_graph("big", big_graph())
        page.goto(http_url(service))
        page.wait_for_function("window.flowpyView.draws > 0", timeout=WAIT_MS)
        first = page.evaluate("window.flowpyView.drawMs")
        page.locator('#graphs li[data-graph="big"]').click()
        page.wait_for_function("window.flowpyView.draws > 1", timeout=WAIT_MS * 2)
        boxes = page.locator("g.node rect.box").evaluate_all(
            "rs => rs.map(r => { const b = r.getBoundingClientRect();"
            " return [b.left, b.top, b.right, b.bottom]; })"
        )
        assert len(boxes) == 200
        assert page.locator("g.edge[data-key]").count() == 200 - 20 + 19
        boxes.sort()
        for i, (_left, top, right, bottom) in enumerate(boxes):  # sorted by left: sweep
            for other in boxes[i + 1 :]:
                if other[0] >= right:
                    break
                assert other[1] >= bottom or other[3] <= top, f"{boxes[i]} overlaps {other}"
        timings = page.evaluate("window.flowpyView")
        page.screenshot(path=str(tmp_path / "big.png"), full_page=True)
        print(
            f"200-node graph: layout {timings['layoutMs']:.0f} ms, drawn in "
            f"{timings['drawMs']:.0f} ms (the 3-node graph before it: {first:.0f} ms)"
        )
