"""A bound outport: what a component sends with, every connection of a slot (fan-out).

Live edits change an outport's targets while its process runs: the target lists are
replaced, never changed in place, so a send in progress finishes on the list it started
with, and a slot whose edges were edited away holds its sends until an edge comes back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from .connection import Connection, NetworkStopped
from .deprecation import DeprecatedSenders
from .ip import IP, raw_value
from .portspec import Index, PortError, PortSpec, normalize_index, slot_order

#: In an outport's closed slots: the whole port was closed (its process ended).
_WHOLE_PORT = object()
#: In an outport's held slots: the network stopped, nothing waits for an edge any more.
_STOPPED = object()


class OutputPort(DeprecatedSenders):
    """A bound outport: sends each IP to every connection of the selected slot."""

    def __init__(
        self,
        spec: PortSpec,
        slots: dict[Index | None, list[Connection]],
        closed_slots: set[object] | None = None,
        refused: list[int] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._slots = slots
        self._targets = slots.get(None, [])
        # Shared with the per-slot views so each connection's writer is closed exactly once.
        self._closed_slots: set[object] = closed_slots if closed_slots is not None else set()
        self._views: dict[Index, OutputPort] = {}
        #: Held by structural changes (live edits) and by close(), so an edge is either
        #: closed by the process ending or detached by an edit, never both; shared with the
        #: per-slot views, as is the set of slots whose edges were edited away (held).
        self._edit = threading.Condition(threading.Lock())
        self._held: set[object] = set()
        #: IPs a stop refused to this port's sends (one cell, shared with the per-slot views)
        self._refused = refused if refused is not None else [0]

    # -- live edits (see flowpy.engine.live): lists are replaced, never changed in place, so a
    #    send in progress finishes on the list it started with ------------------------------
    def attach(self, index: Index | None, conn: Any) -> bool:
        """Send to ``conn`` too (a new edge). False if this slot has ended already: the
        process will send nothing more there, and the caller must not count it a writer."""
        with self._edit:
            if index in self._closed_slots or _WHOLE_PORT in self._closed_slots:
                return False
            self._set_targets(index, [*self._slots.get(index, []), conn])
            return True

    def detach(self, conn: Any) -> bool:
        """Stop sending to ``conn`` (an edge removed). True if it was a live target: the
        caller then accounts for the writer it loses. A slot left without targets is *held*:
        its sends wait for a new edge (no IP goes nowhere while a graph is being edited)."""
        with self._edit:
            for index, targets in list(self._slots.items()):
                if conn in targets:
                    remaining = [c for c in targets if c is not conn]
                    if not remaining:
                        self._held.add(index)
                    self._set_targets(index, remaining)
                    return index not in self._closed_slots
            return False

    def swap(self, old: Any, new: Any) -> None:
        """Send to ``new`` where this port sent to ``old`` (a tap in front of a connection)."""
        with self._edit:
            for index, targets in list(self._slots.items()):
                if any(t is old for t in targets):
                    self._set_targets(index, [new if t is old else t for t in targets])

    def release(self) -> None:
        """The network is stopping: sends waiting for an edge raise NetworkStopped."""
        with self._edit:
            self._held.add(_STOPPED)
            self._edit.notify_all()

    def _wait_for_targets(self) -> list[Connection]:
        """No edge on this slot: nothing to send to (an unconnected port), or, if edits took
        its edges away, wait until one comes back (or the network stops)."""
        slot = self._slot
        with self._edit:
            while not self._targets and slot in self._held:
                if _STOPPED in self._held:
                    raise NetworkStopped()
                self._edit.wait()
            if not self._targets:
                self._check()
            return self._targets

    def _set_targets(self, index: Index | None, targets: list[Connection]) -> None:
        if targets:
            self._held.discard(index)
        self._edit.notify_all()
        self._slots = {**self._slots, index: targets}
        if index is None:
            self._targets = targets
        view = self._views.get(index) if index is not None else None
        if view is not None:
            view._slots = {None: targets}
            view._targets = targets

    @property
    def is_connected(self) -> bool:
        """True when at least one connection is attached to this port."""
        return any(self._slots.values())

    def connected_slots(self) -> list[Index]:
        """Indexes of an addressable port that have a connection, in a stable order."""
        return sorted((s for s, c in self._slots.items() if s is not None and c), key=slot_order)

    def __getitem__(self, index: Index) -> OutputPort:
        if not self.spec.addressable:
            raise PortError(f"outport {self.name!r} is not addressable")
        slot = normalize_index(index)
        if slot is None:
            raise PortError(f"outport {self.name!r}: an index is needed, got {index!r}")
        with self._edit:
            view = self._views.get(slot)
            if view is None:
                targets = self._slots.get(slot)
                if targets is None:
                    targets = []
                    self._slots = {**self._slots, slot: targets}
                view = OutputPort(self.spec, {None: targets}, self._closed_slots, self._refused)
                view._edit = self._edit
                view._held = self._held
                view._slot = slot
                self._views[slot] = view
            return view

    def _check(self) -> None:
        if self.spec.addressable and None not in self._slots and self._slots:
            raise PortError(f"outport {self.name!r} is addressable: send to port[index]")

    def send(self, ip: IP, on_queued: Callable[[], Any] | None = None) -> bool:
        """Send one IP to every connected edge; blocks while any of them is full.

        Returns False if a receiving process had already ended (the IP was discarded there).
        ``on_queued()`` runs once, when the first edge takes the IP and before its reader can
        see it (see :meth:`Connection.send`).
        """
        try:
            targets = self._targets
            if not targets:
                targets = self._wait_for_targets()
                if not targets:
                    return True
            ok = True
            for conn in targets:
                if conn.send(ip, on_queued):
                    on_queued = None
                else:
                    ok = False
            return ok
        except NetworkStopped:
            self._refused[0] += 1
            raise

    def send_many(self, ips: Iterable[IP]) -> bool:
        """Send IPs in order, to every connected edge, with as few hand-offs as the
        capacities allow; the result as :meth:`send`."""
        return self.send_raw(ips)  # an IP is its own raw form

    def send_raw(self, items: Iterable[Any], on_queued: Callable[[int], Any] | None = None) -> bool:
        """:meth:`send_many` in raw form (a data IP as its bare payload, a bracket as its IP; see
        :mod:`flowpy.engine.ip`): what ``InputPort.recv_raw`` gives, or
        ``raw_data(values)``. ``on_queued(n)``: n more of them are in the first edge that
        takes them (see :meth:`Connection.send_many`)."""
        batch = items if isinstance(items, list) else list(items)
        try:
            targets = self._targets
            if not targets:
                targets = self._wait_for_targets()
                if not targets:
                    return True
            ok = True
            for conn in targets:
                if conn.send_many(batch, on_queued):
                    on_queued = None
                else:
                    ok = False
            return ok
        except NetworkStopped as stopped:
            self._refused[0] += len(batch) if stopped.refused is None else stopped.refused
            raise

    @property
    def refused(self) -> int:
        """IPs sent here that a stop refused (the process had them in hand: discarded)."""
        return self._refused[0]

    def send_data(self, value: Any) -> None:
        """Send ``value`` as one data IP (``send(IP.make_data(value))`` without the result)."""
        self.send(raw_value(value))

    _slot: Index | None = None

    def close(self) -> None:
        """End the stream on every edge of this port (or of this slot). Idempotent."""
        with self._edit:
            slots = [self._slot] if self._slot is not None else list(self._slots)
            if self._slot is None:
                self._closed_slots.add(_WHOLE_PORT)  # slots an edit would add later too
            closing = []
            for slot in slots:
                if slot in self._closed_slots:
                    continue
                self._closed_slots.add(slot)
                closing += self._slots.get(slot, []) if self._slot is None else self._targets
        for conn in closing:
            conn.close_writer()

    @property
    def closed(self) -> bool:
        """True once every slot of this port (or this slot) has been closed."""
        if self._slot is None and _WHOLE_PORT in self._closed_slots:
            return True
        slots = [self._slot] if self._slot is not None else list(self._slots)
        return all(s in self._closed_slots for s in slots)
