"""What a link reports to its owner, and the states its connection moves through.

The owner of a :class:`flowpy.link.link.Link` (a component process: core/Bridge,
remote/NAME) implements :class:`LinkListener`; the states are the values
``link_state`` reports (docs/bridge.md, "Status").
"""

from __future__ import annotations

import logging
from typing import Any

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
#: The remote is reachable but lacks the graph (or a port of it) the link was using:
#: retried with backoff until the graph is back, keeping the window.
GRAPH_MISSING = "graph-missing"
CLOSED = "closed"
STATES = (CONNECTING, CONNECTED, RECONNECTING, GRAPH_MISSING, CLOSED)
#: How each state change is logged: losing the link or the graph is a warning.
STATE_LEVELS = {RECONNECTING: logging.WARNING, GRAPH_MISSING: logging.WARNING}


class LinkListener:
    """What a link reports. Called from link threads; every method is optional.

    ``link_packet`` may block (that is the back-pressure of the remote's output) and
    returns False when the local side can take no more (the local network is stopping).
    """

    def link_state(self, state: str, info: dict[str, Any]) -> None:
        """The link changed state (one of STATES), with details in ``info``."""

    def link_report(self, info: dict[str, Any]) -> None:
        """Anything else worth a status line: retries, refusals, remote restarts, ports."""

    def link_error(self, info: dict[str, Any]) -> None:
        """Something went wrong that the graph may want to handle (``{type, message, ...}``)."""

    def link_packet(self, port: str, event: str, payload: Any) -> bool:
        """A packet from a remote outport; False: the local side takes no more."""
        return True
