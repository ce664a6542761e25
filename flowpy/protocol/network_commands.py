"""The network sub-protocol: run graphs, report their state, watch their edges.

State semantics (docs/protocol.md): ``started`` means between start and stop, ``running``
means processes are active. A network that finishes by itself reports ``network:stopped``
with ``started: true, running: false`` and stays started until ``network:stop``, which
reports ``started: false``. ``network:started`` and ``network:stopped`` are broadcast by the
hosted graph (it hears the network's lifecycle); handlers here only start, stop and answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowpy.engine.network import NetworkError
from flowpy.runtime.clients import Request
from flowpy.wire import reports

from .fields import ProtocolError, boolean, hosted_graph, port

if TYPE_CHECKING:
    from .host import Handler, Host


def start(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Start (or restart) the graph's network; ``network:started`` comes from the network itself."""
    hosted = hosted_graph(rt, payload)
    rt.refresh_components_dir(req)  # a graph file edited since: run what the file says now
    try:
        hosted.start(req)
    except NetworkError as exc:
        rt.error(req, str(exc), graph=hosted.id)


def stop(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Stop, draining first unless ``drain: false`` (a flowpy extension: an immediate stop for
    a runaway graph, which also cuts short a drain already in progress)."""
    hosted = hosted_graph(rt, payload)
    if not hosted.stop(drain=boolean(payload, "drain", default=True), request=req):
        # Not started: confirm to the asker only, nothing changed for anybody else.
        _, command, stopped = reports.network_stopped(hosted.id, started=False)
        rt.reply(req, command, stopped)


def getstatus(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """``network:getstatus``: answered with the graph's ``network:status``."""
    rt.reply(req, "status", hosted_graph(rt, payload).status())


def debug(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Turn edge debug data on or off; answered by ``network:status``."""
    # fbp-protocol has no output schema for network:debug; status is the schema-valid answer.
    hosted = hosted_graph(rt, payload)
    enable = boolean(payload, "enable", required=True)
    hosted.debug = enable
    hosted.refresh_observers()
    rt.reply(req, "status", {**hosted.status(), "debug": enable})


def edges(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Select the edges this client receives debug data for (replaces the previous selection)."""
    hosted = hosted_graph(rt, payload)
    selected = payload.get("edges")
    if not isinstance(selected, list):
        raise ProtocolError("'edges' must be an array of {src, tgt} objects")
    normalised: list[dict[str, Any]] = []
    for i, item in enumerate(selected):
        if not isinstance(item, dict):
            raise ProtocolError(f"'edges[{i}]' must be an object with 'src' and 'tgt'")
        try:
            normalised.append({"src": port(item, "src"), "tgt": port(item, "tgt")})
        except ProtocolError as exc:
            raise ProtocolError(f"edges[{i}]: {exc.message}") from None
    rt.set_edges(req.client, hosted.id, normalised)
    rt.reply(req, "edges", {"graph": hosted.id, "edges": normalised})


def persist(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Save every graph in the state directory; the runtime loads them when it starts again.

    fbp-protocol 0.9.8 defines no reply schema for persist, so the confirmation is a
    ``network:output`` line (schema-valid) rather than an unschematised ``network:persist``.
    A graph that cannot be saved does not keep the others from being saved: the reply is
    then a ``network:error`` naming it (and saying how many were saved).
    """
    try:
        report = rt.persist()
    except OSError as exc:
        raise ProtocolError(f"cannot persist graphs: {exc}") from None
    saved = f"persisted {len(report.saved)} graph(s) in {report.directory}"
    if report.failed:
        failed = "; ".join(
            f"graph {graph_id!r}: {why}" for graph_id, why in sorted(report.failed.items())
        )
        raise ProtocolError(f"{saved}, but could not persist {failed}")
    rt.reply(req, "output", {"message": saved, "type": "message"})


COMMANDS: dict[str, Handler] = {
    "start": start,
    "stop": stop,
    "getstatus": getstatus,
    "debug": debug,
    "edges": edges,
    "persist": persist,
}
