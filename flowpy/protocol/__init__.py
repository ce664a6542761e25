"""The FBP protocol layer: message in, messages out, no sockets.

One module per sub-protocol, each with a ``COMMANDS`` table from command name to handler.
A handler takes ``(runtime, request, payload)``: it validates the payload, acts through the
runtime and answers with ``runtime.reply`` / ``runtime.broadcast``, or raises
:class:`~flowpy.protocol.common.ProtocolError`, which becomes ``<protocol>:error`` {message}.
The dispatcher checks the command exists and that the sender may use it before any handler
runs, so handlers never see a command they were not meant to.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import component_commands as component
from . import graph_commands as graph
from . import link_commands as flowpy
from . import network_commands as network
from . import runtime_commands as runtime
from . import trace_commands as trace
from .fields import ProtocolError, Request

if TYPE_CHECKING:
    from flowpy.runtime.core import Runtime

log = logging.getLogger(__name__)

PROTOCOLS = {
    "runtime": runtime.COMMANDS,
    "graph": graph.COMMANDS,
    "component": component.COMMANDS,
    "network": network.COMMANDS,
    "trace": trace.COMMANDS,
    "flowpy": flowpy.COMMANDS,  # the link extension (docs/bridge-protocol.md)
}


def dispatch(rt: Runtime, request: Request, payload: dict) -> None:
    """Run the handler for ``request``; every failure is answered, none escapes."""
    protocol, command = request.protocol, request.command
    handler = PROTOCOLS[protocol].get(command)
    if handler is None:
        known = ", ".join(sorted(PROTOCOLS[protocol]))
        rt.error(request, f"unknown command {protocol}:{command[:64]} (known: {known})")
        return
    if not request.grant.may_send(protocol, command):
        rt.error(request, f"{protocol}:{command} is not permitted")
        return
    try:
        handler(rt, request, payload)
    except ProtocolError as exc:
        rt.error(request, exc.message, exc.protocol)
    except Exception as exc:
        log.exception("%s:%s failed", protocol, command)
        rt.error(request, f"{protocol}:{command} failed: {type(exc).__name__}: {exc}")


__all__ = ["PROTOCOLS", "ProtocolError", "Request", "dispatch"]
