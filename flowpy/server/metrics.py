"""``GET /metrics``: the runtime's state in the Prometheus text format, read at scrape time.

Written with ``prometheus-client`` (the exposition format has escaping and type rules best
left to the reference library), through a custom collector and a registry of this app's own:
nothing is kept in the library's global registry, so two apps in one process (the tests) never
share a figure, and nothing is counted between scrapes. Every figure comes from the same
snapshot the live view gets (:func:`flowpy.runtime.stats.runtime_stats`) and from the
transport's connection counters; no IP content ever becomes a label.

Counters restart from 0 when a network restarts (a new run); Prometheus' ``rate()`` treats
that as a counter reset. ``flowpy_process_restarts_total`` stays 0 until processes can be
restarted by an error policy (issue 24).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from flowpy import wire
from flowpy.runtime.runs import FINISHED, NOT_STARTED, RUNNING, STOPPED
from flowpy.runtime.stats import runtime_stats

CONTENT_TYPE = CONTENT_TYPE_LATEST
GRAPH_STATES = (NOT_STARTED, RUNNING, FINISHED, STOPPED)
PROCESS_STATES = ("running", "finished", "failed", "stopped")


class FlowpyCollector:
    """Reads the runtime (``runtime``: a Runtime, or None for an endpoint without one) and the
    transport counters (``transport_stats()``) whenever Prometheus scrapes."""

    def __init__(self, runtime: Any, transport_stats: Callable[[], dict[str, int]]) -> None:
        self.runtime = runtime
        self.transport_stats = transport_stats

    def collect(self) -> Iterator[Metric]:
        """Every metric, read from the runtime and the transport now (at scrape time)."""
        transport = self.transport_stats()
        yield _gauge(
            "flowpy_clients_connected",
            "WebSocket clients connected now",
            [],
            [([], transport.get("connections", 0))],
        )
        yield _counter(
            "flowpy_clients_cut",
            "clients disconnected for reading too slowly",
            [],
            [([], transport.get("cut", 0))],
        )
        yield _counter(
            "flowpy_debug_messages_dropped",
            "debug messages (network:data and friends) dropped for slow clients",
            [],
            [([], transport.get("dropped", 0))],
        )
        if self.runtime is None:
            return
        graphs = runtime_stats(self.runtime)["graphs"]
        yield _gauge(
            "flowpy_graph_state",
            "1 for the state each graph's network is in",
            ["graph", "state"],
            [
                ([g["graph"], state], int(g["state"] == state))
                for g in graphs
                for state in GRAPH_STATES
            ],
        )
        processes = [(g["graph"], name, p) for g in graphs for name, p in g["processes"].items()]
        yield _gauge(
            "flowpy_process_state",
            "1 for the state each process is in",
            ["graph", "process", "state"],
            [
                ([graph, name, state], int(p["state"] == state))
                for graph, name, p in processes
                for state in PROCESS_STATES
            ],
        )
        yield _counter(
            "flowpy_process_errors",
            "process errors, over every run",
            ["graph", "process"],
            [([graph, name], p["errors"]) for graph, name, p in processes],
        )
        yield _counter(
            "flowpy_process_restarts",
            "fresh instances of each process after failures (its error policy), in this run",
            ["graph", "process"],
            [([graph, name], p["restarts"]) for graph, name, p in processes],
        )
        edges = [
            (g["graph"], wire.edge_id(e["src"], e["tgt"]), e) for g in graphs for e in g["edges"]
        ]
        yield _counter(
            "flowpy_edge_ips",
            "IPs that crossed each edge in this run",
            ["graph", "edge"],
            [([graph, edge], e["ips"]) for graph, edge, e in edges],
        )
        yield _gauge(
            "flowpy_edge_queue_depth",
            "IPs waiting in each edge's connection",
            ["graph", "edge"],
            [([graph, edge], e["queued"]) for graph, edge, e in edges],
        )
        for direction, what in (("in", "into"), ("out", "out of")):
            yield _counter(
                f"flowpy_port_packets_{direction}",
                f"packets {what} each exported {direction}port in this run",
                ["graph", "port"],
                [
                    ([g["graph"], port], count)
                    for g in graphs
                    for port, count in g[f"{direction}ports"].items()
                ],
            )


def _gauge(
    name: str, doc: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(
    name: str, doc: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)  # exposed as NAME_total
    for values, value in samples:
        family.add_metric(values, value)
    return family


def make_registry(runtime: Any, transport_stats: Callable[[], dict[str, int]]) -> Any:
    """A Prometheus registry holding only flowpy's collector (no process metrics of its own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowpyCollector(runtime, transport_stats))
    return registry


def exposition(registry: Any) -> bytes:
    """The registry's metrics in Prometheus' text format."""
    return generate_latest(registry)
