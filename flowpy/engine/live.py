"""Live edits: a running network follows every change of its graph, without losing an IP.

:func:`check` refuses what cannot be applied safely (subgraph nodes and their edges, unknown
components or ports, edges into an ended process) before the graph changes; :func:`apply`
is the table of edits, each a few operations on the network's
:class:`~flowpy.engine.topology.Topology` and its lifecycle side (:class:`EditedNetwork`),
never its private state, all under the topology's lock. Callers go through
``Network.check_edit`` / ``Network.apply_edit``. The semantics of each edit are in
docs/architecture.md ("Live editing").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .component import Component
from .errors import NetworkError
from .ip import IP
from .ports import InputPort, OutputPort, PortError
from .subgraph import is_subgraph
from .topology import Process, Topology
from .wiring import OUT_HANDLER, Slot

log = logging.getLogger(__name__)

#: How long removenode waits for the removed process's thread before leaving it to the stop.
REMOVE_JOIN = 0.5


class EditedNetwork(Protocol):
    """What a live edit needs of the running network besides its structure (the Network)."""

    @property
    def graph(self) -> Any:
        """The graph the network runs and edits follow."""

    @property
    def registry(self) -> Any:
        """The registry new processes' components come from."""

    @property
    def started(self) -> bool:
        """True while the network runs: edits apply to it only then."""

    @property
    def structure(self) -> Topology:
        """The wired processes and connections the edits change."""

    def spawn(
        self,
        node_id: str,
        cls: type[Component],
        inports: dict[str, InputPort],
        outports: dict[str, OutputPort],
    ) -> Process:
        """Make a process an edit added, count it as running and add it (the caller starts it)."""

    def expect_outports(self) -> None:
        """An outport was exported: the outport handler must flush it before the network ends."""

    def retire(self, thread: threading.Thread) -> None:
        """Hand the thread of a removed process to the stop, which joins it."""

    def announce_port(self, direction: str, public: str, event: str) -> None:
        """Tell the listeners an exported port ``public`` appeared or went (``event``)."""

    def report_discarded(self, count: int, why: str) -> None:
        """Count and report ``count`` IPs an edit discarded, saying ``why``."""


# -- checking -------------------------------------------------------------------------------


def check(network: EditedNetwork, event: str, payload: dict[str, Any]) -> str | None:
    """Why ``event`` cannot be applied to the running network, or None if it can."""
    checker = _CHECKS.get(event)
    if checker is None:
        return None
    try:
        return checker(network, payload)
    except (NetworkError, PortError) as exc:
        return str(exc)
    except (KeyError, TypeError, AttributeError):
        return None  # a malformed change: the graph refuses it, with a better message


def _check_addnode(network: EditedNetwork, p: dict[str, Any]) -> str | None:
    try:
        cls = network.registry.get(p["component"])
    except KeyError as exc:
        return str(exc.args[0])
    if is_subgraph(cls):
        return f"{p['component']!r} is a subgraph: a running network cannot add one"
    return None


def _check_node(network: EditedNetwork, node: str) -> str | None:
    topo = network.structure
    if topo.class_of(node) is None and topo.is_flattened(node):
        return f"node {node!r} is a subgraph, which runs flattened into its processes"
    return None  # running, or not (then its graph change refuses or ignores it)


def _check_removenode(network: EditedNetwork, p: dict[str, Any]) -> str | None:
    return _check_node(network, p["id"])


def _check_renamenode(network: EditedNetwork, p: dict[str, Any]) -> str | None:
    return _check_node(network, p["from"])


def _check_addedge(network: EditedNetwork, p: dict[str, Any]) -> str | None:
    for end in (p["src"], p["tgt"]):
        problem = _check_node(network, end["node"])
        if problem is not None:
            return problem
    _resolve(network, p["src"], "out")
    tgt = _resolve(network, p["tgt"], "in")
    proc = network.structure.process(tgt[0])
    if (
        proc is not None
        and proc.thread is not None
        and not proc.thread.is_alive()
        and network.started
    ):
        return f"process {tgt[0]!r} has ended (all its inputs ended)"
    return None


def _check_addinitial(network: EditedNetwork, p: dict[str, Any]) -> str | None:
    problem = _check_node(network, p["tgt"]["node"])
    if problem is None:
        _resolve(network, p["tgt"], "in")
    return problem


def _check_export(network: EditedNetwork, p: dict[str, Any], direction: str) -> str | None:
    problem = _check_node(network, p["node"])
    if problem is None:
        _resolve(network, {"node": p["node"], "port": p["port"]}, direction)
    return problem


_CHECKS: dict[str, Callable[[EditedNetwork, dict[str, Any]], str | None]] = {
    "addnode": _check_addnode,
    "removenode": _check_removenode,
    "renamenode": _check_renamenode,
    "addedge": _check_addedge,
    "removeedge": lambda n, p: _check_node(n, p["src"]["node"]) or _check_node(n, p["tgt"]["node"]),
    "addinitial": _check_addinitial,
    "addinport": lambda n, p: _check_export(n, p, "in"),
    "addoutport": lambda n, p: _check_export(n, p, "out"),
}


# -- applying -------------------------------------------------------------------------------


def apply(network: EditedNetwork, event: str, payload: dict[str, Any]) -> None:
    """Make the running network follow ``event`` (already checked and made in the graph)."""
    handler = _APPLY.get(event)
    if handler is not None:
        handler(network, payload)


def _add_node(network: EditedNetwork, p: dict[str, Any]) -> None:
    node_id = p["id"]
    cls = network.registry.get(p["component"])
    topo = network.structure
    with topo.lock:
        if topo.class_of(node_id) is not None:
            return
        inports = {}
        for name, spec in cls.port_specs("in").items():
            if spec.addressable:
                inports[name] = InputPort(spec, {}, held=True)
            else:
                conn = topo.new_connection((node_id, name, None), writers=0)  # held
                inports[name] = InputPort(spec, {None: conn})
        outports = {
            name: OutputPort(spec, {None: []} if not spec.addressable else {})
            for name, spec in cls.port_specs("out").items()
        }
        proc = network.spawn(node_id, cls, inports, outports)
    assert proc.thread is not None
    proc.thread.start()


def _remove_node(network: EditedNetwork, p: dict[str, Any]) -> None:
    node_id = p["id"]
    with network.structure.lock:
        removed = network.structure.remove_process(node_id)
    if removed is None:
        return
    proc, inputs = removed
    if proc.component is not None:
        proc.component.stopping.set()
    for outport in proc.outports:
        outport.release()
    discarded = sum(conn.retire() for conn in inputs)
    if discarded:
        network.report_discarded(discarded, f"removing process {node_id!r}")
    thread = proc.thread
    if thread is not None:
        thread.join(REMOVE_JOIN)
        if thread.is_alive():
            network.retire(thread)


def _rename_node(network: EditedNetwork, p: dict[str, Any]) -> None:
    with network.structure.lock:
        network.structure.rename_process(p["from"], p["to"])


def _add_edge(network: EditedNetwork, p: dict[str, Any]) -> None:
    with network.structure.lock:
        src = _resolve(network, p["src"], "out")
        tgt = _resolve(network, p["tgt"], "in")
        network.structure.connect(src, tgt)


def _remove_edge(network: EditedNetwork, p: dict[str, Any]) -> None:
    topo = network.structure
    with topo.lock:
        edge = topo.find_edge(p["src"], p["tgt"])
        if edge is not None:
            src, tgt = edge
            topo.disconnect(src, tgt, close=tgt[0] == OUT_HANDLER or bool(p.get("ending")))


def _add_initial(network: EditedNetwork, p: dict[str, Any]) -> None:
    with network.structure.lock:
        tgt = _resolve(network, p["tgt"], "in")
        ip = IP.make_data((p.get("src") or {}).get("data"))
        conn = network.structure.add_initial(tgt, ip)
    conn.inject(ip)


def _remove_initial(network: EditedNetwork, p: dict[str, Any]) -> None:
    with network.structure.lock:
        network.structure.remove_initial(_resolve(network, p["tgt"], "in"))


def _add_inport(network: EditedNetwork, p: dict[str, Any]) -> None:
    public = p["public"]
    with network.structure.lock:
        tgt = _resolve(network, {"node": p["node"], "port": p["port"]}, "in")
        network.structure.export_inport(public, tgt)
    network.announce_port("in", public, "connect")


def _remove_inport(network: EditedNetwork, p: dict[str, Any]) -> None:
    public = p["public"]
    with network.structure.lock:
        network.structure.unexport_inport(public)
    network.announce_port("in", public, "disconnect")


def _rename_inport(network: EditedNetwork, p: dict[str, Any]) -> None:
    old, new = p["from"], p["to"]
    with network.structure.lock:
        renamed = network.structure.rename_inport(old, new)
    if renamed:
        network.announce_port("in", old, "disconnect")
        network.announce_port("in", new, "connect")


def _add_outport(network: EditedNetwork, p: dict[str, Any]) -> None:
    public = p["public"]
    with network.structure.lock:
        src = _resolve(network, {"node": p["node"], "port": p["port"]}, "out")
        network.expect_outports()  # it flushes this outport before the network finishes
        network.structure.export_outport(public, src)
    network.announce_port("out", public, "connect")


def _remove_outport(network: EditedNetwork, p: dict[str, Any]) -> None:
    public = p["public"]
    with network.structure.lock:
        network.structure.unexport_outport(public)
    network.announce_port("out", public, "disconnect")


def _rename_outport(network: EditedNetwork, p: dict[str, Any]) -> None:
    old, new = p["from"], p["to"]
    with network.structure.lock:
        renamed = network.structure.rename_outport(old, new)
    if renamed:
        network.announce_port("out", old, "disconnect")
        network.announce_port("out", new, "connect")


_APPLY: dict[str, Callable[[EditedNetwork, dict[str, Any]], None]] = {
    "addnode": _add_node,
    "removenode": _remove_node,
    "renamenode": _rename_node,
    "addedge": _add_edge,
    "removeedge": _remove_edge,
    "addinitial": _add_initial,
    "removeinitial": _remove_initial,
    "addinport": _add_inport,
    "removeinport": _remove_inport,
    "renameinport": _rename_inport,
    "addoutport": _add_outport,
    "removeoutport": _remove_outport,
    "renameoutport": _rename_outport,
}


def _resolve(network: EditedNetwork, ref: dict[str, Any], direction: str) -> Slot:
    """A port object of the graph as a slot of the running network (see Topology.resolve)."""
    return network.structure.resolve(ref, direction, lambda node: node in network.graph.nodes)


__all__ = ["EditedNetwork", "apply", "check"]
