"""The clients of a runtime: where each one's messages go, what it may do, what it watches.

A :class:`ClientHandle` wraps a transport's sink; the lane of each message says how it may
wait (:mod:`flowpy.wire.lanes`); at most ``max_inflight`` unanswered ``runtime:packet`` pause
the client's reading. A :class:`Request` is one message being handled and what it must
announce when done (docs/architecture.md, "The runtime").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowpy import wire
from flowpy.wire import reports

from .permissions import Grant

if TYPE_CHECKING:
    from .link_session import LinkSession

log = logging.getLogger(__name__)

#: runtime:packet requests one client may have taken but not yet answered (flow control).
DEFAULT_MAX_INFLIGHT = 1000
#: Seconds between two notices to one client that its debug data was dropped.
DROP_NOTICE_INTERVAL = 1.0


class Sink(Protocol):
    """Where a client's messages go; implemented by the transport. ``send`` returns False if
    the message was not taken (debug data dropped, or the client is gone). A sink may also
    offer ``pause_reading()`` / ``resume_reading()`` (input flow control) and ``wake()`` (sends
    waiting for room re-check their ``cancelled``)."""

    def send(
        self,
        message: dict[str, Any],
        lane: wire.Lane = wire.NEWS,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Hand ``message`` to the transport on ``lane``; False if it was not taken."""


def _nothing() -> None:
    pass


class ClientHandle:
    """One connected client: its sink, what it may do, and which edges it watches."""

    def __init__(
        self, sink: Sink, grant: Grant, number: int, max_inflight: int = DEFAULT_MAX_INFLIGHT
    ) -> None:
        self.sink = sink
        self.grant = grant
        #: Has it presented a secret the runtime knows? (Until then the transport takes
        #: only small messages from it, on a runtime that has secrets.)
        self.authenticated = False
        self.number = number
        self.max_inflight = max_inflight
        self._flow = threading.Lock()
        self._inflight = 0
        self._paused = False
        #: Debug messages dropped for this client, and how many it has been told about.
        self.debug_dropped = 0
        self._dropped_told = 0
        self._told_at = 0.0
        #: graph id -> edge keys selected with network:edges (absent: every edge).
        self.edge_filters: dict[str, frozenset[tuple[Any, Any]]] = {}
        #: graph id -> the link session this connection is attached to (flowpy:hello).
        self.sessions: dict[str, LinkSession] = {}
        #: Does it take graph output (``runtime:packet`` from exported outports)? An
        #: observer that only watches (the live view) says no, so it never holds a graph back.
        self.takes_packets = True

    def send(
        self,
        message: dict[str, Any],
        lane: wire.Lane = wire.NEWS,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """False if the message was not taken (dropped, or the client is gone, or a STREAM
        send gave up because ``cancelled()``). Never raises: a failing transport must not
        break the thread that is reporting."""
        try:
            if cancelled is not None:
                return self.sink.send(message, lane, cancelled) is not False
            return self.sink.send(message, lane) is not False
        except Exception:
            log.exception("client %d: sink failed", self.number)
            return False

    def send_debug(self, message: dict[str, Any]) -> None:
        """Debug data: dropped when the client reads too slowly, and then the client is told,
        at most once per :data:`DROP_NOTICE_INTERVAL`, how many it missed."""
        if self.send(message, wire.DEBUG):
            return
        now = time.monotonic()
        with self._flow:
            self.debug_dropped += 1
            if now - self._told_at < DROP_NOTICE_INTERVAL:
                return
            self._told_at = now
            missed = self.debug_dropped - self._dropped_told
            self._dropped_told = self.debug_dropped
        self.send(
            wire.message(
                *reports.network_output(
                    f"flowpy: {missed} debug message(s) dropped: more than the debug pace "
                    f"(serve --debug-rate) or than this client reads "
                    f"({self.debug_dropped} in all)",
                    notice=True,
                )
            )
        )

    # -- input flow control ---------------------------------------------------------------
    def packet_taken(self) -> None:
        """A runtime:packet is on its way into a network; past ``max_inflight`` unanswered
        ones the sink stops reading this client."""
        with self._flow:
            self._inflight += 1
            pause = not self._paused and self._inflight >= self.max_inflight
            if pause:
                self._paused = True
        if pause:
            getattr(self.sink, "pause_reading", _nothing)()

    def packet_answered(self) -> None:
        """A ``runtime:packet`` was answered: reading resumes once a quarter is free."""
        with self._flow:
            self._inflight -= 1
            resume = self._paused and self._inflight <= self.max_inflight * 3 // 4
            if resume:
                self._paused = False
        if resume:
            getattr(self.sink, "resume_reading", _nothing)()

    @property
    def inflight(self) -> int:
        """``runtime:packet`` requests taken and not yet answered (input flow control)."""
        return self._inflight

    def wants_edge(self, graph: str, key: Any) -> bool:
        """Does this client want debug data of that edge? (No selection: every edge.)"""
        selected = self.edge_filters.get(graph)
        return selected is None or key in selected

    def wants_initials(self, graph: str) -> bool:
        """IIPs are not edges a client can select; only unfiltered watchers see them."""
        return graph not in self.edge_filters

    @property
    def name(self) -> str:
        """How messages to clients name this client (``flowpy-client-10``): the transport's
        name for the connection, never its address, which is the server's business only."""
        return str(getattr(self.sink, "name", None) or f"client {self.number}")

    @property
    def peer(self) -> str | None:
        """The client's address (``host:port``) when the sink knows it: for log lines only."""
        peer = getattr(self.sink, "peer", None)
        return str(peer) if peer else None

    @property
    def label(self) -> str:
        """How log lines name this client: its :attr:`name` and the peer address when the
        sink has one (never the secret). Never put in a message to a client."""
        return f"{self.name} ({self.peer})" if self.peer else self.name

    def __repr__(self) -> str:
        return f"<Client {self.number}>"


@dataclass(slots=True)
class Request:
    """One request being handled: who sent it, what it was, and what the sender may do.

    Replies made with this request carry ``responseTo`` when the client sent a
    ``requestId``. The grant is the one in force for this message. ``ports`` and
    ``components`` collect what the request changed, announced once it is done
    (:meth:`flowpy.runtime.Runtime.finish`).
    """

    client: ClientHandle
    protocol: str
    command: str
    request_id: str | None
    grant: Grant
    #: Ids of the graphs whose exported ports it changed.
    ports: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
