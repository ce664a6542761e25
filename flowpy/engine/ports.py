"""Port declarations (what a component class says it has) and bound ports (what run() uses).

A declaration is metadata: name, datatype, description, addressable, required. At network
start each declaration is bound to connections: an inport reads one connection per slot
(several edges into one slot share it: classic FBP fan-in); an outport writes to every
connection of a slot (fan-out). Port names are matched case-insensitively and reported in
lower case, so graphs written for noflo (``in``) and for flowd (``IN``) both load.

A renamed port keeps its former names as ``aliases`` for a release: a graph that still uses
one loads and runs as before, and the process logs one warning per component and name
(:func:`find_port` is the one place names are looked up, by the wiring and by live edits).

This module is over 600 lines on purpose: InputPort and OutputPort are the hot path of
every IP and share their slot bookkeeping with the declarations they bind; split, each half
would import the other.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from flowpy.errors import FlowpyError, missing_name

from .connection import Connection, EndOfStream, NetworkStopped, Selector
from .deprecation import DeprecatedReaders, DeprecatedSenders
from .ip import DATA, IP

if TYPE_CHECKING:
    from .failures import Handling

Index = int | str
#: What a port keeps of one slot's reading: IPs taken and not handed out, options read.
_Reading = tuple[deque[IP], list[IP]]

log = logging.getLogger(__name__)
_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


class PortError(FlowpyError):
    """A port was used in a way its declaration does not allow."""


def normalize_index(index: Any) -> Index | None:
    """Edge indexes arrive as ints or strings ("0" from JSON, "remote_in" by name)."""
    if index is None or index == "":
        return None
    if isinstance(index, bool):
        raise PortError(f"invalid port index {index!r}")
    if isinstance(index, int):
        return index
    if isinstance(index, str):
        return int(index) if index.isdecimal() else index
    raise PortError(f"invalid port index {index!r}: expected an int or a string")


class _NoDefault:
    """The ``default`` of a port that declares none (``None`` is a default like any other)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class PortSpec:
    """A port as a component class declares it."""

    name: str
    datatype: str = "all"
    description: str = ""
    addressable: bool = False
    required: bool = False
    #: Former names, still accepted (with a deprecation warning) for a release.
    aliases: tuple[str, ...] = ()
    #: A configuration inport's value when no IIP gives one (``Component.conf`` returns it).
    default: Any = NO_DEFAULT

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "aliases", tuple(alias.lower() for alias in self.aliases))

    def describe(self) -> dict[str, Any]:
        """The port as ``component:component`` reports it."""
        info: dict[str, Any] = {"id": self.name, "type": self.datatype}
        if self.description:
            info["description"] = self.description
        if self.addressable:
            info["addressable"] = True
        if self.required:
            info["required"] = True
        return info

    @property
    def optional_config(self) -> bool:
        """An inport that configures its process and may be left without an IIP: it declares
        a ``default``, or it is a ``conf`` port that is not ``required`` (flowd's convention,
        the options' defaults living in the component). Something that binds a graph's ports
        to the outside (a MsgFlo participant) leaves these unbound: a bound one would make
        the process wait for its configuration from outside."""
        if self.required:
            return False
        return self.default is not NO_DEFAULT or self.name == "conf"


def find_port(specs: Mapping[str, PortSpec], name: Any, owner: str = "") -> PortSpec | None:
    """The port called ``name`` (any case) among ``specs`` (name -> spec), or the port that
    was called so before it was renamed (see ``PortSpec.aliases``, a warning); None if none
    is."""
    key = str(name).lower()
    spec = specs.get(key)
    if spec is not None:
        return spec
    for spec in specs.values():
        if key in spec.aliases:
            warn_renamed(owner, key, spec.name)
            return spec
    return None


def warn_renamed(owner: str, old: str, new: str, what: str = "port") -> None:
    """Log once per process that ``owner`` (a component name) calls ``old`` ``new`` now."""
    with _warned_lock:
        if (owner, what, old) in _warned:
            return
        _warned.add((owner, what, old))
    log.warning("%s: %s %r is deprecated, it is called %r now (the old name goes in the next "
                "release)", owner or "a component", what, old, new)


class InPort(PortSpec):
    """Declares an input port."""


class OutPort(PortSpec):
    """Declares an output port."""


class InputPort(DeprecatedReaders):
    """A bound inport: slot ``None`` for a plain port, one slot per index for an addressable one.

    What a component reads with: iterating (IPs until end-of-stream; on an addressable port it
    merges every slot), ``recv()`` and ``recv_many()``; :func:`next_data` is the helper for
    the next payload. The other readers of earlier releases are deprecated aliases.
    """

    def __init__(self, spec: PortSpec, slots: dict[Index | None, Connection],
                 held: bool = False, reading: _Reading | None = None) -> None:
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
        #: IPs an iteration took from the connection in a batch and has not handed out yet:
        #: a later read (or a fresh instance after a failure) takes them first, and a stop
        #: counts what is left here as discarded.
        self.unread: deque[IP] = unread
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
        return bool(self._slots)

    def connected_slots(self) -> list[Index]:
        """Indexes of an addressable port that have a connection, in a stable order."""
        return sorted((s for s in self._slots if s is not None), key=_slot_order)

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
        ip: IP = self.unread.popleft() if self.unread else conn.recv(timeout)
        if self.handling is not None:
            self.handling.ip = ip
        return ip

    def recv_many(self, max_items: int = 0, timeout: float | None = None) -> list[IP]:
        """Every IP queued (up to ``max_items`` if not 0), at least one: one lock round-trip
        for a batch, for hot paths. EndOfStream and TimeoutError as :meth:`recv`."""
        conn = self._single()
        if conn is None:
            return [self.recv(timeout)]
        pending = self.unread
        batch: list[IP]
        if pending:
            count = len(pending) if max_items <= 0 else min(max_items, len(pending))
            batch = [pending.popleft() for _ in range(count)]
        else:
            batch = conn.recv_many(max_items, timeout)
        if self.handling is not None:
            self.handling.ip = batch[-1]  # a batch is handled as a whole: its last IP
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
                    if self.handling is not None:
                        self.handling.ip = batch[-1]
                    return slot, batch
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
                ip = pending.popleft()
                if handling is not None:
                    handling.ip = ip
                yield ip
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
        return any(self._slots.values())

    def connected_slots(self) -> list[Index]:
        return sorted((s for s, c in self._slots.items() if s is not None and c), key=_slot_order)

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
        batch = ips if isinstance(ips, list) else list(ips)
        try:
            targets = self._targets
            if not targets:
                targets = self._wait_for_targets()
                if not targets:
                    return True
            ok = True
            for conn in targets:
                if not conn.send_many(batch):
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
        self.send(IP(DATA, value))

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
        if self._slot is None and _WHOLE_PORT in self._closed_slots:
            return True
        slots = [self._slot] if self._slot is not None else list(self._slots)
        return all(s in self._closed_slots for s in slots)


P = TypeVar("P", "InputPort", "OutputPort")


class PortMap(Generic[P]):
    """The ports of one component: declared on the class, bound on each running process.

    On a component class it is a declaration, the port specs in order (``specs``); the
    network gives each process a map of the same kind bound to its connections, where
    ``ports["in"]`` (case-insensitive) is the bound port, typed so editors know it.
    """

    __slots__ = ("specs", "_ports")

    def __init__(self, *specs: PortSpec) -> None:
        self.specs: tuple[PortSpec, ...] = specs
        self._ports: dict[str, P] | None = None  # None: a declaration, not bound

    def bind(self, ports: dict[str, P]) -> Self:
        """A map of the same declaration bound to ``ports`` (name -> bound port)."""
        bound = type(self)(*self.specs)
        bound._ports = ports
        return bound

    def __getitem__(self, name: str) -> P:
        ports = self._ports
        if ports is None:
            raise PortError(f"port {name!r} is not bound: ports are bound when a network runs "
                            "the process (in run(), not on the class)")
        try:
            return ports[name.lower()]
        except KeyError:
            raise PortError(f"no port named {missing_name(name, ports)}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self.specs) if self._ports is None else len(self._ports)

    def _names(self) -> list[str]:
        return [spec.name for spec in self.specs] if self._ports is None else list(self._ports)

    def values(self) -> Iterable[P]:
        return (self._ports or {}).values()

    def items(self) -> Iterable[tuple[str, P]]:
        return (self._ports or {}).items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(spec.name for spec in self.specs)})"


class InPorts(PortMap["InputPort"]):
    """A component's inports: ``inports = InPorts(InPort("in"), InPort("conf"))``."""

    __slots__ = ()


class OutPorts(PortMap["OutputPort"]):
    """A component's outports: ``outports = OutPorts(OutPort("out"))``."""

    __slots__ = ()


def _slot_order(slot: Index) -> tuple[int, Any]:
    return (0, slot) if isinstance(slot, int) else (1, str(slot))
