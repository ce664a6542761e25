"""A bound inport: what a component reads with, one connection per slot.

At network start an inport declaration is bound to connections: it reads one connection per
slot, and several edges into one slot share it (classic FBP fan-in). An addressable port
reads its slots through one :class:`~flowpy.engine.connection.Selector`, so a busy slot
cannot starve the others.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .connection import Connection, EndOfStream, Selector
from .deprecation import DeprecatedReaders
from .ip import DATA, IP, as_ips
from .portspec import Index, PortError, PortSpec, normalize_index, slot_order

if TYPE_CHECKING:
    from .failures import Handling

#: What a port keeps of one slot's reading: items taken and not handed out (raw, see
#: :mod:`flowpy.engine.ip`), options read.
_Reading = tuple[deque[Any], list[IP]]


class InputPort(DeprecatedReaders):
    """A bound inport: slot ``None`` for a plain port, one slot per index for an addressable one.

    What a component reads with: iterating (IPs until end-of-stream; on an addressable port it
    merges every slot), ``recv()`` and ``recv_many()``; :func:`next_data` is the helper for
    the next payload. ``recv_raw()`` is ``recv_many()`` in the form IPs travel in (a data IP
    as its payload, see :mod:`flowpy.engine.ip`), for components that handle whole batches.
    The other readers of earlier releases are deprecated aliases.
    """

    def __init__(
        self,
        spec: PortSpec,
        slots: dict[Index | None, Connection],
        held: bool = False,
        reading: _Reading | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._slots = slots
        self._selector: Selector | None = None
        self._open_slots: list[tuple[Index | None, Connection]] = []  # set with the selector
        self._next_slot = 0
        #: An addressable port of a process added to a running network: with no slot yet it
        #: waits for edges to come instead of ending (see flowpy.engine.live).
        self.held = held
        self._edit = threading.Lock()
        #: Set by the network: where this port notes the IP it hands out last, so a failure
        #: can name the IP being handled (:mod:`flowpy.engine.failures`).
        self.handling: Handling | None = None
        unread, options = reading if reading is not None else (deque(), [])
        #: IPs an iteration took from the connection in a batch and has not handed out yet,
        #: raw (see :mod:`flowpy.engine.ip`): a later read (or a fresh instance after a
        #: failure) takes them first, and a stop counts what is left here as discarded.
        self.unread: deque[Any] = unread
        #: The IPs read as options (:meth:`recv_option`): a fresh instance of the process
        #: after a failure reads them again.
        self.options: list[IP] = options
        #: The same two per slot of an addressable port (None: the port's own). A view
        #: ``port[i]`` lives only as long as the component keeps it, and a fresh instance
        #: makes new ones: what a view took and read as options is kept here, on the port
        #: the network owns, so the fresh instance and a stop's count see it.
        self._reading: dict[Index | None, _Reading] = {None: (unread, options)}

    def poke(self) -> None:
        """Make a reader waiting on this port look again (its ``held`` changed)."""
        self._ensure_selector().poke()

    def attach(self, index: Index | None, conn: Connection) -> None:
        """A live edit connected a new edge here: a reader waiting on this port (or on its
        selector) takes the connection into account without missing a wake-up."""
        with self._edit:
            self._slots = {**self._slots, index: conn}
            selector = self._selector
            if selector is not None:
                conn.selector = selector
                self._open_slots = [*self._open_slots, (index, conn)]
        if selector is not None:
            selector.poke()

    # -- structure -----------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        """True when at least one edge or IIP feeds this port."""
        return bool(self._slots)

    def connected_slots(self) -> list[Index]:
        """Indexes of an addressable port that have a connection, in a stable order."""
        return sorted((s for s in self._slots if s is not None), key=slot_order)

    def __getitem__(self, index: Index) -> InputPort:
        if not self.spec.addressable:
            raise PortError(f"inport {self.name!r} is not addressable")
        slot = normalize_index(index)
        conn = self._slots.get(slot)
        view = InputPort(
            self.spec, {None: conn} if conn is not None else {}, reading=self._slot_reading(slot)
        )
        view.handling = self.handling
        return view

    def _slot_reading(self, index: Index | None) -> _Reading:
        reading = self._reading.get(index)
        if reading is None:
            with self._edit:
                reading = self._reading.setdefault(index, (deque(), []))
        return reading

    def unread_count(self) -> int:
        """IPs taken from this port's connections and not handed out yet, every slot's."""
        return sum(len(unread) for unread, _options in self._reading.values())

    def has_unread(self, index: Index | None) -> bool:
        """Slot ``index`` has IPs taken and not handed out yet."""
        reading = self._reading.get(index)
        return reading is not None and bool(reading[0])

    def _single(self) -> Connection | None:
        if self.spec.addressable and None not in self._slots:
            return None  # slots may come and go: read them through the selector
        return self._slots.get(None)

    # -- reading -------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> IP:
        """The next IP. Raises EndOfStream when done, TimeoutError when ``timeout`` passes."""
        conn = self._single()
        if conn is None:
            if not self._slots:
                raise EndOfStream()
            return self._select(1, timeout)[1][0]
        item = self.unread.popleft() if self.unread else conn.recv(timeout)
        ip: IP = item if isinstance(item, IP) else IP(DATA, item)
        if self.handling is not None:
            self.handling.item = ip
        return ip

    def recv_many(self, max_items: int = 0, timeout: float | None = None) -> list[IP]:
        """Every IP queued (up to ``max_items`` if not 0), at least one: one lock round-trip
        for a batch, for hot paths. EndOfStream and TimeoutError as :meth:`recv`."""
        return as_ips(self.recv_raw(max_items, timeout))

    def recv_raw(self, max_items: int = 0, timeout: float | None = None) -> list[Any]:
        """:meth:`recv_many` in raw form: a data IP as its bare payload, a bracket as its IP (see
        :mod:`flowpy.engine.ip`), so a component that forwards or counts a batch makes no
        object per IP. Send them on with ``OutputPort.send_raw``."""
        conn = self._single()
        if conn is None:
            return [self.recv(timeout)]
        pending = self.unread
        batch: list[Any]
        if pending:
            count = len(pending) if max_items <= 0 else min(max_items, len(pending))
            batch = [pending.popleft() for _ in range(count)]
        else:
            batch = conn.recv_many(max_items, timeout)
        if self.handling is not None:
            self.handling.item = batch[-1]  # a batch is handled as a whole: its last IP
        return batch

    def _select(self, max_items: int, timeout: float | None) -> tuple[Index | None, list[IP]]:
        """(slot, up to ``max_items`` IPs of that slot) from the first slot with IPs, starting
        after the slot served last, so a busy slot cannot starve the others; EndOfStream once
        every slot has ended. The network's exported-outport reader uses it for the slot."""
        import time

        selector = self._ensure_selector()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = selector.generation
            open_slots = self._open_slots
            count = len(open_slots)
            for step in range(count):
                position = (self._next_slot + step) % count
                slot, conn = open_slots[position]
                reading = self._reading.get(slot)
                try:
                    if reading is not None and reading[0]:
                        unread = reading[0]  # options put back, or what a view took
                        take = len(unread) if max_items <= 0 else min(max_items, len(unread))
                        batch = [unread.popleft() for _ in range(take)]
                    else:
                        batch = conn.try_recv_many(max_items)
                except EndOfStream:
                    del open_slots[position]
                    self._next_slot = position
                    break  # the list changed: scan again
                if batch:
                    self._next_slot = position + 1
                    ips = as_ips(batch)
                    if self.handling is not None:
                        self.handling.item = ips[-1]
                    return slot, ips
            else:
                if not open_slots and not self.held:
                    raise EndOfStream()
                remaining = None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"nothing received on {self.name!r} within {timeout}s")
                selector.wait(seen, remaining)

    def _ensure_selector(self) -> Selector:
        with self._edit:
            if self._selector is None:
                selector = Selector()
                self._open_slots = list(self._slots.items())
                for conn in self._slots.values():
                    conn.selector = selector
                self._selector = selector
            return self._selector

    def __iter__(self) -> Iterator[IP]:
        return self._iterate(True)

    def iter_raw(self) -> Iterator[Any]:
        """Iterating, in raw form (a data IP as its bare payload, a bracket as its IP; see
        :mod:`flowpy.engine.ip`): for a loop that handles one IP at a time and has no use
        for an object per data IP (the ``Transform`` and ``Aggregate`` shapes)."""
        return self._iterate(False)

    def _iterate(self, make_ips: bool) -> Iterator[Any]:
        conn = self._single()
        if conn is not None:
            # IPs taken in a batch wait on the port, not in this generator: if run() raises
            # while handling one, a fresh instance (an error policy) goes on with the rest.
            handling = self.handling
            pending = self.unread
            while True:
                if not pending:
                    try:
                        pending.extend(conn.recv_many(64))
                    except EndOfStream:
                        return
                item = pending.popleft()
                if make_ips and not isinstance(item, IP):
                    item = IP(DATA, item)
                if handling is not None:
                    handling.item = item
                yield item
        elif self._slots or self.held:
            while True:
                try:
                    yield self._select(1, None)[1][0]
                except EndOfStream:
                    return

    # -- options: read by Component.conf/options, replayed for a fresh instance ----------
    def recv_option(self) -> Any:
        """The payload of the next data IP, read as an option (``Component.conf``): it is
        not work a failure is blamed on, and a fresh instance of the process gets it again
        (see :meth:`replay_options`)."""
        handling, self.handling = self.handling, None
        try:
            while True:
                slot: Index | None
                if self._single() is None and self._slots:
                    slot, batch = self._select(1, None)  # an addressable port: by slot
                    ip = batch[0]
                else:
                    slot, ip = None, self.recv()
                if ip.kind is DATA:
                    self._slot_reading(slot)[1].append(ip)
                    return ip.data
        finally:
            self.handling = handling

    def replay_options(self) -> set[Index | None]:
        """For a fresh instance of the process: put the options read back in front of what
        waits on their slot, and let a reader of an addressable port look at every slot
        again (the ended ones too: what is put back in them is read first). Returns the
        slots that had options."""
        replayed: set[Index | None] = set()
        for slot, (unread, options) in list(self._reading.items()):
            if options:
                unread.extendleft(reversed(options))
                options.clear()
                replayed.add(slot)
        with self._edit:
            if self._selector is not None:
                self._open_slots = list(self._slots.items())
                self._next_slot = 0
        return replayed


def next_data(port: InputPort, timeout: float | None = None) -> Any:
    """The payload of the next data IP on ``port``, skipping brackets: for an IIP or for
    pairing streams. EndOfStream at the end, TimeoutError when ``timeout`` passes (for each
    IP read)."""
    while True:
        ip = port.recv(timeout)
        if ip.kind is DATA:
            return ip.data
