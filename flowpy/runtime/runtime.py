"""Everything one flowpy process serves over the FBP protocol, behind a transport-free boundary.

The :class:`Runtime` holds the hosted graphs (one of them main), the registry and catalogue,
the connected clients, the link sessions and a stable id. It knows no socket and no protocol
command: transports connect sinks, handlers act through it, and explicit requests get their
acks as replies. How to drive it without a socket: docs/architecture.md ("The runtime").
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from flowpy import __version__, wire
from flowpy.engine.failures import CONTINUE, ErrorPolicy
from flowpy.engine.registry import Registry
from flowpy.graphs.files import read_graph_file
from flowpy.graphs.model import GraphError

from .catalogue import Catalogue, ComponentSourceError
from .clients import DEFAULT_MAX_INFLIGHT, ClientHandle, Request, Sink
from .hosting import PORT_EVENTS, HostedGraph, check_graph_id
from .link_session import DEFAULT_GRACE
from .observers import edge_key
from .output import OutputRouter
from .permissions import ALL_CAPABILITIES, Grant, Permissions
from .persistence import SaveReport, StateDirectory, default_state_dir
from .sessions import SessionTable
from .stats import StatsPublisher

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "0.7"
RUNTIME_TYPE = "flowpy"
__all__ = ["DEFAULT_MAX_INFLIGHT", "ComponentSourceError", "Runtime"]


class Runtime:
    """All graphs, networks and clients of one process. Thread-safe."""

    def __init__(
        self,
        registry: Registry | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        label: str = "flowpy",
        secret: str | None = None,
        permissions: dict[str, Any] | None = None,
        network_capacity: int | None = None,
        components_dir: str | os.PathLike[str] | None = None,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        drain: bool = True,
        session_grace: float = DEFAULT_GRACE,
        error_policy: ErrorPolicy | None = None,
    ) -> None:
        """``network_capacity``: capacity of every connection in the networks (engine default
        if None); small values make back-pressure visible, which tests and benchmarks use.
        ``components_dir``: a directory of ``.fbp``/``.json`` graphs offered as components.
        ``max_inflight``: runtime:packet requests a client may have unanswered before its
        sink stops reading it (:mod:`.clients`). ``drain``: whether stops at shutdown drain
        the networks (``network:stop`` says for itself). ``session_grace``: seconds a link
        session waits for its closed connection to come back before it ends (:mod:`.sessions`).
        ``error_policy``: what a process does after a failure unless its node says otherwise;
        served networks keep processing by default (``continue``, docs/graphs.md)."""
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.drain = drain
        self.max_inflight = max_inflight
        #: What could not be loaded at start (files of the state or components directory).
        self.problems: list[str] = []
        self.network_capacity = network_capacity
        self.error_policy = error_policy or ErrorPolicy(CONTINUE)
        self.registry = registry if registry is not None else Registry()
        self.label = label
        self.permissions = Permissions(secret, permissions)
        self.state = StateDirectory(
            Path(state_dir) if state_dir is not None else default_state_dir(), self._problem
        )
        self.id = self.state.runtime_id()
        self.catalogue = Catalogue(
            self.registry,
            Path(components_dir) if components_dir is not None else None,
            self._problem,
        )
        self.main_graph: str | None = None
        self.closing = False
        self._lock = threading.RLock()
        self._next_client = 1
        self._graphs: dict[str, HostedGraph] = {}
        #: Durable sessions of the flowpy link extension (docs/bridge-protocol.md).
        self.sessions = SessionTable(self, grace=session_grace)
        #: The connected clients, and who hears what (graph output included).
        self.output = OutputRouter(self.sessions)
        #: Pushes ``flowpy:stats`` to the clients that asked (the live view).
        self.stats = StatsPublisher(self)
        #: Keep which networks are meant to run in the state directory (``flowpy serve``
        #: does: a restart starts them again); see :meth:`network_intent`.
        self.keep_start_intent = False
        self._meant_to_run: list[str] = self.state.running_graphs()
        self.catalogue.refresh_files()
        self.state.remove_stale_temp_files()
        self.catalogue.load_sources(self.state.sources(), self.state.sources_path)
        for graph_id, graph, main in self.state.graphs():
            try:
                self.add_graph(graph_id, graph, main=main)
            except GraphError as exc:  # saved by an older flowpy, before ids had a limit
                self._problem(f"cannot host persisted graph: {exc}")

    @property
    def state_dir(self) -> Path:
        """The state directory this runtime keeps its id, graphs and lock in."""
        return self.state.path

    @property
    def components_dir(self) -> Path | None:
        """The directory whose graphs and Python files are offered as components, if any."""
        return self.catalogue.components_dir

    @property
    def component_sources(self) -> dict[str, str]:
        """Code of components compiled from ``component:source``, by name."""
        return self.catalogue.sources

    # -- clients ---------------------------------------------------------------------------
    def connect(self, sink: Sink) -> ClientHandle:
        """A transport has a new client: wrap its sink with the anonymous grant; the handle."""
        with self._lock:
            client = ClientHandle(
                sink, self.permissions.grant_for(None), self._next_client, self.max_inflight
            )
            self._next_client += 1
        self.output.add(client)
        self.sessions.wake()  # a detached session's full outbox may now let packets pass
        self._refresh_all_observers()
        return client

    def set_grant(self, client: ClientHandle, grant: Grant) -> None:
        """``client`` now holds ``grant`` (it presented another secret)."""
        if grant is client.grant:
            return
        client.grant = grant
        self.sessions.wake()  # it may now receive what a detached session holds back

    def disconnect(self, client: ClientHandle) -> None:
        """The connection is gone; its link sessions stay for a later ``flowpy:hello``, for
        the sessions' grace."""
        self.sessions.detach(client)
        self.stats.unsubscribe(client)
        self.output.remove(client)
        self._refresh_all_observers()

    def clients(self) -> list[ClientHandle]:
        """The connected clients (a copy: safe to iterate)."""
        return self.output.clients()

    # -- sending ----------------------------------------------------------------------------
    def reply(
        self, request: Request, command: str, payload: Any, protocol: str | None = None
    ) -> None:
        """Answer the sender of ``request`` (with ``responseTo`` if it sent a ``requestId``);
        never waits, and is not held up by debug data queued for it."""
        request.client.send(
            wire.message(protocol or request.protocol, command, payload, request.request_id),
            wire.URGENT,
        )

    def error(
        self, request: Request, message: str, protocol: str | None = None, **extra: Any
    ) -> None:
        """``<protocol>:error`` {message} to the sender of ``request``."""
        self.reply(request, "error", {"message": message, **extra}, protocol)

    def broadcast(
        self,
        protocol: str,
        command: str,
        payload: Any,
        kind: str,
        cause: Request | None = None,
        only: Iterable[ClientHandle] | None = None,
    ) -> None:
        """Send to every client allowed to receive ``kind``, never waiting (see
        :meth:`.output.OutputRouter.broadcast`)."""
        self.output.broadcast(protocol, command, payload, kind, cause, only)

    def finish(self, request: Request) -> None:
        """The request is handled: announce, once each, the ports and components it changed."""
        for graph_id in request.ports:
            hosted = self.get_graph(graph_id)
            if hosted is not None:
                self.send_ports(hosted)
        for name in request.components:
            self._announce_component(name)

    def may_send_to(self, client: ClientHandle, graph: str, port: str) -> bool:
        """May this client send to that exported inport (its grant decides)?"""
        return client.grant.may_send_to(graph, port)

    def may_receive_from(self, client: ClientHandle, graph: str, port: str) -> bool:
        """May this client receive from that exported outport (its grant decides)?"""
        return client.grant.may_receive_from(graph, port)

    def packet_receivers(self, graph: str, port: str) -> list[ClientHandle]:
        """Standard receivers of an outport's ``runtime:packet`` (see :mod:`.output`)."""
        return self.output.packet_receivers(graph, port)

    def send_ports(
        self,
        hosted: HostedGraph,
        clients: Iterable[ClientHandle] | None = None,
        request: Request | None = None,
    ) -> None:
        """``runtime:ports`` for one graph, each client seeing the ports it may use."""
        for client in self.clients() if clients is None else clients:
            if client.grant.may_receive("runtime"):
                payload = hosted.ports_payload(client.grant)
                answering = request is not None and client is request.client
                rid = request.request_id if request is not None and answering else None
                client.send(
                    wire.message("runtime", "ports", payload, rid),
                    wire.URGENT if answering else wire.NEWS,
                )

    # -- graphs ---------------------------------------------------------------------------
    def get_graph(self, graph_id: str) -> HostedGraph | None:
        """The hosted graph of that id, or None."""
        with self._lock:
            return self._graphs.get(graph_id)

    def graphs(self) -> dict[str, HostedGraph]:
        """Every hosted graph by id (a copy: safe to iterate)."""
        with self._lock:
            return dict(self._graphs)

    def add_graph(
        self, graph_id: str, graph: Any, main: bool = False, request: Request | None = None
    ) -> HostedGraph:
        """Host ``graph`` as ``graph_id``, replacing (and stopping) a graph of that id.
        GraphError (nothing changed) for an id that may not name a graph
        (:func:`~flowpy.runtime.hosting.check_graph_id`)."""
        check_graph_id(graph_id)
        hosted = HostedGraph(self, graph_id, graph, self.output.emit)
        with self._lock:
            old = self._graphs.get(graph_id)
            self._graphs[graph_id] = hosted
            if main:
                self.main_graph = graph_id
        if old is not None:
            old.close()
        if hosted.has_exports() or old is not None:
            self.send_ports(hosted)
        self.sync_graph_components(request)
        return hosted

    def set_main(self, graph_id: str, request: Request | None = None) -> None:
        """Make ``graph_id`` the main graph; graph components follow (the main one is none)."""
        with self._lock:
            self.main_graph = graph_id
        self.sync_graph_components(request)

    def load_graph_file(self, path: str | os.PathLike[str], main: bool = True) -> str:
        """Host the graph in a ``.fbp`` or JSON graph file; its id (properties.id, name or
        file stem)."""
        graph = read_graph_file(path)
        props = getattr(graph, "properties", {}) or {}
        graph_id = props.get("id") or getattr(graph, "name", "") or Path(path).stem
        self.add_graph(str(graph_id), graph, main=main)
        return str(graph_id)

    def graph_changed(
        self, hosted: HostedGraph, event: str, payload: dict[str, Any], cause: Request | None
    ) -> None:
        """A change of a hosted graph's model (made for ``cause``, if a request made it): ack
        to every reader, ports if exports changed, the graph's component announced again.

        ``clear`` is acknowledged by the graph:clear handler itself, which knows the request.
        """
        if self.get_graph(hosted.id) is not hosted:
            return
        if event != "clear":
            ack = wire.graph_ack(event, {**payload, "graph": hosted.id})
            self.broadcast("graph", event, ack, "graph", cause)
        if event in PORT_EVENTS:
            if cause is None:
                self.send_ports(hosted)
            elif hosted.id not in cause.ports:
                cause.ports.append(hosted.id)  # once, after the whole change
        name = self.catalogue.component_of_graph(hosted.id)
        if name is not None:
            self._announce(name, cause)

    # -- components ---------------------------------------------------------------------------
    def sync_graph_components(self, request: Request | None = None) -> None:
        """Register every hosted graph but the main one as a subgraph component (and only
        those); announce what is new or renamed. Called whenever graphs, the main graph or a
        graph's library change."""
        with self._lock:
            graphs = {graph_id: hosted.graph for graph_id, hosted in self._graphs.items()}
            main = self.main_graph
        for name in self.catalogue.sync_graphs(graphs, main):
            self._announce(name, request)

    def refresh_components_dir(self, request: Request | None = None, announce: bool = True) -> None:
        """(Re)read the graph files of the components directory that are new or changed."""
        changed = self.catalogue.refresh_files()
        if announce:
            for name in changed:
                self._announce(name, request)

    def add_component_source(self, full: str, code: str) -> dict[str, Any]:
        """Compile and register a component from source (ComponentSourceError if it cannot
        be); its ``component:component`` payload."""
        cls = self.catalogue.add_source(full, code)
        return cast("dict[str, Any]", wire.jsonable(cls.describe(full)))

    def _announce(self, name: str, request: Request | None) -> None:
        """``component:component`` for a graph component: after the request's acks if a
        request changed it (once), else now."""
        if request is None:
            self._announce_component(name)
        elif name not in request.components:
            request.components.append(name)

    def announce_component(self, name: str) -> None:
        """``component:component`` for ``name`` to every client that may see components
        (a component registered or changed outside any request, e.g. a remote discovered)."""
        self._announce_component(name)

    def _announce_component(self, name: str) -> None:
        # Never with responseTo: it is news for every client, not the answer to a request.
        try:
            info = wire.jsonable(self.registry.describe(name))
        except KeyError:
            return  # unregistered meanwhile
        message = wire.message("component", "component", info)
        for client in self.clients():
            if client.grant.may_receive("component"):
                client.send(message)

    def _problem(self, text: str, log_only: bool = False) -> None:
        log.warning("%s", text)
        if not log_only:
            with self._lock:
                self.problems.append(text)

    # -- debug subscriptions ------------------------------------------------------------------
    def set_edges(self, client: ClientHandle, graph_id: str, edges: list[dict[str, Any]]) -> None:
        """``network:edges``: from now on ``client`` watches exactly these edges of the graph."""
        client.edge_filters[graph_id] = frozenset(edge_key(e["src"], e["tgt"]) for e in edges)
        hosted = self.get_graph(graph_id)
        if hosted is not None:
            hosted.refresh_observers()

    def _refresh_all_observers(self) -> None:
        for hosted in self.graphs().values():
            hosted.refresh_observers()

    # -- runtime information --------------------------------------------------------------
    def runtime_info(self, grant: Grant) -> dict[str, Any]:
        """The ``runtime:runtime`` payload for a client holding ``grant``."""
        info: dict[str, Any] = {
            "type": RUNTIME_TYPE,
            "version": PROTOCOL_VERSION,
            "capabilities": grant.listed_capabilities(),
            "allCapabilities": list(ALL_CAPABILITIES),
            "id": self.id,
            "label": self.label,
        }
        if self.main_graph is not None and self.main_graph in self._graphs:
            info["graph"] = self.main_graph
        return info

    def status(self) -> dict[str, Any]:
        """A small status document for plain HTTP ``GET /``."""
        graphs = []
        for graph_id, hosted in sorted(self.graphs().items()):
            graphs.append({**hosted.report(), "main": graph_id == self.main_graph})
        return {
            "id": self.id,
            "label": self.label,
            "type": RUNTIME_TYPE,
            "version": PROTOCOL_VERSION,
            "flowpy": __version__,
            "main": self.main_graph,
            "graphs": graphs,
            "clients": len(self.clients()),
            **({"problems": list(self.problems)} if self.problems else {}),
        }

    # -- persistence ------------------------------------------------------------------------
    def persist(self) -> SaveReport:
        """Save every graph (and which is main), and the sources of compiled components, so
        the next start of this runtime comes back the same (:mod:`.persistence`). A graph
        that cannot be saved is in the report's ``failed``; the others are saved."""
        with self._lock:
            graphs = {graph_id: hosted.graph for graph_id, hosted in self._graphs.items()}
            main = self.main_graph
        return self.state.save(graphs, main, dict(self.catalogue.sources))

    @property
    def meant_to_run(self) -> list[str]:
        """Graphs whose networks are meant to run: started (by a client, ``serve --start`` or
        a previous run of the runtime) and not stopped by a client since."""
        with self._lock:
            return list(self._meant_to_run)

    def network_intent(self, graph_id: str, running: bool) -> None:
        """A network was started, or a client stopped it: remember it (in the state directory
        if ``keep_start_intent``), so a restart of the runtime starts what ran. Stops at
        shutdown do not count."""
        with self._lock:
            if (graph_id in self._meant_to_run) == running:
                return
            if running:
                self._meant_to_run.append(graph_id)
            else:
                self._meant_to_run.remove(graph_id)
            graphs = list(self._meant_to_run)
            if not self.keep_start_intent:
                return
            try:
                self.state.save_running_graphs(graphs)
            except OSError as exc:
                self._problem(
                    f"cannot record which networks run in {self.state.start_path}: {exc}",
                    log_only=True,
                )

    # -- shutdown -------------------------------------------------------------------------
    def shutdown(self, timeout: float = 5.0, drain: bool | None = None) -> None:
        """Stop every network, draining as ``drain`` says (default: the runtime's ``drain``
        setting), and join its threads (each within ``timeout``)."""
        drain = self.drain if drain is None else drain
        with self._lock:
            self.closing = True
        self.output.wake()
        self.stats.stop(timeout)
        for hosted in self.graphs().values():
            try:
                hosted.stop(timeout, drain, reason="the runtime is shutting down")
            except Exception:
                log.exception("graph %s: stop failed", hosted.id)
        stuck = self.sessions.shutdown(timeout)
        if stuck:
            log.warning("link session threads still running after shutdown: %s", stuck)

    def cut_drains(self) -> None:
        """End every drain in progress at once (a second interrupt during shutdown)."""
        for hosted in self.graphs().values():
            hosted.cut_drain()
