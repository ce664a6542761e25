"""What link sessions (:mod:`.link_session`) need of the runtime around them: narrow Protocols.

Sessions find their graphs through :class:`GraphLookup` (the runtime), send through
:class:`SessionClient` (a connected :class:`~.clients.ClientHandle`) and start their threads
through :class:`SessionOwner` (the :class:`~.sessions.SessionTable`), so they depend on these
few members and not on the classes, and the runtime's modules import each other one way only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from flowpy import wire


class InportTarget(Protocol):
    """A hosted graph as a session hands it packets (:meth:`.hosting.HostedGraph.inport`)."""

    def inport(
        self,
        port: str,
        event: str,
        payload: Any,
        on_accepted: Callable[[bool], Any],
        on_queued: Callable[[], Any] | None = None,
    ) -> None:
        """Hand one packet to the graph's inport; ``on_accepted`` says whether it got in."""

    def inport_many(
        self,
        port: str,
        ips: list[Any],
        on_accepted: Callable[[bool], Any],
        on_queued: Callable[[int], Any],
    ) -> None:
        """Hand IPs of one port over as one request; ``on_queued(n)`` counts them in."""


class GraphLookup(Protocol):
    """Where sessions find their graphs (the runtime)."""

    def get_graph(self, graph_id: str) -> InportTarget | None:
        """The graph a session belongs to, or None once it is gone."""


class SessionClient(Protocol):
    """A connection as sessions use it (:class:`.clients.ClientHandle` is one): where its packets
    go, and the sessions it is attached to, by graph."""

    sessions: dict[str, Any]  # graph id -> its LinkSession

    def send(
        self,
        message: dict[str, Any],
        lane: wire.Lane = wire.NEWS,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Hand ``message`` to the connection on ``lane``; False if it was not taken."""


class SessionOwner(Protocol):
    """What a session needs of the table that holds it: its runtime, whether the runtime is
    closing, and a thread the table will join at shutdown."""

    runtime: GraphLookup
    closing: bool

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a named thread that the table joins at shutdown."""
