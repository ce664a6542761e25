"""Shapes of what a network reports to clients: its lifecycle, failures, console output and
the ``runtime:packet`` events of a graph's exported ports.

The runtime routes these and the protocol layer answers with some of them (a ``stopped``
for a network that was not running); both take the shape from here, so the fields the
fbp-protocol schemas check (docs/protocol.md) are written in one place. Each function returns
``(protocol, command, payload)``; :func:`flowpy.wire.message` makes the envelope.
"""

from __future__ import annotations

from typing import Any

from flowpy.engine.ip import IP

from .events import EVENT_OF_KIND
from .jsonpolicy import jsonable
from .messages import message, timestamp

#: ``(protocol, command, payload)`` of one report.
Report = tuple[str, str, dict[str, Any]]

#: How much of a process's traceback ``network:processerror`` carries, at most (its end).
MAX_TRACEBACK = 4000


def network_started(graph: str) -> Report:
    """``network:started``: the network is between start and stop, and its processes run."""
    payload = {"graph": graph, "started": True, "running": True, "time": timestamp()}
    return "network", "started", payload


def network_stopped(graph: str, started: bool, uptime: float | None = None) -> Report:
    """``network:stopped``: stopped (``started`` false) or finished by itself (still started,
    no longer running); ``uptime`` in seconds when the network ran."""
    payload: dict[str, Any] = {
        "graph": graph,
        "started": started,
        "running": False,
        "time": timestamp(),
    }
    if uptime is not None:
        payload["uptime"] = uptime
    return "network", "stopped", payload


def process_error(graph: str, node: str, error: str, tb: str = "") -> Report:
    """``network:processerror``: the error text, with the end of the traceback if any."""
    if tb:
        error = f"{error}\n{tb.strip()[-MAX_TRACEBACK:]}"
    return "network", "processerror", {"id": node, "error": error, "graph": graph}


def network_output(text: str, notice: bool = False) -> Report:
    """``network:output``: a component's console output, or (``notice``) flowpy's own word
    about the network (IPs discarded, an edit it could not follow), typed ``message``."""
    payload: dict[str, Any] = {"message": str(text)}
    if notice:
        payload["type"] = "message"
    return "network", "output", payload


def packet_payload(graph: str, port: str, ip: IP) -> dict[str, Any]:
    """The ``runtime:packet`` payload of one IP leaving exported outport ``port``."""
    payload: dict[str, Any] = {"graph": graph, "port": port, "event": EVENT_OF_KIND[ip.kind]}
    if ip.is_data or ip.data is not None:
        payload["payload"] = jsonable(ip.data)
    return payload


def marker_payload(graph: str, port: str, event: str) -> dict[str, Any]:
    """The ``runtime:packet`` payload of an exported port's ``connect`` or ``disconnect``."""
    return {"graph": graph, "port": port, "event": event}


def packet(payload: dict[str, Any]) -> dict[str, Any]:
    """A ``runtime:packet`` output message (never with ``responseTo``: its schema forbids it)."""
    return message("runtime", "packet", payload)
