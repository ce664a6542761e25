"""Packet events: how IPs cross the wire as ``runtime:packet`` events and debug commands.

The protocol names an open bracket ``begingroup`` and a close bracket ``endgroup``; the engine
has IP kinds. This is the one place the two vocabularies meet, for the runtime (outports,
debug edges), the client and the link alike.
"""

from __future__ import annotations

from typing import Any

from flowpy.engine.ip import CLOSE, DATA, IP, OPEN, raw_value

#: The five events of ``runtime:packet`` (and of the link extension's packets).
PACKET_EVENTS = ("connect", "begingroup", "data", "endgroup", "disconnect")
#: The ``network:*`` commands that report an edge's traffic (debug data).
DEBUG_COMMANDS = frozenset(PACKET_EVENTS)

#: IP kind -> event; connect and disconnect are stream markers, not IPs.
EVENT_OF_KIND = {DATA: "data", OPEN: "begingroup", CLOSE: "endgroup"}
KIND_OF_EVENT = {event: kind for kind, event in EVENT_OF_KIND.items()}


def event_of(ip: IP) -> tuple[str, Any]:
    """``(event, payload)`` for an IP: the data, or the bracket's group name."""
    return EVENT_OF_KIND[ip.kind], ip.data


def ip_of(event: str, payload: Any = None) -> IP | None:
    """The IP an event carries; None for the markers (connect, disconnect). KeyError for an
    event that is not a packet event."""
    if event == "connect" or event == "disconnect":
        return None
    return IP(KIND_OF_EVENT[event], payload)


def events_of_raw(items: list[Any]) -> list[tuple[str, Any]]:
    """:func:`event_of` for a batch in raw form (``recv_raw``: a data IP as its bare payload),
    without making an IP object per data item."""
    return [event_of(item) if isinstance(item, IP) else ("data", item) for item in items]


def raw_of(event: str, payload: Any = None) -> Any:
    """:func:`ip_of` in raw form (for ``send_raw``): a data payload as itself (wrapped only if
    it is an IP), a bracket as its IP. KeyError for connect, disconnect and any other event."""
    if event == "data":
        return raw_value(payload)
    return IP(KIND_OF_EVENT[event], payload)
