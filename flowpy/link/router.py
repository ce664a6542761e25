"""What the remote sends a link, sorted: the receiving side of :class:`flowpy.link.link.Link`.

The connection's reader thread hands every message the client did not match to a request
to :meth:`Router.route`: the answer to ``flowpy:hello`` goes to the negotiator, remote
packets to the inbox (numbered ones in extension mode, ``runtime:packet`` in plain mode),
acknowledgements (``flowpy:ack``, ``runtime:packetsent``) to the send window, errors and
remote network changes to the link's reports. Only the router knows which message of which
mode means what; the link keeps the connection's life and the sending side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowpy import wire
from flowpy.wire.events import DEBUG_COMMANDS

from .inbox import Inbox
from .negotiate import EXTENSION, LinkConnection, Negotiator
from .window import SendWindow

Report = Callable[[dict[str, Any]], None]


class Router:
    """Routes one link's incoming messages (reader thread). ``stats`` is the link's counter
    dict; ``report`` and ``error`` are the link's status and error reports."""

    def __init__(
        self,
        window: SendWindow,
        inbox: Inbox,
        negotiator: Negotiator,
        stats: dict[str, int],
        report: Report,
        error: Report,
    ) -> None:
        self.window = window
        self.inbox = inbox
        self.negotiator = negotiator
        self.stats = stats
        self._report = report
        self._error = error

    def route(self, conn: LinkConnection, message: dict[str, Any]) -> None:
        """One message the client did not match to a request, from ``conn``."""
        protocol, command = message.get("protocol"), message.get("command")
        payload = message.get("payload")
        if not isinstance(payload, dict):
            payload = {"message": payload} if command == "error" else {}
        response_to = message.get("responseTo")
        if conn.hello_id is not None and response_to == conn.hello_id:
            self.negotiator.hello_reply(conn, command, payload)
            return
        if protocol == "flowpy":
            if conn.mode == EXTENSION:
                self._extension(conn, command, payload)
            return
        if protocol == "runtime":
            if command == "packetsent":
                self._packetsent(conn, response_to)
            elif command == "packet":
                if conn.mode != EXTENSION and payload.get("graph") == self.negotiator.graph:
                    self.inbox.offer(payload, False, conn.lost)
            elif command == "error":
                self._remote_error(conn, payload, "runtime", response_to)
            return
        if protocol == "network" and command in DEBUG_COMMANDS:
            self.stats["debug"] += 1
            return
        if protocol == "network" and payload.get("graph") == self.negotiator.graph:
            if command in ("started", "stopped") and self.negotiator.network_changed(payload):
                self._report(
                    {
                        "type": "remote-network",
                        "started": bool(payload.get("started")),
                        "running": bool(payload.get("running")),
                    }
                )
            elif command == "error":
                self._error({"type": "remote", "message": str(payload.get("message", ""))})

    def route_many(self, conn: LinkConnection, messages: list[dict[str, Any]]) -> None:
        """``runtime:packet`` outputs and ``runtime:packetsent`` of one read (the client's
        ``on_batch``): the acknowledgements as one cumulative ack, the outputs offered
        together. Both are plain mode's; an extension connection takes neither."""
        top, outputs, graph = 0, [], self.negotiator.graph
        for message in messages:
            if message.get("command") == "packetsent":
                top = max(top, conn.seq_of(message.get("responseTo")) or 0)
                continue
            payload = message.get("payload")
            if isinstance(payload, dict) and payload.get("graph") == graph:
                outputs.append(payload)
        if top:
            self.window.ack(conn, top)
        if outputs and conn.mode != EXTENSION:
            self.inbox.offer_many(outputs, False, conn.lost)

    def _extension(self, conn: LinkConnection, command: Any, payload: dict[str, Any]) -> None:
        """A ``flowpy:*`` message on an extension connection (docs/bridge-protocol.md)."""
        if command == "packet":
            self.inbox.offer(payload, True, conn.lost)
        elif command == "packets":
            entries = payload.get("packets")
            if isinstance(entries, list):  # one lock for them all
                self.inbox.offer_many(entries, True, conn.lost)
        elif command == "ack":
            seq = payload.get("seq")
            if isinstance(seq, int):
                self.window.ack(conn, seq)
        elif command == "error":
            self._remote_error(conn, payload, "flowpy")

    def _packetsent(self, conn: LinkConnection, response_to: Any) -> None:
        seq = conn.seq_of(response_to)
        if seq is None and response_to is None:
            # A runtime without responseTo acknowledges in order: the oldest written packet.
            seq = self.window.oldest_written()
        if seq is not None:
            self.window.ack(conn, seq)

    def _remote_error(
        self, conn: LinkConnection, payload: dict[str, Any], protocol: str, response_to: Any = None
    ) -> None:
        message = str(payload.get("message", ""))
        info: dict[str, Any] = {"type": "remote", "message": message}
        seq = payload.get("seq") if protocol == "flowpy" else conn.seq_of(response_to)
        if isinstance(seq, int):
            packet = self.window.find(seq)
            if packet is not None:
                info.update(port=packet.port, event=packet.event)
                if packet.payload is not None:
                    info["payload"] = wire.jsonable(packet.payload)
            info["type"] = "packet"
            self.window.ack(conn, seq)  # the remote will not take it; it is not retried
        self._error(info)
