"""The running structure of one network: its processes, connections, exported ports and taps.

One owner for what a start wires and live edits change (docs/architecture.md, "Live
editing"): the wiring plan, the processes bound to it, the connections, the inport
handler's ports, the outport handler's port and names, and the taps in front of edges.
:class:`~flowpy.engine.network.Network` keeps the lifecycle and the threads; it, the live
edits (:mod:`~flowpy.engine.live`) and the drain (:mod:`~flowpy.engine.drain`) change or read
this structure only through the operations here.

Invariants: every operation that changes the structure runs with :attr:`Topology.lock` (the
network's state lock) held, unless its docstring says it takes the lock itself; the tables
and lists that running threads read (``processes``, ``connections``, ``in_ports`` and the
source lists of the plan) are replaced, never changed in place, so a reader never sees one
half-changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowpy.errors import missing_name

from .component import Component
from .connection import Connection
from .errors import NetworkError
from .failures import Handling, Intensity
from .ip import IP
from .ports import Index, InputPort, OutputPort, PortSpec, find_port, normalize_index
from .taps import TapConnection
from .wiring import HANDLER_PORT, IN_HANDLER, OUT_HANDLER, Plan, Slot, slot_name, slots_of

_HANDLERS = (IN_HANDLER, OUT_HANDLER)
Edge = tuple[Slot, Slot]


@dataclass
class Process:
    """One process of the network: its component instance, its thread and its bound ports."""

    node_id: str
    component: Component | None
    thread: threading.Thread | None = None
    inports: list[InputPort] = field(default_factory=list)
    outports: list[OutputPort] = field(default_factory=list)
    #: the IP it handles now, and its restarts in this run (flowpy.engine.failures)
    handling: Handling = field(default_factory=Handling)
    restarts: int = 0
    intensity: Intensity = field(default_factory=Intensity)


class Topology:
    """What runs and how it is connected, for one start of a network (module docstring)."""

    def __init__(self, lock: threading.Lock, capacity: int) -> None:
        self.lock = lock
        self.capacity = capacity
        self.plan = Plan()
        self.processes: list[Process] = []
        self.connections: list[Connection] = []
        #: the inport handler's ports, by public name
        self.in_ports: dict[str, OutputPort] = {}
        #: the outport handler's port (one slot per exported outport)
        self.out_port: InputPort | None = None
        #: outport handler slot -> the public name it has now (renames)
        self.out_names: dict[Any, str] = {}
        self.taps: dict[Edge, TapConnection] = {}

    # -- a start ---------------------------------------------------------------------------
    def load(self, plan: Plan, processes: list[Process]) -> None:
        """Lock held: the structure of a new start, wired by ``plan``."""
        self.plan = plan
        self.processes = processes
        self.taps = {}
        self.in_ports = {
            str(public): OutputPort(PortSpec(str(public)), {None: conns})
            for public, conns in slots_of(plan.sources, IN_HANDLER, "port").items()
        }
        # Held while processes run: an outport a live edit exports later must find it there.
        self.out_port = InputPort(
            HANDLER_PORT, slots_of(plan.targets, OUT_HANDLER, "port"), held=bool(plan.classes)
        )
        self.out_names = {public: public for public in plan.exported_out}
        self.connections = list(plan.targets.values())

    # -- reading ---------------------------------------------------------------------------
    def process(self, node: str) -> Process | None:
        """The running process ``node``, or None."""
        return next((p for p in self.processes if p.node_id == node), None)

    def class_of(self, node: str) -> type[Component] | None:
        """The component class wired for ``node``, or None if it is not in the plan."""
        return self.plan.classes.get(node)

    def is_flattened(self, node: str) -> bool:
        """Whether ``node`` is a subgraph running flattened into ``node/...`` processes."""
        prefix = f"{node}/"
        return any(key.startswith(prefix) for key in self.plan.classes)

    def running_edges(self) -> list[Edge]:
        """The edges between processes (those of the exported ports left out)."""
        return [
            (s, t) for s, t in self.plan.edges if s[0] not in _HANDLERS and t[0] not in _HANDLERS
        ]

    def snapshot(self) -> tuple[set[str], set[Edge]]:
        """Takes the lock: the processes and the edges between them as they run now."""
        with self.lock:
            return {p.node_id for p in self.processes}, set(self.running_edges())

    def outport_of(self, slot: Slot) -> OutputPort | None:
        """The bound outport a source slot sends through (the inport handler's, for exports)."""
        if slot[0] == IN_HANDLER:
            return self.in_ports.get(str(slot[2]))
        proc = self.process(slot[0])
        if proc is None or proc.component is None:
            return None
        return proc.component.outports[slot[1]]

    def inport_of(self, slot: Slot) -> InputPort:
        """The inport a slot names; NetworkError if its process is not running."""
        proc = self.process(slot[0])
        if proc is None or proc.component is None:
            raise NetworkError(f"node {slot[0]!r} is not running")
        return proc.component.inports[slot[1]]

    def resolve(self, ref: dict[str, Any], direction: str, known: Callable[[str], bool]) -> Slot:
        """A port object of the graph as a slot of the running network (NetworkError if it
        names no running process's port; KeyError if ``known`` says the graph has no such
        node either, so that the graph's own refusal names it)."""
        node = ref["node"]
        cls = self.plan.classes.get(node)
        if cls is None and not known(node):
            raise KeyError(node)
        if cls is None:
            raise NetworkError(f"node {node!r} is not running")
        ports = cls.port_specs(direction)
        spec = find_port(ports, ref["port"], cls.component_name or cls.__name__)
        kind = "inport" if direction == "in" else "outport"
        if spec is None:
            raise NetworkError(
                f"node {node!r} has no {kind} {missing_name(ref['port'], sorted(ports))}"
            )
        name = spec.name
        index = normalize_index(ref.get("index"))
        if index is not None and not spec.addressable:
            raise NetworkError(
                f"{kind} {node}.{name} is not addressable but index {index!r} is given"
            )
        if index is None and spec.addressable:
            table = self.plan.targets if direction == "in" else self.plan.sources
            used = {slot[2] for slot in table if slot[:2] == (node, name)}
            index = 0
            while index in used:
                index += 1
        return (node, name, index)

    def find_edge(self, src: Any, tgt: Any) -> Edge | None:
        """The running edge between two port references (objects with ``node``, ``port`` and
        maybe ``index``, or dicts with those keys); an index left out matches any."""

        def norm(ref: Any) -> Slot:
            get: Callable[[str], Any] = (
                ref.get if isinstance(ref, dict) else lambda key: getattr(ref, key, None)
            )
            return (str(get("node")), str(get("port")).lower(), normalize_index(get("index")))

        want_src, want_tgt = norm(src), norm(tgt)
        if (want_src, want_tgt) in self.plan.edges:
            return want_src, want_tgt
        for s, t in self.plan.edges:
            if (
                s[:2] == want_src[:2]
                and t[:2] == want_tgt[:2]
                and want_src[2] in (None, s[2])
                and want_tgt[2] in (None, t[2])
            ):
                return s, t
        return None

    def readers_downstream_of(self, node: str) -> list[list[Connection]]:
        """For every process downstream of ``node`` (the outport handler included): the
        connections it reads."""
        following: dict[str, set[str]] = {}
        for src, tgt in self.plan.edges:
            following.setdefault(src[0], set()).add(tgt[0])
        reached: set[str] = set()
        todo = [node]
        while todo:
            for nxt in following.get(todo.pop(), ()):
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        readers: dict[str, list[Connection]] = {}
        for (reader, _port, _index), conn in self.plan.targets.items():
            if reader in reached:
                readers.setdefault(reader, []).append(conn)
        return list(readers.values())

    # -- processes -------------------------------------------------------------------------
    def add_process(self, proc: Process, cls: type[Component]) -> None:
        """Add a spawned process and its class to the running structure."""
        self.plan.classes[proc.node_id] = cls
        self.processes = [*self.processes, proc]

    def remove_process(self, node: str) -> tuple[Process, list[Connection]] | None:
        """Takes process ``node`` out with the connections it read (their IPs are for the
        caller to retire) and what it wrote to; None if it does not run."""
        proc = self.process(node)
        if proc is None:
            return None
        self.processes = [q for q in self.processes if q is not proc]
        del self.plan.classes[node]
        inputs = [(slot, conn) for slot, conn in self.plan.targets.items() if slot[0] == node]
        for slot, _conn in inputs:
            del self.plan.targets[slot]
        self.plan.sources = {s: t for s, t in self.plan.sources.items() if s[0] != node}
        return proc, [conn for _slot, conn in inputs]

    def rename_process(self, old: str, new: str) -> bool:
        """The process, its thread, its edges, exports and taps take the new name."""
        proc = self.process(old)
        if proc is None:
            return False

        def rename(slot: Slot) -> Slot:
            return (new, slot[1], slot[2]) if slot[0] == old else slot

        plan = self.plan
        plan.classes = {(new if k == old else k): v for k, v in plan.classes.items()}
        plan.targets = {rename(k): v for k, v in plan.targets.items()}
        plan.sources = {rename(k): v for k, v in plan.sources.items()}
        plan.edges = [(rename(s), rename(t)) for s, t in plan.edges]
        plan.exported_in = {k: rename(v) for k, v in plan.exported_in.items()}
        plan.exported_out = {k: rename(v) for k, v in plan.exported_out.items()}
        self.taps = {(rename(s), rename(t)): tap for (s, t), tap in self.taps.items()}
        proc.node_id = new
        if proc.component is not None:
            proc.component.node_id = new
        if proc.thread is not None:
            proc.thread.name = new
        return True

    # -- connections -----------------------------------------------------------------------
    def new_connection(self, slot: Slot, writers: int) -> Connection:
        """A connection for target ``slot``; with no writer yet it is held open (a writer is
        about to be added, or the inport waits for one)."""
        conn = Connection(self.capacity, writers=writers, name=slot_name(slot))
        if writers == 0:
            conn.hold()
        self.plan.targets[slot] = conn
        self.connections = [*self.connections, conn]
        return conn

    def connect(self, src: Slot, tgt: Slot) -> None:
        """A new edge src -> tgt: the target slot's connection (made, held or shared) gets
        one more writer, and the source sends to it."""
        plan = self.plan
        conn = plan.targets.get(tgt)
        if conn is None:
            conn = self.new_connection(tgt, writers=0)
            if tgt[0] == OUT_HANDLER:
                assert self.out_port is not None
                self.out_port.attach(tgt[2], conn)
            else:
                self.inport_of(tgt).attach(tgt[2], conn)
        port = self.outport_of(src)
        plan.edges = [*plan.edges, (src, tgt)]
        if port is None:
            return  # a source that has no process (removed meanwhile): nothing will come
        conn.add_writer()
        index = None if src[0] == IN_HANDLER else src[2]  # an inport handler port has one slot
        if port.attach(index, conn):
            plan.sources[src] = [*plan.sources.get(src, []), conn]
        else:
            conn.detach_writer()  # the source has ended: it will never write (nor close)

    def disconnect(self, src: Slot, tgt: Slot, close: bool) -> None:
        """Edge src -> tgt goes: the source stops sending at once; what is in the connection
        is still delivered. ``close``: the source's stream there ends (an exported outport, or
        the source going away); otherwise the connection is held for a new writer."""
        plan = self.plan
        plan.edges = [e for e in plan.edges if e != (src, tgt)]
        conn = plan.targets.get(tgt)
        if conn is None:
            return
        port = self.outport_of(src)
        targets = plan.sources.get(src, [])
        target = next((t for t in targets if t is conn or getattr(t, "inner", None) is conn), None)
        if target is None:
            return
        plan.sources[src] = [t for t in targets if t is not target]
        if port is not None and port.detach(target):
            if close:
                conn.close_writer()
            else:
                conn.detach_writer()

    def add_initial(self, tgt: Slot, ip: IP) -> Connection:
        """An IIP for ``tgt``, recorded; returns the connection to inject it into (made if
        nothing was connected to that inport: the IIP makes its stream)."""
        conn = self.plan.targets.get(tgt)
        if conn is None:
            conn = self.new_connection(tgt, writers=0)
            self.inport_of(tgt).attach(tgt[2], conn)
        self.plan.iips.setdefault(tgt, []).append(ip)
        return conn

    def remove_initial(self, tgt: Slot) -> None:
        """Takes back one IIP of ``tgt`` that has not been read yet, if there is one."""
        queued = self.plan.iips.get(tgt, [])
        conn = self.plan.targets.get(tgt)
        for ip in list(queued):
            queued.remove(ip)
            if conn is not None and conn.take_back(ip):
                return

    # -- exported ports --------------------------------------------------------------------
    def export_inport(self, public: str, tgt: Slot) -> None:
        """Export inport ``public``: the inport handler gets a port wired to ``tgt``."""
        port = OutputPort(PortSpec(str(public)), {None: []})
        self.in_ports = {**self.in_ports, public: port}
        self.plan.exported_in[public] = tgt
        self.connect((IN_HANDLER, "port", public), tgt)

    def unexport_inport(self, public: str) -> None:
        """Take back exported inport ``public`` and its edge into the graph."""
        tgt = self.plan.exported_in.pop(public, None)
        port = self.in_ports.get(public)
        self.in_ports = {k: v for k, v in self.in_ports.items() if k != public}
        src = (IN_HANDLER, "port", public)
        conn = self.plan.targets.get(tgt) if tgt is not None else None
        self.plan.edges = [e for e in self.plan.edges if e[0] != src]
        self.plan.sources.pop(src, None)
        if port is not None and conn is not None and port.detach(conn):
            conn.detach_writer()

    def rename_inport(self, old: str, new: str) -> bool:
        """Rename exported inport ``old`` to ``new``; False if there is none."""
        if old not in self.in_ports:
            return False
        self.in_ports = {(new if k == old else k): v for k, v in self.in_ports.items()}
        self.plan.exported_in = {
            (new if k == old else k): v for k, v in self.plan.exported_in.items()
        }
        return True

    def export_outport(self, public: str, src: Slot) -> None:
        """Export outport ``public``: ``src`` is wired to the outport handler."""
        self.plan.exported_out[public] = src
        self.out_names[public] = public
        self.connect(src, (OUT_HANDLER, "port", public))

    def unexport_outport(self, public: str) -> None:
        """Take back exported outport ``public``, closing its edge to the outport handler."""
        src = self.plan.exported_out.pop(public, None)
        slot = next((k for k, v in self.out_names.items() if v == public), public)
        self.out_names.pop(slot, None)
        if src is not None:
            self.disconnect(src, (OUT_HANDLER, "port", slot), close=True)

    def rename_outport(self, old: str, new: str) -> bool:
        """Rename exported outport ``old`` to ``new``; False if there is none."""
        slot = next((k for k, v in self.out_names.items() if v == old), None)
        if slot is None:
            return False
        self.out_names[slot] = new
        self.plan.exported_out = {
            (new if k == old else k): v for k, v in self.plan.exported_out.items()
        }
        return True

    # -- taps ------------------------------------------------------------------------------
    def tap(self, src: Any, tgt: Any, callback: Callable[[IP], Any]) -> Callable[[], None]:
        """Takes the lock: ``callback`` sees every IP crossing the edge src -> tgt (a tap is
        put in front of its connection, and taken away with the last callback)."""
        with self.lock:
            key = self.find_edge(src, tgt)
            if key is None:
                raise NetworkError(f"no running edge {_ref(src)} -> {_ref(tgt)}")
            tap = self.taps.get(key)
            if tap is None:
                conn = self.plan.targets[key[1]]
                tap = TapConnection(conn)
                self.taps[key] = tap
                self._swap_target(key[0], conn, tap)
            tap.callbacks.append(callback)

        def untap() -> None:
            with self.lock:
                if callback in tap.callbacks:
                    tap.callbacks.remove(callback)
                if not tap.callbacks:
                    for edge, current in list(self.taps.items()):  # keys follow renames
                        if current is tap:
                            del self.taps[edge]
                            self._swap_target(edge[0], tap, tap.inner)

        return untap

    def _swap_target(self, src: Slot, old: Any, new: Any) -> None:
        """The source slot ``src`` sends to ``new`` instead of ``old``."""
        sources = self.plan.sources
        sources[src] = [new if t is old else t for t in sources.get(src, [])]
        port = self.outport_of(src)
        if port is not None:
            port.swap(old, new)


def _ref(ref: Any) -> tuple[Any, str, Index | None]:
    return (ref.node, str(ref.port).lower(), normalize_index(getattr(ref, "index", None)))
