"""A stream on one port combined with a second value: from a port (the latest value
applies, typically an IIP) or from a constant in conf. NoFlo's math components work so
(their second operand is a "control" port); here the rule is the same for every library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowpy import IP, Component, EndOfStream

from .select import PortSelect

MISSING = object()


def with_operand(
    component: Component, main: str, operand: str, constant: Any = MISSING
) -> Iterator[tuple[IP, Any]]:
    """Yield ``(ip, operand value)`` for every IP on ``main`` (brackets too). With
    ``operand`` connected, its first data IP is awaited and each later one replaces it
    (brackets there are ignored); otherwise ``constant`` applies, and without one that is
    a ValueError naming both ways of giving it."""
    inports = component.inports
    if not inports[operand].is_connected:
        if constant is MISSING:
            raise ValueError(
                f"{component.node_id}: give the {operand} on the {operand!r} port "
                "(an IIP, say) or in conf"
            )
        for ip in inports[main]:
            yield ip, constant
        return
    select = PortSelect(inports, [operand, main])
    current = constant
    while current is MISSING:  # the first operand comes before any IP is handled
        try:
            name, ip = select.recv([operand])
        except EndOfStream:
            raise ValueError(
                f"{component.node_id}: {operand!r} ended without a value (and conf gives none)"
            ) from None
        if ip.is_data:
            current = ip.data
    while True:
        try:
            name, ip = select.recv([operand, main])
        except EndOfStream:
            return
        if name == operand:
            if ip.is_data:
                current = ip.data
            continue
        yield ip, current
