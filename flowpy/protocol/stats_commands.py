"""``flowpy:stats``: the live counts a page (or any client) subscribes to.

A flowpy extension beside the link extension's ``flowpy:*`` commands, for observers: one
request, answered at once with a ``flowpy:stats`` snapshot (see
:func:`flowpy.runtime.stats.runtime_stats`), after which the runtime pushes one more every
``interval`` milliseconds until the client sends ``subscribe: false`` or goes away.
``packets: false`` makes the connection an observer that takes no graph output (the live view:
a page must never hold a graph back, nor cost it the writing of every packet twice). Nothing is
read or sent while nobody is subscribed. Standard clients never send it, so never receive
one. Permission: what ``network:getstatus`` needs (see :mod:`flowpy.runtime.permissions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowpy.runtime.clients import Request
from flowpy.runtime.stats import DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL

from .fields import GRAPH_NOT_FOUND, ProtocolError, boolean, integer, string

if TYPE_CHECKING:
    from .host import Handler, Host


def stats(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Subscribe (the default) or unsubscribe; either way, one snapshot now."""
    graph = string(payload, "graph", required=False)
    if graph is not None and rt.get_graph(graph) is None:
        raise ProtocolError(f"{GRAPH_NOT_FOUND}: {graph[:64]!r}")
    interval = integer(
        payload, "interval", minimum=int(MIN_INTERVAL * 1000), maximum=int(MAX_INTERVAL * 1000)
    )
    if payload.get("packets") is not None:  # an observer: no graph output, ever after
        req.client.takes_packets = boolean(payload, "packets")
    if boolean(payload, "subscribe", default=True):
        seconds = interval / 1000 if interval is not None else DEFAULT_INTERVAL
        rt.stats.subscribe(req.client, graph, seconds)
    else:
        rt.stats.unsubscribe(req.client)
    rt.stats.send_to(req.client, graph, req.request_id)


COMMANDS: dict[str, Handler] = {"stats": stats}
