"""One running graph: process threads, connections, IIPs and the graph-port handler threads.

``start()`` validates and wires the whole graph, loads the IIPs and tells the listeners
(started, every exported port connected) before any thread runs, so no IP is lost at start and
no listener sees data before the ``connect``. Completion is the last thread's end, never
polled. ``stop()`` drains unless told not to, then aborts every connection, joins every thread
within its timeout and reports what it discarded. What runs is :attr:`Network.structure` (a
:class:`~flowpy.engine.topology.Topology`), which live edits and the drain change or read
through public operations only. docs/architecture.md has the rest ("The graph port handlers",
"Stopping: the drain").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from flowpy.errors import missing_name

from . import cpus, live
from .component import BASE_DIR_PROPERTY, Component, ProcessContext
from .connection import DEFAULT_CAPACITY, Connection, EndOfStream, NetworkStopped
from .drain import Drain, in_hand
from .errors import NetworkError as NetworkError  # re-exported: importers name it here
from .failures import NOTHING, ErrorPolicy, Failure
from .graphlike import GraphLike
from .ip import IP
from .listener import NetworkListener as NetworkListener  # re-exported likewise
from .listener import checked_listener
from .ports import InputPort, OutputPort
from .supervisor import Supervisor
from .topology import Process, Topology
from .wiring import HANDLER_PORT, Plan, Slot, plan_wiring, slots_of

log = logging.getLogger(__name__)

#: IPs of one exported outport handed to the listeners at most per call.
OUTPORT_BATCH = 256
#: Inport requests the inport handler takes from its queue at once.
INPORT_BATCH = 64
_IPS = ("ip", "ips")


class Network:
    """Runs a graph. Restartable: every ``start()`` wires a fresh set of threads and connections."""

    def __init__(
        self,
        graph: GraphLike,
        registry: Any,
        listener: NetworkListener | Iterable[NetworkListener] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        error_policy: ErrorPolicy | None = None,
    ) -> None:
        self.graph = graph
        #: a process's error policy unless its node says otherwise (flowpy.engine.failures)
        self.error_policy = error_policy or ErrorPolicy()
        self._state = threading.Lock()
        #: what runs and how it is connected (this start's); changed under ``_state``
        self.structure = Topology(self._state, capacity)
        self.stopping = threading.Event()
        self.supervisor = Supervisor(
            self.error_policy, graph, self.structure, self.stopping, self.report_failure
        )
        self.registry = registry
        if listener is None:
            self._listeners: list[NetworkListener] = []
        elif isinstance(listener, NetworkListener):
            self._listeners = [listener]
        else:
            self._listeners = [checked_listener(one) for one in listener]
        self.capacity = capacity
        self.started = False
        self.running = False
        self.started_at = 0.0
        self.stats = {"in": 0, "out": 0, "discarded": 0}
        #: IPs put into each exported inport and taken from each exported outport this run.
        self.port_counts: dict[str, dict[Any, int]] = {"in": {}, "out": {}}
        self._drain = Drain()
        self._finished = threading.Event()
        self._handlers: list[threading.Thread] = []
        self._requests: Connection | None = None
        self._live = 0
        self._out_counted = False  # the outport handler is counted in _live (has outports)
        self._retired: list[threading.Thread] = []  # threads of processes edited away
        #: IPs of exported outports the listeners could not hand on because of a stop
        self._undelivered = 0

    # -- public state --------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The graph's name, which names the network in logs and replies."""
        return self.graph.name

    @property
    def uptime(self) -> float:
        """Seconds since the start; 0.0 when not running."""
        return time.monotonic() - self.started_at if self.started else 0.0

    @property
    def exported_inports(self) -> list[str]:
        """The public names of the exported inports, as wired."""
        return list(self.structure.plan.exported_in)

    @property
    def exported_outports(self) -> list[str]:
        """The public names of the exported outports, as wired."""
        return list(self.structure.plan.exported_out)

    @property
    def draining(self) -> bool:
        """A stop has begun: inport requests are refused from then on (until a new start)."""
        return self._drain.active

    @property
    def edges(self) -> list[tuple[Slot, Slot]]:
        """The running edges between processes as ((node, port, index), (node, port, index)).

        Subgraph processes appear under their flattened ids (``outer/inner``); edges of the
        exported ports are not listed.
        """
        return self.structure.running_edges()

    def component(self, node_id: str) -> Component:
        """The component instance running node ``node_id`` in this run (for inspection: a
        Bridge's link state, a test's probe). KeyError if no such process runs."""
        for proc in self.structure.processes:
            if proc.node_id == node_id and proc.component is not None:
                return proc.component
        raise KeyError(f"no process {node_id!r} in network {self.name!r}")

    def add_listener(self, listener: NetworkListener) -> None:
        """Have ``listener`` told of this network's events from now on."""
        self._listeners.append(checked_listener(listener))

    def remove_listener(self, listener: NetworkListener) -> None:
        """Stop telling ``listener``; a listener not added is ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every process has ended by itself (or the network was stopped)."""
        return self._finished.wait(timeout)

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        """Wire the graph and start every process; NetworkError if it is already started."""
        with self._state:
            if self.started:
                raise NetworkError(f"network {self.name!r} is already started")
            with getattr(self.graph, "lock", contextlib.nullcontext()):
                plan = plan_wiring(self.graph, self.registry, self.capacity)
            self.supervisor.load(plan)
            processes = self._instantiate(plan)
            self.structure.load(plan, processes)
            self._finished.clear()
            self.stopping.clear()
            self._drain.reset()
            self.stats = {"in": 0, "out": 0, "discarded": 0}
            self.port_counts = {"in": {}, "out": {}}
            self._undelivered = 0
            self._build_handlers()
            # The outport handler counts while it has outports to flush: it ends last.
            self._out_counted = bool(plan.exported_out)
            self._live = len(processes) + self._out_counted
            self.started = True
            self.running = True
            self.started_at = time.monotonic()
        # The exported ports connect before the network announces itself started: clients
        # such as fbp-spec start a test case on network:started and count every packet after it.
        for public in plan.exported_in:
            self.announce_port("in", public, "connect")
        for public in plan.exported_out:
            self.announce_port("out", public, "connect")
        self._tell(lambda listener: listener.started(self), "started")
        for thread in self._handlers:
            thread.start()
        for proc in processes:
            assert proc.thread is not None
            proc.thread.start()

    def _instantiate(self, plan: Plan) -> list[Process]:
        processes = []
        for node_id, cls in plan.classes.items():
            inports = {
                name: InputPort(spec, slots_of(plan.targets, node_id, name))
                for name, spec in cls.port_specs("in").items()
            }
            outports = {
                name: OutputPort(spec, slots_of(plan.sources, node_id, name))
                for name, spec in cls.port_specs("out").items()
            }
            processes.append(self._process(node_id, cls, inports, outports))
        return processes

    @property
    def restarts(self) -> dict[str, int]:
        """Fresh instances each process got after a failure, in this run."""
        return {proc.node_id: proc.restarts for proc in self.structure.processes}

    def _process(
        self,
        node_id: str,
        cls: type[Component],
        inports: dict[str, InputPort],
        outports: dict[str, OutputPort],
    ) -> Process:
        """The component instance of a node, bound to its ports, and its thread (not started)."""
        try:
            component = cls(
                node_id,
                cls.inports.bind(inports),
                cls.outports.bind(outports),
                _NetworkContext(self),
            )
        except Exception as exc:
            raise NetworkError(f"node {node_id!r}: cannot create {cls.__name__}: {exc}") from exc
        proc = Process(node_id, component, None, list(inports.values()), list(outports.values()))
        for port in inports.values():
            port.handling = proc.handling
        proc.thread = threading.Thread(target=self._run_process, args=(proc,), name=node_id)
        return proc

    # -- live edits (flowpy.engine.live) --------------------------------------------------
    def check_edit(self, event: str, payload: dict[str, Any]) -> str | None:
        """Why the running network could not follow graph change ``event`` (a graph event
        name and its payload), or None if it can (then the graph may change)."""
        if not self.started or self.stopping.is_set():
            return None
        return live.check(self, event, payload)

    def apply_edit(self, event: str, payload: dict[str, Any]) -> None:
        """Follow a change the graph has made (checked with :meth:`check_edit` first)."""
        if self.started and not self.stopping.is_set() and not self._drain.active:
            live.apply(self, event, payload)

    def topology(self) -> tuple[set[str], set[tuple[Slot, Slot]]]:
        """The processes and the edges between them as the network runs them now."""
        return self.structure.snapshot()

    # The lifecycle side of a live edit; flowpy.engine.live calls these, state lock held
    # unless said otherwise.
    def spawn(
        self,
        node_id: str,
        cls: type[Component],
        inports: dict[str, InputPort],
        outports: dict[str, OutputPort],
    ) -> Process:
        """A process added to the running network: made, counted as running and put into
        the structure (its thread is for the caller to start, after the lock)."""
        proc = self._process(node_id, cls, inports, outports)
        self.structure.add_process(proc, cls)
        self._live += 1
        out = self.structure.out_port
        if out is None or not out.held:
            self._revive_outport_handler()  # a process runs again: outports may come
        return proc

    def expect_outports(self) -> None:
        """An outport was exported: the outport handler flushes it before the network
        finishes (it counts as running, once)."""
        if not self._out_counted:
            self._out_counted = True
            self._live += 1

    def retire(self, thread: threading.Thread) -> None:
        """A removed process's thread still running: joined (or reported) at the stop."""
        self._retired.append(thread)

    def announce_port(self, direction: str, public: str, event: str) -> None:
        """Lock not held: tell the listeners an exported port connected or disconnected."""
        self._tell(lambda it: it.port_event(self, direction, public, event), "port_event")

    def report_discarded(self, count: int, why: str) -> None:
        """Lock not held: a live edit discarded ``count`` IPs (``why``: what it took away)."""
        log.warning("network %s: %s discarded %d IP(s)", self.name, why, count)
        self._tell(lambda listener: listener.edit_discarded(self, count, why), "edit_discarded")

    def _revive_outport_handler(self) -> None:
        """State lock held: a process was added after every process had ended, so the
        outport handler has ended too: a new one serves the outports edits may export."""
        out = self.structure.out_port
        if (
            out is not None
            and self._handlers
            and any(t.name == f"{self.name}-OUT" and t.is_alive() for t in self._handlers)
        ):
            out.held = True
            out.poke()
            return
        out = InputPort(HANDLER_PORT, {}, held=True)
        self.structure.out_port = out
        thread = threading.Thread(target=self._serve_outports, args=(out,), name=f"{self.name}-OUT")
        self._handlers = [*self._handlers, thread]
        thread.start()

    def _build_handlers(self) -> None:
        self._requests = Connection(self.capacity, writers=1, name=f"{self.name}-IN requests")
        out_port = self.structure.out_port
        self._handlers = [
            threading.Thread(target=self._serve_inports, name=f"{self.name}-IN"),
            threading.Thread(
                target=self._serve_outports, args=(out_port,), name=f"{self.name}-OUT"
            ),
        ]

    # -- threads -------------------------------------------------------------------------
    def _run_process(self, proc: Process) -> None:
        """Run the process; after a failure, a fresh instance if its policy says so."""
        try:
            assert proc.component is not None
            cpus.place_this_thread(proc.component.parallel)
            while True:
                component = proc.component
                proc.handling.item = NOTHING
                try:
                    component.run()
                    return
                except (EndOfStream, NetworkStopped):
                    return
                except BaseException as exc:  # noqa: BLE001 - a process error must never kill the runtime
                    if self.stopping.is_set() or not self.supervisor.recover(proc, component, exc):
                        return
        except NetworkStopped:  # stopped while sending a failure to the error port
            pass
        finally:
            for port in proc.outports:
                port.close()
            for inport in proc.inports:
                for conn in inport._slots.values():
                    conn.close_reader()
            self._process_ended()

    def report_failure(self, failure: Failure) -> bool:
        """Tell the listeners a process failed and nothing caught it; True if one told people."""
        told: list[bool | None] = []
        self._tell(lambda it: told.append(it.process_failed(self, failure)), "process_failed")
        return any(told)

    def _serve_inports(self) -> None:
        """The ``{graph}-IN`` pseudo-process: puts requested IPs into the exported inports."""
        requests = self._requests
        assert requests is not None
        cpus.place_this_thread()
        counts = self.port_counts["in"]
        try:
            while True:
                batch = requests.recv_many(INPORT_BATCH)  # one lock round-trip per burst
                in_ports = self.structure.in_ports  # replaced, never changed, by live edits
                for position, (kind, public, ip, callback, on_queued) in enumerate(batch):
                    port = in_ports.get(public)
                    accepted = port is not None or kind not in _IPS  # an inport edited away
                    try:
                        if kind in _IPS and port is not None:
                            queued = partial(_safe_call, on_queued) if on_queued else None
                            many = kind == "ips"  # send_inport_many
                            accepted = port.send_raw(ip, queued) if many else port.send(ip, queued)
                            self.stats["in"] += (n := len(ip) if many else 1)
                            counts[public] = counts.get(public, 0) + n
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
            for port in self.structure.in_ports.values():
                port.close()
            self._drain.poke()

    def _serve_outports(self, port: InputPort) -> None:
        """The ``{graph}-OUT`` pseudo-process: hands every IP leaving an exported outport on,
        as many of one port at a time as are queued (one listener call per batch)."""
        cpus.place_this_thread()
        counts = self.port_counts["out"]
        try:
            while True:
                try:
                    public, ips = port._select(OUTPORT_BATCH, None)
                except EndOfStream:
                    break
                self.stats["out"] += len(ips)
                name = self.structure.out_names.get(public, public)
                counts[name] = counts.get(name, 0) + len(ips)
                self._emit_outport(name, ips)
        finally:
            for conn in port._slots.values():
                conn.close_reader()
            if self._out_counted:
                self._process_ended()

    def _emit_outport(self, public: Any, ips: list[IP]) -> None:
        """To every listener; what the stop kept the one that handed on least from handing
        on is counted with what the stop discarded."""
        undelivered = 0
        for listener in list(self._listeners):
            try:
                undelivered = max(undelivered, listener.outport_ips(self, public, ips) or 0)
            except Exception:  # a listener bug must not kill a network thread
                log.exception("network listener %r failed on outport IPs", listener)
        self._undelivered += undelivered

    def _process_ended(self) -> None:
        with self._state:
            self._live -= 1
            done = self._live == 0
            if done:
                self.running = False
            out = self.structure.out_port
            if out is not None and out.held and self._live == int(self._out_counted):
                # No process is left: the outport handler ends once its streams have.
                out.held = False
                out.poke()
        self._drain.poke()
        if done:
            if not self.stopping.is_set() and not self._drain.active:  # a stop reports itself
                self._tell(lambda listener: listener.finished(self), "finished")
            self._finished.set()

    # -- graph inports -------------------------------------------------------------------
    def _inport_name(self, port: str) -> str:
        in_ports = self.structure.in_ports
        if port in in_ports:
            return port
        for public in in_ports:
            if public.lower() == str(port).lower():
                return public
        raise NetworkError(
            f"graph {self.name!r} has no exported inport {missing_name(port, in_ports)}"
        )

    def _request(
        self,
        kind: str,
        port: str,
        ip: IP | list[IP] | None,
        on_accepted: Callable[[bool], Any] | None,
        on_queued: Callable[..., Any] | None = None,
    ) -> None:
        if not self.started or self.stopping.is_set() or self._requests is None:
            raise NetworkError(f"network {self.name!r} is not running")
        if self._drain.active:
            raise NetworkError(f"network {self.name!r} is stopping")
        public = self._inport_name(port)
        try:
            self._requests.send((kind, public, ip, on_accepted, on_queued))
        except NetworkStopped:
            raise NetworkError(f"network {self.name!r} is stopping") from None

    def send_inport(
        self,
        port: str,
        ip: IP,
        on_accepted: Callable[[bool], Any] | None = None,
        on_queued: Callable[[], Any] | None = None,
    ) -> None:
        """Queue ``ip`` for exported inport ``port``; ``on_accepted(ok)`` runs once it is accepted.

        Blocks only while the inport handler's own queue is full (back-pressure to the caller).
        ``on_queued()``, if given, runs at the moment the IP enters the network, before any
        process can read it (so before anything the network makes of it can come out); it
        must be quick and must not block. ``on_accepted(True)`` follows it.
        """
        self._request("ip", port, ip, on_accepted, on_queued)

    def send_inport_many(
        self,
        port: str,
        ips: list[IP],
        on_accepted: Callable[[bool], Any] | None = None,
        on_queued: Callable[[int], Any] | None = None,
    ) -> None:
        """:meth:`send_inport` of IPs in order as one request (one edge ``send_many``);
        ``on_queued(n)``: n more are in (see send_inport); ``on_accepted`` runs once."""
        self._request("ips", port, ips, on_accepted, on_queued)

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
        return self.structure.tap(src, tgt, callback)

    # -- stop ----------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0, drain: bool = True) -> list[str]:
        """Stop every thread, draining first (see the module docstring); returns the names of
        threads that did not end within ``timeout`` (the drain included)."""
        with self._state:
            if not self.started or self.stopping.is_set() or self._drain.active:
                return []
            self._drain.active = True
            plan = self.structure.plan
        began = time.monotonic()
        deadline = began + timeout
        in_handler = self._handlers[0] if self._handlers else None
        drained = (
            self._drain.run(
                self.structure, self._requests, in_handler, deadline - min(1.0, timeout * 0.2)
            )
            if drain
            else True
        )
        with self._state:
            self.stopping.set()
        self._tell(lambda listener: listener.stopping(self), "stopping")
        # Inports first: nothing new enters, and the IN handler ends.
        unserved = self._requests.abort() if self._requests is not None else []
        processes = self.structure.processes
        for proc in processes:
            if proc.component is not None:
                proc.component.stop_deadline = deadline
                proc.component.stopping.set()
            for outport in proc.outports:
                outport.release()  # a send waiting for an edge that edits took away
        discarded = sum(len(conn.abort()) for conn in self.structure.connections)
        stuck = []
        for thread in self._handlers + [p.thread for p in processes if p.thread] + self._retired:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        discarded += in_hand(processes) + self._undelivered
        self.stats["discarded"] = discarded
        for _kind, _public, _ip, callback, _queued in unserved:  # never accepted: say so
            if callback is not None:
                _safe_call(callback, False)
        for public in plan.exported_in:
            self.announce_port("in", public, "disconnect")
        for public in plan.exported_out:
            self.announce_port("out", public, "disconnect")
        with self._state:
            self.started = False
            self.running = False
        self._finished.set()
        if stuck:
            log.warning("network %s: threads still running after stop: %s", self.name, stuck)
        if discarded or not drained:  # logged once: at info if a listener told people
            told: list[bool | None] = []
            self._tell(lambda it: told.append(it.discarded(self, discarded, drained)), "discarded")
            level = logging.INFO if any(told) else logging.WARNING
            cut = "" if drained else " (the drain did not finish)"
            log.log(level, "network %s: stop discarded %d IP(s)%s", self.name, discarded, cut)
        self._tell(lambda listener: listener.stopped(self), "stopped")
        return stuck

    def cut_drain(self) -> None:
        """End a drain in progress now (a second interrupt): the stop goes on at once."""
        self._drain.cut()

    # -- plumbing ------------------------------------------------------------------------
    def _tell(self, call: Callable[[NetworkListener], object], event: str) -> None:
        """``call`` each listener (``event`` names it in the log if a listener fails)."""
        for listener in list(self._listeners):
            try:
                call(listener)
            except Exception:  # a listener bug must not kill a network thread
                log.exception("network listener %r failed on %s", listener, event)

    def console(self, node_id: str, text: str) -> None:
        """Console output of a process: to the listeners, or to stdout when nobody listens."""
        if self._listeners:
            self._tell(lambda listener: listener.output(self, node_id, text), "output")
        else:
            print(text, flush=True)


class _NetworkContext(ProcessContext):
    def __init__(self, network: Network) -> None:
        self.network = network
        base = (getattr(network.graph, "properties", None) or {}).get(BASE_DIR_PROPERTY)
        self.base_dir = base if isinstance(base, str) and base else None

    def console(self, node_id: str, text: str) -> None:
        self.network.console(node_id, text)


def _safe_call(callback: Callable[..., Any], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("inport callback failed")
