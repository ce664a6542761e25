"""The protocol's entry point: what a transport hands each client's messages to.

The server knows an :class:`Endpoint` only by these methods (``connect``, ``disconnect``,
``receive_text``, ``receive_binary``, ``shutdown``, ``cut_drains``, ``status``, and
optionally ``trusted``), so anything
that offers them can be served (the tests serve a fake, the benchmark an echo). This one
decodes each frame by the envelope rules (:mod:`flowpy.wire.envelope`), makes the
:class:`~flowpy.runtime.clients.Request`, checks the command exists and that the sender may
use it, runs the handler of the command's table, answers every failure with
``<protocol>:error``, and lets the runtime announce what the request changed. Nothing here
ever raises into the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flowpy import wire
from flowpy.runtime import Runtime
from flowpy.runtime.clients import ClientHandle, Request, Sink
from flowpy.wire.envelope import Envelope, EnvelopeError, decode_text, parse

from . import (
    component_commands,
    graph_commands,
    link_commands,
    network_commands,
    runtime_commands,
    stats_commands,
    trace_commands,
)
from .fields import ProtocolError
from .host import Handler, Host

log = logging.getLogger(__name__)

#: protocol -> command -> handler(runtime, request, payload).
PROTOCOLS: dict[str, dict[str, Handler]] = {
    "runtime": runtime_commands.COMMANDS,
    "graph": graph_commands.COMMANDS,
    "component": component_commands.COMMANDS,
    "network": network_commands.COMMANDS,
    "trace": trace_commands.COMMANDS,
    # flowpy's extensions: the link (docs/bridge-protocol.md) and the live counts
    # (docs/protocol.md#live-counts-flowpystats)
    "flowpy": {**link_commands.COMMANDS, **stats_commands.COMMANDS},
}


def dispatch(rt: Host, request: Request, payload: dict[str, Any]) -> None:
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


class Endpoint:
    """A runtime as a transport sees it (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # -- the transport boundary --------------------------------------------------------------
    def connect(self, sink: Sink) -> ClientHandle:
        """A transport has a new client: the runtime wraps its sink and answers with the handle."""
        return self.runtime.connect(sink)

    def disconnect(self, client: ClientHandle) -> None:
        """The connection ended: its link sessions wait out their grace, its subscriptions end."""
        self.runtime.disconnect(client)

    def receive_text(self, client: ClientHandle, text: str) -> None:
        """One WebSocket text frame. Never raises."""
        self._receive(client, decode_text, text)

    def receive(self, client: ClientHandle, message: Any) -> None:
        """One already decoded message. Never raises."""
        self._receive(client, parse, message)

    def receive_binary(self, client: ClientHandle, data: bytes) -> None:
        """A binary frame: refused with an error, since the protocol is JSON text."""
        self._refuse(client, EnvelopeError("binary frames are not supported"))

    def trusted(self, client: ClientHandle) -> bool:
        """May this client send large messages? On a runtime without secrets every client
        may; on one with secrets, only one that has presented a secret the runtime knows.
        (The transport caps the messages of the others small, so that a stranger cannot
        fill the memory.)"""
        return not self.runtime.permissions.has_secrets or client.authenticated

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every network and the runtime's threads (the transport is shutting down)."""
        self.runtime.shutdown(timeout)

    def cut_drains(self) -> None:
        """Cut short every drain in progress (a second signal)."""
        self.runtime.cut_drains()

    def status(self) -> dict[str, Any]:
        """The runtime's status document (``GET /``)."""
        return self.runtime.status()

    # -- handling ----------------------------------------------------------------------------
    def _receive(
        self, client: ClientHandle, decode: Callable[[Any], Envelope], message: Any
    ) -> None:
        try:
            envelope = decode(message)
        except EnvelopeError as exc:
            self._refuse(client, exc)
            return
        except Exception as exc:  # pragma: no cover - decoding is total
            log.exception("cannot decode a message")
            self._refuse(client, EnvelopeError(f"cannot decode message: {exc}"))
            return
        self._handle(client, envelope)

    def _handle(self, client: ClientHandle, envelope: Envelope) -> None:
        rt = self.runtime
        if rt.closing:
            self._refuse(
                client,
                EnvelopeError(
                    "the runtime is shutting down", envelope.protocol, envelope.request_id
                ),
            )
            return
        if envelope.secret is not None:
            rt.set_grant(client, rt.permissions.grant_for(envelope.secret))
            client.authenticated = rt.permissions.knows(envelope.secret)
        request = Request(
            client, envelope.protocol, envelope.command, envelope.request_id, client.grant
        )
        try:
            dispatch(rt, request, envelope.payload)
            rt.finish(request)
        except Exception as exc:  # dispatch answers its own errors; this is the last line
            log.exception("unhandled error in %s:%s", envelope.protocol, envelope.command)
            rt.error(request, f"internal error: {type(exc).__name__}: {exc}")

    def _refuse(self, client: ClientHandle, exc: EnvelopeError) -> None:
        client.send(
            wire.message(exc.protocol, "error", {"message": exc.message}, exc.request_id),
            wire.URGENT,
        )
