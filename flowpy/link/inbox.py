"""The inbox: packets from the remote graph on their way to the local listener.

The connection's reader thread only checks and queues; one delivery thread hands packets to
the listener (``link_packet``), which may block on a full local downstream. That is where the
remote's output meets back-pressure, and memory stays bounded either way:

* extension mode: the inbox acknowledges only what was delivered, so the remote's outbox
  (``window`` packets) fills and its graph waits; replays after a reconnect are dropped here
  by their seq, so every packet is delivered once;
* plain mode: nothing acknowledges the remote's packets, so the reader hands them to the
  listener itself whenever nothing is queued or being delivered (one thread hand-off less a
  packet, the plain link's hot path), and otherwise waits while ``size`` packets are queued;
  either way a slow local side stops the reading, and TCP slows the remote down.

The numbering (duplicates, gaps, the ack owed, the epoch of a remote session) is
:class:`flowpy.wire.sequencing.Incoming`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowpy.wire.events import PACKET_EVENTS
from flowpy.wire.sequencing import DUPLICATE, NEW, Incoming

log = logging.getLogger(__name__)


@dataclass
class Inbound:
    """A packet from the remote waiting for delivery; ``seq`` 0 in plain mode."""

    epoch: int
    seq: int
    port: str
    event: str
    payload: Any


class Inbox:
    """Thread-safe. ``stats`` is the link's counter dict (``received``, ``duplicates``,
    ``came_back``, ``inbox_peak``); ``name`` names the link in log lines."""

    def __init__(self, size: int, stats: dict[str, int], name: str) -> None:
        self.size = size
        self.stats = stats
        self.name = name
        self.cond = threading.Condition()
        self.closed = False
        self._items: deque[Inbound] = deque()
        self._seq = Incoming()
        self._delivering = False  # the delivery thread has a batch in hand
        self._direct: Callable[[list[tuple[str, str, Any]]], int] | None = None
        self._reader_delivering = False  # a reader hands a batch over itself (plain mode)

    # -- the reader's side ---------------------------------------------------------------------
    def offer(self, payload: dict[str, Any], numbered: bool, lost: threading.Event) -> None:
        """Queue a ``flowpy:packet`` entry (``numbered``: it carries a seq) or a
        ``runtime:packet`` payload; anything malformed or already had is dropped. In plain
        mode this delivers on the calling thread when nothing is queued (see
        :meth:`_deliver_here`), else waits while the inbox is full, until there is room or
        ``lost`` is set. After :meth:`close` everything offered is dropped."""
        self.offer_many([payload], numbered, lost)

    def offer_many(self, payloads: list[Any], numbered: bool, lost: threading.Event) -> None:
        """:meth:`offer` for each of ``payloads`` in order (the entries of one
        ``flowpy:packets``), under one lock and with one signal to the delivery thread."""
        if not numbered and self._deliver_here(payloads):
            return
        with self.cond:
            if self.closed:
                return  # nothing is delivered any more: holding it would only grow
            items = self._items
            for payload in payloads:
                if not _well_formed(payload):
                    continue
                port, event = payload["port"], payload["event"]
                seq = payload.get("seq") if numbered else 0
                if not isinstance(seq, int):
                    continue
                if numbered:
                    verdict = self._seq.verdict(seq)
                    if verdict == DUPLICATE:
                        self.stats["duplicates"] += 1
                        continue
                    if verdict != NEW:
                        log.warning(
                            "%s: gap in the remote's packets (%d after %d)",
                            self.name,
                            seq,
                            self._seq.received,
                        )
                    self._seq.take(seq)
                else:
                    # Plain mode has no remote window: the reader waits here when the local
                    # side is slow, so the socket is not read and TCP slows the remote down.
                    while len(items) >= self.size and not self.closed and not lost.is_set():
                        self.cond.notify_all()  # the delivery thread takes what is queued
                        self.cond.wait()
                items.append(Inbound(self._seq.epoch, seq, port, event, payload.get("payload")))
            if len(items) > self.stats["inbox_peak"]:
                self.stats["inbox_peak"] = len(items)
            if items and not self._delivering:  # the delivery thread waits: wake it
                self.cond.notify_all()

    def _deliver_here(self, payloads: list[Any]) -> bool:
        """Plain mode: hand ``payloads`` to the listener on this (the reader's) thread, if
        nothing queued or in a delivery's hands must go first; False if they must queue.

        Order holds because only one thread delivers at a time: the delivery thread waits
        while a reader delivers (a lost connection's reader may still be at it when the next
        one reads), and a reader delivers only when the delivery thread is idle. The reader
        may block here on a full local downstream, as it would on a full inbox."""
        with self.cond:
            many = self._direct
            if (
                many is None
                or self.closed
                or self._items
                or self._delivering
                or self._reader_delivering
            ):
                return False
            self._reader_delivering = True
        batch = [
            (payload["port"], payload["event"], payload.get("payload"))
            for payload in payloads
            if _well_formed(payload)
        ]
        taken = len(batch)
        try:
            taken = many(batch)
        except Exception:
            log.exception("%s: delivering remote packets failed", self.name)
        finally:
            with self.cond:
                self._reader_delivering = False
                if taken < len(batch):  # the local side takes nothing more: as deliver() ends
                    self.closed = True
                if self._items or self.closed:  # the delivery thread waits for this one
                    self.cond.notify_all()  # (else it sleeps on: a wake-up per read is dear)
        self.stats["received"] += taken
        self.stats["came_back"] += sum(event == "data" for _, event, _ in batch[:taken])
        return True

    def welcome(self, resumed: bool, acked: int) -> None:
        """A ``flowpy:welcome``: the resumed session has heard our acks up to ``acked``; a
        new session numbers the remote's packets from 1 again (queued ones of the old session
        are still delivered, but no longer acknowledged)."""
        with self.cond:
            if resumed:
                self._seq.peer_heard(acked)
            else:
                self._seq.restart()

    def wake(self) -> None:
        """Re-check the wait conditions (a connection was lost)."""
        with self.cond:
            self.cond.notify_all()

    def close(self) -> None:
        """Deliver nothing more; the delivery thread and a waiting reader return."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # -- the delivery thread -------------------------------------------------------------------
    def deliver(
        self,
        listener: Callable[[str, str, Any], bool],
        send_ack: Callable[[], None],
        listener_many: Callable[[list[tuple[str, str, Any]]], int] | None = None,
    ) -> None:
        """Hand queued packets to ``listener(port, event, payload)`` in order until it returns
        False or the inbox closes; call ``send_ack`` whenever an ack is due.

        Everything queued is taken at once, under one lock, and given to
        ``listener_many(packets)`` when there is one (it returns how many it took: fewer
        only when the local side can take no more), else to ``listener`` one by one. From
        now on a plain-mode reader may hand packets over itself (see :meth:`offer`)."""
        many = listener_many or _one_by_one(listener, self.name)
        with self.cond:
            self._direct = many
        while True:
            with self.cond:
                while (not self._items or self._reader_delivering) and not self.closed:
                    self._delivering = False
                    self.cond.wait()
                if self.closed:
                    return
                batch = list(self._items)
                self._items.clear()
                self._delivering = True
                if len(batch) >= self.size:
                    self.cond.notify_all()  # a plain-mode reader may be waiting for room
            try:
                taken = many([(item.port, item.event, item.payload) for item in batch])
            except Exception:
                log.exception("%s: delivering remote packets failed", self.name)
                taken = len(batch)
            self.stats["received"] += taken
            self.stats["came_back"] += sum(item.event == "data" for item in batch[:taken])
            with self.cond:
                epoch = self._seq.epoch
                last = max((i.seq for i in batch[:taken] if i.epoch == epoch and i.seq), default=0)
                if last:
                    self._seq.finish_through(last)
                due = self._seq.ack_due(self.size, idle=not self._items)
            if due:
                send_ack()
            if taken < len(batch):
                return

    def take_ack(self) -> int | None:
        """The seq to acknowledge now (recorded as acknowledged), or None."""
        with self.cond:
            return self._seq.take_ack()

    @property
    def idle(self) -> bool:
        """True when nothing from the remote waits for delivery."""
        with self.cond:
            return not self._items and not self._delivering and not self._reader_delivering


def _well_formed(payload: Any) -> bool:
    """A packet from the remote names a port and a packet event (anything else is dropped)."""
    return (
        type(payload) is dict
        and isinstance(payload.get("port"), str)
        and payload.get("event") in PACKET_EVENTS
    )


def _one_by_one(
    listener: Callable[[str, str, Any], bool],
    name: str,
) -> Callable[[list[tuple[str, str, Any]]], int]:
    """A batch listener made of a one-packet one: a packet it fails on is logged and skipped."""

    def many(packets: list[tuple[str, str, Any]]) -> int:
        for count, (port, event, payload) in enumerate(packets):
            try:
                keep_going = listener(port, event, payload)
            except Exception:
                log.exception("%s: delivering a remote packet failed", name)
                keep_going = True
            if keep_going is False:
                return count
        return len(packets)

    return many
