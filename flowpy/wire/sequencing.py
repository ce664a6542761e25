"""Sequence numbers, cumulative acks and session epochs of the flowpy link extension.

Both ends of a link count the same way (docs/bridge-protocol.md), so the arithmetic lives here
once, without sockets, threads or locks (each caller holds its own): :class:`Incoming` for what
one end receives, :class:`Outgoing` for what it sends and keeps until acknowledged.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Generic, TypeVar

from flowpy.errors import FlowpyError

#: Verdicts on an inbound seq (see :func:`verdict`).
NEW = "new"
DUPLICATE = "duplicate"
GAP = "gap"

T = TypeVar("T")


class SequenceError(FlowpyError):
    """A number that contradicts the count: an ack of a packet never sent, or a seq taken twice."""


def verdict(seq: int, received: int) -> str:
    """What to do with inbound ``seq`` when everything up to ``received`` was taken:
    ``NEW`` (the next one), ``DUPLICATE`` (taken already: do not deliver it again) or ``GAP``
    (packets are missing before it)."""
    if seq <= received:
        return DUPLICATE
    if seq > received + 1:
        return GAP
    return NEW


def ack_interval(window: int) -> int:
    """Finished packets worth an ack on their own: a quarter of the window, so a sender that
    keeps its window full gets about four acks per window (and never fewer than one)."""
    return max(1, window // 4)


class Incoming:
    """The receiving end of one direction of a session. Not thread-safe: lock around it."""

    __slots__ = ("epoch", "received", "finished", "acked", "_early")

    def __init__(self) -> None:
        #: Which numbering the counters belong to: :meth:`restart` adds one, so a packet tagged
        #: with an older epoch is from a session that no longer exists.
        self.epoch = 0
        #: The highest seq taken (the next one is ``received + 1``).
        self.received = 0
        #: Every seq up to this one is finished; what an ack may cover.
        self.finished = 0
        #: The highest seq acknowledged to the sender.
        self.acked = 0
        self._early: set[int] = set()  # finished, but an earlier seq is not (yet)

    def verdict(self, seq: int) -> str:
        """What ``seq`` is to this receiver: NEW, DUPLICATE or GAP."""
        return verdict(seq, self.received)

    def take(self, seq: int) -> None:
        """Count ``seq`` as received: the next one, or one past a gap the caller chooses to
        accept. SequenceError for a seq already taken."""
        if seq <= self.received:
            raise SequenceError(f"packet {seq} was taken already (received {self.received})")
        self.received = seq

    def finish(self, seq: int) -> int:
        """Seq is done with, in any order (packets finish concurrently); returns the new
        cumulative ``finished``. A seq finished already changes nothing."""
        if seq > self.received:
            raise SequenceError(f"packet {seq} finished, but only {self.received} were received")
        if seq > self.finished:
            self._early.add(seq)
            while self.finished + 1 in self._early:
                self.finished += 1
                self._early.discard(self.finished)
        return self.finished

    def finish_through(self, seq: int) -> int:
        """Every seq up to ``seq`` is done with (packets delivered in order, and any gap the
        receiver accepted); returns the new ``finished``."""
        if seq > self.received:
            raise SequenceError(f"packet {seq} finished, but only {self.received} were received")
        if seq > self.finished:
            self.finished = seq
            self._early = {s for s in self._early if s > seq}
        return self.finished

    @property
    def owed(self) -> int:
        """Finished packets no ack has covered yet."""
        return self.finished - self.acked

    def ack_due(self, window: int, idle: bool) -> bool:
        """Whether to acknowledge now: something is owed and either nothing more is on its
        way (``idle``: the sender must never wait for an ack while this end has nothing to
        do) or a quarter window is owed."""
        owed = self.owed
        return owed > 0 and (idle or owed >= ack_interval(window))

    def take_ack(self, force: bool = False) -> int | None:
        """The seq to acknowledge now, recorded as acknowledged; None if no ack is owed.
        ``force``: say it again even if nothing new finished (the sender may have missed it)."""
        if self.finished == 0 or (self.finished <= self.acked and not force):
            return None
        self.acked = self.finished
        return self.finished

    def peer_heard(self, acked: int) -> None:
        """The sender (on a new connection) has heard acks up to ``acked`` only: what it has
        not heard is owed again."""
        self.acked = min(self.acked, acked)

    def restart(self) -> None:
        """The peer started a new session: numbering starts again at 1, in a new epoch."""
        self.epoch += 1
        self.received = self.finished = self.acked = 0
        self._early.clear()


class Outgoing(Generic[T]):
    """The sending end of one direction of a session: packets numbered in order, kept until
    an ack covers them. Not thread-safe: lock around it.

    Of the packets kept, those after ``written`` are not yet written on the current
    connection; :meth:`rewind` (a new connection) makes them all unwritten again.
    """

    __slots__ = ("last", "acked", "_pending", "_unwritten")

    def __init__(self) -> None:
        #: The highest seq given out.
        self.last = 0
        #: The highest seq the peer acknowledged.
        self.acked = 0
        self._pending: deque[tuple[int, T]] = deque()  # every packet after `acked`
        self._unwritten: deque[tuple[int, T]] = deque()  # the tail of it not written yet

    def __len__(self) -> int:
        """Packets kept: sent (or to be sent) and not acknowledged."""
        return len(self._pending)

    def push(self, item: T) -> int:
        """Number ``item`` with the next seq and keep it; returns the seq."""
        self.last += 1
        entry = (self.last, item)
        self._pending.append(entry)
        self._unwritten.append(entry)
        return self.last

    def ack(self, seq: int) -> list[T]:
        """The peer has everything up to ``seq`` (cumulative): drop those; returns them,
        oldest first (none for an ack it had already given). SequenceError for an ack of a
        packet never sent."""
        if seq > self.last:
            raise SequenceError(f"ack of packet {seq}, but only {self.last} were sent")
        if seq <= self.acked:
            return []
        self.acked = seq
        pending, unwritten = self._pending, self._unwritten
        dropped = []
        while pending and pending[0][0] <= seq:
            dropped.append(pending.popleft()[1])
        while unwritten and unwritten[0][0] <= seq:
            unwritten.popleft()
        return dropped

    @property
    def first(self) -> int | None:
        """The oldest seq not acknowledged, if any."""
        return self._pending[0][0] if self._pending else None

    @property
    def in_flight(self) -> int:
        """Packets written on the current connection and not acknowledged."""
        return len(self._pending) - len(self._unwritten)

    @property
    def written(self) -> int:
        """The highest seq written on the current connection (or acknowledged)."""
        return self._unwritten[0][0] - 1 if self._unwritten else self.last

    def take_unwritten(self, limit: int | None = None) -> list[tuple[int, T]]:
        """Up to ``limit`` (seq, packet) not yet written, in order, now counted as written."""
        unwritten = self._unwritten
        count = len(unwritten) if limit is None else min(limit, len(unwritten))
        return [unwritten.popleft() for _ in range(count)]

    def rewind(self) -> None:
        """A new connection: every packet not acknowledged is to be written (again)."""
        self._unwritten = deque(self._pending)

    def find(self, seq: int) -> T | None:
        """The packet numbered ``seq``, if it is still kept."""
        first = self.first
        if first is None or not first <= seq <= self.last:
            return None
        for number, item in islice(self._pending, seq - first, None):
            if number == seq:
                return item
        return None

    def renumber(self) -> None:
        """The peer started a new session: the packets kept are numbered again from 1, in
        their order, and all of them are to be written."""
        self._pending = deque(
            (number, item) for number, (_, item) in enumerate(self._pending, start=1)
        )
        self.last = len(self._pending)
        self.acked = 0
        self.rewind()

    def clear(self) -> None:
        """Drop every packet (the session ended); the numbering stays."""
        self._pending.clear()
        self._unwritten.clear()
