"""Graphs used as components, and the flattening that wires them inline.

A subgraph component is a class whose ports are the exported ports of a graph. The network
never runs it as a thread: ``flatten`` replaces each subgraph node by the graph's own
processes (ids prefixed with the node id, ``outer/inner``), so IPs, brackets and
back-pressure cross the boundary unchanged and there is one wiring loop for everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .component import Component
from .errors import NetworkError
from .failures import METADATA_KEYS
from .graphlike import GraphLike
from .ports import PortSpec


class SubgraphComponent(Component):
    """Base of the classes made by ``subgraph_class``; ``graph`` is the graph it stands for."""

    abstract = True
    graph: GraphLike = None  # type: ignore[assignment]  # set on each subclass

    @classmethod
    def port_specs(cls, direction: str) -> dict[str, PortSpec]:
        """The graph's exported ports as port specs, so the subgraph looks like any component."""
        exports = cls.graph.inports if direction == "in" else cls.graph.outports
        return {str(name).lower(): PortSpec(str(name)) for name in exports}

    @classmethod
    def describe(cls, name: str | None = None) -> dict[str, Any]:
        """The component:component payload of the subgraph, its ports the graph's exports."""
        graph = cls.graph
        props = getattr(graph, "properties", {}) or {}
        info: dict[str, Any] = {
            "name": name or cls.component_name,
            "description": str(props.get("description", "")),
            "subgraph": True,
            "inPorts": [spec.describe() for spec in cls.port_specs("in").values()],
            "outPorts": [spec.describe() for spec in cls.port_specs("out").values()],
        }
        if props.get("icon"):
            info["icon"] = str(props["icon"])
        return info

    def run(self) -> None:  # pragma: no cover - flatten() never lets a subgraph node run
        """Never called: a subgraph is flattened into its processes before anything runs."""
        raise NetworkError("a subgraph is wired inline and never runs as a process")


def subgraph_class(name: str, graph: GraphLike) -> type[SubgraphComponent]:
    """A component class standing for ``graph``; register it under ``name``."""
    return type(
        name.rsplit("/", 1)[-1],
        (SubgraphComponent,),
        {"graph": graph, "component_name": name, "abstract": False, "__module__": __name__},
    )


def is_subgraph(cls: Any) -> TypeGuard[type[SubgraphComponent]]:
    """True if ``cls`` is a subgraph component class (which flattens instead of running)."""
    return isinstance(cls, type) and issubclass(cls, SubgraphComponent)


@dataclass(frozen=True)
class Ref:
    """A port of a flattened graph's process: node id, port and index (None if not addressed)."""

    node: str
    port: str
    index: Any = None


@dataclass
class FlatGraph:
    """A graph with every subgraph expanded: only real processes are left."""

    name: str
    classes: dict[str, type[Component]] = field(default_factory=dict)
    edges: list[tuple[Ref, Ref, str]] = field(default_factory=list)
    initials: list[tuple[Any, Ref, str]] = field(default_factory=list)
    inports: dict[str, Ref] = field(default_factory=dict)
    outports: dict[str, Ref] = field(default_factory=dict)
    #: Each process's node metadata; a process inside a subgraph inherits the error policy
    #: keys (:data:`~flowpy.engine.failures.METADATA_KEYS`) of the subgraph node around it.
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def _export(exports: dict[str, Any], port: str) -> tuple[str, Any] | None:
    if port in exports:
        return port, exports[port]
    for public, exp in exports.items():
        if str(public).lower() == str(port).lower():
            return public, exp
    return None


class _Flattener:
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.flat: FlatGraph | None = None
        # For each subgraph node: how its exported ports map to inner process ports.
        self.entries: dict[str, dict[str, list[Ref]]] = {}
        self.exits: dict[str, dict[str, Ref]] = {}

    def run(self, graph: GraphLike) -> FlatGraph:
        self.flat = FlatGraph(graph.name)
        self._expand(graph, prefix="", graphs=(graph,), inherited={})
        self.flat.inports = {
            public: self._inner_target(Ref(exp.process, exp.port), f"exported inport {public!r}")
            for public, exp in graph.inports.items()
        }
        self.flat.outports = {
            public: self._inner_source(Ref(exp.process, exp.port), f"exported outport {public!r}")
            for public, exp in graph.outports.items()
        }
        return self.flat

    def _expand(
        self,
        graph: GraphLike,
        prefix: str,
        graphs: tuple[GraphLike, ...],
        inherited: dict[str, Any],
    ) -> None:
        flat = self.flat
        assert flat is not None
        local: dict[str, str] = {}
        for node in list(graph.nodes.values()):
            node_id = prefix + node.id
            local[node.id] = node_id
            metadata = {**inherited, **(getattr(node, "metadata", None) or {})}
            try:
                cls = self.registry.get(node.component)
            except KeyError as exc:
                raise NetworkError(f"node {node_id!r}: {exc.args[0]}") from None
            if is_subgraph(cls):
                inner = cls.graph
                if inner is graph or any(inner is g for g in graphs):
                    chain = " -> ".join([g.name for g in graphs] + [inner.name])
                    raise NetworkError(f"node {node_id!r}: graph contains itself ({chain})")
                policy = {k: v for k, v in metadata.items() if k in METADATA_KEYS}
                self._expand(inner, node_id + "/", graphs + (inner,), policy)
                self.entries[node_id] = {
                    str(public).lower(): [Ref(node_id + "/" + exp.process, exp.port)]
                    for public, exp in inner.inports.items()
                }
                self.exits[node_id] = {
                    str(public).lower(): Ref(node_id + "/" + exp.process, exp.port)
                    for public, exp in inner.outports.items()
                }
            else:
                flat.classes[node_id] = cls
                flat.metadata[node_id] = metadata
        for edge in list(graph.edges):
            what = (
                f"edge {prefix}{edge.src.node}.{edge.src.port}"
                f" -> {prefix}{edge.tgt.node}.{edge.tgt.port}"
            )
            src = self._local(edge.src, local, what)
            tgt = self._local(edge.tgt, local, what)
            flat.edges.append((src, tgt, what))
        for iip in list(graph.initials):
            what = f"initial packet to {prefix}{iip.tgt.node}.{iip.tgt.port}"
            flat.initials.append((iip.data, self._local(iip.tgt, local, what), what))

    @staticmethod
    def _local(ref: Any, local: dict[str, str], what: str) -> Ref:
        if ref.node not in local:
            raise NetworkError(f"{what}: unknown node {ref.node!r}")
        return Ref(local[ref.node], ref.port, getattr(ref, "index", None))

    def _inner_target(self, ref: Ref, what: str) -> Ref:
        """Follow an inport of a subgraph node down to the real process port."""
        while ref.node in self.entries:
            found = _export(self.entries[ref.node], str(ref.port).lower())
            if found is None:
                raise NetworkError(f"{what}: subgraph {ref.node!r} has no inport {ref.port!r}")
            ref = found[1][0]
        return ref

    def _inner_source(self, ref: Ref, what: str) -> Ref:
        while ref.node in self.exits:
            found = _export(self.exits[ref.node], str(ref.port).lower())
            if found is None:
                raise NetworkError(f"{what}: subgraph {ref.node!r} has no outport {ref.port!r}")
            ref = found[1]
        return ref


def flatten(graph: GraphLike, registry: Any) -> FlatGraph:
    """Expand every subgraph node of ``graph``; edges and IIPs end on real processes."""
    flattener = _Flattener(registry)
    flat = flattener.run(graph)
    flat.edges = [
        (flattener._inner_source(s, what), flattener._inner_target(t, what), what)
        for s, t, what in flat.edges
    ]
    flat.initials = [
        (data, flattener._inner_target(t, what), what) for data, t, what in flat.initials
    ]
    return flat
