"""The runtime sub-protocol: who is this runtime, and packets through a graph's exported ports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowpy.engine.network import NetworkError
from flowpy.errors import did_you_mean, missing_name
from flowpy.runtime.clients import Request
from flowpy.wire import PACKET_EVENTS

from .fields import ProtocolError, graph_id, string

if TYPE_CHECKING:
    from .host import Handler, Host


def getruntime(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """``runtime:runtime`` for this client, then the exported ports of every graph that has some."""
    rt.reply(req, "runtime", rt.runtime_info(req.grant))
    if req.grant.may_receive("runtime"):
        for hosted in rt.graphs().values():
            if hosted.has_exports():
                rt.send_ports(hosted, [req.client], req)


def packet(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Put a packet into an exported inport; ``packetsent`` once the network has accepted it.

    The acknowledgement waits for the graph inport handler, so a back-pressured network
    delays it: a client keeping a window of unacknowledged packets gets flow control.
    (The hot path of the protocol: every check here runs once per packet.)
    """
    graph = graph_id(payload)
    port = payload.get("port")
    event = payload.get("event")
    if port.__class__ is not str or not port:
        port = string(payload, "port")
    if event.__class__ is not str or event not in PACKET_EVENTS:
        event = string(payload, "event")
        assert event is not None
        raise ProtocolError(
            f"'event' must be one of {', '.join(PACKET_EVENTS)}, got {event[:64]!r}"
        )
    echo: dict[str, Any] = {"graph": graph, "port": port, "event": event}
    if "type" in payload or "schema" in payload:
        for key in ("type", "schema"):
            value = string(payload, key, required=False)
            if value is not None:
                echo[key] = value
    if "payload" in payload:
        echo["payload"] = payload["payload"]
    if not req.grant.may_send_to(graph, port):
        raise ProtocolError(f"runtime:packet to port {port!r} of graph {graph!r} is not permitted")
    hosted = rt.get_graph(graph)
    if hosted is None:
        visible = [g for g in rt.graphs() if req.grant.ports is None or g in req.grant.ports]
        raise ProtocolError(f"graph {graph!r} not found{did_you_mean(graph, visible)}")
    if hosted.exported_inport(port) is None:
        raise ProtocolError(
            f"graph {graph!r} has no exported inport {missing_name(port, hosted.graph.inports)}"
        )
    client = req.client

    def accepted(ok: bool) -> None:
        client.packet_answered()
        if ok:
            rt.reply(req, "packetsent", echo)
        else:
            why = hosted.why_not_running()
            rt.error(
                req,
                f"packet to {graph}.{port} was not delivered: the network stopped"
                + (f": {why}" if why else ""),
            )

    client.packet_taken()  # flow control: see flowpy/runtime/clients.py, max_inflight
    try:
        hosted.inport(port, event, payload.get("payload"), accepted)
    except NetworkError as exc:
        client.packet_answered()
        raise ProtocolError(str(exc)) from None


COMMANDS: dict[str, Handler] = {
    "getruntime": getruntime,
    "packet": packet,
}
