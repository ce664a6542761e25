"""The trace sub-protocol: record a graph's network events and dump them as Flowtrace JSON."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flowpy.runtime.clients import Request
from flowpy.runtime.tracing import DEFAULT_BUFFER, MAX_BUFFER, Tracer

from .fields import hosted_graph, integer

if TYPE_CHECKING:
    from .host import Handler, Host

log = logging.getLogger(__name__)


def start(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Start recording (``buffersize``: how many recent events to keep, default 400)."""
    hosted = hosted_graph(rt, payload)
    size = integer(payload, "buffersize", minimum=1, maximum=MAX_BUFFER)
    tracer = hosted.tracer
    if tracer is None:
        tracer = Tracer(hosted.id, size or DEFAULT_BUFFER)
    elif size is not None:
        tracer.resize(size)
    tracer.active = True
    hosted.tracer = tracer
    hosted.refresh_observers()
    rt.broadcast(
        "trace", "start", {"graph": hosted.id, "buffersize": tracer.buffersize}, "trace", req
    )


def stop(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """``trace:stop``: stop recording; the buffer is kept for ``trace:dump``."""
    hosted = hosted_graph(rt, payload)
    if hosted.tracer is not None:
        hosted.tracer.active = False
        hosted.refresh_observers()
    rt.broadcast("trace", "stop", {"graph": hosted.id}, "trace", req)


def clear(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """``trace:clear``: empty the buffer; recording goes on if it was on."""
    hosted = hosted_graph(rt, payload)
    if hosted.tracer is not None:
        hosted.tracer.clear()
    rt.broadcast("trace", "clear", {"graph": hosted.id}, "trace", req)


def dump(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """The recorded events as a Flowtrace JSON *string* (empty if nothing was recorded)."""
    hosted = hosted_graph(rt, payload)
    tracer = hosted.tracer or Tracer(hosted.id)
    metadata = {"runtime": rt.id, "type": "flowpy", "label": rt.label}
    graphs = {}
    try:
        from flowpy.graphs import json_format as graph_json

        graphs[hosted.id] = graph_json.dump(hosted.graph)
    except Exception as exc:  # the trace is still useful without the graph
        log.warning("trace of %s: cannot include the graph: %s", hosted.id, exc)
    flowtrace = tracer.dump(metadata, graphs, hosted.id)
    rt.reply(req, "dump", {"graph": hosted.id, "type": "flowtrace.json", "flowtrace": flowtrace})


COMMANDS: dict[str, Handler] = {
    "start": start,
    "stop": stop,
    "clear": clear,
    "dump": dump,
}
