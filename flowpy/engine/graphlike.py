"""What the engine reads of a graph, as a structural type.

The engine sits below flowpy.graphs and must not import its model, yet wires, supervises and
flattens graphs built with it. These Protocols name the members it reads (the model's
``Graph``, ``Node``, ``Edge``, ``Initial``, ``PortRef`` and ``Export`` have them); members
it looks up with ``getattr`` and a default (``lock``, ``properties``, ``metadata``, a port's
``index``) are optional and left out. Read-only, so the model's plain attributes fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class PortRefLike(Protocol):
    """One end of an edge or IIP: a node and a port (``index`` is optional)."""

    @property
    def node(self) -> str:
        """The id of the process at this end."""

    @property
    def port(self) -> str:
        """The name of the port at this end."""


class NodeLike(Protocol):
    """A process of the graph and the component it runs."""

    @property
    def id(self) -> str:
        """The process's id, unique within its graph."""

    @property
    def component(self) -> str:
        """The name the component is registered under."""


class EdgeLike(Protocol):
    """A connection from an outport to an inport."""

    @property
    def src(self) -> PortRefLike:
        """The outport the edge starts at."""

    @property
    def tgt(self) -> PortRefLike:
        """The inport the edge ends at."""


class InitialLike(Protocol):
    """An initial information packet and the inport it goes to."""

    @property
    def data(self) -> Any:
        """The IIP's payload."""

    @property
    def tgt(self) -> PortRefLike:
        """The inport the IIP is delivered to."""


class ExportLike(Protocol):
    """An exported port: the inner process and port it stands for."""

    @property
    def process(self) -> str:
        """The inner process the exported port belongs to."""

    @property
    def port(self) -> str:
        """The inner port the exported port stands for."""


class GraphLike(Protocol):
    """A graph as the engine reads it: a name, nodes, edges, IIPs and exported ports."""

    @property
    def name(self) -> str:
        """The graph's name: the network's and, flattened, its processes' prefix."""

    @property
    def nodes(self) -> Mapping[str, NodeLike]:
        """The processes by id."""

    @property
    def edges(self) -> Iterable[EdgeLike]:
        """The connections between processes."""

    @property
    def initials(self) -> Iterable[InitialLike]:
        """The initial information packets."""

    @property
    def inports(self) -> Mapping[str, ExportLike]:
        """The exported inports by public name."""

    @property
    def outports(self) -> Mapping[str, ExportLike]:
        """The exported outports by public name."""
