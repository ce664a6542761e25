"""The send window: packets for the remote graph that the remote has not acknowledged yet.

It is the link's flow control and its memory across reconnects at once. At most ``size``
packets are written and not acknowledged, and as many again wait to be written, so that the
reader can refill the window from the acks it has just read (see ``Link._refill``) instead of
waking the sender; while both are full, :meth:`SendWindow.put` blocks, so a caller reading a
local inport stops reading and back-pressure reaches its upstream. A packet stays until an
ack covers it, and on a new connection everything not acknowledged is written again, in its
original order. The numbering (seqs, cumulative acks, renumbering for a new remote session)
is :class:`flowpy.wire.sequencing.Outgoing`; this module adds the waiting, the connection
packets are written to, and the counts the Bridge reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowpy.wire.events import PACKET_EVENTS
from flowpy.wire.sequencing import Outgoing, SequenceError

from .config import STOP_POLL

log = logging.getLogger(__name__)

#: Window packets written per socket write (one ``flowpy:packets`` frame in extension mode).
WRITE_BATCH = 256


@dataclass
class Outbound:
    """A packet in the send window (its seq is the window's numbering)."""

    port: str
    event: str
    payload: Any
    attempts: int = 0


class SendWindow:
    """Thread-safe: senders, the link's writer and the connection's reader all use it.

    ``connection`` is the connection packets are written to (any object with a ``lost``
    event); acks are taken only from it. ``stats`` is the link's counter dict (``sent``,
    ``resent``, ``acked``, ``handed_over``).
    """

    def __init__(self, size: int, stats: dict[str, int]) -> None:
        self.size = size
        self.stats = stats
        self.cond = threading.Condition()
        self.connection: Any = None
        self.closed = False
        self._out: Outgoing[Outbound] = Outgoing()
        #: Packets kept at most: a window written, a window waiting.
        self.capacity = 2 * size
        #: Room that lets a sender waiting on a full window in again (see :meth:`put`).
        self.refill = max(1, size // 4)

    def __len__(self) -> int:
        with self.cond:
            return len(self._out)

    # -- senders -------------------------------------------------------------------------------
    def put(self, packets: list[tuple[str, str, Any]], stop: threading.Event | None = None) -> int:
        """Queue the first of ``(port, event, payload)`` packets, as many as there is room
        for once there is room; returns how many (0 only when closed or ``stop`` is set).
        The caller writes them (the link's ``_pump``) and offers the rest again."""
        with self.cond:
            # A full window takes packets again once a quarter of it is acknowledged: one
            # packet per acknowledgement would cost a wake-up per packet.
            limit = self.capacity
            while len(self._out) >= limit:
                if self.closed or (stop is not None and stop.is_set()):
                    return 0
                limit = self.capacity - self.refill + 1
                self.cond.wait(STOP_POLL if stop is not None else None)
            if self.closed:
                return 0
            room = min(len(packets), self.capacity - len(self._out))
            for port, event, payload in packets[:room]:
                if event not in PACKET_EVENTS:
                    raise ValueError(f"unknown packet event {event!r}")
                self._out.push(Outbound(port, event, payload))
            return room

    def put_now(self, port: str, event: str, payload: Any = None) -> None:
        """Queue a packet past the size limit: a goodbye (``disconnect``) never waits."""
        with self.cond:
            self._out.push(Outbound(port, event, payload))

    def flush(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait until every queued packet is acknowledged; False on close, stop or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while len(self._out):
                if self.closed or (stop is not None and stop.is_set()):
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.cond.wait(STOP_POLL if remaining is None else min(STOP_POLL, remaining))
            return True

    def close(self) -> None:
        """Nothing is queued any more; waiting senders return."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # -- the connection ------------------------------------------------------------------------
    def attach(self, connection: Any, check: Callable[[], None]) -> None:
        """Write to ``connection`` from now on, everything not acknowledged first.

        ``check()`` runs under the window's lock before and may refuse by raising (the link
        is closing, the connection was lost meanwhile), so that a connection is never
        attached after whoever loses it has looked (see :meth:`is_current`).
        """
        with self.cond:
            check()
            self.connection = connection
            self._out.rewind()

    def detach(self, connection: Any) -> None:
        """``connection`` is gone: write nothing more until the next one is attached."""
        with self.cond:
            if self.connection is connection:
                self.connection = None
            self.cond.notify_all()

    def is_current(self, connection: Any) -> bool:
        """Whether ``connection`` is still the one written to (and wake waiting senders)."""
        with self.cond:
            self.cond.notify_all()
            return self.connection is connection

    def take(self) -> tuple[Any, list[tuple[int, Outbound]]] | None:
        """The current connection and the next packets not yet written on it that the
        remote has room for (at most ``size`` unacknowledged, up to WRITE_BATCH at once, now
        counted as written); None when there is nothing to write, no room, or no live
        connection to write to."""
        with self.cond:
            connection = self.connection
            if connection is None or connection.lost.is_set():
                return None
            room = self.size - self._out.in_flight
            if room <= 0:
                return None
            batch = self._out.take_unwritten(min(WRITE_BATCH, room))
            return (connection, batch) if batch else None

    def count_written(self, batch: list[tuple[int, Outbound]]) -> None:
        """Count a batch as sent, and as resent where it was written before."""
        resent = 0
        for _, packet in batch:
            packet.attempts += 1
            resent += packet.attempts > 1
        self.stats["resent"] += resent
        self.stats["sent"] += len(batch)

    def oldest_written(self) -> int | None:
        """The seq of the oldest packet written and not acknowledged (a runtime that does
        not say which packet a ``runtime:packetsent`` answers acknowledges in order)."""
        with self.cond:
            first = self._out.first
            return first if first is not None and first <= self._out.written else None

    def find(self, seq: int) -> Outbound | None:
        """The unacknowledged packet numbered ``seq``, None if there is none."""
        with self.cond:
            return self._out.find(seq)

    # -- acknowledgements ----------------------------------------------------------------------
    def ack(self, connection: Any, seq: int) -> None:
        """The remote took every packet up to ``seq`` (cumulative), said on ``connection``."""
        with self.cond:
            if connection is not self.connection:
                return
            self._drop(seq)

    def welcome(self, resumed: bool, received: int) -> None:
        """A ``flowpy:welcome``: the resumed session has every packet up to ``received``; a
        new session (the remote lost ours) numbers the window again from 1."""
        with self.cond:
            if resumed:
                self._drop(received)
            else:
                self._out.renumber()
            self.cond.notify_all()

    def _drop(self, seq: int) -> None:
        try:
            dropped = self._out.ack(seq)
        except SequenceError as exc:
            log.warning("the remote acknowledged a packet never sent: %s", exc)
            return
        if dropped:
            self.stats["acked"] += len(dropped)
            self.stats["handed_over"] += sum(1 for packet in dropped if packet.event == "data")
            if len(self._out) <= self.capacity - self.refill:  # room for a waiting sender
                self.cond.notify_all()
