"""GET / by content negotiation, the page's static files, and GET /metrics (server/view.py,
server/metrics.py), through Flask's test client against a real runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from protocol_harness import ProtocolClient, build, matches

from flowpy.server.app import create_app


@pytest.fixture
def served(make_runtime):
    runtime = make_runtime()
    return runtime, create_app(runtime).test_client()


def test_a_browser_gets_the_page_and_api_clients_keep_the_json(served):
    _, http = served
    chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = http.get("/", headers={"Accept": chromium})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"/view/page/view.js" in page.data and b"elk.bundled.js" in page.data
    assert page.headers["Vary"] == "Accept"
    for accept in (None, "application/json", "*/*", "application/json, text/html;q=0.5"):
        reply = http.get("/", headers={"Accept": accept} if accept else {})
        assert reply.mimetype == "application/json", accept
        assert reply.get_json()["type"] == "flowpy"


def test_the_page_files_and_the_vendored_layout_library_are_served_with_its_licence(served):
    _, http = served
    assert b"new ELK()" in http.get("/view/page/view.js").data
    assert http.get("/view/page/view.css").status_code == 200
    elk = http.get("/view/vendor/elkjs/elk.bundled.js")
    assert elk.status_code == 200 and len(elk.data) > 100_000
    assert b"Eclipse Public License" in http.get("/view/vendor/elkjs/LICENSE.md").data
    assert http.get("/view/../app.py").status_code == 404
    assert http.get("/view/page/nothing.js").status_code == 404


def metrics(http) -> dict[str, dict[tuple, float]]:
    reply = http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(reply.get_data(as_text=True)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_show_graphs_processes_edges_ports_and_clients(served):
    runtime, http = served
    client = ProtocolClient(runtime, "page")
    build(
        client,
        "g",
        {"A": "core/Repeat", "B": "core/Repeat"},
        edges=[("A", "out", "B", "in")],
        inports={"in": ("A", "in")},
        outports={"out": ("B", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    for n in range(3):
        client.request(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": n},
            reply="packetsent",
        )
    index = 0
    for _ in range(3):
        index = client.sink.wait_for(matches("runtime", "packet", event="data"), index)[0] + 1
    found = metrics(http)
    assert found["flowpy_graph_state"][(("graph", "g"), ("state", "running"))] == 1
    assert found["flowpy_graph_state"][(("graph", "g"), ("state", "stopped"))] == 0
    assert (
        found["flowpy_process_state"][(("graph", "g"), ("process", "A"), ("state", "running"))] == 1
    )
    assert found["flowpy_process_errors_total"][(("graph", "g"), ("process", "A"))] == 0
    assert found["flowpy_process_restarts_total"][(("graph", "g"), ("process", "B"))] == 0
    edge = (("edge", "A() OUT -> IN B()"), ("graph", "g"))
    assert found["flowpy_edge_ips_total"][edge] == 3
    assert found["flowpy_edge_queue_depth"][edge] == 0
    assert found["flowpy_port_packets_in_total"][(("graph", "g"), ("port", "in"))] == 3
    assert found["flowpy_port_packets_out_total"][(("graph", "g"), ("port", "out"))] == 3
    # clients of the WebSocket transport (none here: the test client is not one)
    assert found["flowpy_clients_connected"][()] == 0
    assert found["flowpy_clients_cut_total"][()] == 0
    assert found["flowpy_debug_messages_dropped_total"][()] == 0
    assert all(name.startswith("flowpy_") for name in found)


def test_two_apps_never_share_a_figure(make_runtime):
    first = create_app(make_runtime()).test_client()
    second_runtime = make_runtime()
    second = create_app(second_runtime).test_client()
    client = ProtocolClient(second_runtime, "c")
    build(client, "only-here", {"A": "core/Repeat"})
    assert not any(
        ("graph", "only-here") in labels
        for samples in metrics(first).values()
        for labels in samples
    )
    assert any(
        ("graph", "only-here") in labels
        for samples in metrics(second).values()
        for labels in samples
    )


def test_the_package_ships_the_page(tmp_path: Path):
    """pyproject's package-data names every file the page needs."""
    import tomllib

    import flowpy.server.view as view

    data = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["flowpy.server"]
    shipped = {p for pattern in patterns for p in view.STATIC.parent.glob(pattern)}
    needed = {p for p in view.STATIC.rglob("*") if p.is_file()}
    assert needed and needed <= shipped
