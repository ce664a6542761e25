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
    id: str
    label: str
    registry: Registry
    catalogue: Catalogue
    sessions: SessionTable
    stats: StatsPublisher

    @property
    def component_sources(self) -> dict[str, str]: ...

    # answering
    def reply(self, request: Request, command: str, payload: Any,
              protocol: str | None = None) -> None: ...

    def error(self, request: Request, message: str, protocol: str | None = None,
              **extra: Any) -> None: ...

    def broadcast(self, protocol: str, command: str, payload: Any, kind: str,
                  cause: Request | None = None,
                  only: Iterable[ClientHandle] | None = None) -> None: ...

    def clients(self) -> list[ClientHandle]: ...

    def send_ports(self, hosted: HostedGraph, clients: Iterable[ClientHandle] | None = None,
                   request: Request | None = None) -> None: ...

    def runtime_info(self, grant: Grant) -> dict[str, Any]: ...

    # graphs
    def get_graph(self, graph_id: str) -> HostedGraph | None: ...

    def graphs(self) -> dict[str, HostedGraph]: ...

    def add_graph(self, graph_id: str, graph: Any, main: bool = False,
                  request: Request | None = None) -> HostedGraph: ...

    def set_main(self, graph_id: str, request: Request | None = None) -> None: ...

    def sync_graph_components(self, request: Request | None = None) -> None: ...

    def set_edges(self, client: ClientHandle, graph_id: str,
                  edges: list[dict[str, Any]]) -> None: ...

    # components and state
    def refresh_components_dir(self, request: Request | None = None,
                               announce: bool = True) -> None: ...

    def add_component_source(self, full: str, code: str) -> dict[str, Any]: ...

    def persist(self) -> SaveReport: ...


#: A command handler: it validates the payload, acts through the host and answers.
Handler = Callable[[Host, Request, dict[str, Any]], None]
