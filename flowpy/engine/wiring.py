"""Wiring: a graph turned into the connections of one network run, before anything runs.

A pure function (:func:`plan_wiring`) of the graph, the component registry and the capacity
of the connections: it flattens subgraphs, resolves every edge end to a *slot* (node, port in
lower case, index; addressable ports without an index get the next free one), checks required
inports, makes one bounded connection per target slot (fan-in shares it) and preloads the
IIPs. Exported ports become edges from and to two pseudo-processes, ``IN_HANDLER`` and
``OUT_HANDLER`` (as flowd's ``{graph}-IN`` / ``{graph}-OUT``), so one loop wires everything.
The network then instantiates the processes on the plan and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowpy.errors import missing_name

from .component import Component
from .connection import Connection
from .errors import NetworkError
from .graphlike import GraphLike
from .ip import IP
from .ports import Index, PortError, PortSpec, find_port, normalize_index
from .subgraph import flatten
from .taps import TapConnection

# A slot on the wiring plan: (node id, lower-case port name, index or None).
Slot = tuple[str, str, Index | None]

IN_HANDLER = "\x00graph-in"
OUT_HANDLER = "\x00graph-out"
HANDLER_PORT = PortSpec("port", addressable=True)


@dataclass
class Plan:
    """The wiring of one start: every connection and who writes to it."""

    targets: dict[Slot, Connection] = field(default_factory=dict)
    #: what each source slot writes to: connections, or taps in front of them
    sources: dict[Slot, list[Connection | TapConnection]] = field(default_factory=dict)
    writers: dict[Slot, int] = field(default_factory=dict)
    iips: dict[Slot, list[IP]] = field(default_factory=dict)
    edges: list[tuple[Slot, Slot]] = field(default_factory=list)
    classes: dict[str, type[Component]] = field(default_factory=dict)
    exported_in: dict[str, Slot] = field(default_factory=dict)
    exported_out: dict[str, Slot] = field(default_factory=dict)
    #: each process's node metadata (its error policy is read from it)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan_wiring(graph: GraphLike, registry: Any, capacity: int) -> Plan:
    """The wiring of ``graph`` (NetworkError naming the first problem): a pure function of
    the graph, the registry and the connections' capacity; nothing runs yet."""
    flat = flatten(graph, registry)
    plan = Plan()
    plan.classes = dict(flat.classes)
    plan.metadata = dict(flat.metadata)
    specs = {
        node_id: (cls.port_specs("in"), cls.port_specs("out"))
        for node_id, cls in flat.classes.items()
    }

    auto: dict[tuple[str, str, str], int] = {}

    def resolve(ref: Any, direction: str, what: str) -> Slot:
        if ref.node not in specs:
            raise NetworkError(f"{what}: unknown node {ref.node!r}")
        ports = specs[ref.node][0 if direction == "in" else 1]
        cls = flat.classes[ref.node]
        spec = find_port(ports, ref.port, cls.component_name or cls.__name__)
        kind = "inport" if direction == "in" else "outport"
        if spec is None:
            raise NetworkError(
                f"{what}: node {ref.node!r} has no {kind} {missing_name(ref.port, sorted(ports))}"
            )
        name = spec.name
        try:
            index = normalize_index(getattr(ref, "index", None))
        except PortError as exc:
            raise NetworkError(f"{what}: {exc}") from None
        if index is not None and not spec.addressable:
            raise NetworkError(
                f"{what}: {kind} {ref.node}.{name} is not addressable but index {index!r} is given"
            )
        if index is None and spec.addressable:
            key = (ref.node, name, direction)
            index = auto.get(key, 0)
            auto[key] = index + 1
        return (ref.node, name, index)

    for src_ref, tgt_ref, what in flat.edges:
        src = resolve(src_ref, "out", what)
        tgt = resolve(tgt_ref, "in", what)
        plan.edges.append((src, tgt))
        plan.writers[tgt] = plan.writers.get(tgt, 0) + 1
    for data, tgt_ref, what in flat.initials:
        tgt = resolve(tgt_ref, "in", what)
        plan.iips.setdefault(tgt, []).append(IP(IP.DATA, data))
        plan.writers.setdefault(tgt, 0)
    for public, ref in flat.inports.items():
        tgt = resolve(ref, "in", f"exported inport {public!r}")
        plan.exported_in[public] = tgt
        plan.edges.append(((IN_HANDLER, "port", public), tgt))
        plan.writers[tgt] = plan.writers.get(tgt, 0) + 1
    for public, ref in flat.outports.items():
        src = resolve(ref, "out", f"exported outport {public!r}")
        plan.exported_out[public] = src
        tgt = (OUT_HANDLER, "port", public)
        plan.edges.append((src, tgt))
        plan.writers[tgt] = 1

    for node_id, (inspecs, _) in specs.items():
        for name, spec in inspecs.items():
            if spec.required and not any(s[0] == node_id and s[1] == name for s in plan.writers):
                raise NetworkError(f"node {node_id!r}: required inport {name!r} is not connected")

    for slot, count in plan.writers.items():
        conn = Connection(capacity, writers=count, name=slot_name(slot))
        if slot in plan.iips:
            conn.preload(plan.iips[slot])
        plan.targets[slot] = conn
    for src, tgt in plan.edges:
        plan.sources.setdefault(src, []).append(plan.targets[tgt])
    return plan


def slots_of(table: dict[Slot, Any], node: str, port: str) -> dict[Index | None, Any]:
    """The values of ``table`` for one port of ``node``, by index (None: not addressed)."""
    return {slot[2]: value for slot, value in table.items() if slot[0] == node and slot[1] == port}


def slot_name(slot: Slot) -> str:
    """A slot's readable name for logs and connection names: ``node.port[index]``."""
    node, port, index = slot
    node = {IN_HANDLER: "<graph in>", OUT_HANDLER: "<graph out>"}.get(node, node)
    return f"{node}.{port}" + (f"[{index}]" if index is not None else "")
