"""One graph as the runtime hosts it (:class:`HostedGraph`): the model, its network runs, tracing.

It is the network's listener and turns what the network reports into typed events handed to
one ``emit`` callable (:mod:`.graph_events`); debug taps are :mod:`.observers`. Two locks:
``_control`` serialises start and stop, ``lock`` guards the reported state while a change is
announced (docs/architecture.md, "A hosted graph").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from flowpy.engine.connection import DEFAULT_CAPACITY
from flowpy.engine.failures import ErrorPolicy, Failure
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.engine.ports import find_port
from flowpy.engine.registry import Registry
from flowpy.graphs.model import GraphError

from .graph_events import (
    Emit,
    NetworkEnded,
    NetworkOutput,
    NetworkStarted,
    OutputStopping,
    PortMarker,
    PortOutput,
    ProcessFailure,
)
from .observers import EdgeObservers
from .runs import RunReport
from .tracing import Tracer

if TYPE_CHECKING:
    from .clients import ClientHandle, Request
    from .permissions import Grant

log = logging.getLogger(__name__)

#: Graph events that change the exported ports (runtime:ports must follow). Removing an
#: exported node emits removeinport/removeoutport first, so removenode itself is not here.
#: Graph events a running network follows (flowpy.engine.live); the others are metadata.
LIVE_EVENTS = frozenset(
    {
        "addnode",
        "removenode",
        "renamenode",
        "addedge",
        "removeedge",
        "addinitial",
        "removeinitial",
        "addinport",
        "removeinport",
        "renameinport",
        "addoutport",
        "removeoutport",
        "renameoutport",
    }
)
#: ... of which these change the edges that debug data reports.
EDGE_EVENTS = frozenset({"addnode", "removenode", "renamenode", "addedge", "removeedge"})
PORT_EVENTS = frozenset(
    {
        "addinport",
        "removeinport",
        "renameinport",
        "addoutport",
        "removeoutport",
        "renameoutport",
    }
)


#: The longest graph id a runtime hosts, in characters. An id names the graph's file in the
#: state directory and appears in every message about the graph; without a bound, one id
#: longer than the file system allows made ``network:persist`` fail (docs/protocol.md).
MAX_GRAPH_ID_LENGTH = 128


def check_graph_id(graph_id: str) -> None:
    """GraphError unless ``graph_id`` may name a hosted graph: not empty, at most
    :data:`MAX_GRAPH_ID_LENGTH` characters."""
    if not graph_id:
        raise GraphError("a graph id must not be empty")
    if len(graph_id) > MAX_GRAPH_ID_LENGTH:
        raise GraphError(
            f"graph id {graph_id[:32]!r}... is {len(graph_id)} characters long; "
            f"the most a graph id may have is {MAX_GRAPH_ID_LENGTH}"
        )


def _by(request: Request | None) -> str:
    """ " by <client>" for a reason clients may read ("" without a request): the client's
    name, not its address (that goes to the log line only, see :meth:`RunReport.stopped`)."""
    return f" by {request.client.name}" if request is not None else ""


def _peer(request: Request | None) -> str | None:
    return request.client.peer if request is not None else None


class GraphHost(Protocol):
    """What a hosted graph needs of the runtime that hosts it."""

    registry: Registry
    network_capacity: int | None
    #: what a process does after a failure unless its node says otherwise
    error_policy: ErrorPolicy

    def clients(self) -> list[ClientHandle]:
        """The connected clients (debug data goes to those who watch)."""

    def network_intent(self, graph_id: str, running: bool) -> None:
        """Remember whether the graph's network should run after a restart (``start.json``)."""

    def graph_changed(
        self, hosted: HostedGraph, event: str, payload: dict[str, Any], cause: Request | None
    ) -> None:
        """The graph model changed: forward the ack to clients and sync graph components."""


class HostedGraph(NetworkListener):
    """A graph of the runtime with its current network (a fresh :class:`Network` per start)."""

    def __init__(self, runtime: GraphHost, graph_id: str, graph: Any, emit: Emit) -> None:
        self.runtime = runtime
        self.emit = emit  # where everything this graph reports goes (the output router)
        self.id = graph_id
        self.graph = graph
        self.network: Network | None = None
        self.lock = threading.RLock()
        self._control = threading.RLock()
        self.is_started = False
        self.is_running = False
        self.debug = True
        self._started_at = 0.0
        self.stop_requested = threading.Event()
        #: What the last stop discarded ({"discarded": n, "drained": bool}), for ``GET /``.
        self.last_stop: dict[str, Any] | None = None
        #: Who started the runs, which process failed, how each ended (log and ``GET /``).
        self.runs = RunReport(graph_id)
        self._stop_reason: str | None = None
        self._stop_peer: str | None = None
        self.tracer: Tracer | None = None
        #: The debug data and trace of the edges somebody watches.
        self.observers = EdgeObservers(self)
        self._inports: dict[str, str] | None = None  # see exported_inport
        #: The request whose changes are being made (see editing), and its lock.
        self.editor: Request | None = None
        self._edit_lock = threading.RLock()
        self._lifecycle_cause: tuple[Request, int] | None = None
        self._removing: str | None = None
        self._unsubscribe = graph.subscribe(self._graph_event)

    # -- graph model -------------------------------------------------------------------------
    def _graph_event(self, event: str, payload: dict[str, Any]) -> None:
        if event in PORT_EVENTS or event == "clear":
            self._inports = None
        self._follow(event, payload)
        self.runtime.graph_changed(self, event, payload, self.editor)

    @contextlib.contextmanager
    def editing(self, request: Request | None, removing: str | None = None) -> Iterator[Any]:
        """Changes made to the model inside are ``request``'s: its sender gets their acks as
        replies, and what they change is announced when the request is finished. Editors of
        one graph take turns. ``removing``: the node a removenode is taking away (the edges it
        sends on end, rather than being held for a new edge)."""
        with self._edit_lock:
            self.editor = request
            self._removing = removing
            try:
                yield self.graph
            finally:
                self.editor = None
                self._removing = None

    # -- live editing (flowpy.engine.live) ---------------------------------------------------
    def live_problem(self, event: str, payload: dict[str, Any]) -> str | None:
        """Why the running network could not follow this change (None: it can, or nothing
        runs); asked before the graph changes, so a refused edit changes nothing."""
        network = self.network
        if network is None or not self.is_started or self.stop_requested.is_set():
            return None
        return network.check_edit(event, payload)

    def _follow(self, event: str, payload: dict[str, Any]) -> None:
        """The running network follows a change of the model; debug taps follow the edges."""
        network = self.network
        if (
            network is None
            or not self.is_started
            or self.stop_requested.is_set()
            or event not in LIVE_EVENTS
        ):
            return
        if event == "removeedge" and payload.get("src", {}).get("node") == self._removing:
            payload = {**payload, "ending": True}
        try:
            network.apply_edit(event, payload)
        except Exception as exc:  # a bug here must be visible, and must not lose the edit
            log.exception("graph %s: the running network did not follow %s", self.id, event)
            self.emit(
                NetworkOutput(
                    self.id,
                    f"graph {self.id}: the running network could not follow {event} "
                    f"({type(exc).__name__}: {exc}); stop and start it to run the "
                    "graph as it is now",
                    notice=True,
                )
            )
        if event in EDGE_EVENTS:
            with self.lock:
                self.observers.snapshot()
            self.refresh_observers()

    def _cause(self) -> Request | None:
        """The request starting or stopping the network, for events of that very call (a
        process thread finishing the network meanwhile is nobody's answer)."""
        cause = self._lifecycle_cause
        if cause is not None and cause[1] == threading.get_ident():
            return cause[0]
        return None

    def exported_inport(self, port: str) -> str | None:
        """The public name of exported inport ``port`` (matched as the engine matches it:
        exactly, else case-insensitively), or None. Kept between changes of the exports:
        every runtime:packet asks."""
        names = self._inports
        if names is None:
            with self.graph.lock:
                public = list(self.graph.inports)
            names = {name.lower(): name for name in reversed(public)}
            names.update((name, name) for name in public)
            self._inports = names
        return names.get(port) or names.get(port.lower())

    def close(self, timeout: float = 5.0) -> None:
        """Stop the network and stop following the model (the graph is being replaced)."""
        self._unsubscribe()
        self.stop(timeout, reason="the graph was replaced")

    def port_definitions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Exported ports as ``runtime:ports`` describes them, typed from their components."""
        with self.graph.lock:
            inports = list(self.graph.inports.items())
            outports = list(self.graph.outports.items())
            nodes = dict(self.graph.nodes)
        return (
            [self._describe_export(public, exp, nodes, "in") for public, exp in inports],
            [self._describe_export(public, exp, nodes, "out") for public, exp in outports],
        )

    def _describe_export(
        self, public: str, export: Any, nodes: dict[str, Any], direction: str
    ) -> dict[str, Any]:
        info: dict[str, Any] = {"id": public, "type": "all"}
        node = nodes.get(export.process)
        if node is not None:
            try:
                cls = self.runtime.registry.get(node.component)
                spec = find_port(cls.port_specs(direction), export.port, node.component)
                if spec is not None:
                    info = {**spec.describe(), "id": public}
            except Exception:  # unknown component: the port is still exported, type unknown
                pass
        description = (export.metadata or {}).get("description")
        if isinstance(description, str) and description:
            info["description"] = description
        return info

    def ports_payload(self, grant: Grant) -> dict[str, Any]:
        """``runtime:ports`` as ``grant`` may see it: only the ports it may use."""
        inports, outports = self.port_definitions()
        return {
            "graph": self.id,
            "inPorts": [p for p in inports if grant.may_send_to(self.id, p["id"])],
            "outPorts": [p for p in outports if grant.may_receive_from(self.id, p["id"])],
        }

    def has_exports(self) -> bool:
        """Does the graph export any port? (Only then are ``runtime:ports`` worth sending.)"""
        return bool(self.graph.inports or self.graph.outports)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, request: Request | None = None) -> None:
        """(Re)start the network; NetworkError if the graph cannot run (then nothing runs).
        ``network:started`` (and a ``stopped`` on a restart) answer ``request``."""
        with self._control, self._lifecycle(request):
            self._stop_locked(5.0, reason=f"restarted{_by(request)}", peer=_peer(request))
            capacity = self.runtime.network_capacity
            network = Network(
                self.graph,
                self.runtime.registry,
                self,
                DEFAULT_CAPACITY if capacity is None else capacity,
                error_policy=self.runtime.error_policy,
            )
            self.network = network
            self.stop_requested.clear()
            try:
                network.start()
            except Exception as exc:
                self.runs.start_failed(str(exc))
                raise
        self.runtime.network_intent(self.id, True)

    def stop(
        self,
        timeout: float = 5.0,
        drain: bool = True,
        request: Request | None = None,
        reason: str | None = None,
    ) -> bool:
        """Stop the network (draining first, see :meth:`Network.stop`); False if it was not
        started (nothing to announce). An immediate stop cuts a drain in progress short.
        ``reason``: why, for the log and ``GET /`` (default: who sent ``request``)."""
        network = self.network
        if not drain and network is not None:
            network.cut_drain()
        if request is not None:  # a client's stop: not meant to run any more
            self.runtime.network_intent(self.id, False)
        with self._control, self._lifecycle(request):
            return self._stop_locked(
                timeout, drain, reason or f"stopped{_by(request)}", _peer(request)
            )

    @contextlib.contextmanager
    def _lifecycle(self, request: Request | None) -> Iterator[None]:
        self._lifecycle_cause = (request, threading.get_ident()) if request else None
        try:
            yield
        finally:
            self._lifecycle_cause = None

    def cut_drain(self) -> None:
        """Cut short the drain of a stop in progress (a second signal, ``drain: false``)."""
        network = self.network
        if network is not None:
            network.cut_drain()

    def _stop_locked(
        self, timeout: float, drain: bool = True, reason: str = "stopped", peer: str | None = None
    ) -> bool:
        """``reason`` is shown to clients; ``peer``, the address of the client that asked,
        only in the log line."""
        network = self.network
        if network is None or not network.started:
            return False
        self._stop_reason = reason
        self._stop_peer = peer
        self.stop_requested.set()  # input is refused from now on; output flows until drained
        stuck = network.stop(timeout, drain)
        if stuck:
            log.warning("graph %s: threads still running after stop: %s", self.id, stuck)
        return True

    def status(self) -> dict[str, Any]:
        """``network:status``; with ``uptime`` while running (a client that reconnects can
        tell from it that the network started again while it was away). Not once finished:
        nothing more comes out then, and fbp-test compares that status field by field."""
        with self.lock:
            status = {"graph": self.id, "running": self.is_running, "started": self.is_started}
            if self.is_running:
                status["uptime"] = self.uptime()
            return status

    def uptime(self) -> float:
        """Seconds since the network started (0 when not started), for ``network:status``."""
        return round(time.monotonic() - self._started_at, 3) if self._started_at else 0.0

    def inport(
        self,
        port: str,
        event: str,
        payload: Any,
        on_accepted: Callable[[bool], Any],
        on_queued: Callable[[], Any] | None = None,
    ) -> None:
        """Hand a packet to the graph inport handler; NetworkError if impossible. Otherwise
        ``on_accepted`` runs exactly once: True once the network took it, False if it stopped
        first. ``on_queued``: see :meth:`Network.send_inport` (IPs only, not markers)."""
        network = self._running_network()
        if event == "data":
            network.send_inport(port, IP.make_data(payload), on_accepted, on_queued)
        elif event == "begingroup":
            network.send_inport(port, IP.open(payload), on_accepted, on_queued)
        elif event == "endgroup":
            network.send_inport(port, IP.close(payload), on_accepted, on_queued)
        else:
            network.inport_event(port, event, on_accepted)

    def inport_many(
        self,
        port: str,
        ips: list[IP],
        on_accepted: Callable[[bool], Any],
        on_queued: Callable[[int], Any],
    ) -> None:
        """:meth:`inport` for several IPs of one port as one request (see
        :meth:`Network.send_inport_many`); NetworkError if impossible."""
        self._running_network().send_inport_many(port, ips, on_accepted, on_queued)

    def _running_network(self) -> Network:
        """The network that takes input now; NetworkError saying why not."""
        network = self.network
        if network is None or not network.started or self.stop_requested.is_set():
            why = self.why_not_running()
            if network is not None and network.started:  # a stop is draining it
                raise NetworkError(
                    f"network of graph {self.id!r} is stopping and takes no "
                    f"more input: {why or 'a stop was asked for'}"
                )
            raise NetworkError(
                f"network of graph {self.id!r} is not running: "
                + (f"the network stopped: {why}" if why else "start it first (network:start)")
            )
        return network

    # -- NetworkListener: lifecycle ---------------------------------------------------------------
    def started(self, network: Network) -> None:
        """Runs before any process thread: announce, then set up observation; nothing is missed."""
        with self.lock:
            if network is not self.network:
                return
            self.is_started = True
            self.is_running = True
            self._started_at = time.monotonic()
            cause = self._cause()
            self.runs.started(cause.client.label if cause is not None else None)
            self.emit(NetworkStarted(self.id, self._cause()))
            self.observers.snapshot(started=True)
            self.refresh_observers()
            self.observers.connect()

    def finished(self, network: Network) -> None:
        """Every process ended by itself: still started (until stopped), no longer running."""
        with self.lock:
            if network is not self.network or not self.is_started:
                return
            self.is_running = False
            self.runs.finished()
            self.observers.disconnect()
            self.emit(NetworkEnded(self.id, True, self.uptime()))

    def stopping(self, network: Network) -> None:
        """Wake an outport handler waiting for a client or for room in a session's outbox
        (also when the network is stopped directly, not through :meth:`stop`)."""
        self.emit(OutputStopping(self.id))

    def stopped(self, network: Network) -> None:
        """The network stopped: every edge disconnects, taps go, ``network:stopped`` is emitted."""
        with self.lock:
            if network is not self.network:
                return
            uptime = self.uptime()
            self.is_started = False
            self.is_running = False
            self._started_at = 0.0
            self.runs.stopped(self._stop_reason or "stopped", self._stop_peer)
            self._stop_reason = self._stop_peer = None
            self.observers.disconnect()
            self.observers.untap_all()
            self.emit(NetworkEnded(self.id, False, uptime, self._cause()))

    def discarded(self, network: Network, count: int, drained: bool) -> None:
        """A stop cut IPs off: say so to whoever watches the network, never silently."""
        self.last_stop = {"discarded": count, "drained": drained}
        why = "the drain did not finish in time" if not drained else "an immediate stop"
        self.emit(
            NetworkOutput(
                self.id,
                f"graph {self.id}: stopping discarded {count} IP(s) still inside the "
                f"network ({why})",
                notice=True,
            )
        )

    def edit_discarded(self, network: Network, count: int, why: str) -> None:
        """A live edit cut IPs off (the network runs on): said as what it is, not as a stop."""
        self.emit(
            NetworkOutput(
                self.id,
                f"graph {self.id}: {why} discarded {count} IP(s) waiting on it",
                notice=True,
            )
        )

    def process_failed(self, network: Network, failure: Failure) -> bool:
        """A process failed and nothing caught it: one log line, ``GET /`` and status (the
        failure as data), and ``network:processerror`` with one line for people (its
        schema allows no other field: the component, the error and the IP go in ``error``;
        the traceback stays in the log, at debug level)."""
        self.runs.failed(failure)
        self.emit(ProcessFailure(self.id, failure.node, f"{failure.component}: {failure.line()}"))
        return True

    def why_not_running(self) -> str | None:
        """Why the network takes no input now (the process error that ended it, how it
        ended), for the refusal a client gets; None if nothing is known."""
        return self.runs.why_not_running() or self._stop_reason

    def report(self) -> dict[str, Any]:
        """This graph's entry in ``GET /``."""
        with self.lock:
            entry: dict[str, Any] = {
                "id": self.id,
                "started": self.is_started,
                "running": self.is_running,
            }
            entry.update(self.runs.status_fields(self.is_started, self.is_running))
        if self.last_stop is not None:
            entry["lastStop"] = dict(self.last_stop)
        return entry

    def output(self, network: Network, node: str, text: str) -> None:
        """A process's console output becomes ``network:output``."""
        self.emit(NetworkOutput(self.id, str(text)))

    # -- NetworkListener: exported ports -------------------------------------------------------
    def port_event(self, network: Network, direction: str, port: str, event: str) -> None:
        """connect/disconnect of an exported port -> runtime:packet (and link sessions)."""
        self.emit(PortMarker(self.id, direction, port, event))

    def outport_ips(self, network: Network, port: str, ips: list[IP]) -> int:
        """IPs left an exported outport: deliver them, waiting for an allowed client if
        needed; how many the network's stop kept from being delivered."""
        return self.emit(PortOutput(self.id, port, ips, network.stopping))

    # -- debug edges and tracing ---------------------------------------------------------------
    def refresh_observers(self) -> None:
        """Tap exactly the edges somebody watches (a debug client or the trace); untap the rest."""
        with self.lock:
            network = self.network
            if network is None or not self.is_started or self.stop_requested.is_set():
                return
            self.observers.refresh(network)
