"""The graph sub-protocol: the 20 editing commands.

Handlers only validate and call the graph model. The acknowledgements are not made here:
the model emits a change event for every change (a ``removenode`` emits the removal of each
attached edge, IIP and export first) and the runtime turns each event into an ack for every
client that may read graphs. So every client sees the same story, in the model's order,
whoever made the change. ``clear`` is the exception: it (re)creates the graph, so its ack
echoes the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowpy.graphs.model import Graph, GraphError, PortRef
from flowpy.runtime.clients import Request

from .component_rules import refuse_forbidden
from .fields import (
    ProtocolError,
    boolean,
    edge_metadata,
    group_metadata,
    hosted_graph,
    node_metadata,
    obj,
    port,
    string,
)

if TYPE_CHECKING:
    from .host import Handler, Host

_CLEAR_FIELDS = ("name", "library", "icon", "description")


def clear(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Create the graph ``id``, or empty it if it exists; ``main: true`` makes it the main graph."""
    gid = string(payload, "id")
    assert gid is not None
    fields = {key: string(payload, key, required=False, empty=True) for key in _CLEAR_FIELDS}
    main = payload.get("main")
    if main is not None:
        main = boolean(payload, "main")
    properties = {key: value for key, value in fields.items() if value is not None}
    properties["id"] = gid
    properties["name"] = fields["name"] or gid
    hosted = rt.get_graph(gid)
    had_exports = False
    if hosted is None:
        try:
            hosted = rt.add_graph(gid, Graph(properties=properties), main=bool(main), request=req)
        except GraphError as exc:  # an id no graph may have: nothing was created
            raise ProtocolError(str(exc)) from None
    else:
        hosted.stop(request=req)
        had_exports = hosted.has_exports()
        with hosted.editing(req), hosted.graph.lock:
            hosted.graph.clear()
            hosted.graph.properties.update(properties)
    if main:
        rt.set_main(gid, req)
    ack: dict[str, Any] = {"id": gid}
    ack.update({key: value for key, value in fields.items() if value is not None})
    if main is not None:
        ack["main"] = main
    rt.broadcast("graph", "clear", ack, "graph", req)
    if had_exports:
        rt.send_ports(hosted)
    rt.sync_graph_components(req)  # new graph, new main, or a new library: new component names


def _ref(value: dict[str, Any]) -> PortRef:
    return PortRef(value["node"], value["port"], value.get("index"))


def _change(
    action: Callable[[Any, dict[str, Any]], Any],
) -> Callable[[Host, Request, dict[str, Any]], None]:
    """A handler that resolves the graph, then applies ``action``; GraphError -> graph:error."""

    def handler(rt: Host, req: Request, payload: dict[str, Any]) -> None:
        hosted = hosted_graph(rt, payload)
        command = action.__name__
        _refuse_if_running(hosted, command, payload)
        removing = payload.get("id") if command == "removenode" else None
        try:
            with hosted.editing(req, removing) as graph:
                action(graph, payload)
        except GraphError as exc:
            raise ProtocolError(str(exc)) from None

    handler.__doc__ = action.__doc__
    handler.__name__ = action.__name__
    return handler


def _refuse_if_running(hosted: Any, command: str, payload: dict[str, Any]) -> None:
    """An edit the running network cannot follow is refused before the graph changes
    (docs/protocol.md, "Live editing"): never acknowledged and deferred."""
    problem = hosted.live_problem(command, payload)
    if problem is not None:
        raise ProtocolError(
            f"cannot {command} while the network runs: {problem}; stop the network first"
        )


def _s(payload: dict[str, Any], key: str) -> str:
    value = string(payload, key)
    assert value is not None
    return value


def addnode(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Refuses a component the sender's secret may not instantiate (or a graph component
    containing one), and a graph component that is (or contains) this very graph: the network could
    never start (the engine refuses such a graph too, whichever way it came about)."""
    hosted = hosted_graph(rt, payload)
    component = _s(payload, "component")
    refuse_forbidden(rt, req.grant, component)
    sub = rt.catalogue.component_graph(component)
    if sub is not None and rt.catalogue.contains_graph(sub, hosted.graph):
        raise ProtocolError(
            f"graph {hosted.id!r} cannot contain itself (component {component!r} is or contains it)"
        )
    _refuse_if_running(hosted, "addnode", payload)
    try:
        with hosted.editing(req) as graph:
            graph.add_node(_s(payload, "id"), component, node_metadata(payload))
    except GraphError as exc:
        raise ProtocolError(str(exc)) from None


@_change
def removenode(g: Graph, p: dict[str, Any]) -> None:
    """``graph:removenode``: the node goes, with its edges, IIPs and exported ports."""
    g.remove_node(_s(p, "id"))


@_change
def renamenode(g: Graph, p: dict[str, Any]) -> None:
    """``graph:renamenode``: edges, IIPs, exports and groups follow the new id."""
    g.rename_node(_s(p, "from"), _s(p, "to"))


@_change
def changenode(g: Graph, p: dict[str, Any]) -> None:
    """Metadata only: a node's component never changes (so no component rule applies)."""
    g.change_node(_s(p, "id"), node_metadata(p, required=True))


@_change
def addedge(g: Graph, p: dict[str, Any]) -> None:
    """``graph:addedge``: connect two ports (a running network follows at once)."""
    g.add_edge(_ref(port(p, "src")), _ref(port(p, "tgt")), edge_metadata(p))


@_change
def removeedge(g: Graph, p: dict[str, Any]) -> None:
    """``graph:removeedge``: what is already in the connection is still delivered."""
    g.remove_edge(_ref(port(p, "src")), _ref(port(p, "tgt")))


@_change
def changeedge(g: Graph, p: dict[str, Any]) -> None:
    """``graph:changeedge``: only the metadata changes; nothing that runs."""
    g.change_edge(_ref(port(p, "src")), _ref(port(p, "tgt")), edge_metadata(p) or {})


@_change
def addinitial(g: Graph, p: dict[str, Any]) -> None:
    """``graph:addinitial``: ``src.data`` to an inport (delivered at once to a running network)."""
    src = obj(p, "src", required=True)
    assert src is not None
    if "data" not in src:
        raise ProtocolError("'src.data' is required")
    g.add_initial(src["data"], _ref(port(p, "tgt")), edge_metadata(p))


@_change
def removeinitial(g: Graph, p: dict[str, Any]) -> None:
    """``src`` may be absent: the ack reports the data of the IIP that was removed."""
    g.remove_initial(_ref(port(p, "tgt")))


@_change
def addinport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:addinport``: export a process's inport under a public name."""
    g.add_inport(_s(p, "public"), _s(p, "node"), _s(p, "port"), node_metadata(p))


@_change
def removeinport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:removeinport``: the public inport goes; the process keeps its port."""
    g.remove_inport(_s(p, "public"))


@_change
def renameinport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:renameinport``: the public name changes, clients are told the new ports."""
    g.rename_inport(_s(p, "from"), _s(p, "to"))


@_change
def addoutport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:addoutport``: export a process's outport under a public name."""
    g.add_outport(_s(p, "public"), _s(p, "node"), _s(p, "port"), node_metadata(p))


@_change
def removeoutport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:removeoutport``: the public outport goes; the process keeps its port."""
    g.remove_outport(_s(p, "public"))


@_change
def renameoutport(g: Graph, p: dict[str, Any]) -> None:
    """``graph:renameoutport``: the public name changes, clients are told the new ports."""
    g.rename_outport(_s(p, "from"), _s(p, "to"))


@_change
def addgroup(g: Graph, p: dict[str, Any]) -> None:
    """``graph:addgroup``: name a set of existing nodes."""
    nodes = p.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise ProtocolError("'nodes' must be an array of node ids")
    g.add_group(_s(p, "name"), nodes, group_metadata(p))


@_change
def removegroup(g: Graph, p: dict[str, Any]) -> None:
    """``graph:removegroup``: the group goes, its nodes stay."""
    g.remove_group(_s(p, "name"))


@_change
def renamegroup(g: Graph, p: dict[str, Any]) -> None:
    """``graph:renamegroup``: the group takes the new name."""
    g.rename_group(_s(p, "from"), _s(p, "to"))


@_change
def changegroup(g: Graph, p: dict[str, Any]) -> None:
    """``graph:changegroup``: only the group's metadata changes."""
    g.change_group(_s(p, "name"), group_metadata(p, required=True))


COMMANDS: dict[str, Handler] = {
    "clear": clear,
    "addnode": addnode,
    "removenode": removenode,
    "renamenode": renamenode,
    "changenode": changenode,
    "addedge": addedge,
    "removeedge": removeedge,
    "changeedge": changeedge,
    "addinitial": addinitial,
    "removeinitial": removeinitial,
    "addinport": addinport,
    "removeinport": removeinport,
    "renameinport": renameinport,
    "addoutport": addoutport,
    "removeoutport": removeoutport,
    "renameoutport": renameoutport,
    "addgroup": addgroup,
    "removegroup": removegroup,
    "renamegroup": renamegroup,
    "changegroup": changegroup,
}
