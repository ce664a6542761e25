"""The graph model: nodes, edges, IIPs, exported ports and groups, with change events.

Every change goes through a method that validates everything first and mutates second,
so an invalid change raises GraphError and leaves the graph exactly as it was.  After
each change the graph calls its subscribers with ``(event, payload)``: the event is the
FBP protocol's ``graph:*`` command name and the payload is that command's ack payload
without its ``graph`` key, so the protocol layer can forward events untranslated.

The collections (``nodes``, ``edges``, ``initials``, ``inports``, ``outports``,
``groups``) are public for reading; change them only through the methods, which keep
the graph consistent and tell the subscribers.  Mutations hold ``graph.lock`` (an
RLock) while they change the model and notify, so a reader that wants a consistent
snapshot from another thread can hold it too.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from .parts import (
    Edge,
    Export,
    GraphError,
    Group,
    Initial,
    Node,
    PortRef,
    checked_metadata,
    is_valid_index,
    merged_metadata,
    require_name,
)

__all__ = [
    "EVENTS",
    "Edge",
    "Export",
    "Graph",
    "GraphError",
    "Group",
    "Initial",
    "Node",
    "PortRef",
    "is_valid_index",
]

log = logging.getLogger(__name__)

Subscriber = Callable[[str, dict[str, Any]], None]

EVENTS = frozenset(
    {
        "clear",
        "addnode",
        "removenode",
        "renamenode",
        "changenode",
        "addedge",
        "removeedge",
        "changeedge",
        "addinitial",
        "removeinitial",
        "addinport",
        "removeinport",
        "renameinport",
        "addoutport",
        "removeoutport",
        "renameoutport",
        "addgroup",
        "removegroup",
        "renamegroup",
        "changegroup",
    }
)


class Graph:
    """An FBP graph that reports every change to its subscribers."""

    def __init__(self, name: str | None = None, properties: dict[str, Any] | None = None) -> None:
        """`name` overrides properties["name"]; with neither the graph is called "main"."""
        props = checked_metadata(properties, "properties")
        if name is not None:
            require_name(name, "graph name")
            props["name"] = name
        elif "name" not in props:
            props["name"] = "main"
        elif not isinstance(props["name"], str):
            raise GraphError(f"graph name must be a string, got {props['name']!r}")
        self.properties: dict[str, Any] = props
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.initials: list[Initial] = []
        self.inports: dict[str, Export] = {}
        self.outports: dict[str, Export] = {}
        self.groups: list[Group] = []
        # JSON round-trip details kept for graph_json (see there).
        self.extra: dict[str, Any] = {}
        self.omitted_keys: set[str] = set()
        self.lock = threading.RLock()
        self._subscribers: dict[int, Subscriber] = {}
        self._next_token = 0
        self._next_seq = 0

    # -- identity -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The graph's name, kept in properties["name"] ("" when the graph has none)."""
        name = self.properties.get("name")
        return name if isinstance(name, str) else ""

    @name.setter
    def name(self, value: str) -> None:
        require_name(value, "graph name")
        with self.lock:
            self.properties["name"] = value

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name!r}: {len(self.nodes)} nodes, {len(self.edges)} edges, "
            f"{len(self.initials)} IIPs>"
        )

    # -- subscribers -----------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event, payload)` after every change; returns an unsubscribe."""
        if not callable(callback):
            raise TypeError("graph subscriber must be callable")
        with self.lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers[token] = callback

        def unsubscribe() -> None:
            with self.lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        """Each subscriber gets its own copy, and a failing one cannot hurt the rest."""
        for callback in list(self._subscribers.values()):
            try:
                callback(event, copy.deepcopy(payload))
            except Exception:
                log.exception(
                    "graph %r: subscriber %r failed on %r event", self.name, callback, event
                )

    # -- lookups ----------------------------------------------------------------------

    def _require_node(self, node_id: Any, what: str = "node") -> Node:
        require_name(node_id, f"{what} id")
        node = self.nodes.get(node_id)
        if node is None:
            raise GraphError(f"unknown {what} {node_id!r}")
        return node

    def _require_ref(self, ref: Any, what: str) -> PortRef:
        if not isinstance(ref, PortRef):
            raise GraphError(f"{what} must be a PortRef, got {ref!r}")
        if ref.node not in self.nodes:
            raise GraphError(f"{what} {ref}: unknown node {ref.node!r}")
        return ref

    def find_edge(self, src: PortRef, tgt: PortRef) -> Edge | None:
        """The edge with exactly these ends (index included), or None."""
        for edge in self.edges:
            if edge.src == src and edge.tgt == tgt:
                return edge
        return None

    def _require_edge(self, src: Any, tgt: Any) -> Edge:
        for ref, what in ((src, "edge source"), (tgt, "edge target")):
            if not isinstance(ref, PortRef):
                raise GraphError(f"{what} must be a PortRef, got {ref!r}")
        edge = self.find_edge(src, tgt)
        if edge is None:
            raise GraphError(f"unknown edge {src} -> {tgt}")
        return edge

    def edges_from(self, node: str, port: str | None = None) -> list[Edge]:
        """Edges leaving `node` (optionally only from `port`), in the order added."""
        return [
            e for e in self.edges if e.src.node == node and (port is None or e.src.port == port)
        ]

    def edges_to(self, node: str, port: str | None = None) -> list[Edge]:
        """Edges entering `node` (optionally only into `port`), in the order added."""
        return [
            e for e in self.edges if e.tgt.node == node and (port is None or e.tgt.port == port)
        ]

    def initials_to(self, node: str, port: str | None = None) -> list[Initial]:
        """IIPs for `node` (optionally only for `port`), in the order added."""
        return [
            i for i in self.initials if i.tgt.node == node and (port is None or i.tgt.port == port)
        ]

    def group(self, name: str) -> Group | None:
        """The group called `name`, or None."""
        for group in self.groups:
            if group.name == name:
                return group
        return None

    def _require_group(self, name: Any) -> Group:
        require_name(name, "group name")
        group = self.group(name)
        if group is None:
            raise GraphError(f"unknown group {name!r}")
        return group

    def _take_seq(self) -> int:
        self._next_seq += 1
        return self._next_seq

    # -- whole graph --------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the graph but keep its properties; emits only "clear" {name}."""
        with self.lock:
            self.nodes.clear()
            self.edges.clear()
            self.initials.clear()
            self.inports.clear()
            self.outports.clear()
            self.groups.clear()
            self._emit("clear", {"name": self.name})

    def copy(self) -> Graph:
        """A deep copy of the model, without the subscribers."""
        with self.lock:
            other = Graph()
            for attr in (
                "properties",
                "nodes",
                "edges",
                "initials",
                "inports",
                "outports",
                "groups",
                "extra",
                "omitted_keys",
            ):
                setattr(other, attr, copy.deepcopy(getattr(self, attr)))
            other._next_seq = self._next_seq
            return other

    # -- nodes ------------------------------------------------------------------------

    def add_node(self, id: str, component: str, metadata: dict[str, Any] | None = None) -> Node:
        """Add a process; emits "addnode" {id, component, metadata}."""
        with self.lock:
            require_name(id, "node id")
            if id in self.nodes:
                raise GraphError(f"node {id!r} already exists")
            require_name(component, f"component of node {id!r}")
            node = Node(id, component, checked_metadata(metadata))
            self.nodes[id] = node
            self._emit("addnode", {"id": id, "component": component, "metadata": node.metadata})
            return node

    def remove_node(self, id: str) -> Node:
        """Remove a node and everything attached to it, each with its own event.

        Order: "removeedge" per attached edge, "removeinitial" per IIP, "removeinport" and
        "removeoutport" per export of the node, then "removenode" {id}.  The node also
        leaves every group (groups have no event for that and are kept, even if empty).
        """
        with self.lock:
            node = self._require_node(id)
            for edge in [e for e in self.edges if id in (e.src.node, e.tgt.node)]:
                self._drop_edge(edge)
            for iip in [i for i in self.initials if i.tgt.node == id]:
                self._drop_initial(iip)
            for kind, exports in (("inport", self.inports), ("outport", self.outports)):
                for public in [p for p, e in exports.items() if e.process == id]:
                    del exports[public]
                    self._emit(f"remove{kind}", {"public": public})
            for group in self.groups:
                group.nodes = [n for n in group.nodes if n != id]
            del self.nodes[id]
            self._emit("removenode", {"id": id})
            return node

    def rename_node(self, old: str, new: str) -> None:
        """Change a node's id; edges, IIPs, exports and groups follow. Emits "renamenode"."""
        with self.lock:
            node = self._require_node(old)
            require_name(new, "new node id")
            if new in self.nodes:
                raise GraphError(f"cannot rename node {old!r} to {new!r}: {new!r} already exists")
            entries = [((new if key == old else key), value) for key, value in self.nodes.items()]
            self.nodes.clear()
            self.nodes.update(entries)
            node.id = new
            for edge in self.edges:
                edge.src = _renamed(edge.src, old, new)
                edge.tgt = _renamed(edge.tgt, old, new)
            for iip in self.initials:
                iip.tgt = _renamed(iip.tgt, old, new)
            for export in [*self.inports.values(), *self.outports.values()]:
                if export.process == old:
                    export.process = new
            for group in self.groups:
                group.nodes = [new if n == old else n for n in group.nodes]
            self._emit("renamenode", {"from": old, "to": new})

    def change_node(self, id: str, metadata: dict[str, Any]) -> Node:
        """Merge metadata into a node (None deletes a key); emits "changenode" {id, metadata}."""
        with self.lock:
            node = self._require_node(id)
            changes = checked_metadata(metadata)
            node.metadata = merged_metadata(node.metadata, changes)
            self._emit("changenode", {"id": id, "metadata": node.metadata})
            return node

    # -- edges --------------------------------------------------------------------------

    def add_edge(self, src: PortRef, tgt: PortRef, metadata: dict[str, Any] | None = None) -> Edge:
        """Connect two ports; emits "addedge" {src, tgt, metadata}."""
        with self.lock:
            self._require_ref(src, "edge source")
            self._require_ref(tgt, "edge target")
            if self.find_edge(src, tgt) is not None:
                raise GraphError(f"edge {src} -> {tgt} already exists")
            edge = Edge(src, tgt, checked_metadata(metadata), seq=self._take_seq())
            self.edges.append(edge)
            self._emit(
                "addedge", {"src": src.to_dict(), "tgt": tgt.to_dict(), "metadata": edge.metadata}
            )
            return edge

    def remove_edge(self, src: PortRef, tgt: PortRef) -> Edge:
        """Remove the edge with exactly these ends; emits "removeedge" {src, tgt}."""
        with self.lock:
            edge = self._require_edge(src, tgt)
            self._drop_edge(edge)
            return edge

    def _drop_edge(self, edge: Edge) -> None:
        self.edges.remove(edge)
        self._emit("removeedge", {"src": edge.src.to_dict(), "tgt": edge.tgt.to_dict()})

    def change_edge(self, src: PortRef, tgt: PortRef, metadata: dict[str, Any]) -> Edge:
        """Merge metadata into an edge (None deletes a key); emits "changeedge"."""
        with self.lock:
            edge = self._require_edge(src, tgt)
            changes = checked_metadata(metadata)
            edge.metadata = merged_metadata(edge.metadata, changes)
            self._emit(
                "changeedge",
                {"src": src.to_dict(), "tgt": tgt.to_dict(), "metadata": edge.metadata},
            )
            return edge

    # -- IIPs ---------------------------------------------------------------------------

    def add_initial(
        self, data: Any, tgt: PortRef, metadata: dict[str, Any] | None = None
    ) -> Initial:
        """Add an IIP (several per port are kept in order); emits "addinitial"."""
        with self.lock:
            self._require_ref(tgt, "IIP target")
            iip = Initial(
                copy.deepcopy(data), tgt, checked_metadata(metadata), seq=self._take_seq()
            )
            self.initials.append(iip)
            self._emit(
                "addinitial",
                {"src": {"data": iip.data}, "tgt": tgt.to_dict(), "metadata": iip.metadata},
            )
            return iip

    def remove_initial(self, tgt: PortRef) -> Initial:
        """Remove the (oldest) IIP on exactly this port and index, and return it.

        Emits "removeinitial" {src: {data}, tgt} carrying the removed data.
        """
        with self.lock:
            if not isinstance(tgt, PortRef):
                raise GraphError(f"IIP target must be a PortRef, got {tgt!r}")
            for iip in self.initials:
                if iip.tgt == tgt:
                    self._drop_initial(iip)
                    return iip
            raise GraphError(f"no IIP on {tgt}")

    def _drop_initial(self, iip: Initial) -> None:
        self.initials.remove(iip)
        self._emit("removeinitial", {"src": {"data": iip.data}, "tgt": iip.tgt.to_dict()})

    # -- exported ports -------------------------------------------------------------------

    def add_inport(
        self, public: str, node: str, port: str, metadata: dict[str, Any] | None = None
    ) -> Export:
        """Export a node's inport; emits "addinport" {public, node, port, metadata?}."""
        return self._add_export("inport", self.inports, public, node, port, metadata)

    def remove_inport(self, public: str) -> Export:
        """Unexport an inport; emits "removeinport" {public}."""
        return self._remove_export("inport", self.inports, public)

    def rename_inport(self, old: str, new: str) -> None:
        """Rename an exported inport; emits "renameinport" {from, to}."""
        self._rename_export("inport", self.inports, old, new)

    def add_outport(
        self, public: str, node: str, port: str, metadata: dict[str, Any] | None = None
    ) -> Export:
        """Export a node's outport; emits "addoutport" {public, node, port, metadata?}."""
        return self._add_export("outport", self.outports, public, node, port, metadata)

    def remove_outport(self, public: str) -> Export:
        """Unexport an outport; emits "removeoutport" {public}."""
        return self._remove_export("outport", self.outports, public)

    def rename_outport(self, old: str, new: str) -> None:
        """Rename an exported outport; emits "renameoutport" {from, to}."""
        self._rename_export("outport", self.outports, old, new)

    def _add_export(
        self,
        kind: str,
        exports: dict[str, Export],
        public: Any,
        node: Any,
        port: Any,
        metadata: Any,
    ) -> Export:
        with self.lock:
            require_name(public, f"exported {kind} name")
            if public in exports:
                raise GraphError(f"exported {kind} {public!r} already exists")
            self._require_node(node)
            require_name(port, f"port of exported {kind} {public!r}")
            export = Export(node, port, checked_metadata(metadata))
            exports[public] = export
            payload: dict[str, Any] = {"public": public, "node": node, "port": port}
            if export.metadata:
                payload["metadata"] = export.metadata
            self._emit(f"add{kind}", payload)
            return export

    def _remove_export(self, kind: str, exports: dict[str, Export], public: Any) -> Export:
        with self.lock:
            require_name(public, f"exported {kind} name")
            if public not in exports:
                raise GraphError(f"unknown exported {kind} {public!r}")
            export = exports.pop(public)
            self._emit(f"remove{kind}", {"public": public})
            return export

    def _rename_export(self, kind: str, exports: dict[str, Export], old: Any, new: Any) -> None:
        with self.lock:
            require_name(old, f"exported {kind} name")
            if old not in exports:
                raise GraphError(f"unknown exported {kind} {old!r}")
            require_name(new, f"new exported {kind} name")
            if new in exports:
                raise GraphError(
                    f"cannot rename exported {kind} {old!r} to {new!r}: {new!r} already exists"
                )
            entries = [((new if key == old else key), value) for key, value in exports.items()]
            exports.clear()
            exports.update(entries)
            self._emit(f"rename{kind}", {"from": old, "to": new})

    # -- groups ---------------------------------------------------------------------------

    def add_group(
        self, name: str, nodes: Iterable[str], metadata: dict[str, Any] | None = None
    ) -> Group:
        """Add a named group of existing nodes; emits "addgroup" {name, nodes, metadata}."""
        with self.lock:
            require_name(name, "group name")
            if self.group(name) is not None:
                raise GraphError(f"group {name!r} already exists")
            if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
                raise GraphError(
                    f"nodes of group {name!r} must be a list of node ids, got {nodes!r}"
                )
            members = list(nodes)
            for member in members:
                if not isinstance(member, str) or member not in self.nodes:
                    raise GraphError(f"group {name!r}: unknown node {member!r}")
            if len(set(members)) != len(members):
                raise GraphError(f"group {name!r} lists a node twice: {members!r}")
            group = Group(name, members, checked_metadata(metadata))
            self.groups.append(group)
            self._emit("addgroup", {"name": name, "nodes": group.nodes, "metadata": group.metadata})
            return group

    def remove_group(self, name: str) -> Group:
        """Remove a group (its nodes stay); emits "removegroup" {name}."""
        with self.lock:
            group = self._require_group(name)
            self.groups.remove(group)
            self._emit("removegroup", {"name": name})
            return group

    def rename_group(self, old: str, new: str) -> None:
        """Rename a group; emits "renamegroup" {from, to}."""
        with self.lock:
            group = self._require_group(old)
            require_name(new, "new group name")
            if self.group(new) is not None:
                raise GraphError(f"cannot rename group {old!r} to {new!r}: {new!r} already exists")
            group.name = new
            self._emit("renamegroup", {"from": old, "to": new})

    def change_group(self, name: str, metadata: dict[str, Any]) -> Group:
        """Merge metadata into a group (None deletes a key); emits "changegroup"."""
        with self.lock:
            group = self._require_group(name)
            changes = checked_metadata(metadata)
            group.metadata = merged_metadata(group.metadata, changes)
            self._emit("changegroup", {"name": name, "metadata": group.metadata})
            return group


def _renamed(ref: PortRef, old: str, new: str) -> PortRef:
    return replace(ref, node=new) if ref.node == old else ref
