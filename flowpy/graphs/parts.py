"""The parts of a graph: port references, nodes, edges, IIPs, exported ports and groups.

Plain values with the checks every change of the model (:mod:`.model`) makes before it
mutates anything: names, addressable-port indexes, metadata copied so a caller's dict never
aliases the model. ``GraphError`` is the one error of an invalid change or document.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flowpy.errors import FlowpyError

Index = int | str | None


class GraphError(FlowpyError, ValueError):
    """An invalid change or graph document; nothing was changed."""


def require_name(value: Any, what: str) -> None:
    """GraphError unless ``value`` is a non-empty string (``what`` names it in the message)."""
    if not isinstance(value, str) or not value:
        raise GraphError(f"{what} must be a non-empty string, got {value!r}")


def is_valid_index(index: Any) -> bool:
    """An addressable-port index is a non-negative int, a string, or None for none."""
    if index is None or isinstance(index, str):
        return True
    return isinstance(index, int) and not isinstance(index, bool) and index >= 0


def checked_metadata(metadata: Any, what: str = "metadata") -> dict[str, Any]:
    """A private deep copy, so the caller's dict can never alias the model."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise GraphError(f"{what} must be a dict, got {type(metadata).__name__}")
    return copy.deepcopy(metadata)


def merged_metadata(metadata: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Metadata after a change_* call: keys are set, a None value deletes the key."""
    result = copy.deepcopy(metadata)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


@dataclass(frozen=True)
class PortRef:
    """One end of an edge or IIP; frozen so it can be compared and hashed safely."""

    node: str
    port: str
    index: Index = None

    def __post_init__(self) -> None:
        require_name(self.node, "port reference node")
        require_name(self.port, "port reference port")
        if not is_valid_index(self.index):
            raise GraphError(
                f"port index must be a non-negative int, a string or None, got {self.index!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The protocol's port object: {node, port, index?} (index left out when None)."""
        out: dict[str, Any] = {"node": self.node, "port": self.port}
        if self.index is not None:
            out["index"] = self.index
        return out

    @classmethod
    def from_dict(cls, data: Any) -> PortRef:
        """Build from the protocol's port object; GraphError if it is not one."""
        if not isinstance(data, dict):
            raise GraphError(f"port reference must be an object, got {data!r}")
        node, port = data.get("node"), data.get("port")
        if not isinstance(node, str) or not isinstance(port, str):
            raise GraphError(f"port reference needs 'node' and 'port' strings, got {data!r}")
        return cls(node, port, data.get("index"))

    def __str__(self) -> str:
        suffix = "" if self.index is None else f"[{self.index}]"
        return f"{self.node}.{self.port}{suffix}"


# ``extra`` on the items below holds JSON document keys that the model does not
# interpret, so graph_json can write a loaded document back unchanged.  ``seq`` is the
# order in which edges and IIPs were added, which keeps a document's connection order.


@dataclass
class Node:
    """A process of the graph: its id, its component and its metadata."""

    id: str
    component: str
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Edge:
    """A connection from an outport to an inport."""

    src: PortRef
    tgt: PortRef
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    seq: int = field(default=0, repr=False, compare=False)


@dataclass
class Initial:
    """An initial IP: data delivered to an inport when the network starts."""

    data: Any
    tgt: PortRef
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    seq: int = field(default=0, repr=False, compare=False)


@dataclass
class Export:
    """An exported port: the graph's public port name maps to this process's port."""

    process: str
    port: str
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Group:
    """A named set of nodes (for editors; nothing runs differently)."""

    name: str
    nodes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
