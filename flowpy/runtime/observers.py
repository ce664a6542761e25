"""Debug data and traces of one hosted graph's edges: tap exactly the edges somebody watches.

A client that sent ``network:edges`` (or none, which watches every edge) gets
``network:connect/begingroup/data/endgroup/disconnect`` while the graph's debug is on, and a
running trace records the same; edges nobody watches are not tapped and cost nothing. IIPs
never cross a tap, so they are reported once, at start. The hosted graph calls every method
with its ``lock`` held (see :mod:`.hosting`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowpy import wire
from flowpy.engine.network import Network, NetworkError
from flowpy.engine.ports import normalize_index
from flowpy.wire.events import EVENT_OF_KIND

if TYPE_CHECKING:
    from flowpy.engine.ip import IP

    from .clients import ClientHandle
    from .tracing import Tracer

log = logging.getLogger(__name__)

EdgeKey = tuple[tuple[str, str, Any], tuple[str, str, Any]]


def port_key(node: str, port: str, index: Any = None) -> tuple[str, str, Any]:
    """How an edge end is compared: ports case-insensitively, "0" and 0 alike (as the engine)."""
    return (node, str(port).lower(), normalize_index(index))


def edge_key(src: dict[str, Any], tgt: dict[str, Any]) -> EdgeKey:
    """The key ``network:edges`` selections and taps share for the edge ``src`` -> ``tgt``."""
    return (
        port_key(src["node"], src["port"], src.get("index")),
        port_key(tgt["node"], tgt["port"], tgt.get("index")),
    )


@dataclass
class _Edge:
    """An edge of the graph as it was when the network started."""

    key: EdgeKey
    src_ref: Any
    tgt_ref: Any
    src: dict[str, Any]
    tgt: dict[str, Any]
    id: str
    secure: bool


@dataclass
class _Initial:
    tgt: dict[str, Any]
    id: str
    data: Any


class ClientSource(Protocol):
    """Where the watching clients are found (the runtime)."""

    def clients(self) -> list[ClientHandle]:
        """The connected clients, among which the watchers are."""


class ObservedGraph(Protocol):
    """What the observers read of the hosted graph they serve."""

    @property
    def id(self) -> str:
        """The graph's id, named in every debug message."""

    @property
    def graph(self) -> Any:
        """The graph model, whose edges and IIPs are observed."""

    @property
    def debug(self) -> bool:
        """Is debug data on for this graph (``network:debug``)?"""

    @property
    def tracer(self) -> Tracer | None:
        """The graph's trace buffer, if a trace was ever started."""

    @property
    def runtime(self) -> ClientSource:
        """Where the connected clients are found."""


class EdgeObservers:
    """The taps of one hosted graph and who each one reports to."""

    def __init__(self, hosted: ObservedGraph) -> None:
        self.hosted = hosted
        self._ended = False
        self._edges: list[_Edge] = []
        self._initials: list[_Initial] = []
        self._taps: dict[EdgeKey, Callable[[], None]] = {}
        self._targets: dict[EdgeKey, tuple[ClientHandle, ...]] = {}

    def snapshot(self, started: bool = False) -> None:
        """Take the graph's edges and IIPs as they are now (at a start, or after an edit)."""
        if started:
            self._ended = False
        graph = self.hosted.graph
        with graph.lock:
            edges = list(graph.edges)
            initials = list(graph.initials)
        self._edges = []
        for edge in edges:
            src = wire.port_dict(edge.src.node, edge.src.port, edge.src.index)
            tgt = wire.port_dict(edge.tgt.node, edge.tgt.port, edge.tgt.index)
            secure = bool((edge.metadata or {}).get("secure"))
            self._edges.append(
                _Edge(
                    edge_key(src, tgt), edge.src, edge.tgt, src, tgt, wire.edge_id(src, tgt), secure
                )
            )
        self._initials = []
        for iip in initials:
            tgt = wire.port_dict(iip.tgt.node, iip.tgt.port, iip.tgt.index)
            self._initials.append(_Initial(tgt, wire.edge_id(None, tgt), iip.data))

    def refresh(self, network: Network) -> None:
        """Tap exactly the edges somebody watches (a debug client or the trace); untap the rest."""
        hosted = self.hosted
        watchers = []
        if hosted.debug:
            watchers = [c for c in hosted.runtime.clients() if c.grant.may_receive("network-data")]
        tracer = hosted.tracer
        tracing = tracer is not None and tracer.active
        targets: dict[EdgeKey, tuple[ClientHandle, ...]] = {}
        current = {edge.key for edge in self._edges}
        for key in [key for key in self._taps if key not in current]:  # edited away
            self._taps.pop(key)()
        for edge in self._edges:
            clients = tuple(c for c in watchers if c.wants_edge(hosted.id, edge.key))
            if clients or tracing:
                targets[edge.key] = clients
                if edge.key not in self._taps:
                    try:
                        self._taps[edge.key] = network.tap(
                            edge.src_ref, edge.tgt_ref, self._observer(edge)
                        )
                    except (NetworkError, KeyError, ValueError) as exc:
                        log.debug("graph %s: cannot tap %s: %s", hosted.id, edge.id, exc)
            elif edge.key in self._taps:
                self._taps.pop(edge.key)()
        self._targets = targets

    def connect(self) -> None:
        """The network started: every edge connects, and every IIP is reported once."""
        for edge in self._edges:
            self._edge_event(edge, "connect", {})
        self._send_initials()

    def disconnect(self) -> None:
        """The network finished or stopped: every edge disconnects, once."""
        if self._ended:
            return
        self._ended = True
        for edge in self._edges:
            self._edge_event(edge, "disconnect", {})

    def untap_all(self) -> None:
        """The network stopped: no tap is left behind."""
        for untap in self._taps.values():
            untap()
        self._taps = {}
        self._targets = {}

    def _observer(self, edge: _Edge) -> Callable[[IP], None]:
        def observe(ip: IP) -> None:
            command = EVENT_OF_KIND[ip.kind]
            if ip.is_data:
                extra = {"data": "DATA" if edge.secure else wire.jsonable(ip.data)}
            else:
                extra = {"group": "" if ip.data is None else str(ip.data)}
            self._edge_event(edge, command, extra)

        return observe

    def _edge_event(self, edge: _Edge, command: str, extra: dict[str, Any]) -> None:
        clients = self._targets.get(edge.key)
        tracer = self.hosted.tracer
        tracing = tracer is not None and tracer.active
        if not clients and not tracing:
            return
        payload = {
            "id": edge.id,
            "graph": self.hosted.id,
            "src": edge.src,
            "tgt": edge.tgt,
            **extra,
        }
        if clients:
            message = wire.message("network", command, payload)
            for client in clients:
                client.send_debug(message)
        if tracing:
            assert tracer is not None
            tracer.record(command, payload)

    def _send_initials(self) -> None:
        """IIPs are preloaded, never cross a tap: report them once, at start."""
        hosted = self.hosted
        tracer = hosted.tracer
        tracing = tracer is not None and tracer.active
        watchers = []
        if hosted.debug:
            watchers = [
                c
                for c in hosted.runtime.clients()
                if c.grant.may_receive("network-data") and c.wants_initials(hosted.id)
            ]
        if not watchers and not tracing:
            return
        for iip in self._initials:
            payload = {
                "id": iip.id,
                "graph": hosted.id,
                "tgt": iip.tgt,
                "data": wire.jsonable(iip.data),
            }
            message = wire.message("network", "data", payload)
            for client in watchers:
                client.send_debug(message)
            if tracing:
                assert tracer is not None
                tracer.record("data", payload)
