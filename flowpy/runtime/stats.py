"""What the runtime's graphs are doing, as numbers: one snapshot for every reader.

:func:`graph_stats` is the one reader of a hosted graph's counts for the live view
(``flowpy:stats``), ``GET /metrics`` and ``flowpy status``; :class:`StatsPublisher` pushes it
only while a client is subscribed. Cheap by construction (docs/architecture.md, "A hosted
graph"); ``restarts`` and ``ips`` count this run.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from flowpy import wire
from flowpy.engine import counters

if TYPE_CHECKING:
    from .clients import ClientHandle
    from .hosting import HostedGraph

log = logging.getLogger(__name__)

#: Seconds between two ``flowpy:stats`` pushes, by default and at the least.
DEFAULT_INTERVAL = 1.0
MIN_INTERVAL = 0.2
MAX_INTERVAL = 60.0

#: A process's state as the engine reports its thread -> as the stats say it.
_THREAD_STATES = {"starting": "running", "running": "running", "ended": "finished"}


def _end(slot: tuple[str, str, Any]) -> dict[str, Any]:
    node, port, index = slot
    end: dict[str, Any] = {"node": node, "port": port}
    if index is not None:
        end["index"] = index
    return end


def graph_stats(hosted: HostedGraph) -> dict[str, Any]:
    """One graph's picture (the ``graphs`` entries of ``flowpy:stats``; see docs/protocol.md)."""
    entry = hosted.report()
    network = hosted.network
    with hosted.graph.lock:
        nodes = list(hosted.graph.nodes)
    states: dict[str, str] = {}
    edges: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {"in": {}, "out": {}}
    restarts: dict[str, int] = {}
    if network is not None and network.started:
        restarts = network.restarts
        threads, running_edges = counters.read(network)
        states = {node: _THREAD_STATES[state] for node, state in threads.items()}
        for src, tgt, passed, queued in running_edges:
            edges.append({"src": _end(src), "tgt": _end(tgt), "ips": passed, "queued": queued})
        counts = {"in": dict(network.port_counts["in"]), "out": dict(network.port_counts["out"])}
    failed = hosted.runs.failed_nodes
    errors = hosted.runs.errors
    processes: dict[str, dict[str, Any]] = {}
    for node in sorted({*nodes, *states}):
        state = states.get(node, "stopped")
        process: dict[str, Any] = {
            "state": "failed" if node in failed else state,
            "errors": errors.get(node, 0),
            "restarts": restarts.get(node, 0),
        }
        if node in failed:
            process["error"] = failed[node]
        processes[node] = process
    entry.update(
        {
            "graph": entry.pop("id"),
            "uptime": hosted.uptime() if entry.get("running") else 0,
            "processes": processes,
            "edges": edges,
            "inports": counts["in"],
            "outports": counts["out"],
        }
    )
    return entry


class HostedGraphs(Protocol):
    """Where the stats find the graphs (the runtime)."""

    def graphs(self) -> dict[str, HostedGraph]:
        """Every hosted graph by id."""


def runtime_stats(runtime: HostedGraphs, graph: str | None = None) -> dict[str, Any]:
    """Every graph's picture (or one graph's), as the ``flowpy:stats`` payload."""
    hosted = runtime.graphs()
    ids = sorted(hosted) if graph is None else [graph] if graph in hosted else []
    return {"time": wire.timestamp(), "graphs": [graph_stats(hosted[g]) for g in ids]}


class StatsPublisher:
    """Pushes ``flowpy:stats`` to subscribed clients, each at its own interval.

    The thread (``flowpy-stats``) starts with the first subscription and ends when the last
    subscriber leaves or :meth:`stop` is called; whoever calls :meth:`stop` joins it.
    """

    def __init__(self, runtime: HostedGraphs) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        #: client -> (graph or None for all, interval, next due time)
        self._subscribers: dict[ClientHandle, list[Any]] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    def subscribe(self, client: ClientHandle, graph: str | None, interval: float) -> None:
        """Push ``flowpy:stats`` to ``client`` every ``interval`` seconds (starts the thread)."""
        with self._lock:
            if self._stopped:
                return
            self._subscribers[client] = [graph, interval, time.monotonic() + interval]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="flowpy-stats", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def unsubscribe(self, client: ClientHandle) -> None:
        """No more ``flowpy:stats`` to ``client``; with no subscriber left the thread ends."""
        with self._lock:
            if self._subscribers.pop(client, None) is not None:
                self._changed.notify_all()

    @property
    def subscribers(self) -> int:
        """How many clients are subscribed now."""
        with self._lock:
            return len(self._subscribers)

    def stop(self, timeout: float = 5.0) -> None:
        """End the publishing thread and drop every subscriber (the runtime's shutdown)."""
        with self._lock:
            self._stopped = True
            self._subscribers.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the flowpy-stats thread did not end within %gs", timeout)

    def send_to(
        self, client: ClientHandle, graph: str | None, request_id: str | None = None
    ) -> None:
        """One ``flowpy:stats`` to one client (a reply when ``request_id`` is given)."""
        payload = runtime_stats(self.runtime, graph)
        client.send(
            wire.message("flowpy", "stats", payload, request_id),
            wire.URGENT if request_id is not None else wire.NEWS,
        )

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._subscribers:
                    self._thread = None  # the next subscriber starts a fresh thread
                    return
                now = time.monotonic()
                due = [
                    (client, entry[0])
                    for client, entry in self._subscribers.items()
                    if entry[2] <= now
                ]
                for client, _graph in due:
                    entry = self._subscribers[client]
                    entry[2] = max(entry[2] + entry[1], now)
                wake = min(entry[2] for entry in self._subscribers.values())
                if not due:
                    self._changed.wait(max(0.0, wake - now))
                    continue
            for client, graph in due:
                try:
                    self.send_to(client, graph)
                except Exception as exc:  # a snapshot must never end the thread
                    log.error("flowpy:stats for client %d failed: %s", client.number, exc)
                    log.debug("flowpy:stats failure", exc_info=True)
