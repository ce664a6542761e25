"""What the client's reader need not parse of a message, it does not: its hot path.

An output a client does not keep (``flowpy send``) is dropped unparsed when it begins as
flowpy's runtime (and most others) write a ``runtime:packet``.

A windowed sender gets one ``runtime:packetsent`` per packet, and flowpy echoes the packet
in it (graph, port, event, payload). Parsing that echo cost the reader as much
as parsing the packet's output, while a sender only needs to know which request is answered.
A ``packetsent`` whose text starts with its protocol and command and ends with its
``responseTo`` (as flowpy and the bench's stand-in write it) is read from those alone; its
whole text is parsed only for whoever reads more of it (a request waiting for its reply).
Any other spelling (another key order, spaces, an id with escapes) is parsed as before.

The echo of a skimmed reply is not checked: a runtime that wrote a valid envelope around a
broken echo has its acknowledgement taken. The envelope is what acknowledges.
"""

from __future__ import annotations

import logging
from typing import Any

from flowpy.wire import jsonpolicy

log = logging.getLogger(__name__)

#: How a skimmable reply begins (a cheap test before :func:`skim`).
PREFIX = '{"protocol":"runtime","command":"packetsent",'
_TAIL = ',"responseTo":"'
#: How a runtime:packet output begins as flowpy writes it.
OUTPUT_PREFIX = '{"protocol":"runtime","command":"packet","payload":'


def read(text: str, skip_outputs: bool) -> dict[str, Any] | None:
    """The message ``text`` holds, as the reader takes it: None for an output it need not
    keep (``skip_outputs``) or a JSON value that is not an object, a :class:`Skimmed` reply
    where one will do, else the parsed object. ValueError when ``text`` is not JSON."""
    if text.startswith(PREFIX):
        reply = skim(text)
        if reply is not None:
            return reply
    elif skip_outputs and text.startswith(OUTPUT_PREFIX):
        return None
    message = jsonpolicy.loads(text)
    return message if type(message) is dict else None


class Skimmed(dict[str, Any]):
    """A ``packetsent`` read from its envelope (``protocol``, ``command``, ``responseTo``);
    ``text`` is the whole message, for :func:`whole`."""

    __slots__ = ("text",)
    text: str


def skim(text: str) -> Skimmed | None:
    """The reply ``text`` is, from its envelope, if it is a ``packetsent`` spelled as above;
    None when it must be parsed."""
    if not text.endswith('"}'):
        return None
    at = text.rfind(_TAIL)
    if at < len(PREFIX) - 1 or not text.startswith(PREFIX):
        return None
    answered = text[at + len(_TAIL) : -2]
    if '"' in answered or "\\" in answered:
        return None  # not the last member as such (or escaped): the parser decides
    reply = Skimmed(protocol="runtime", command="packetsent", responseTo=answered)
    reply.text = text
    return reply


def whole(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with every field: a skimmed reply parsed now (its envelope alone, with an
    empty payload, if the echo is not JSON after all)."""
    if type(message) is not Skimmed:
        return message
    try:
        parsed = jsonpolicy.loads(message.text)
    except ValueError:
        parsed = None
    if type(parsed) is not dict:
        log.warning("a runtime:packetsent whose echo is not JSON: %.200s", message.text)
        return {**message, "payload": {}}
    return parsed
