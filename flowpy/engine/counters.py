"""What an observer may read of a running network at any moment, without stopping anything.

The live view, ``/metrics`` and ``flowpy status`` (through :mod:`flowpy.runtime.stats`) read
each process's thread state and, per edge, the counters its connection keeps anyway
(``Connection.passed`` and its length), so observing costs nothing per IP. Read without
locks: each figure is exact, the set of them a moment's picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .wiring import Slot

if TYPE_CHECKING:
    from .network import Network


def read(network: Network) -> tuple[dict[str, str], list[tuple[Slot, Slot, int, int]]]:
    """Each process's thread state (``"running"`` or ``"ended"``; ``"starting"`` before its
    thread runs), and per edge between processes (src, tgt, IPs passed, IPs queued).

    Counts are those of the edge's target connection, so edges into one inport (fan-in)
    share their count."""
    processes: dict[str, str] = {}
    for proc in network.structure.processes:  # replaced, never changed in place, by live edits
        thread = proc.thread
        if thread is None or thread.ident is None:
            processes[proc.node_id] = "starting"
        else:
            processes[proc.node_id] = "running" if thread.is_alive() else "ended"
    targets = network.structure.plan.targets
    edges = []
    for src, tgt in network.edges:
        conn = targets.get(tgt)
        if conn is not None:
            edges.append((src, tgt, conn.passed, len(conn)))
    return processes, edges
