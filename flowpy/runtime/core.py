"""Everything one flowpy process serves over the FBP protocol, behind a transport-free boundary.

A transport (``flowpy.server``) gives the runtime each connection's *sink* and every frame it
receives; the runtime answers by calling ``sink.send(message, lane)``. Nothing here knows
about sockets, so tests drive the whole protocol with a recording sink::

    runtime = Runtime(registry=None, state_dir=None, label="flowpy", secret=None, permissions=None)
    client = runtime.connect(sink)          # sink.send(message: dict, lane: wire.Lane) -> bool
    runtime.receive_text(client, text)      # one text frame; never raises
    runtime.receive(client, message_dict)   # an already decoded message; never raises
    runtime.receive_binary(client, data)    # answered with runtime:error
    runtime.disconnect(client)
    runtime.shutdown(timeout=5.0)
    runtime.status() -> dict                # for HTTP GET /
    runtime.load_graph_file(path, main=True)  # .fbp or .json

The lane (:mod:`flowpy.wire.lanes`) says how a message may wait: only ``STREAM`` sends (the
output of graph outports, from the graph outport handler) wait for a slow client, which is how
back-pressure reaches a network whose output a client cannot take fast enough; replies and
broadcasts never wait, and debug data is dropped (and counted) rather than slow anything.

Flow control of input: a client may have at most ``max_inflight`` ``runtime:packet`` requests
taken but not yet answered; at that point the runtime asks its sink to stop reading
(``sink.pause_reading()``, ``sink.resume_reading()`` once answers made room), so a client that
ignores ``packetsent`` meets TCP back-pressure instead of growing the server's memory.

The runtime holds several graphs (one of them *main*), each a :class:`~flowpy.hosting.HostedGraph`
with its network; the component registry; the connected clients and what each may do; and a
stable id, kept in ``<state_dir>/runtime-id`` so clients recognise the runtime across restarts.

Graphs as components. Every hosted graph except the main one is also a component (a
subgraph, wired inline by the engine) named ``<library>/<graph id>``: the library is the
graph's ``properties.library`` (``graph:clear`` sets it) or ``graphs``, and an id that already
contains a ``/`` is the name as it is. So are the ``.fbp``/``.json`` files of
``components_dir``: ``DIR/Name.fbp`` is ``<properties.library or graphs>/Name`` and
``DIR/lib/Name.fbp`` is ``lib/Name`` (as ``components/lib/name.py`` is for Python). Such a
file is read-only (edit the file; the directory is read again on ``component:list`` and
``network:start``). A name already taken by another component is not reused (logged).

Persistence. ``network:persist`` writes every graph to ``<state_dir>/graphs/`` and then the
index ``<state_dir>/graphs.json`` (which graph is main, which file holds which graph), each
file atomically; files no longer listed are removed last, so a crash at any point leaves a
consistent state. Sources of components compiled with ``component:source`` are kept in
``<state_dir>/components.json`` and compiled again at start. A file that cannot be read is
logged, listed in ``status()["problems"]`` and skipped: never fatal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from flowpy import __version__, wire
from flowpy.engine.registry import Registry
from flowpy.engine.subgraph import is_subgraph, subgraph_class
from flowpy.graphs import json_format as graph_json
from flowpy.graphs.files import (
    DEFAULT_GRAPH_LIBRARY,
    file_component_name,
    graph_files,
    read_graph_file,
)
from flowpy.protocol import dispatch
from flowpy.protocol.fields import Request
from flowpy.wire.envelope import Envelope, EnvelopeError, decode_text, parse

from .hosting import PORT_EVENTS, HostedGraph, edge_key
from .permissions import ALL_CAPABILITIES, Grant, Permissions
from .sessions import LinkSession, SessionTable

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "0.7"
RUNTIME_TYPE = "flowpy"


#: runtime:packet requests one client may have taken but not yet answered (flow control).
DEFAULT_MAX_INFLIGHT = 1000
#: Seconds between two notices to one client that its debug data was dropped.
DROP_NOTICE_INTERVAL = 1.0


class Sink(Protocol):
    """Where a client's messages go; implemented by the transport. ``send`` returns False if
    the message was not taken (debug data dropped, or the client is gone). A sink may also
    offer ``pause_reading()`` / ``resume_reading()`` (input flow control)."""

    def send(self, message: dict, lane: wire.Lane = wire.NEWS) -> bool: ...


def default_state_dir() -> Path:
    """A per-user data directory: ``$XDG_DATA_HOME/flowpy`` (``~/.local/share/flowpy``)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "flowpy"
    home_data = os.path.join(os.path.expanduser("~"), ".local", "share")
    base = os.environ.get("XDG_DATA_HOME") or home_data
    return Path(base) / "flowpy"


def _write_atomically(path: Path, text: str) -> None:
    """Readers (and a restart after a crash) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    graph_json.write_text_atomically(path, text)


def graph_component_name(graph_id: str, graph: Any) -> str:
    """The component name of a hosted graph: ``<library>/<id>``, or the id if it has a ``/``."""
    if "/" in graph_id:
        return graph_id
    library = (getattr(graph, "properties", None) or {}).get("library")
    if not isinstance(library, str) or not library.strip("/"):
        library = DEFAULT_GRAPH_LIBRARY
    return f"{library.strip('/')}/{graph_id}"


def load_runtime_id(state_dir: Path) -> str:
    """The runtime's UUID from ``<state_dir>/runtime-id``, created on first use."""
    path = state_dir / "runtime-id"
    try:
        return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("cannot read the runtime id in %s (%s); making a new one", path, exc)
    runtime_id = str(uuid.uuid4())
    try:
        _write_atomically(path, runtime_id + "\n")
    except OSError as exc:
        log.warning("cannot keep the runtime id in %s (%s); it will change on restart", path, exc)
    return runtime_id


def _nothing() -> None:
    pass


class Client:
    """One connected client: its sink, what it may do, and which edges it watches."""

    def __init__(self, sink: Sink, grant: Grant, number: int,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT) -> None:
        self.sink = sink
        self.grant = grant
        self.number = number
        self.max_inflight = max_inflight
        self._flow = threading.Lock()
        self._inflight = 0
        self._paused = False
        #: Debug messages dropped for this client, and how many it has been told about.
        self.debug_dropped = 0
        self._dropped_told = 0
        self._told_at = 0.0
        #: graph id -> edge keys selected with network:edges (absent: every edge).
        self.edge_filters: dict[str, frozenset] = {}
        #: graph id -> the link session this connection is attached to (flowpy:hello).
        self.sessions: dict[str, LinkSession] = {}

    def send(self, message: dict, lane: wire.Lane = wire.NEWS,
             cancelled: Callable[[], bool] | None = None) -> bool:
        """False if the message was not taken (dropped, or the client is gone, or a STREAM
        send gave up because ``cancelled()``). Never raises: a failing transport must not
        break the thread that is reporting."""
        try:
            if cancelled is not None:
                return self.sink.send(message, lane, cancelled) is not False
            return self.sink.send(message, lane) is not False
        except Exception:
            log.exception("client %d: sink failed", self.number)
            return False

    def send_debug(self, message: dict) -> None:
        """Debug data: dropped when the client reads too slowly, and then the client is told,
        at most once per :data:`DROP_NOTICE_INTERVAL`, how many it missed."""
        if self.send(message, wire.DEBUG):
            return
        now = time.monotonic()
        with self._flow:
            self.debug_dropped += 1
            if now - self._told_at < DROP_NOTICE_INTERVAL:
                return
            self._told_at = now
            missed = self.debug_dropped - self._dropped_told
            self._dropped_told = self.debug_dropped
        self.send(wire.message("network", "output", {
            "message": f"flowpy: {missed} debug message(s) dropped because this client reads "
                       f"too slowly ({self.debug_dropped} in all)", "type": "message"}))

    # -- input flow control ---------------------------------------------------------------
    def packet_taken(self) -> None:
        """A runtime:packet is on its way into a network; past ``max_inflight`` unanswered
        ones the sink stops reading this client."""
        with self._flow:
            self._inflight += 1
            pause = not self._paused and self._inflight >= self.max_inflight
            if pause:
                self._paused = True
        if pause:
            getattr(self.sink, "pause_reading", _nothing)()

    def packet_answered(self) -> None:
        with self._flow:
            self._inflight -= 1
            resume = self._paused and self._inflight <= self.max_inflight * 3 // 4
            if resume:
                self._paused = False
        if resume:
            getattr(self.sink, "resume_reading", _nothing)()

    @property
    def inflight(self) -> int:
        return self._inflight

    def wants_edge(self, graph: str, key: Any) -> bool:
        selected = self.edge_filters.get(graph)
        return selected is None or key in selected

    def wants_initials(self, graph: str) -> bool:
        """IIPs are not edges a client can select; only unfiltered watchers see them."""
        return graph not in self.edge_filters

    def __repr__(self) -> str:
        return f"<Client {self.number}>"


class Runtime:
    """All graphs, networks and clients of one process. Thread-safe."""

    def __init__(
        self,
        registry: Registry | None = None,
        state_dir: str | os.PathLike | None = None,
        label: str = "flowpy",
        secret: str | None = None,
        permissions: dict | None = None,
        network_capacity: int | None = None,
        components_dir: str | os.PathLike | None = None,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        drain: bool = True,
    ) -> None:
        """``network_capacity``: capacity of every connection in the networks (engine default
        if None); small values make back-pressure visible, which tests and benchmarks use.
        ``components_dir``: a directory of ``.fbp``/``.json`` graphs offered as components.
        ``max_inflight``: runtime:packet requests a client may have unanswered before its
        sink stops reading it (see the module docstring). ``drain``: whether stops at
        shutdown drain the networks (``network:stop`` says for itself)."""
        self.drain = drain
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.max_inflight = max_inflight
        self.components_dir = Path(components_dir) if components_dir is not None else None
        #: What could not be loaded at start (files of the state or components directory).
        self.problems: list[str] = []
        self.network_capacity = network_capacity
        self.registry = registry if registry is not None else Registry()
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.label = label
        self.permissions = Permissions(secret, permissions)
        self.id = load_runtime_id(self.state_dir)
        self.main_graph: str | None = None
        self._lock = threading.RLock()
        self._clients_changed = threading.Condition(self._lock)
        self._clients: list[Client] = []
        self._next_client = 1
        self._graphs: dict[str, HostedGraph] = {}
        self._local = threading.local()
        self._closing = False
        #: Source code of components compiled from component:source, by full name.
        self.component_sources: dict[str, str] = {}
        #: Durable sessions of the flowpy link extension (docs/bridge-protocol.md).
        self.sessions = SessionTable(self)
        #: Graph components this runtime registered: name -> owner (("graph", id) or
        #: ("file", path)), so it never replaces or removes a component it did not make.
        self._component_owners: dict[str, tuple[str, Any]] = {}
        self._graph_components: dict[str, str] = {}  # hosted graph id -> component name
        self._file_components: dict[Path, tuple[tuple[int, int], str | None]] = {}
        self.refresh_components_dir(announce=False)
        self._persist_lock = threading.Lock()
        self._remove_stale_temp_files()
        self._load_persisted()

    # -- transport boundary ------------------------------------------------------------------
    def connect(self, sink: Sink) -> Client:
        with self._lock:
            client = Client(sink, self.permissions.grant_for(None), self._next_client,
                            self.max_inflight)
            self._next_client += 1
            self._clients.append(client)
            self._clients_changed.notify_all()
        self._refresh_all_observers()
        return client

    def disconnect(self, client: Client) -> None:
        """The connection is gone; its link sessions stay for a later ``flowpy:hello``."""
        self.sessions.detach(client)
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
            self._clients_changed.notify_all()
        self._refresh_all_observers()

    def receive_text(self, client: Client, text: str) -> None:
        """One WebSocket text frame. Never raises."""
        self._receive(client, decode_text, text)

    def receive_binary(self, client: Client, data: bytes) -> None:
        self._refuse(client, EnvelopeError("binary frames are not supported"))

    def receive(self, client: Client, message: Any) -> None:
        """One decoded message. Never raises; every problem is answered with an error message."""
        self._receive(client, parse, message)

    def _receive(self, client: Client, decode: Callable[[Any], Envelope], message: Any) -> None:
        try:
            envelope = decode(message)
        except EnvelopeError as exc:
            self._refuse(client, exc)
            return
        except Exception as exc:  # pragma: no cover - decoding is total
            log.exception("cannot decode a message")
            self._refuse(client, EnvelopeError(f"cannot decode message: {exc}"))
            return
        self._handle(client, envelope)

    def _handle(self, client: Client, envelope: Envelope) -> None:
        if self._closing:
            self._refuse(client, EnvelopeError("the runtime is shutting down", envelope.protocol,
                                               envelope.request_id))
            return
        if envelope.secret is not None:
            client.grant = self.permissions.grant_for(envelope.secret)
        request = Request(client, envelope.protocol, envelope.command, envelope.request_id,
                          client.grant)
        previous = getattr(self._local, "request", None)
        previous_ports = getattr(self._local, "pending_ports", None)
        previous_components = getattr(self._local, "pending_components", None)
        self._local.request = request
        self._local.pending_ports = pending_ports = []
        self._local.pending_components = pending_components = []
        try:
            dispatch(self, request, envelope.payload)
            for hosted in pending_ports:
                self.send_ports(hosted)
            for name in pending_components:
                self._announce_component(name)
        except Exception as exc:  # dispatch answers its own errors; this is the last line
            log.exception("unhandled error in %s:%s", envelope.protocol, envelope.command)
            self.error(request, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._local.request = previous
            self._local.pending_ports = previous_ports
            self._local.pending_components = previous_components

    def _refuse(self, client: Client, exc: EnvelopeError) -> None:
        client.send(wire.message(exc.protocol, "error", {"message": exc.message}, exc.request_id),
                    wire.URGENT)

    # -- sending ----------------------------------------------------------------------------
    def clients(self) -> list[Client]:
        with self._lock:
            return list(self._clients)

    def current_request(self) -> Request | None:
        """The request being handled by this thread, if any (its sender gets ``responseTo``)."""
        return getattr(self._local, "request", None)

    def reply(self, request: Request, command: str, payload: Any,
              protocol: str | None = None) -> None:
        """Answer the sender of ``request`` (with ``responseTo`` if it sent a ``requestId``);
        never waits, and is not held up by debug data queued for it."""
        request.client.send(
            wire.message(protocol or request.protocol, command, payload, request.request_id),
            wire.URGENT)

    def error(self, request: Request, message: str, protocol: str | None = None,
              **extra: Any) -> None:
        """``<protocol>:error`` {message} to the sender of ``request``."""
        self.reply(request, "error", {"message": message, **extra}, protocol)

    def broadcast(self, protocol: str, command: str, payload: Any, kind: str,
                  only: Iterable[Client] | None = None, reply: bool = True) -> None:
        """Send to every client allowed to receive ``kind`` (see permissions.OUTPUT_CAPABILITIES).

        Never waits for anybody. With ``reply``, the client whose request caused this (same
        thread) gets it as its reply, with its ``responseTo``; the others, and everybody for
        news that answers no request, get it as news.
        """
        request = self.current_request() if reply else None
        plain = wire.message(protocol, command, payload)
        answer = plain
        if request is not None and request.request_id is not None:
            answer = wire.message(protocol, command, payload, request.request_id)
        for client in (self.clients() if only is None else only):
            if client.grant.may_receive(kind):
                if request is not None and client is request.client:
                    client.send(answer, wire.URGENT)
                else:
                    client.send(plain, wire.NEWS)

    def may_send_to(self, client: Client, graph: str, port: str) -> bool:
        return client.grant.may_send_to(graph, port)

    def may_receive_from(self, client: Client, graph: str, port: str) -> bool:
        return client.grant.may_receive_from(graph, port)

    def packet_receivers(self, graph: str, port: str) -> list[Client]:
        """Standard receivers of an outport's ``runtime:packet``: clients allowed to receive
        it, except connections holding a link session of the graph (they get it as
        ``flowpy:packet`` through the session, and must not get it twice)."""
        with self._lock:
            return [c for c in self._clients
                    if c.grant.may_receive_from(graph, port) and graph not in c.sessions]

    def deliver_output(self, hosted: HostedGraph, port: str, payloads: list[dict],
                       stopping: threading.Event) -> None:
        """IPs left a graph outport (each ``payload`` as ``runtime:packet`` carries it): never
        dropped.

        Link sessions allowed to receive the port take them first (into their outboxes, which
        may wait for room). A session is a durable subscriber, connected or not, so once one
        took the packets the standard clients connected now get them and nobody is waited for.
        Otherwise this blocks the graph's outport handler (back-pressure into the network)
        until at least one standard client allowed to receive this outport has taken each
        packet, waiting for such a client to connect if need be, or until the network is
        stopping.
        """

        def cancelled() -> bool:  # the network's stop set it once the drain was over
            return stopping.is_set()

        def to_standard_clients(chunk: list[dict]) -> None:
            receivers = self.packet_receivers(hosted.id, port)
            for payload in chunk:
                message = wire.message("runtime", "packet", payload)
                for client in receivers:
                    client.send(message, wire.STREAM, cancelled)

        done = self.sessions.publish(hosted.id, port, payloads, cancelled,
                                     on_taken=to_standard_clients)
        if done < len(payloads):  # no session (left) took these: a client must
            messages = [wire.message("runtime", "packet", payload) for payload in payloads[done:]]
            self._deliver_to_clients(hosted.id, port, messages, cancelled)

    def _deliver_to_clients(self, graph: str, port: str, messages: list[dict],
                            cancelled: Callable[[], bool]) -> bool:
        """Send each message to every standard client allowed to receive ``port``, waiting
        until there is at least one that takes it; False if cancelled first."""
        position = 0
        while position < len(messages):
            with self._lock:
                while True:
                    if cancelled():
                        return False
                    targets = [c for c in self._clients
                               if c.grant.may_receive_from(graph, port)
                               and graph not in c.sessions]
                    if targets:
                        break
                    # Woken by connect/disconnect and by stops; the timeout only guards
                    # against a stop made directly on the Network, which we would not hear.
                    self._clients_changed.wait(timeout=1.0)
            while position < len(messages):
                message = messages[position]
                delivered = False
                for client in targets:
                    delivered = client.send(message, wire.STREAM, cancelled) or delivered
                if not delivered:  # every target was gone: wait for the client list to change
                    with self._lock:
                        self._clients_changed.wait(timeout=1.0)
                    break
                position += 1
        return True

    def port_event(self, hosted: HostedGraph, direction: str, port: str, event: str) -> None:
        """connect/disconnect of an exported port: ``runtime:packet`` to those who may use it;
        for outports also into the link sessions' outboxes (never waiting for room)."""
        payload = {"graph": hosted.id, "port": port, "event": event}
        message = wire.message("runtime", "packet", payload)
        if direction == "in":
            receivers = [c for c in self.clients() if c.grant.may_send_to(hosted.id, port)]
        else:
            self.sessions.publish(hosted.id, port, [payload], lambda: False, marker=True)
            receivers = self.packet_receivers(hosted.id, port)
        for client in receivers:
            client.send(message, wire.URGENT)  # in order with the packets, never waiting

    def wake_output_waiters(self, graph: str | None = None) -> None:
        """Outport handlers waiting for a client, for room in a client's queue or in an outbox
        re-check why (a network is stopping)."""
        with self._lock:
            self._clients_changed.notify_all()
            clients = list(self._clients)
        for client in clients:
            getattr(client.sink, "wake", _nothing)()
        self.sessions.wake(graph)

    def send_ports(self, hosted: HostedGraph, clients: Iterable[Client] | None = None,
                   request: Request | None = None) -> None:
        """``runtime:ports`` for one graph, each client seeing the ports it may use."""
        for client in (self.clients() if clients is None else clients):
            if client.grant.may_receive("runtime"):
                payload = hosted.ports_payload(client.grant)
                answering = request is not None and client is request.client
                rid = request.request_id if answering else None
                client.send(wire.message("runtime", "ports", payload, rid),
                            wire.URGENT if answering else wire.NEWS)

    # -- graphs ---------------------------------------------------------------------------
    def get_graph(self, graph_id: str) -> HostedGraph | None:
        with self._lock:
            return self._graphs.get(graph_id)

    def graphs(self) -> dict[str, HostedGraph]:
        with self._lock:
            return dict(self._graphs)

    def add_graph(self, graph_id: str, graph: Any, main: bool = False) -> HostedGraph:
        """Host ``graph`` as ``graph_id``, replacing (and stopping) a graph of that id."""
        hosted = HostedGraph(self, graph_id, graph)
        with self._lock:
            old = self._graphs.get(graph_id)
            self._graphs[graph_id] = hosted
            if main:
                self.main_graph = graph_id
        if old is not None:
            old.close()
        if hosted.has_exports() or old is not None:
            self.send_ports(hosted)
        self.sync_graph_components()
        return hosted

    def set_main(self, graph_id: str) -> None:
        with self._lock:
            self.main_graph = graph_id
        self.sync_graph_components()

    def load_graph_file(self, path: str | os.PathLike, main: bool = True) -> str:
        """Host the graph in a ``.fbp`` or JSON graph file; its id (properties.id, name or
        file stem)."""
        graph = read_graph_file(path)
        props = getattr(graph, "properties", {}) or {}
        graph_id = props.get("id") or getattr(graph, "name", "") or Path(path).stem
        self.add_graph(str(graph_id), graph, main=main)
        return str(graph_id)

    def graph_changed(self, hosted: HostedGraph, event: str, payload: dict) -> None:
        """A change of a hosted graph's model: ack to every reader, ports if exports changed.

        ``clear`` is acknowledged by the graph:clear handler itself, which knows the request.
        """
        if self.get_graph(hosted.id) is not hosted:
            return
        if event != "clear":
            ack = _normalise_ack(event, {**payload, "graph": hosted.id})
            self.broadcast("graph", event, ack, "graph")
        if event in PORT_EVENTS:
            pending = getattr(self._local, "pending_ports", None)
            if pending is None:
                self.send_ports(hosted)
            elif hosted not in pending:
                pending.append(hosted)  # once, after the whole change (a cascade has several)
        name = self._graph_components.get(hosted.id)
        if name is not None:
            self._schedule_announcement(name)

    # -- graphs as components ------------------------------------------------------------------
    def sync_graph_components(self) -> None:
        """Register every hosted graph but the main one as a subgraph component (and only
        those); announce what is new or renamed. Called whenever graphs, the main graph or a
        graph's library change."""
        changed = []
        with self._lock:
            graphs = dict(self._graphs)
            main = self.main_graph
            for graph_id in sorted(set(graphs) | set(self._graph_components)):
                hosted = graphs.get(graph_id)
                wanted = None
                if hosted is not None and graph_id != main:
                    wanted = graph_component_name(graph_id, hosted.graph)
                old = self._graph_components.get(graph_id)
                if old == wanted and (wanted is None
                                      or self.component_graph(wanted) is hosted.graph):
                    continue
                owner = ("graph", graph_id)
                if old is not None:
                    self._release_component(old, owner)
                    del self._graph_components[graph_id]
                if wanted is not None and hosted is not None \
                        and self._claim_component(wanted, owner, hosted.graph):
                    self._graph_components[graph_id] = wanted
                    changed.append(wanted)
        for name in changed:
            self._schedule_announcement(name)

    def refresh_components_dir(self, announce: bool = True) -> None:
        """(Re)read the graph files of ``components_dir`` that are new or changed."""
        directory = self.components_dir
        if directory is None:
            return
        try:
            paths = graph_files(directory) if directory.is_dir() else []  # gone: none left
        except OSError as exc:
            self._problem(f"cannot read the components directory {directory}: {exc}")
            return
        changed = []
        with self._lock:
            for path in paths:
                try:
                    info = path.stat()
                except OSError:
                    continue
                stamp = (info.st_mtime_ns, info.st_size)
                cached = self._file_components.get(path)
                if cached is not None and cached[0] == stamp:
                    continue
                owner = ("file", path)
                if cached is not None and cached[1] is not None:
                    self._release_component(cached[1], owner)
                name = None
                try:
                    graph = read_graph_file(path)
                except Exception as exc:  # noqa: BLE001 - any problem is the file's: report it
                    self._problem(f"cannot load component graph {path}: {exc}")
                else:
                    name = file_component_name(directory, path, graph)
                    if self._claim_component(name, owner, graph):
                        changed.append(name)
                    else:
                        name = None
                self._file_components[path] = (stamp, name)
            for path in set(self._file_components) - set(paths):
                _, name = self._file_components.pop(path)
                if name is not None:
                    self._release_component(name, ("file", path))
        if announce:
            for name in changed:
                self._schedule_announcement(name)

    def graph_component_owner(self, name: str) -> tuple[str, Any] | None:
        """``("graph", id)`` or ``("file", path)`` if ``name`` is a graph component of ours."""
        with self._lock:
            return self._component_owners.get(name)

    def component_graph(self, name: str) -> Any:
        """The graph behind subgraph component ``name`` (None if it is not one)."""
        try:
            cls = self.registry.get(name)
        except KeyError:
            return None
        return cls.graph if is_subgraph(cls) else None

    def _claim_component(self, name: str, owner: tuple[str, Any], graph: Any) -> bool:
        """Register ``graph`` as component ``name`` unless somebody else has that name."""
        holder = self._component_owners.get(name)
        if holder is None and name in self.registry:
            self._problem(f"graph {owner[1]} is not offered as component {name!r}: "
                          "a component of that name exists", log_only=True)
            return False
        if holder is not None and holder != owner:
            self._problem(f"graph {owner[1]} is not offered as component {name!r}: "
                          f"graph {holder[1]} is", log_only=True)
            return False
        self._component_owners[name] = owner
        self.registry.register(name, subgraph_class(name, graph))
        return True

    def _release_component(self, name: str, owner: tuple[str, Any]) -> None:
        if self._component_owners.get(name) == owner:
            del self._component_owners[name]
            self.registry.unregister(name)

    def _schedule_announcement(self, name: str) -> None:
        """``component:component`` for a graph component, once per request, after its acks."""
        pending = getattr(self._local, "pending_components", None)
        if pending is None:
            self._announce_component(name)
        elif name not in pending:
            pending.append(name)

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

    def contains_graph(self, outer: Any, inner: Any) -> bool:
        """Does ``outer`` use ``inner`` as a subgraph, at any depth? (Cheap: follows only
        subgraph nodes, each graph once.)"""
        seen: set[int] = set()
        stack = [outer]
        while stack:
            graph = stack.pop()
            if graph is inner:
                return True
            if id(graph) in seen:
                continue
            seen.add(id(graph))
            with graph.lock:
                components = [node.component for node in graph.nodes.values()]
            for component in components:
                sub = self.component_graph(component)
                if sub is not None:
                    stack.append(sub)
        return False

    def _problem(self, text: str, log_only: bool = False) -> None:
        log.warning("%s", text)
        if not log_only:
            with self._lock:
                self.problems.append(text)

    # -- debug subscriptions ------------------------------------------------------------------
    def set_edges(self, client: Client, graph_id: str, edges: list[dict]) -> None:
        """``network:edges``: from now on ``client`` watches exactly these edges of the graph."""
        client.edge_filters[graph_id] = frozenset(edge_key(e["src"], e["tgt"]) for e in edges)
        hosted = self.get_graph(graph_id)
        if hosted is not None:
            hosted.refresh_observers()

    def _refresh_all_observers(self) -> None:
        for hosted in self.graphs().values():
            hosted.refresh_observers()

    # -- runtime information --------------------------------------------------------------
    def runtime_info(self, grant: Grant) -> dict:
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

    def status(self) -> dict:
        """A small status document for plain HTTP ``GET /``."""
        graphs = []
        for graph_id, hosted in sorted(self.graphs().items()):
            state = hosted.status()
            entry = {"id": graph_id, "main": graph_id == self.main_graph,
                     "started": state["started"], "running": state["running"]}
            if hosted.last_stop is not None:
                entry["lastStop"] = dict(hosted.last_stop)
            graphs.append(entry)
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
    def graphs_dir(self) -> Path:
        return self.state_dir / "graphs"

    def _index_path(self) -> Path:
        return self.state_dir / "graphs.json"

    def _sources_path(self) -> Path:
        return self.state_dir / "components.json"

    def persist(self) -> Path:
        """Save every graph (and which is main), and the sources of compiled components, so
        the next start of this runtime comes back the same. Each file is written atomically;
        the index is written after the graph files and stale files are removed after the
        index, so a crash at any point leaves a state that loads."""
        from flowpy.graphs import json_format as graph_json

        directory = self.graphs_dir()
        with self._persist_lock:
            directory.mkdir(parents=True, exist_ok=True)
            with self._lock:
                graphs = dict(self._graphs)
                main = self.main_graph
                sources = dict(self.component_sources)
            files: dict[str, str] = {}
            taken: set[str] = set()
            for graph_id, hosted in sorted(graphs.items()):
                filename = _unique_filename(graph_id, taken)
                graph_json.save_file(hosted.graph, directory / filename)
                files[graph_id] = filename
            index = {"main": main if main in graphs else None, "graphs": files}
            _write_atomically(self._sources_path(),
                              json.dumps({"components": sources}, indent=2) + "\n")
            _write_atomically(self._index_path(), json.dumps(index, indent=2) + "\n")
            for stale in directory.glob("*.json"):
                if stale.name not in taken:
                    stale.unlink(missing_ok=True)
        return directory

    def _remove_stale_temp_files(self) -> None:
        """Temporary files of atomic writes that a crash interrupted (``.NAME.HEX.tmp``):
        nothing will ever rename them, so they go at start-up (logged)."""
        for directory in (self.state_dir, self.graphs_dir()):
            try:
                stale = list(directory.glob(".*.tmp"))
            except OSError:
                continue
            for path in stale:
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("cannot remove stale temporary file %s: %s", path, exc)
                else:
                    log.info("removed stale temporary file %s", path)

    def _load_persisted(self) -> None:
        """Load what :meth:`persist` saved. Anything unreadable is reported and skipped."""
        self._load_sources()
        index = self._read_index()
        if index is None:
            return
        from flowpy.graphs import json_format as graph_json

        main = index.get("main")
        for graph_id, filename in index["graphs"].items():
            path = self.graphs_dir() / filename
            try:
                graph = graph_json.load_file(path)
            except Exception as exc:  # noqa: BLE001 - a bad file must not stop the runtime
                where = "" if str(path) in str(exc) else f" from {path}"
                self._problem(f"cannot load persisted graph {graph_id!r}{where}: {exc}")
                continue
            self.add_graph(graph_id, graph, main=graph_id == main)

    def _read_index(self) -> dict | None:
        """The index of persisted graphs; without a readable one, every graph file there (by
        its ``properties.id``), no main graph."""
        path = self._index_path()
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            files = index.get("graphs") if isinstance(index, dict) else None
            if not isinstance(files, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) and Path(v).name == v
                    for k, v in files.items()):
                raise ValueError("not an index of graph files")
            main = index.get("main")
            return {"main": main if isinstance(main, str) else None, "graphs": files}
        except FileNotFoundError:
            if not self.graphs_dir().is_dir():
                return None
            problem = None
        except (OSError, ValueError) as exc:
            problem = f"cannot read the index of persisted graphs {path}: {exc}"
        files = {}
        for graph_file in sorted(self.graphs_dir().glob("*.json")):
            graph_id = graph_file.stem
            try:
                document = json.loads(graph_file.read_text(encoding="utf-8"))
                stored = document.get("properties", {}).get("id")
                if isinstance(stored, str) and stored:
                    graph_id = stored
            except (OSError, ValueError, AttributeError):
                pass  # reported when it fails to load
            files.setdefault(graph_id, graph_file.name)
        if problem is not None:
            self._problem(f"{problem}; loading the {len(files)} graph file(s) found")
        return {"main": None, "graphs": files}

    def _load_sources(self) -> None:
        """Compile the components persisted from ``component:source`` again."""
        from flowpy.protocol.component_commands import compile_component
        from flowpy.protocol.fields import ProtocolError

        path = self._sources_path()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            sources = document["components"]
            if not isinstance(sources, dict):
                raise ValueError("'components' is not an object")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._problem(f"cannot read persisted component sources {path}: {exc}")
            return
        for full, code in sorted(sources.items()):
            if not isinstance(full, str) or not isinstance(code, str):
                self._problem(f"{path}: component {full!r}: the source must be a string")
                continue
            try:
                cls = compile_component(full, code)
            except ProtocolError as exc:
                self._problem(f"{path}: {exc.message}")
                continue
            self.registry.register(full, cls)
            self.component_sources[full] = code

    # -- shutdown -------------------------------------------------------------------------
    def shutdown(self, timeout: float = 5.0, drain: bool | None = None) -> None:
        """Stop every network, draining as ``drain`` says (default: the runtime's ``drain``
        setting), and join its threads (each within ``timeout``)."""
        drain = self.drain if drain is None else drain
        with self._lock:
            self._closing = True
            self._clients_changed.notify_all()
        self.sessions.wake()
        for hosted in self.graphs().values():
            try:
                hosted.stop(timeout, drain)
            except Exception:
                log.exception("graph %s: stop failed", hosted.id)

        stuck = self.sessions.shutdown(timeout)
        if stuck:
            log.warning("link session threads still running after shutdown: %s", stuck)

    def cut_drains(self) -> None:
        """End every drain in progress at once (a second interrupt during shutdown)."""
        for hosted in self.graphs().values():
            hosted.cut_drain()


def _safe_filename(graph_id: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in graph_id).strip(".")
    return keep or "graph"


def _unique_filename(graph_id: str, taken: set[str]) -> str:
    """A file name for a graph, distinct from those in ``taken`` (ids ``a/b`` and ``a_b``
    would otherwise share one); added to ``taken``."""
    stem = _safe_filename(graph_id)
    name, number = f"{stem}.json", 2
    while name.lower() in {t.lower() for t in taken}:
        name, number = f"{stem}-{number}.json", number + 1
    taken.add(name)
    return name


# -- ack normalisation: the schemas type a few metadata keys; old files may not -------------------

_NODE_META = {"addnode", "changenode", "addinport", "addoutport"}
_EDGE_META = {"addedge", "changeedge", "addinitial"}


def _normalise_ack(event: str, payload: dict) -> dict:
    payload = wire.jsonable(payload)
    meta = payload.get("metadata")
    if isinstance(meta, dict):
        if event in _NODE_META:
            payload["metadata"] = _typed(meta, {"x": int, "y": int})
        elif event in _EDGE_META:
            payload["metadata"] = _typed(meta, {"route": int, "schema": str, "secure": bool})
        elif event in ("addgroup", "changegroup"):
            payload["metadata"] = _typed(meta, {"description": str})
    return payload


def _typed(meta: dict, types: dict[str, type]) -> dict:
    """Round numbers the schema wants as integers; leave out values of the wrong type."""
    out = dict(meta)
    for key, kind in types.items():
        if key not in out:
            continue
        value = out[key]
        if kind is int and isinstance(value, float) and math.isfinite(value):
            out[key] = int(round(value))
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            del out[key]
        elif kind is not int and not isinstance(value, kind):
            del out[key]
    return out

