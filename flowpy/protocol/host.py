"""What the command handlers may use of the runtime: the protocol layer's view of it.

Handlers are typed against :class:`Host`, not against the Runtime class, so a reader of a
handler knows exactly which part of the runtime it can touch, and the runtime can change
everything else freely. :class:`flowpy.runtime.Runtime` is the one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from flowpy.engine.registry import Registry
from flowpy.runtime.catalogue import Catalogue
from flowpy.runtime.clients import ClientHandle, Request
from flowpy.runtime.hosting import HostedGraph
from flowpy.runtime.permissions import Grant
from flowpy.runtime.persistence import SaveReport
from flowpy.runtime.sessions import SessionTable
from flowpy.runtime.stats import StatsPublisher


class Host(Protocol):
    """What command handlers may use of the runtime: the protocol layer's narrow face of it."""

    id: str
    label: str
    registry: Registry
    catalogue: Catalogue
    sessions: SessionTable
    stats: StatsPublisher

    @property
    def component_sources(self) -> dict[str, str]:
        """Code of components compiled from ``component:source``, by name (for ``getsource``)."""

    # answering
    def reply(
        self, request: Request, command: str, payload: Any, protocol: str | None = None
    ) -> None:
        """Answer the request's sender (URGENT lane, with ``responseTo``)."""

    def error(
        self, request: Request, message: str, protocol: str | None = None, **extra: Any
    ) -> None:
        """Answer the request with ``<protocol>:error``; nothing was changed."""

    def broadcast(
        self,
        protocol: str,
        command: str,
        payload: Any,
        kind: str,
        cause: Request | None = None,
        only: Iterable[ClientHandle] | None = None,
    ) -> None:
        """Tell every client allowed to receive ``kind`` (the sender gets it as its reply)."""

    def clients(self) -> list[ClientHandle]:
        """The connected clients, for handlers that pick receivers themselves."""

    def send_ports(
        self,
        hosted: HostedGraph,
        clients: Iterable[ClientHandle] | None = None,
        request: Request | None = None,
    ) -> None:
        """Send ``runtime:ports`` of a graph to the given clients (all when None)."""

    def runtime_info(self, grant: Grant) -> dict[str, Any]:
        """The ``runtime:runtime`` payload as seen by a client of ``grant``."""

    # graphs
    def get_graph(self, graph_id: str) -> HostedGraph | None:
        """The hosted graph of that id, or None."""

    def graphs(self) -> dict[str, HostedGraph]:
        """Every hosted graph by id (a copy: safe to iterate)."""

    def add_graph(
        self, graph_id: str, graph: Any, main: bool = False, request: Request | None = None
    ) -> HostedGraph:
        """Host ``graph`` under ``graph_id`` (``graph:clear``); the hosted graph."""

    def set_main(self, graph_id: str, request: Request | None = None) -> None:
        """Make ``graph_id`` the main graph (``runtime:packet`` without a graph goes to it)."""

    def sync_graph_components(self, request: Request | None = None) -> None:
        """Offer every hosted graph but the main one as a subgraph component; announce changes."""

    def set_edges(self, client: ClientHandle, graph_id: str, edges: list[dict[str, Any]]) -> None:
        """The edges this client receives debug data for (``network:edges``)."""

    # components and state
    def refresh_components_dir(self, request: Request | None = None, announce: bool = True) -> None:
        """Read the components directory again and announce what changed."""

    def add_component_source(self, full: str, code: str) -> dict[str, Any]:
        """Compile and register ``component:source`` code; the ``component:component`` payload."""

    def persist(self) -> SaveReport:
        """Save the graphs and sources to the state directory (``network:persist``)."""


#: A command handler: it validates the payload, acts through the host and answers.
Handler = Callable[[Host, Request, dict[str, Any]], None]
