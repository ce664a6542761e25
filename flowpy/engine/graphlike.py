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
    def node(self) -> str: ...
    @property
    def port(self) -> str: ...


class NodeLike(Protocol):
    """A process of the graph and the component it runs."""

    @property
    def id(self) -> str: ...
    @property
    def component(self) -> str: ...


class EdgeLike(Protocol):
    """A connection from an outport to an inport."""

    @property
    def src(self) -> PortRefLike: ...
    @property
    def tgt(self) -> PortRefLike: ...


class InitialLike(Protocol):
    """An initial information packet and the inport it goes to."""

    @property
    def data(self) -> Any: ...
    @property
    def tgt(self) -> PortRefLike: ...


class ExportLike(Protocol):
    """An exported port: the inner process and port it stands for."""

    @property
    def process(self) -> str: ...
    @property
    def port(self) -> str: ...


class GraphLike(Protocol):
    """A graph as the engine reads it: a name, nodes, edges, IIPs and exported ports."""

    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> Mapping[str, NodeLike]: ...
    @property
    def edges(self) -> Iterable[EdgeLike]: ...
    @property
    def initials(self) -> Iterable[InitialLike]: ...
    @property
    def inports(self) -> Mapping[str, ExportLike]: ...
    @property
    def outports(self) -> Mapping[str, ExportLike]: ...
