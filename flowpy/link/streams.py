"""Windowed sending: a stream of ``runtime:packet`` requests with at most ``window`` of them
unacknowledged, for :meth:`flowpy.link.client.Client.send_stream` and ``send_batches``
(``flowpy send`` and every Python feeder of a remote graph).

The caller's thread only queues packets (at most a window's worth ahead); the client's reader
writes them, from the read that brought the acknowledgements making room. So the window is
refilled by the thread that parsed the acks, at once and without waiting for the socket
(:meth:`flowpy.link.writer.FrameWriter.flush_nowait`), as an event loop would: handing each
refill to a sending thread cost a thread switch through the GIL per refill, and kept the
runtime waiting a fifth of the time. The caller writes only what fits when it queues.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from .errors import ClientError, ConnectionClosed, RequestError
from .pending import RouteHandler


class PacketSender(Protocol):
    """What windowed sending needs of :class:`flowpy.link.client.Client` (which calls it)."""

    timeout: float
    url: str
    close_reason: str
    closed: threading.Event

    def queue_routed_packets(
        self, graph: str, port: str, packets: Sequence[tuple[str, Any]], tag: str, first: int
    ) -> int:
        """Queue runtime:packets with the ids ``<tag>:<n>`` (not written yet); their place."""

    def flush(self, upto: int) -> None:
        """Write what is queued up to place ``upto`` (the calling thread may wait)."""

    def flush_nowait(self) -> None:
        """Write what is queued as far as the socket takes it now, never waiting."""

    def add_reply_route(self, handler: RouteHandler) -> str:
        """Have the replies to ``<tag>:<n>`` requests handed to ``handler``; the tag."""

    def remove_reply_route(self, tag: str) -> None:
        """Undo :meth:`add_reply_route`."""

    def add_reader_hook(self, hook: Callable[[], None]) -> None:
        """Have the reader call ``hook`` after each read (and once when it ends)."""

    def remove_reader_hook(self, hook: Callable[[], None]) -> None:
        """Undo :meth:`add_reader_hook`."""


def send_stream(
    client: PacketSender,
    graph: str,
    port: str,
    values: Iterable[Any],
    window: int = 100,
    timeout: float | None = None,
) -> int:
    """connect, a data packet per value, disconnect; the number of data packets sent.
    Values are taken ``window`` at a time."""
    data = iter(values)
    batches = itertools.chain(
        [[("connect", None)]],
        iter(lambda: [("data", v) for v in itertools.islice(data, max(1, window))], []),
        [[("disconnect", None)]],
    )
    return send_batches(client, graph, port, batches, window, timeout)


def send_batches(
    client: PacketSender,
    graph: str,
    port: str,
    batches: Iterable[Sequence[tuple[str, Any]]],
    window: int = 100,
    timeout: float | None = None,
) -> int:
    """A runtime:packet per ``(event, payload)`` of each batch, in order, at most ``window``
    unacknowledged; returns the number of data packets sent once all are acknowledged.
    Raises the error of the first packet the runtime refused (nothing after it is sent),
    ConnectionClosed, or ClientError when no acknowledgement came for ``timeout``."""
    pump = StreamPump(client, graph, port, window, client.timeout if timeout is None else timeout)
    pump.tag = client.add_reply_route(pump.on_replies)
    client.add_reader_hook(pump.on_read)
    try:
        for batch in batches:
            pump.feed(batch)
        pump.finish()
    finally:
        client.remove_reader_hook(pump.on_read)
        client.remove_reply_route(pump.tag)
    return pump.data_sent


#: Packets a stream keeps queued for the reader to refill the window from (a window's
#: worth if that is more): the feeding thread may then be kept from the GIL for a switch
#: interval or two (5 ms: hundreds of packets) without the window running dry meanwhile.
QUEUE_AHEAD = 4096
#: ...as long as their payloads weigh less than this (a window's worth is always taken).
QUEUE_AHEAD_BYTES = 8 << 20
#: What a payload other than text, bytes or a number is taken to weigh: its size is not
#: known before it is encoded, so a stream of large structures is not queued deep.
UNSIZED_WEIGHT = 64 << 10


def _weight(packet: tuple[str, Any]) -> int:
    """About what a queued packet holds in memory (see UNSIZED_WEIGHT)."""
    payload = packet[1]
    kind = type(payload)
    if kind is str or kind is bytes or kind is bytearray:
        return 64 + len(payload)
    if payload is None or kind is int or kind is float or kind is bool:
        return 64
    return UNSIZED_WEIGHT


class StreamPump:
    """One windowed stream to one port (see the module docstring). Its requests are numbered
    1, 2, 3... on a reply route of the client, so that a reply costs a mark in a set, not a
    pending request. Invariants: packets are written in the order fed; at most ``window``
    are unacknowledged, and a window's worth queued, or more within ``QUEUE_AHEAD`` packets
    and ``QUEUE_AHEAD_BYTES`` (a full queue takes more once half of it is written); after
    the first refusal nothing more is written."""

    def __init__(
        self, client: PacketSender, graph: str, port: str, window: int, timeout: float
    ) -> None:
        self._client = client
        self._graph, self._port = graph, port
        self._window = max(1, window)
        self._timeout = timeout
        self.tag = ""
        self._cond = threading.Condition(threading.Lock())
        self._queued: deque[tuple[str, Any]] = deque()
        self._weights: deque[int] = deque()  # of each queued packet (see _weight)
        self._queued_bytes = 0
        self._first = 1  # the oldest request not answered
        self._next = 1  # the number of the next request written
        self._answered: set[int] = set()  # answered, at or after _first
        #: No open request is below this and _first: where the oldest open one is looked
        #: for (a window of replies naming no request would otherwise cost window² steps).
        self._unnamed = 1
        self._error: BaseException | None = None
        self._progress = time.monotonic()  # when the last acknowledgement came
        #: What the caller waits for, if it waits: the reader wakes it only once that holds
        #: (a wake-up per read would cost a thread switch per read).
        self._awaited: Callable[[], bool] | None = None
        self.data_sent = 0

    @property
    def _in_flight(self) -> int:
        return self._next - self._first

    def feed(self, packets: Sequence[tuple[str, Any]]) -> None:
        """Queue packets (waiting while the queue is full), writing what fits now."""
        at = 0
        while at < len(packets):
            with self._cond:
                if self._full():
                    self._wait_for(self._half_written)
                start = at
                while at < len(packets) and not self._full():
                    weight = _weight(packets[at])
                    self._weights.append(weight)
                    self._queued_bytes += weight
                    self._queued.append(packets[at])
                    at += 1
                self.data_sent += sum(event == "data" for event, _ in packets[start:at])
                upto = self._write_locked()
            if upto:
                self._client.flush(upto)

    def _full(self) -> bool:
        queued = len(self._queued)
        return queued >= self._window and (
            queued >= QUEUE_AHEAD or self._queued_bytes >= QUEUE_AHEAD_BYTES
        )

    def _half_written(self) -> bool:
        """A full queue takes more again (not a packet at a time: a wake-up each)."""
        queued = len(self._queued)
        return queued <= self._window // 2 or (
            queued <= QUEUE_AHEAD // 2 and self._queued_bytes <= QUEUE_AHEAD_BYTES // 2
        )

    def finish(self) -> None:
        """Wait until everything fed is acknowledged; raise the first refusal."""
        with self._cond:
            self._wait_for(lambda: not self._queued and not self._in_flight)

    def on_replies(self, replies: list[tuple[int | None, dict[str, Any]]]) -> None:
        """The reply route: mark what the runtime answered (``None``: the oldest open one,
        from a runtime that names no request); a refusal is the stream's error."""
        with self._cond:
            for number, reply in replies:
                if number is None:  # in order: from where the last one stopped, not _first
                    number = max(self._first, self._unnamed)
                    while number in self._answered:
                        number += 1
                    if number < self._next:  # a stray one must not move it past the next
                        self._unnamed = number + 1
                if not self._first <= number < self._next:
                    continue  # not ours, or answered twice
                self._answered.add(number)
                if reply.get("command") == "error" and self._error is None:
                    payload = reply.get("payload")
                    text = payload.get("message") if isinstance(payload, dict) else payload
                    self._error = RequestError("runtime", "packet", str(text))

    def on_read(self) -> None:
        """The reader's hook: take what was acknowledged off, write what now fits. Never
        waits for the socket (the runtime may be waiting for this reader)."""
        with self._cond:
            busy = self._in_flight or self._queued
            if busy and self._client.closed.is_set() and self._error is None:
                reason = self._client.close_reason or "closed"
                self._error = ConnectionClosed(f"{self._client.url}: {reason}")
            upto = self._write_locked()
        if upto:
            self._client.flush_nowait()

    def _write_locked(self) -> int:
        """Retire what was answered; queue for writing what the window has room for. The
        place in line to flush up to, 0 when nothing was queued."""
        answered = self._answered
        if self._first in answered:
            while self._first in answered:
                answered.discard(self._first)
                self._first += 1
            self._progress = time.monotonic()
        room = self._window - self._in_flight
        upto = 0
        if self._error is None and room > 0 and self._queued:
            queued, weights = self._queued, self._weights
            count = min(room, len(queued))
            part = [queued.popleft() for _ in range(count)]
            self._queued_bytes -= sum([weights.popleft() for _ in range(count)])
            try:
                upto = self._client.queue_routed_packets(
                    self._graph, self._port, part, self.tag, self._next
                )
            except ClientError as exc:
                self._error = exc
            else:
                self._next += len(part)
        awaited = self._awaited
        if awaited is not None and (self._error is not None or awaited()):
            self._cond.notify_all()
        return upto

    def _wait_for(self, ready: Callable[[], bool]) -> None:
        """Wait (the condition held) until ``ready()``; raise the stream's error, or
        ClientError when no acknowledgement came for the timeout."""
        self._awaited = ready
        try:
            while True:
                if self._error is not None:
                    raise self._error
                if ready():
                    return
                left = self._progress + self._timeout - time.monotonic()
                if left <= 0 and self._in_flight:
                    raise ClientError(f"no reply to runtime:packet within {self._timeout}s")
                self._cond.wait(max(left, 0.001) if self._in_flight else self._timeout)
        finally:
            self._awaited = None
