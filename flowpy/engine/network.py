"""One running graph: process threads, connections, IIPs and the graph-port handler threads.

``start()`` validates the whole graph before anything runs, wires every connection, loads
the IIPs, tells listeners the network has started and every exported port is connected, and
only then starts the threads, so no IP is lost at start and no listener sees data before the
``connect``. Exported ports are served by two pseudo-processes, ``{graph}-IN`` and
``{graph}-OUT`` (as in flowd), which are wired by the same loop as ordinary edges.

Completion is detected when the last process thread (and the outport handler) ends, with no
polling.

``stop()`` drains by default, so nothing a client was told was accepted is lost: it refuses new
input at once (inport requests are answered "stopping"), lets the inport handler put in what
it had already taken, ends the exported inports' streams, and waits until everything
downstream of them has settled (every connection there empty and every process there ended
or waiting for input, the outport handler included) or the drain deadline passes. Processes
not fed by an exported inport hold nothing a client handed in, so they do not delay a stop.
Then it aborts every connection so blocked threads wake up, joins everything with a bounded
timeout, and reports how many IPs were still inside and discarded. ``stop(drain=False)``
skips the drain (a runaway graph), and :meth:`Network.cut_drain` ends one in progress.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .component import Component, ProcessContext
from .connection import DEFAULT_CAPACITY, Connection, EndOfStream, NetworkStopped
from .errors import NetworkError
from .ip import IP
from .ports import Index, InputPort, OutputPort, PortSpec, normalize_index
from .taps import TapConnection
from .wiring import (
    HANDLER_PORT,
    IN_HANDLER,
    OUT_HANDLER,
    Plan,
    Slot,
    plan_wiring,
    slots_of,
)

log = logging.getLogger(__name__)

#: IPs of one exported outport handed to the listeners at most per call.
OUTPORT_BATCH = 256
#: Inport requests the inport handler takes from its queue at once.
INPORT_BATCH = 64


class NetworkListener:
    """Receives a network's lifecycle and traffic events. Every method is optional.

    Methods are called from network threads. ``outport_ip`` may block to apply
    back-pressure, but must return soon after ``network.stopping`` is set; ``stopping`` is
    called right after that flag is set, before any thread is joined, so a listener can wake
    whatever it blocks on. (The event names are verbs in the past tense; a listener keeping
    its own state should not name attributes ``started``/``stopped``.)
    """

    def started(self, network: Network) -> None: ...

    def stopping(self, network: Network) -> None: ...

    def port_event(self, network: Network, direction: str, port: str, event: str) -> None: ...

    def outport_ip(self, network: Network, port: str, ip: IP) -> None: ...

    def outport_ips(self, network: Network, port: str, ips: list[IP]) -> None:
        """Several IPs that left ``port`` back to back (the outport handler had them queued).
        Override to handle them at once; by default each goes to ``outport_ip``."""
        for ip in ips:
            self.outport_ip(network, port, ip)

    def process_error(self, network: Network, node: str, message: str, tb: str) -> None: ...

    def output(self, network: Network, node: str, text: str) -> None: ...

    def discarded(self, network: Network, count: int, drained: bool) -> None:
        """A stop discarded ``count`` IPs still inside the network; ``drained`` is False if a
        drain was asked for and did not finish (deadline, or cut short)."""

    def finished(self, network: Network) -> None: ...

    def stopped(self, network: Network) -> None: ...


@dataclass
class _Process:
    node_id: str
    component: Component | None
    thread: threading.Thread | None = None
    inports: list[InputPort] = field(default_factory=list)
    outports: list[OutputPort] = field(default_factory=list)


class Network:
    """Runs a graph. Restartable: every ``start()`` wires a fresh set of threads and connections."""

    def __init__(
        self,
        graph: Any,
        registry: Any,
        listener: NetworkListener | Iterable[NetworkListener] | None = None,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.graph = graph
        self.registry = registry
        if listener is None:
            self._listeners: list[NetworkListener] = []
        elif isinstance(listener, NetworkListener):
            self._listeners = [listener]
        else:
            self._listeners = list(listener)
        self.capacity = capacity
        self.started = False
        self.running = False
        self.stopping = threading.Event()
        self.started_at = 0.0
        self.stats = {"in": 0, "out": 0, "discarded": 0}
        self._state = threading.Lock()
        self._draining = False  # a stop began: inport requests are refused
        self._drain_cut = False
        self._drain_quiet = threading.Condition()
        self._finished = threading.Event()
        self._processes: list[_Process] = []
        self._handlers: list[threading.Thread] = []
        self._connections: list[Connection] = []
        self._plan = Plan()
        self._requests: Connection | None = None
        self._in_ports: dict[str, OutputPort] = {}
        self._live = 0
        self._taps: dict[tuple[Slot, Slot], TapConnection] = {}

    # -- public state --------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_at if self.started else 0.0

    @property
    def exported_inports(self) -> list[str]:
        return list(self._plan.exported_in)

    @property
    def exported_outports(self) -> list[str]:
        return list(self._plan.exported_out)

    @property
    def edges(self) -> list[tuple[Slot, Slot]]:
        """The running edges between processes as ((node, port, index), (node, port, index)).

        Subgraph processes appear under their flattened ids (``outer/inner``); edges of the
        exported ports are not listed.
        """
        handlers = (IN_HANDLER, OUT_HANDLER)
        return [
            (s, t) for s, t in self._plan.edges if s[0] not in handlers and t[0] not in handlers
        ]

    def component(self, node_id: str) -> Component:
        """The component instance running node ``node_id`` in this run (for inspection: a
        Bridge's link state, a test's probe). KeyError if no such process runs."""
        for proc in self._processes:
            if proc.node_id == node_id and proc.component is not None:
                return proc.component
        raise KeyError(f"no process {node_id!r} in network {self.name!r}")

    def add_listener(self, listener: NetworkListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: NetworkListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every process has ended by itself (or the network was stopped)."""
        return self._finished.wait(timeout)

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._state:
            if self.started:
                raise NetworkError(f"network {self.name!r} is already started")
            with getattr(self.graph, "lock", contextlib.nullcontext()):
                plan = plan_wiring(self.graph, self.registry, self.capacity)
            processes = self._instantiate(plan)
            self._plan = plan
            self._processes = processes
            self._finished.clear()
            self.stopping.clear()
            self._draining = False
            self._drain_cut = False
            self.stats = {"in": 0, "out": 0, "discarded": 0}
            self._taps = {}
            self._build_handlers(plan)
            self._live = len(processes) + 1  # the outport handler counts: it flushes last
            self.started = True
            self.running = True
            self.started_at = time.monotonic()
        # The exported ports connect before the network announces itself started: clients
        # such as fbp-spec start a test case on network:started and count every packet after it.
        for public in plan.exported_in:
            self._emit("port_event", self, "in", public, "connect")
        for public in plan.exported_out:
            self._emit("port_event", self, "out", public, "connect")
        self._emit("started", self)
        for thread in self._handlers:
            thread.start()
        for proc in processes:
            assert proc.thread is not None
            proc.thread.start()

    def _instantiate(self, plan: Plan) -> list[_Process]:
        processes = []
        context = _NetworkContext(self)
        for node_id, cls in plan.classes.items():
            inports = {
                name: InputPort(spec, slots_of(plan.targets, node_id, name))
                for name, spec in cls.port_specs("in").items()
            }
            outports = {
                name: OutputPort(spec, slots_of(plan.sources, node_id, name))
                for name, spec in cls.port_specs("out").items()
            }
            try:
                component = cls(node_id, cls.inports.bind(inports),
                                cls.outports.bind(outports), context)
            except Exception as exc:
                raise NetworkError(
                    f"node {node_id!r}: cannot create {cls.__name__}: {exc}"
                ) from exc
            proc = _Process(
                node_id, component, None, list(inports.values()), list(outports.values())
            )
            proc.thread = threading.Thread(target=self._run_process, args=(proc,), name=node_id)
            processes.append(proc)
        return processes

    def _build_handlers(self, plan: Plan) -> None:
        self._requests = Connection(self.capacity, writers=1, name=f"{self.name}-IN requests")
        in_slots = slots_of(plan.sources, IN_HANDLER, "port")
        self._in_ports = {
            str(public): OutputPort(PortSpec(str(public)), {None: conns})
            for public, conns in in_slots.items()
        }
        out_port = InputPort(HANDLER_PORT, slots_of(plan.targets, OUT_HANDLER, "port"))
        self._handlers = [
            threading.Thread(target=self._serve_inports, name=f"{self.name}-IN"),
            threading.Thread(
                target=self._serve_outports, args=(out_port,), name=f"{self.name}-OUT"
            ),
        ]
        self._connections = list(plan.targets.values()) + [self._requests]

    # -- threads -------------------------------------------------------------------------
    def _run_process(self, proc: _Process) -> None:
        try:
            assert proc.component is not None
            proc.component.run()
        except (EndOfStream, NetworkStopped):
            pass
        except BaseException as exc:  # noqa: BLE001 - a process error must never kill the runtime
            if not self.stopping.is_set():
                message = f"{type(exc).__name__}: {exc}"
                self._emit("process_error", self, proc.node_id, message, traceback.format_exc())
        finally:
            for port in proc.outports:
                port.close()
            for inport in proc.inports:
                for conn in inport._slots.values():
                    conn.close_reader()
            self._process_ended()

    def _serve_inports(self) -> None:
        """The ``{graph}-IN`` pseudo-process: puts requested IPs into the exported inports."""
        requests = self._requests
        assert requests is not None
        in_ports = self._in_ports
        try:
            while True:
                batch = requests.recv_many(INPORT_BATCH)  # one lock round-trip per burst
                for position, (kind, public, ip, callback, on_queued) in enumerate(batch):
                    port = in_ports.get(public)
                    accepted = True
                    try:
                        if kind == "ip" and port is not None:
                            queued = partial(_safe_call, on_queued) if on_queued else None
                            accepted = port.send(ip, queued)
                            self.stats["in"] += 1
                        elif kind == "close" and port is not None:
                            port.close()
                    except NetworkStopped:  # stopped while waiting for room: say so, to all
                        for request in batch[position:]:
                            if request[3] is not None:
                                _safe_call(request[3], False)
                        raise
                    if callback is not None:
                        _safe_call(callback, accepted)
        except (EndOfStream, NetworkStopped):
            pass
        finally:
            for port in self._in_ports.values():
                port.close()
            self._poke_drain()

    def _serve_outports(self, port: InputPort) -> None:
        """The ``{graph}-OUT`` pseudo-process: hands every IP leaving an exported outport on,
        as many of one port at a time as are queued (one listener call per batch)."""
        try:
            while True:
                try:
                    public, ips = port.recv_any_many(OUTPORT_BATCH)
                except EndOfStream:
                    break
                self.stats["out"] += len(ips)
                self._emit_outport(public, ips)
        finally:
            for conn in port._slots.values():
                conn.close_reader()
            self._process_ended()

    def _emit_outport(self, public: Any, ips: list[IP]) -> None:
        for listener in list(self._listeners):
            try:
                batch_method = getattr(listener, "outport_ips", None)
                if batch_method is not None:
                    batch_method(self, public, ips)
                else:
                    single = getattr(listener, "outport_ip", None)
                    if single is not None:
                        for ip in ips:
                            single(self, public, ip)
            except Exception:  # a listener bug must not kill a network thread
                log.exception("network listener %r failed on outport IPs", listener)

    def _process_ended(self) -> None:
        with self._state:
            self._live -= 1
            done = self._live == 0
            if done:
                self.running = False
        self._poke_drain()
        if done:
            if not self.stopping.is_set() and not self._draining:  # a stop reports itself
                self._emit("finished", self)
            self._finished.set()

    # -- graph inports -------------------------------------------------------------------
    def _inport_name(self, port: str) -> str:
        if port in self._in_ports:
            return port
        for public in self._in_ports:
            if public.lower() == str(port).lower():
                return public
        known = ", ".join(self._in_ports) or "none"
        raise NetworkError(f"graph {self.name!r} has no exported inport {port!r} (it has: {known})")

    def _request(self, kind: str, port: str, ip: IP | None, on_accepted: Callable | None,
                 on_queued: Callable | None = None) -> None:
        if not self.started or self.stopping.is_set() or self._requests is None:
            raise NetworkError(f"network {self.name!r} is not running")
        if self._draining:
            raise NetworkError(f"network {self.name!r} is stopping")
        public = self._inport_name(port)
        try:
            self._requests.send((kind, public, ip, on_accepted, on_queued))
        except NetworkStopped:
            raise NetworkError(f"network {self.name!r} is stopping") from None

    def send_inport(
        self, port: str, ip: IP, on_accepted: Callable[[bool], Any] | None = None,
        on_queued: Callable[[], Any] | None = None,
    ) -> None:
        """Queue ``ip`` for exported inport ``port``; ``on_accepted(ok)`` runs once it is accepted.

        Blocks only while the inport handler's own queue is full (back-pressure to the caller).
        ``on_queued()``, if given, runs at the moment the IP enters the network, before any
        process can read it (so before anything the network makes of it can come out); it
        must be quick and must not block. ``on_accepted(True)`` follows it.
        """
        self._request("ip", port, ip, on_accepted, on_queued)

    def inport_event(
        self, port: str, event: str, on_accepted: Callable[[bool], Any] | None = None
    ) -> None:
        """A stream marker (connect/disconnect) on an exported inport; acknowledged in order."""
        self._request("event", port, None, on_accepted)

    def close_inport(self, port: str, on_accepted: Callable[[bool], Any] | None = None) -> None:
        """End-of-stream on an exported inport, after everything queued before it."""
        self._request("close", port, None, on_accepted)

    # -- taps ----------------------------------------------------------------------------
    def tap(self, src: Any, tgt: Any, callback: Callable[[IP], Any]) -> Callable[[], None]:
        """Observe every IP crossing the edge src -> tgt. Costs nothing on untapped edges."""
        key = self._edge_key(src, tgt)
        with self._state:
            tap = self._taps.get(key)
            if tap is None:
                conn = self._plan.targets[key[1]]
                targets = self._plan.sources[key[0]]
                tap = TapConnection(conn)
                self._taps[key] = tap
                targets[targets.index(conn)] = tap
            tap.callbacks.append(callback)

        def untap() -> None:
            with self._state:
                if callback in tap.callbacks:
                    tap.callbacks.remove(callback)
                if not tap.callbacks and self._taps.get(key) is tap:
                    del self._taps[key]
                    targets = self._plan.sources[key[0]]
                    if tap in targets:
                        targets[targets.index(tap)] = tap.inner

        return untap

    def _edge_key(self, src: Any, tgt: Any) -> tuple[Slot, Slot]:
        def norm(ref: Any) -> tuple[str, str, Index | None]:
            return (ref.node, str(ref.port).lower(), normalize_index(getattr(ref, "index", None)))

        want = (norm(src), norm(tgt))
        for s, t in self._plan.edges:
            if (s, t) == want:
                return s, t
        for s, t in self._plan.edges:  # an auto-assigned index on an addressable port
            if (
                s[:2] == want[0][:2]
                and t[:2] == want[1][:2]
                and (want[0][2] is None or want[0][2] == s[2])
                and (want[1][2] is None or want[1][2] == t[2])
            ):
                return s, t
        raise NetworkError(f"no running edge {want[0]} -> {want[1]}")

    # -- stop ----------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0, drain: bool = True) -> list[str]:
        """Stop every thread, draining first (see the module docstring); returns the names of
        threads that did not end within ``timeout`` (the drain included)."""
        with self._state:
            if not self.started or self.stopping.is_set() or self._draining:
                return []
            self._draining = True
            plan = self._plan
        began = time.monotonic()
        deadline = began + timeout
        drained = self._drain(deadline - min(1.0, timeout * 0.2)) if drain else True
        with self._state:
            self.stopping.set()
        self._emit("stopping", self)
        # Inports first: nothing new enters, and the IN handler ends.
        unserved = self._requests.abort() if self._requests is not None else []
        for proc in self._processes:
            if proc.component is not None:
                proc.component.stop_deadline = deadline
                proc.component.stopping.set()
        discarded = 0
        for conn in self._connections:
            if conn is not self._requests:
                discarded += len(conn.abort())
        self.stats["discarded"] = discarded
        stuck = []
        for thread in self._handlers + [p.thread for p in self._processes if p.thread]:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        for _kind, _public, _ip, callback, _queued in unserved:  # never accepted: say so
            if callback is not None:
                _safe_call(callback, False)
        for public in plan.exported_in:
            self._emit("port_event", self, "in", public, "disconnect")
        for public in plan.exported_out:
            self._emit("port_event", self, "out", public, "disconnect")
        with self._state:
            self.started = False
            self.running = False
        self._finished.set()
        if stuck:
            log.warning("network %s: threads still running after stop: %s", self.name, stuck)
        if discarded or not drained:
            log.warning("network %s: stop discarded %d IP(s)%s", self.name, discarded,
                        "" if drained else " (the drain did not finish)")
            self._emit("discarded", self, discarded, drained)
        self._emit("stopped", self)
        return stuck

    def cut_drain(self) -> None:
        """End a drain in progress now (a second interrupt): the stop goes on at once."""
        self._drain_cut = True
        self._poke_drain()

    def _poke_drain(self) -> None:
        if self._draining:
            with self._drain_quiet:
                self._drain_quiet.notify_all()

    def _drain(self, deadline: float) -> bool:
        """Let what the exported inports took run out (module docstring). True once settled,
        False if the deadline passed or the drain was cut first."""
        watched = self._inport_closure()
        if not watched:
            return True  # nothing a client handed in can be inside
        connections = [c for c in self._connections if c is not self._requests]
        for conn in connections:
            conn.watch = self._poke_drain
        try:
            if self._requests is not None:
                self._requests.close_input()  # taken requests go in; later ones are refused
            with self._drain_quiet:
                while not self._settled(watched):
                    remaining = deadline - time.monotonic()
                    if self._drain_cut or remaining <= 0:
                        return False
                    # The pokes (a reader blocking, a thread ending) are what wakes this; the
                    # slice only bounds the cost of a wake-up this code did not foresee.
                    self._drain_quiet.wait(min(remaining, 0.1))
            return True
        finally:
            for conn in connections:
                conn.watch = None

    def _inport_closure(self) -> list[list[Connection]]:
        """For every process downstream of an exported inport (the outport handler
        included): the connections it reads. Empty if the graph has no exported inport."""
        plan = self._plan
        following: dict[str, set[str]] = {}
        for src, tgt in plan.edges:
            following.setdefault(src[0], set()).add(tgt[0])
        reached: set[str] = set()
        todo = [IN_HANDLER]
        while todo:
            for node in following.get(todo.pop(), ()):
                if node not in reached:
                    reached.add(node)
                    todo.append(node)
        readers: dict[str, list[Connection]] = {}
        for (node, _port, _index), conn in plan.targets.items():
            if node in reached:
                readers.setdefault(node, []).append(conn)
        return list(readers.values())

    def _settled(self, watched: list[list[Connection]]) -> bool:
        """Nothing moves downstream of the inports any more: the inport handler has ended,
        and every process there has ended or waits for input on empty connections."""
        if self._handlers and self._handlers[0].is_alive():
            return False
        for conns in watched:
            if any(len(conn) for conn in conns):
                return False
            if not all(conn.reader_gone for conn in conns) and \
                    not any(conn.reader_waiting for conn in conns):
                return False
        return True

    # -- plumbing ------------------------------------------------------------------------
    def _emit(self, event: str, *args: Any) -> None:
        for listener in list(self._listeners):
            method = getattr(listener, event, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception:  # a listener bug must not kill a network thread
                log.exception("network listener %r failed on %s", listener, event)

    def console(self, node_id: str, text: str) -> None:
        """Console output of a process: to the listeners, or to stdout when nobody listens."""
        if self._listeners:
            self._emit("output", self, node_id, text)
        else:
            print(text, flush=True)


class _NetworkContext(ProcessContext):
    def __init__(self, network: Network) -> None:
        self.network = network

    def console(self, node_id: str, text: str) -> None:
        self.network.console(node_id, text)


def _safe_call(callback: Callable, *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("inport callback failed")
