"""IPs as broker messages, and back (docs/distributed.md, "Messages and brackets").

A data IP is its value as JSON (the one JSON policy of :mod:`flowpy.wire.jsonpolicy`), so
MsgFlo participants exchange data with flowpy unchanged; a bracket is a message of its own,
the *flowpy envelope*, marked in the metadata too and recognised by its body alone when a
pass-through participant dropped the metadata; a value that looks like an envelope is
wrapped, so it is never taken for a bracket. A body that is not JSON is text; one that is
not UTF-8 or breaks the JSON policy is a :class:`CodecError`.
"""

from __future__ import annotations

from typing import Any

from flowpy.engine.ip import CLOSE, DATA, IP, OPEN
from flowpy.wire.jsonpolicy import JsonPolicyError, encode, parse

from .base import BrokerError

#: The envelope's key, and the metadata key (AMQP header, MQTT 5 user property).
ENVELOPE_KEY = "flowpy:ip"
HEADER = "flowpy-ip"
_BRACKET_KEYS = frozenset((ENVELOPE_KEY, "group"))
_DATA_KEYS = frozenset((ENVELOPE_KEY, "data"))


class CodecError(BrokerError):
    """A received message flowpy cannot turn into an IP."""


def encode_ip(ip: IP) -> tuple[bytes, dict[str, str] | None]:
    """``(body, headers)`` for ``ip``; headers are None for data."""
    kind = ip.kind
    if kind == DATA:
        value = ip.data
        if (
            type(value) is dict
            and ENVELOPE_KEY in value
            and (value.keys() == _BRACKET_KEYS or value.keys() == _DATA_KEYS)
        ):
            value = {ENVELOPE_KEY: DATA, "data": value}
        return encode(value).encode("utf-8"), None
    return (encode({ENVELOPE_KEY: kind, "group": ip.data}).encode("utf-8"), {HEADER: kind})


def decode_ip(body: bytes, headers: dict[str, Any] | None = None) -> IP:
    """The IP a received message carries (see the module docstring)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"message is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value, problem = parse(text)
    except JsonPolicyError:
        return IP(DATA, text)  # not JSON: text, as MsgFlo participants take it
    if problem is not None:
        raise CodecError(f"message refused: {problem}")
    if type(value) is dict and ENVELOPE_KEY in value:
        marked = headers is not None and headers.get(HEADER) in (OPEN, CLOSE)
        keys = value.keys()
        kind = value[ENVELOPE_KEY]
        if keys == _BRACKET_KEYS and kind in (OPEN, CLOSE):
            # The constant itself, not the equal string JSON made: IP kinds compare by identity.
            return IP(OPEN if kind == OPEN else CLOSE, value["group"])
        if keys == _DATA_KEYS and kind == DATA:
            return IP(DATA, value["data"])
        if marked:
            raise CodecError(f"malformed flowpy envelope: {text[:200]}")
    return IP(DATA, value)
