"""The bounded FIFO between ports: real back-pressure, end-of-stream, batching.

A deque guarded by one lock with two conditions. ``send`` blocks while the connection is
full; ``recv`` blocks while it is empty and raises ``EndOfStream`` once every writer has
closed and the buffer is drained. Peers are woken only when they wait: a reader when an item
arrives, writers when a reader has drained the buffer down to the low watermark, so a busy
pipeline moves items in bursts instead of handing the GIL back and forth for every IP.

That delay must never turn into a wait for good: a reader that took items above the low
watermark while a writer waited *owes* that writer a wake-up, and pays it before it blocks
anywhere itself (on a full connection, an empty one, or a selector). Otherwise, in a loop
of processes, the reader could wait for the very writer it left waiting beside free room.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_CAPACITY = 1024

#: Per thread: the connections whose waiting writers this thread, as their reader, has not
#: woken yet (see the module docstring).
_owed = threading.local()


def _owe(conn: Connection) -> None:
    owed = getattr(_owed, "connections", None)
    if owed is None:
        owed = _owed.connections = set()
    owed.add(conn)


def release_owed_writers() -> None:
    """Wake the writers this thread left waiting beside free room; call it holding no
    connection lock, before blocking."""
    owed = getattr(_owed, "connections", None)
    if not owed:
        return
    connections = list(owed)
    owed.clear()
    for conn in connections:
        conn._wake_writers()


class EndOfStream(Exception):
    """Every writer has closed the connection and nothing is left to read."""


class NetworkStopped(Exception):
    """The network was stopped while this thread was sending; the process should end.

    ``refused``: how many of the items being sent were not taken (the stop counts them as
    discarded); None when the whole send was refused."""

    def __init__(self, refused: int | None = None) -> None:
        super().__init__()
        self.refused = refused


class Selector:
    """Lets one reader wait on several connections at once (addressable inports, fan-out readers).

    Connections poke it when they go from empty to non-empty or close; the reader compares
    generations so a poke between its poll and its wait is never missed.
    """

    __slots__ = (
        "_cond",
        "_lock",
        "_parked",
        "_seen",
        "_wakeup",
        "generation",
        "waiting",
        "watch",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # only for a second concurrent reader
        self.generation = 0
        #: Readers blocked in :meth:`wait` (a network's drain asks whether its processes idle).
        self.waiting = 0
        self._seen = -1  # the generation the last reader to block had seen
        #: Called (no arguments, no locks taken) when a reader is about to block; see
        #: :attr:`Connection.watch`.
        self.watch: Callable[[], Any] | None = None
        #: The reader sleeps on a bare lock, as a Connection's does (see there).
        self._parked = False
        self._wakeup = threading.Lock()
        self._wakeup.acquire()

    def poke(self) -> None:
        """Wake the reader: a connection became non-empty or closed."""
        with self._lock:
            self.generation += 1
            if self.waiting:
                if self._parked:
                    self._parked = False
                    self._wakeup.release()
                self._cond.notify_all()

    @property
    def idle(self) -> bool:
        """A reader is blocked here and nothing has poked it since it blocked: it has looked
        at every connection and found nothing (a woken reader that has not run yet is not
        idle, though it still counts in ``waiting``)."""
        return self.waiting > 0 and self.generation == self._seen

    def wait(self, seen: int, timeout: float | None = None) -> bool:
        """Wait until the generation moves past ``seen``; False on timeout."""
        release_owed_writers()
        lock = self._lock
        with lock:
            if self.generation != seen:
                return True
            self.waiting += 1
            self._seen = seen
            try:
                watch = self.watch
                if watch is not None:
                    watch()
                if self._parked:  # another reader sleeps on _wakeup already
                    return self._cond.wait_for(lambda: self.generation != seen, timeout)
                wakeup = self._wakeup
                wakeup.acquire(False)  # a token left by a poke after an earlier timeout
                self._parked = True
                lock.release()
                try:
                    wakeup.acquire(True, -1 if timeout is None else timeout)
                finally:
                    lock.acquire()
                    self._parked = False
                return self.generation != seen
            finally:
                self.waiting -= 1


class Connection:
    """A bounded, thread-safe FIFO with any number of writers and one reader."""

    __slots__ = (
        "name",
        "capacity",
        "low_watermark",
        "dropped",
        "passed",
        "_items",
        "_lock",
        "_not_empty",
        "_not_full",
        "_writers",
        "_eof",
        "_reader_gone",
        "_aborted",
        "_waiting_readers",
        "_waiting_writers",
        "_parked",
        "_wakeup",
        "selector",
        "watch",
        "_holds",
    )

    def __init__(self, capacity: int = DEFAULT_CAPACITY, writers: int = 1, name: str = "") -> None:
        if capacity < 1:
            raise ValueError("connection capacity must be at least 1")
        self.name = name
        self.capacity = capacity
        self.low_watermark = capacity // 2
        self.dropped = 0
        #: Items that went in through send/send_many since the connection was made (IIPs
        #: preloaded or injected are not counted): one integer add under the lock the send
        #: holds anyway, so per-edge counts cost nothing until somebody reads them.
        self.passed = 0
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._writers = writers
        self._eof = writers <= 0
        self._reader_gone = False
        self._aborted = False
        self._waiting_readers = 0
        self._waiting_writers = 0
        #: The reader sleeps on ``_wakeup``, a bare lock used as a one-token semaphore: a
        #: writer that finds ``_parked`` set clears it and releases the lock. Cheaper than a
        #: Condition (no per-wait lock, no Python-level bookkeeping) on the hand-off every IP
        #: makes; a second concurrent reader, which the engine never has, uses the Condition.
        self._parked = False
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self.selector: Selector | None = None
        #: Writers that are the network holding the connection open (see hold()).
        self._holds = 0
        #: None, except while a network drains: then called (no arguments, no locks taken,
        #: quick) whenever the reader is about to block on this empty connection, so the drain
        #: can tell without polling when everything inside the network has settled.
        self.watch: Callable[[], Any] | None = None

    # -- state ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    @property
    def reader_waiting(self) -> bool:
        """The reader is blocked waiting for items (on this connection or its selector) and
        nothing has woken it since. A reader woken by the end of the stream, which has not
        run yet, is not waiting: it is about to end, and what it ends may still send (a
        total at end-of-stream), so a drain must not take it for settled."""
        selector = self.selector
        if selector is not None and selector.idle:
            return True
        return bool(self._waiting_readers) and not (self._eof or self._aborted or self._reader_gone)

    @property
    def closed(self) -> bool:
        """True once no writer is left (the reader will see end-of-stream after draining)."""
        return self._eof

    @property
    def reader_gone(self) -> bool:
        """True once the reader was removed: later sends are discarded and counted."""
        return self._reader_gone

    def preload(self, items: Iterable[Any]) -> None:
        """Put items in before any thread runs (IIPs), ignoring capacity."""
        with self._lock:
            self._items.extend(items)

    # -- writer side ---------------------------------------------------------------------
    def send(self, item: Any, on_queued: Callable[[], Any] | None = None) -> bool:
        """Append one item, blocking while full. False if the reader has gone (item discarded).

        ``on_queued()`` runs once the item is in, before the reader can see it (under this
        connection's lock: it must be quick and must not block)."""
        with self._lock:
            items = self._items
            if len(items) >= self.capacity:
                self._wait_for_room(1)
            if self._aborted:
                raise NetworkStopped()
            if self._reader_gone:
                self.dropped += 1
                return False
            items.append(item)
            self.passed += 1
            if on_queued is not None:
                on_queued()
            if len(items) == 1:
                self._wake_reader()
            return True

    def send_many(
        self, batch: Iterable[Any], on_queued: Callable[[int], Any] | None = None
    ) -> bool:
        """Append many items with as few lock round-trips as the capacity allows.

        ``on_queued(n)`` runs each time ``n`` more of them are in, before the reader can see
        them (as :meth:`send`'s, under this connection's lock)."""
        pending = batch if isinstance(batch, list) else list(batch)
        start, total = 0, len(pending)
        with self._lock:
            items = self._items
            while start < total:
                if len(items) >= self.capacity:
                    try:
                        self._wait_for_room(1)
                    except NetworkStopped:
                        raise NetworkStopped(total - start) from None
                if self._aborted:
                    raise NetworkStopped(total - start)
                if self._reader_gone:
                    self.dropped += total - start
                    return False
                room = self.capacity - len(items)
                was_empty = not items
                end = min(total, start + room)
                # The whole batch at once, the usual case, without copying it first.
                items.extend(pending if end - start == total else pending[start:end])
                self.passed += end - start
                if on_queued is not None:
                    on_queued(end - start)
                start = end
                if was_empty:
                    self._wake_reader()
        return True

    def close_writer(self) -> None:
        """One writer is done; after the last one, the reader gets end-of-stream once drained."""
        with self._lock:
            if self._writers > 0:
                self._writers -= 1
            if self._writers == 0 and not self._eof:
                self._eof = True
                self._wake_reader(everyone=True)

    def add_writer(self) -> None:
        """One more writer (a live edit connected another edge to it): it takes the place
        of a hold if there is one."""
        with self._lock:
            if self._eof:
                raise ValueError(f"connection {self.name!r} is already closed")
            if self._holds:
                self._holds -= 1
            else:
                self._writers += 1

    # -- live edits (see flowpy.engine.live) ------------------------------------------------
    def hold(self) -> None:
        """The network holds the connection open as if it were a writer: a process whose
        inputs were edited away waits for a new edge instead of seeing end-of-stream."""
        with self._lock:
            self._writers += 1
            self._holds += 1
            if self._eof and not self._items:  # nothing read the end yet: take it back
                self._eof = False

    def detach_writer(self) -> None:
        """A writer was edited away (removeedge): the IPs it already sent stay to be read; if
        it was the last real writer, the network holds the connection open instead."""
        with self._lock:
            if self._writers - self._holds <= 1 and not self._eof:
                self._holds += 1  # its place is kept: no end-of-stream for an edit
            elif self._writers > 0:
                self._writers -= 1
                if self._writers == 0 and not self._eof:
                    self._eof = True
                    self._wake_reader(everyone=True)

    def release_holds(self) -> None:
        """The network lets go (the stream may end now, when the real writers are done)."""
        with self._lock:
            self._writers -= self._holds
            self._holds = 0
            if self._writers <= 0 and not self._eof:
                self._writers = 0
                self._eof = True
                self._wake_reader(everyone=True)

    def inject(self, item: Any) -> None:
        """Put ``item`` in at once, whatever the capacity (an IIP added to a running
        network: IIPs never wait)."""
        with self._lock:
            if self._aborted or self._reader_gone:
                self.dropped += 1
                return
            self._items.append(item)
            if len(self._items) == 1:
                self._wake_reader()

    def take_back(self, item: Any) -> bool:
        """Remove ``item`` (the very object) if it has not been read yet (removeinitial)."""
        with self._lock:
            for position, queued in enumerate(self._items):
                if queued is item:
                    del self._items[position]
                    if self._waiting_writers:
                        self._writers_may_go()
                    return True
            return False

    def retire(self) -> int:
        """Its reader is removed from the network: later sends are discarded (and counted),
        the reader wakes to end-of-stream, what was buffered is discarded; how many were."""
        with self._lock:
            discarded = len(self._items)
            self.dropped += discarded
            self._items.clear()
            self._reader_gone = True
            self._eof = True
            self._not_full.notify_all()
            self._wake_reader(everyone=True)
        return discarded

    def _wait_for_room(self, needed: int) -> None:
        while len(self._items) + needed > self.capacity:
            if self._aborted:
                raise NetworkStopped()
            if self._reader_gone:
                return
            if self._pay_owed_wakeups():
                continue  # the lock was let go: the state may have changed meanwhile
            self._waiting_writers += 1
            try:
                self._not_full.wait()
            finally:
                self._waiting_writers -= 1

    def _pay_owed_wakeups(self) -> bool:
        """Before this thread blocks (lock held): wake the writers it owes a wake-up, with the
        lock let go (never two connection locks at once). True if it had any to wake."""
        if not getattr(_owed, "connections", None):
            return False
        self._lock.release()
        try:
            release_owed_writers()
        finally:
            self._lock.acquire()
        return True

    def _writers_may_go(self) -> None:
        """After a take with writers waiting (lock held): wake them at the low watermark,
        else remember the debt (paid before this thread blocks)."""
        if len(self._items) <= self.low_watermark:
            self._not_full.notify_all()
        else:
            _owe(self)

    def _wake_writers(self) -> None:
        with self._lock:
            if self._waiting_writers:
                self._not_full.notify_all()

    def _wake_reader(self, everyone: bool = False) -> None:
        if self._waiting_readers:
            if self._parked:
                self._parked = False
                self._wakeup.release()
            if everyone:
                self._not_empty.notify_all()
            else:
                self._not_empty.notify()
        if self.selector is not None:
            self.selector.poke()

    # -- reader side ---------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> Any:
        """Take the oldest item, blocking while empty. Raises EndOfStream or TimeoutError."""
        with self._lock:
            items = self._items
            if not items:
                self._wait_for_items(timeout)
            item = items.popleft()
            if self._waiting_writers:
                self._writers_may_go()
            return item

    def recv_many(self, max_items: int = 0, timeout: float | None = None) -> list[Any]:
        """Take up to ``max_items`` (0: everything buffered), blocking until at least one."""
        with self._lock:
            items = self._items
            if not items:
                self._wait_for_items(timeout)
            if max_items <= 0 or max_items >= len(items):
                batch = list(items)
                items.clear()
            else:
                batch = [items.popleft() for _ in range(max_items)]
            if self._waiting_writers:
                self._writers_may_go()
            return batch

    def try_recv_many(self, max_items: int = 0) -> list[Any]:
        """Non-blocking take of up to ``max_items`` (0: all); ``[]`` when empty. Raises
        EndOfStream once drained and closed."""
        with self._lock:
            items = self._items
            if not items:
                if self._eof or self._aborted:
                    raise EndOfStream()
                return []
            if max_items <= 0 or max_items >= len(items):
                batch = list(items)
                items.clear()
            else:
                batch = [items.popleft() for _ in range(max_items)]
            if self._waiting_writers:
                self._writers_may_go()
            return batch

    def _wait_for_items(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._items:
            if self._eof or self._aborted or self._reader_gone:
                raise EndOfStream()
            if self._pay_owed_wakeups():
                continue  # the lock was let go: the state may have changed meanwhile
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"nothing received within {timeout:.3f}s")
            self._waiting_readers += 1
            try:
                watch = self.watch
                if watch is not None:
                    watch()
                if self._parked:  # another reader sleeps on _wakeup already
                    self._not_empty.wait(remaining)
                else:
                    self._park(remaining)
            finally:
                self._waiting_readers -= 1

    def _park(self, timeout: float | None) -> None:
        """Lock held: sleep until a writer wakes this reader (or ``timeout``), lock let go
        meanwhile. A wake-up that came after a timeout leaves a token: taken here first."""
        wakeup = self._wakeup
        wakeup.acquire(False)
        self._parked = True
        lock = self._lock
        lock.release()
        try:
            wakeup.acquire(True, -1 if timeout is None else timeout)
        finally:
            lock.acquire()
            self._parked = False

    def close_reader(self) -> int:
        """The reader has ended: discard what is buffered, release blocked writers.

        Later sends are discarded and counted in ``dropped``. Returns how many items were discarded.
        """
        with self._lock:
            discarded = len(self._items)
            self.dropped += discarded
            self._items.clear()
            self._reader_gone = True
            self._not_full.notify_all()
            return discarded

    def close_input(self) -> None:
        """Take no more items: a sender (waiting or new) raises NetworkStopped, while the
        reader still gets what is buffered, then end-of-stream."""
        with self._lock:
            self._aborted = True
            self._eof = True
            self._not_full.notify_all()
            self._wake_reader(everyone=True)

    def abort(self) -> list[Any]:
        """Stop: blocked writers raise NetworkStopped, the reader sees end-of-stream at once.
        Returns the items that were still buffered (they are discarded)."""
        with self._lock:
            self._aborted = True
            discarded = list(self._items)
            self._items.clear()
            self._not_full.notify_all()
            self._wake_reader(everyone=True)
        return discarded
