"""Decoding client frames: lenient about what real clients send, strict about what can hurt us.

Real clients disagree on details (0.7 clients put the secret in the payload, 0.8 clients at
top level; some send ``""`` for "no secret"; noflo-ui adds unknown keys), so decoding accepts
all of that. What it does not accept is anything that could cost unbounded time or memory or
crash a thread: frames over :data:`MAX_FRAME_BYTES`, nesting deeper than :data:`MAX_DEPTH`,
or values of the wrong type. Every refusal is an :class:`EnvelopeError` that names the problem
and the protocol to answer on, so the caller can reply ``<protocol>:error`` and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowpy.errors import FlowpyError

from . import jsonpolicy
from .jsonpolicy import json_type

MAX_FRAME_BYTES = 1 << 20
MAX_DEPTH = jsonpolicy.MAX_DEPTH
PROTOCOLS = ("runtime", "graph", "component", "network", "trace", "flowpy")


class EnvelopeError(FlowpyError):
    """A frame that cannot be handled; answered with ``<protocol>:error`` {message}."""

    def __init__(self, message: str, protocol: str = "runtime", request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.protocol = protocol
        self.request_id = request_id


@dataclass
class Envelope:
    """A decoded request. The secret has been removed from the payload."""

    protocol: str
    command: str
    payload: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None
    request_id: str | None = None


def decode_text(text: str) -> Envelope:
    """Parse one text frame into an :class:`Envelope`, within the size and JSON policy limits."""
    if not isinstance(text, str):
        raise EnvelopeError(f"a text frame must be a string, got {type(text).__name__}")
    # A character is 1-4 bytes in UTF-8: only measure the bytes when it could matter.
    if len(text) > MAX_FRAME_BYTES or (
        len(text) * 4 > MAX_FRAME_BYTES
        and len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES
    ):
        raise EnvelopeError(f"message is too large (limit {MAX_FRAME_BYTES} bytes)")
    try:
        message, problem = jsonpolicy.parse(text)
    except jsonpolicy.JsonPolicyError as exc:
        raise EnvelopeError(str(exc)) from None
    return _envelope(message, problem)


def parse(message: Any) -> Envelope:
    """Validate an already decoded message (JSON policy included) and take the secret out."""
    if not isinstance(message, dict):
        raise EnvelopeError(f"a message must be a JSON object, got {json_type(message)}")
    return _envelope(message, jsonpolicy.problem_in(message))


def _envelope(message: Any, problem: str | None) -> Envelope:
    """The envelope of ``message``; ``problem``: what the JSON policy refuses in it, if any
    (answered on the message's protocol, with its requestId, when those are usable)."""
    if not isinstance(message, dict):
        raise EnvelopeError(f"a message must be a JSON object, got {json_type(message)}")
    protocol = message.get("protocol")
    usable_protocol = protocol if isinstance(protocol, str) and protocol in PROTOCOLS else None
    if problem is not None:  # answered with the requestId only if that one is usable
        try:
            request_id = _request_id(message, "runtime")
        except EnvelopeError:
            request_id = None
        if request_id is not None and jsonpolicy.problem_in(request_id) is not None:
            request_id = None  # the problem may be the id itself: never echo that
        raise EnvelopeError(problem, usable_protocol or "runtime", request_id)
    request_id = _request_id(message, usable_protocol or "runtime")
    if protocol is None:
        raise EnvelopeError("message has no 'protocol'", request_id=request_id)
    if not isinstance(protocol, str):
        raise EnvelopeError(
            f"'protocol' must be a string, got {json_type(protocol)}", request_id=request_id
        )
    if usable_protocol is None:
        raise EnvelopeError(
            f"unknown protocol {protocol[:64]!r} (known: {', '.join(PROTOCOLS)})",
            request_id=request_id,
        )
    command = message.get("command")
    if command is None:
        raise EnvelopeError("message has no 'command'", protocol, request_id)
    if not isinstance(command, str):
        raise EnvelopeError(
            f"'command' must be a string, got {json_type(command)}", protocol, request_id
        )
    payload = message.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise EnvelopeError(
            f"'payload' must be an object, got {json_type(payload)}", protocol, request_id
        )
    payload = dict(payload)
    secret = _secret(message.get("secret"), "secret", protocol, request_id)
    inner = _secret(payload.pop("secret", None), "payload.secret", protocol, request_id)
    return Envelope(protocol, command, payload, secret if secret is not None else inner, request_id)


def _request_id(message: dict[str, Any], protocol: str) -> str | None:
    """The requestId to answer with; one that is not a string or an int is refused without
    echoing it. Its text is the JSON policy's to check, with the rest of the message."""
    value = message.get("requestId")
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # lenient: answer a numeric id with its string form
    raise EnvelopeError(f"'requestId' must be a string, got {json_type(value)}", protocol)


def _secret(value: Any, where: str, protocol: str, request_id: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EnvelopeError(
            f"'{where}' must be a string, got {json_type(value)}", protocol, request_id
        )
    return value
