"""Draining a network at a stop: what an exported inport took in runs out first.

See :meth:`flowpy.engine.network.Network.stop`: new input is refused at once, the inport
handler puts in what it had taken, the exported inports' streams end, and the stop waits until
everything downstream of them has settled (every connection there empty and every process
there ended or waiting for input, the outport handler included) or the deadline passes.
Processes not fed by an exported inport hold nothing a client handed in and do not delay it.
Settling is observed through the ``watch`` hook connections call when their reader blocks,
installed only for the drain, so the hot path pays nothing.

A :class:`Drain` is the network's drain state (active, cut short, the condition its wait
sleeps on); it reads the running structure only through
:class:`~flowpy.engine.topology.Topology`.
"""

from __future__ import annotations

import threading
import time

from .connection import Connection
from .topology import Process, Topology
from .wiring import IN_HANDLER


class Drain:
    """One network's drain: ``active`` from the moment a stop begins (inport requests are
    refused from then on); :meth:`poke` wakes the wait whenever something may have settled."""

    def __init__(self) -> None:
        self.active = False
        self._cut = False
        self._quiet = threading.Condition()

    def reset(self) -> None:
        """A new start: no drain."""
        self.active = False
        self._cut = False

    def poke(self) -> None:
        """Something moved (a reader blocked, a thread ended): look again."""
        if self.active:
            with self._quiet:
                self._quiet.notify_all()

    def cut(self) -> None:
        """End a drain in progress now; the stop goes on at once."""
        self._cut = True
        self.poke()

    def run(
        self,
        topology: Topology,
        requests: Connection | None,
        in_handler: threading.Thread | None,
        deadline: float,
    ) -> bool:
        """Let what the exported inports took run out (module docstring). True once settled,
        False if the deadline passed or the drain was cut first. ``requests`` is the inport
        handler's queue, ``in_handler`` its thread."""
        watched = topology.readers_downstream_of(IN_HANDLER)
        if not watched:
            return True  # nothing a client handed in can be inside
        connections = topology.connections
        for conn in connections:
            conn.watch = self.poke
        try:
            if requests is not None:
                requests.close_input()  # taken requests go in; later ones are refused
            with self._quiet:
                while not _settled(in_handler, watched):
                    remaining = deadline - time.monotonic()
                    if self._cut or remaining <= 0:
                        return False
                    # The pokes (a reader blocking, a thread ending) are what wakes this; the
                    # slice only bounds the cost of a wake-up this code did not foresee.
                    self._quiet.wait(min(remaining, 0.1))
            return True
        finally:
            for conn in connections:
                conn.watch = None


def _settled(in_handler: threading.Thread | None, watched: list[list[Connection]]) -> bool:
    """Nothing moves downstream of the inports any more: the inport handler has ended,
    and every process there has ended or waits for input on empty connections."""
    if in_handler is not None and in_handler.is_alive():
        return False
    for conns in watched:
        if any(len(conn) for conn in conns):
            return False
        if not all(conn.reader_gone for conn in conns) and not any(
            conn.reader_waiting for conn in conns
        ):
            return False
    return True


def in_hand(processes: list[Process]) -> int:
    """IPs the processes held when the stop cut them off (threads joined): those their
    sends had refused, and those their inport iteration had taken and not handed over yet."""
    count = 0
    for proc in processes:
        count += sum(port.refused for port in proc.outports)
        count += sum(port.unread_count() for port in proc.inports)
    return count
