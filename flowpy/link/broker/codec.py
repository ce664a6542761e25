"""IPs as broker messages, and back (docs/distributed.md, "Messages and brackets").

Every message is JSON text in UTF-8, written and read with the one JSON policy
(:mod:`flowpy.wire.jsonpolicy`).

* A **data IP** is its value, exactly: ``{"a": 1}`` crosses as ``{"a":1}``. That is what every
  MsgFlo participant sends and expects, so data passes to and from code nobody here wrote
  unchanged.
* **Brackets** have no encoding in MsgFlo or in noflo-runtime-msgflo (NoFlo uses them
  inside one participant only, to tie an output to the message it came from, and never sends
  them), so flowpy sends each as a message of its own, the *flowpy envelope*::

      {"flowpy:ip": "openBracket", "group": "name"}
      {"flowpy:ip": "closeBracket", "group": "name"}

  marked as well in the message's metadata (AMQP header ``flowpy-ip``, MQTT 5 user property
  ``flowpy-ip``). A receiving flowpy participant turns it back into the bracket, by the
  header or, when a plain participant in between dropped the metadata (a MsgFlo Repeat
  does), by the body alone, so brackets survive a pass-through participant. A plain
  participant sees a small JSON object it can pass on or skip; one that cannot cope with
  it should be fed by a participant started with ``--brackets drop``.
* A data value that happens to look like an envelope (an object whose only keys are
  ``flowpy:ip`` and ``group``, or ``flowpy:ip`` and ``data``) is sent wrapped as
  ``{"flowpy:ip": "data", "data": value}``, so it is never mistaken for a bracket.
* A received body that is not JSON is taken as text (as MsgFlo's participants do); one that
  is not UTF-8, or holds what the JSON policy refuses (a lone surrogate, a non-finite
  number), is a :class:`CodecError`.
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
        if type(value) is dict and ENVELOPE_KEY in value and (
                value.keys() == _BRACKET_KEYS or value.keys() == _DATA_KEYS):
            value = {ENVELOPE_KEY: DATA, "data": value}
        return encode(value).encode("utf-8"), None
    return (encode({ENVELOPE_KEY: kind, "group": ip.data}).encode("utf-8"),
            {HEADER: kind})


def decode_ip(body: bytes, headers: dict[str, Any] | None = None) -> IP:
    """The IP a received message carries (see the module docstring)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"message is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
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
