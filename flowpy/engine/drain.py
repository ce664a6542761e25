"""Draining a network at a stop: what an exported inport took in runs out first.

See :meth:`flowpy.engine.network.Network.stop`: new input is refused at once, the inport
handler puts in what it had taken, the exported inports' streams end, and the stop waits until
everything downstream of them has settled (every connection there empty and every process
there ended or waiting for input, the outport handler included) or the deadline passes.
Processes not fed by an exported inport hold nothing a client handed in and do not delay it.
Settling is observed through the ``watch`` hook connections call when their reader blocks,
installed only for the drain, so the hot path pays nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .connection import Connection
from .wiring import IN_HANDLER

if TYPE_CHECKING:
    from .network import Network


def drain_network(network: Network, deadline: float) -> bool:
    """Let what the exported inports took run out (module docstring). True once settled,
    False if the deadline passed or the drain was cut first."""
    watched = _inport_closure(network)
    if not watched:
        return True  # nothing a client handed in can be inside
    connections = [c for c in network._connections if c is not network._requests]
    for conn in connections:
        conn.watch = network._poke_drain
    try:
        if network._requests is not None:
            network._requests.close_input()  # taken requests go in; later ones are refused
        with network._drain_quiet:
            while not _settled(network, watched):
                remaining = deadline - time.monotonic()
                if network._drain_cut or remaining <= 0:
                    return False
                # The pokes (a reader blocking, a thread ending) are what wakes this; the
                # slice only bounds the cost of a wake-up this code did not foresee.
                network._drain_quiet.wait(min(remaining, 0.1))
        return True
    finally:
        for conn in connections:
            conn.watch = None


def _inport_closure(network: Network) -> list[list[Connection]]:
    """For every process downstream of an exported inport (the outport handler
    included): the connections it reads. Empty if the graph has no exported inport."""
    plan = network._plan
    following: dict[str, set[str]] = {}
    for src, tgt in plan.edges:
        following.setdefault(src[0], set()).add(tgt[0])
    reached: set[str] = set()
    todo = [IN_HANDLER]
    while todo:
        for node in following.get(todo.pop(), ()):
            if node not in reached:
                reached.add(node)
                todo.append(node)
    readers: dict[str, list[Connection]] = {}
    for (node, _port, _index), conn in plan.targets.items():
        if node in reached:
            readers.setdefault(node, []).append(conn)
    return list(readers.values())


def _settled(network: Network, watched: list[list[Connection]]) -> bool:
    """Nothing moves downstream of the inports any more: the inport handler has ended,
    and every process there has ended or waits for input on empty connections."""
    if network._handlers and network._handlers[0].is_alive():
        return False
    for conns in watched:
        if any(len(conn) for conn in conns):
            return False
        if not all(conn.reader_gone for conn in conns) and not any(
            conn.reader_waiting for conn in conns
        ):
            return False
    return True
