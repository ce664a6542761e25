"""Live edits: a running network follows every change of its graph, without losing an IP.

The semantics (docs/architecture.md, "Live editing"), as NoFlo's running networks have them:

* ``addnode``: the process is made and its thread started. Its inports wait for edges (they
  are *held* open) instead of ending at once, as an unconnected inport does at a start.
* ``removenode``: its edges are removed first (the graph says so, edge by edge: see below,
  except that an edge *from* the removed process is closed (``ending`` in the payload), so
  downstream sees end-of-stream on it if no other writer remains); then the process is told
  to stop and its inputs end; IPs still queued for it are discarded, counted and reported;
  its thread is joined within the stop deadline (or when the network stops).
* ``addedge``: a connection joins the two running processes (fan-in shares the target's
  connection, fan-out adds a target to the source; addressable indexes honoured, an index
  left out takes the next free one). A reader waiting on the inport, or on a selector over
  several slots, takes it into account without missing a wake-up.
* ``removeedge``: the source stops sending to the connection at once; the IPs already in it
  are still delivered to the target. If it was the target's last writer, the network *holds*
  the connection open, so the target waits for a new edge instead of ending.
* ``addinitial``: the IIP is delivered at once (IIPs never wait for room); ``removeinitial``
  takes back one not yet read.
* exported ports: the inport and outport handlers adapt at once; ``connect``/``disconnect``
  events are emitted for ports that appear or disappear; renames follow.
* ``renamenode``: the process, its thread and its edges take the new name.
* metadata changes (``changenode``, ``changeedge``, groups) change nothing that runs.

What cannot be applied safely is refused before the graph changes (:func:`check`): nodes of
subgraph components and edges to or from them (a subgraph runs flattened into many
processes; stop the network to change one), unknown components or ports, and edges into a
process that has already ended. Running subgraph instances never follow edits of the graph
they were made from (as in NoFlo): they are copies taken at the start.

These functions work on a :class:`~flowpy.engine.network.Network`'s internals (this module is
the network's, split off to keep each file about one thing); callers go through
``Network.check_edit`` / ``Network.apply_edit``. Every structural change is made under the
network's state lock; the lists senders read are replaced, never changed in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowpy.errors import missing_name

from .connection import Connection
from .errors import NetworkError
from .ip import IP
from .ports import InputPort, OutputPort, PortError, PortSpec, find_port, normalize_index
from .subgraph import is_subgraph
from .wiring import IN_HANDLER, OUT_HANDLER, Slot, slot_name

if TYPE_CHECKING:
    from .network import Network, _Process

log = logging.getLogger(__name__)

#: How long removenode waits for the removed process's thread before leaving it to the stop.
REMOVE_JOIN = 0.5
_HANDLERS = (IN_HANDLER, OUT_HANDLER)


# -- checking -------------------------------------------------------------------------------


def check(network: Network, event: str, payload: dict) -> str | None:
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


def _check_addnode(network: Network, p: dict) -> str | None:
    try:
        cls = network.registry.get(p["component"])
    except KeyError as exc:
        return str(exc.args[0])
    if is_subgraph(cls):
        return f"{p['component']!r} is a subgraph: a running network cannot add one"
    return None


def _check_node(network: Network, node: str) -> str | None:
    if node not in network._plan.classes:
        if _is_flattened(network, node):
            return f"node {node!r} is a subgraph, which runs flattened into its processes"
        return None  # not running (its graph change refuses or ignores it)
    return None


def _check_removenode(network: Network, p: dict) -> str | None:
    return _check_node(network, p["id"])


def _check_renamenode(network: Network, p: dict) -> str | None:
    return _check_node(network, p["from"])


def _check_addedge(network: Network, p: dict) -> str | None:
    for end in (p["src"], p["tgt"]):
        problem = _check_node(network, end["node"])
        if problem is not None:
            return problem
    src = _resolve(network, p["src"], "out")
    tgt = _resolve(network, p["tgt"], "in")
    proc = _process(network, tgt[0])
    if proc is not None and proc.thread is not None and not proc.thread.is_alive() \
            and network.started:
        return f"process {tgt[0]!r} has ended (all its inputs ended)"
    del src
    return None


def _check_addinitial(network: Network, p: dict) -> str | None:
    problem = _check_node(network, p["tgt"]["node"])
    if problem is None:
        _resolve(network, p["tgt"], "in")
    return problem


def _check_export(network: Network, p: dict, direction: str) -> str | None:
    problem = _check_node(network, p["node"])
    if problem is None:
        _resolve(network, {"node": p["node"], "port": p["port"]}, direction)
    return problem


_CHECKS: dict[str, Callable[[Network, dict], str | None]] = {
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


def apply(network: Network, event: str, payload: dict) -> None:
    """Make the running network follow ``event`` (already checked and made in the graph)."""
    handler = _APPLY.get(event)
    if handler is not None:
        handler(network, payload)


def _add_node(network: Network, p: dict) -> None:
    node_id = p["id"]
    cls = network.registry.get(p["component"])
    with network._state:
        if node_id in network._plan.classes:
            return
        inports = {}
        for name, spec in cls.port_specs("in").items():
            if spec.addressable:
                inports[name] = InputPort(spec, {}, held=True)
            else:
                conn = _new_connection(network, (node_id, name, None), writers=0)  # held
                inports[name] = InputPort(spec, {None: conn})
        outports = {name: OutputPort(spec, {None: []} if not spec.addressable else {})
                    for name, spec in cls.port_specs("out").items()}
        proc = network._make_process(node_id, cls, inports, outports)
        network._plan.classes[node_id] = cls
        network._processes = [*network._processes, proc]
        network._live += 1
        if network._out_port is None or not network._out_port.held:
            network._revive_outport_handler()  # a process runs again: outports may come
    assert proc.thread is not None
    proc.thread.start()


def _remove_node(network: Network, p: dict) -> None:
    node_id = p["id"]
    with network._state:
        proc = _process(network, node_id)
        if proc is None:
            return
        network._processes = [q for q in network._processes if q is not proc]
        del network._plan.classes[node_id]
        inputs = [(slot, conn) for slot, conn in network._plan.targets.items()
                  if slot[0] == node_id]
        for slot, _conn in inputs:
            del network._plan.targets[slot]
        network._plan.sources = {slot: targets for slot, targets in
                                 network._plan.sources.items() if slot[0] != node_id}
    if proc.component is not None:
        proc.component.stopping.set()
    for outport in proc.outports:
        outport.release()
    discarded = sum(conn.retire() for _slot, conn in inputs)
    if discarded:
        network._report_discarded(discarded, f"removing process {node_id!r}")
    thread = proc.thread
    if thread is not None:
        thread.join(REMOVE_JOIN)
        if thread.is_alive():
            network._retired.append(thread)  # joined (or reported stuck) when the network stops


def _rename_node(network: Network, p: dict) -> None:
    old, new = p["from"], p["to"]

    def rename(slot: Slot) -> Slot:
        return (new, slot[1], slot[2]) if slot[0] == old else slot

    with network._state:
        proc = _process(network, old)
        if proc is None:
            return
        plan = network._plan
        plan.classes = {(new if k == old else k): v for k, v in plan.classes.items()}
        plan.targets = {rename(k): v for k, v in plan.targets.items()}
        plan.sources = {rename(k): v for k, v in plan.sources.items()}
        plan.edges = [(rename(s), rename(t)) for s, t in plan.edges]
        plan.exported_in = {k: rename(v) for k, v in plan.exported_in.items()}
        plan.exported_out = {k: rename(v) for k, v in plan.exported_out.items()}
        network._taps = {(rename(s), rename(t)): tap for (s, t), tap in network._taps.items()}
        proc.node_id = new
        if proc.component is not None:
            proc.component.node_id = new
        if proc.thread is not None:
            proc.thread.name = new


def _add_edge(network: Network, p: dict) -> None:
    with network._state:
        src = _resolve(network, p["src"], "out")
        tgt = _resolve(network, p["tgt"], "in")
        _connect(network, src, tgt)


def _remove_edge(network: Network, p: dict) -> None:
    with network._state:
        edge = _find_edge(network, p["src"], p["tgt"])
        if edge is None:
            return
        src, tgt = edge
        network._plan.edges = [e for e in network._plan.edges if e != edge]
        conn = network._plan.targets.get(tgt)
        if conn is None:
            return
        port = outport_of(network, src)
        targets = network._plan.sources.get(src, [])
        target = next((t for t in targets if t is conn or getattr(t, "inner", None) is conn), None)
        if target is None:
            return
        network._plan.sources[src] = [t for t in targets if t is not target]
        if port is not None and port.detach(target):
            if tgt[0] == OUT_HANDLER or p.get("ending"):
                conn.close_writer()  # an exported outport, or the source going: a real end
            else:
                conn.detach_writer()


def _add_initial(network: Network, p: dict) -> None:
    with network._state:
        tgt = _resolve(network, p["tgt"], "in")
        conn = network._plan.targets.get(tgt)
        if conn is None:  # an inport nothing was connected to: the IIP makes its stream
            conn = _new_connection(network, tgt, writers=0)
            _inport(network, tgt).attach(tgt[2], conn)
        ip = IP.make_data((p.get("src") or {}).get("data"))
        network._plan.iips.setdefault(tgt, []).append(ip)
    conn.inject(ip)


def _remove_initial(network: Network, p: dict) -> None:
    with network._state:
        tgt = _resolve(network, p["tgt"], "in")
        queued = network._plan.iips.get(tgt, [])
        conn = network._plan.targets.get(tgt)
        for ip in list(queued):
            queued.remove(ip)
            if conn is not None and conn.take_back(ip):
                return


def _add_inport(network: Network, p: dict) -> None:
    public = p["public"]
    with network._state:
        tgt = _resolve(network, {"node": p["node"], "port": p["port"]}, "in")
        port = OutputPort(PortSpec(str(public)), {None: []})
        network._in_ports = {**network._in_ports, public: port}
        network._plan.exported_in[public] = tgt
        _connect(network, (IN_HANDLER, "port", public), tgt)
    network._emit("port_event", network, "in", public, "connect")


def _remove_inport(network: Network, p: dict) -> None:
    public = p["public"]
    with network._state:
        tgt = network._plan.exported_in.pop(public, None)
        port = network._in_ports.get(public)
        network._in_ports = {k: v for k, v in network._in_ports.items() if k != public}
        src = (IN_HANDLER, "port", public)
        conn = network._plan.targets.get(tgt) if tgt is not None else None
        network._plan.edges = [e for e in network._plan.edges if e[0] != src]
        network._plan.sources.pop(src, None)
        if port is not None and conn is not None and port.detach(conn):
            conn.detach_writer()
    network._emit("port_event", network, "in", public, "disconnect")


def _rename_inport(network: Network, p: dict) -> None:
    old, new = p["from"], p["to"]
    with network._state:
        if old not in network._in_ports:
            return
        network._in_ports = {(new if k == old else k): v for k, v in network._in_ports.items()}
        network._plan.exported_in = {(new if k == old else k): v
                                     for k, v in network._plan.exported_in.items()}
    network._emit("port_event", network, "in", old, "disconnect")
    network._emit("port_event", network, "in", new, "connect")


def _add_outport(network: Network, p: dict) -> None:
    public = p["public"]
    with network._state:
        src = _resolve(network, {"node": p["node"], "port": p["port"]}, "out")
        tgt: Slot = (OUT_HANDLER, "port", public)
        network._plan.exported_out[public] = src
        network._out_names[public] = public
        if not network._out_counted:  # it flushes this outport before the network finishes
            network._out_counted = True
            network._live += 1
        _connect(network, src, tgt)
    network._emit("port_event", network, "out", public, "connect")


def _remove_outport(network: Network, p: dict) -> None:
    public = p["public"]
    with network._state:
        src = network._plan.exported_out.pop(public, None)
        slot = next((k for k, v in network._out_names.items() if v == public), public)
        network._out_names.pop(slot, None)
        if src is not None:
            tgt: Slot = (OUT_HANDLER, "port", slot)
            _remove_edge_slots(network, src, tgt)
    network._emit("port_event", network, "out", public, "disconnect")


def _rename_outport(network: Network, p: dict) -> None:
    old, new = p["from"], p["to"]
    with network._state:
        slot = next((k for k, v in network._out_names.items() if v == old), None)
        if slot is None:
            return
        network._out_names[slot] = new
        network._plan.exported_out = {(new if k == old else k): v
                                      for k, v in network._plan.exported_out.items()}
    network._emit("port_event", network, "out", old, "disconnect")
    network._emit("port_event", network, "out", new, "connect")


_APPLY: dict[str, Callable[[Network, dict], None]] = {
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


# -- plumbing (state lock held) -------------------------------------------------------------


def _connect(network: Network, src: Slot, tgt: Slot) -> None:
    """A new edge src -> tgt: the target slot's connection (made, held or shared) gets one
    more writer, and the source sends to it."""
    plan = network._plan
    conn = plan.targets.get(tgt)
    if conn is None:
        conn = _new_connection(network, tgt, writers=0)
        if tgt[0] == OUT_HANDLER:
            assert network._out_port is not None
            network._out_port.attach(tgt[2], conn)
        else:
            _inport(network, tgt).attach(tgt[2], conn)
    port = outport_of(network, src)
    plan.edges = [*plan.edges, (src, tgt)]
    if port is None:
        return  # a source that has no process (removed meanwhile): nothing will come
    conn.add_writer()
    index = None if src[0] == IN_HANDLER else src[2]  # an inport handler port has one slot
    if port.attach(index, conn):
        plan.sources[src] = [*plan.sources.get(src, []), conn]
    else:
        conn.detach_writer()  # the source has ended: it will never write (nor close)


def _remove_edge_slots(network: Network, src: Slot, tgt: Slot) -> None:
    plan = network._plan
    plan.edges = [e for e in plan.edges if e != (src, tgt)]
    conn = plan.targets.get(tgt)
    port = outport_of(network, src)
    if conn is None or port is None:
        return
    plan.sources[src] = [t for t in plan.sources.get(src, []) if t is not conn]
    if port.detach(conn):
        conn.close_writer()


def _new_connection(network: Network, slot: Slot, writers: int) -> Connection:
    conn = Connection(network.capacity, writers=writers, name=slot_name(slot))
    if writers == 0:
        conn.hold()  # made for a writer about to be added (or held open): not ended yet
    network._plan.targets[slot] = conn
    network._connections = [*network._connections, conn]
    return conn


def _resolve(network: Network, ref: dict, direction: str) -> Slot:
    """A port object of the graph as a slot of the running network (NetworkError if it names
    no running process's port)."""
    node = ref["node"]
    cls = network._plan.classes.get(node)
    if cls is None and node not in network.graph.nodes:
        raise KeyError(node)  # unknown to the graph too: its refusal names it better
    if cls is None:
        raise NetworkError(f"node {node!r} is not running")
    ports = cls.port_specs(direction)
    spec = find_port(ports, ref["port"], cls.component_name or cls.__name__)
    kind = "inport" if direction == "in" else "outport"
    if spec is None:
        raise NetworkError(f"node {node!r} has no {kind} "
                           f"{missing_name(ref['port'], sorted(ports))}")
    name = spec.name
    index = normalize_index(ref.get("index"))
    if index is not None and not spec.addressable:
        raise NetworkError(f"{kind} {node}.{name} is not addressable but index {index!r} is given")
    if index is None and spec.addressable:
        used = {slot[2] for slot in (network._plan.targets if direction == "in"
                                     else network._plan.sources) if slot[:2] == (node, name)}
        index = 0
        while index in used:
            index += 1
    return (node, name, index)


def _find_edge(network: Network, src: dict, tgt: dict) -> tuple[Slot, Slot] | None:
    def norm(ref: dict) -> tuple[str, str, Any]:
        return (ref["node"], str(ref["port"]).lower(), normalize_index(ref.get("index")))

    want_src, want_tgt = norm(src), norm(tgt)
    for s, t in network._plan.edges:
        if s[:2] == want_src[:2] and t[:2] == want_tgt[:2] \
                and want_src[2] in (None, s[2]) and want_tgt[2] in (None, t[2]):
            return s, t
    return None


def _process(network: Network, node: str) -> _Process | None:
    return next((p for p in network._processes if p.node_id == node), None)


def _is_flattened(network: Network, node: str) -> bool:
    prefix = f"{node}/"
    return any(key.startswith(prefix) for key in network._plan.classes)


def _inport(network: Network, slot: Slot) -> InputPort:
    proc = _process(network, slot[0])
    if proc is None or proc.component is None:
        raise NetworkError(f"node {slot[0]!r} is not running")
    return proc.component.inports[slot[1]]


def outport_of(network: Network, slot: Slot) -> OutputPort | None:
    """The bound outport a source slot sends through (the inport handler's, for exports)."""
    if slot[0] == IN_HANDLER:
        return network._in_ports.get(str(slot[2]))
    proc = _process(network, slot[0])
    if proc is None or proc.component is None:
        return None
    return proc.component.outports[slot[1]]


def topology(network: Network) -> tuple[set[str], set[tuple[Slot, Slot]]]:
    """The processes and the edges between them as they run now (handlers left out)."""
    with network._state:
        processes = {p.node_id for p in network._processes}
        edges = {(s, t) for s, t in network._plan.edges
                 if s[0] not in _HANDLERS and t[0] not in _HANDLERS}
    return processes, edges


__all__ = ["apply", "check", "topology"]
