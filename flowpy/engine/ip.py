"""Information packets: data, open bracket and close bracket.

Brackets are their own kinds, never magic values inside data, so any Python object
(``None`` included) can travel as a payload and a stream's structure is never ambiguous.

Inside a connection an IP travels in its *raw form*: an IP object is itself (a bracket always
is one), and anything else is the payload of a data IP. Most IPs are data, and a pipeline that
only forwards or counts them need never make an object per IP: ``send_data``, ``raw_data``
and the shapes send bare payloads (wrapping only a payload that is itself an IP), the bound
inport makes the IP when a component asks for IPs (``recv``, iterating, ``recv_many``),
and components that handle whole batches (``core/Repeat``, ``core/Count``, the shapes) read
and send the raw form (``recv_raw``/``iter_raw``/``send_raw``). It is never ambiguous: a raw
item stands for an IP object exactly when ``isinstance(item, IP)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any

DATA = "data"
OPEN = "openBracket"
CLOSE = "closeBracket"


class IP:
    """One information packet: a kind and its data. Cheap to create; never mutated once sent."""

    __slots__ = ("kind", "data")

    DATA = DATA
    OPEN = OPEN
    CLOSE = CLOSE

    def __init__(self, kind: str, data: Any = None) -> None:
        # Plain slot assignment: IPs are created once per item on every hot path, and this is
        # twice as fast as guarded setattr. Treat IPs as immutable; nothing in flowpy mutates one.
        self.kind = kind
        self.data = data

    @classmethod
    def make_data(cls, value: Any) -> IP:
        """A data IP carrying ``value``."""
        return cls(DATA, value)

    @classmethod
    def open(cls, group: Any = None) -> IP:
        """An open-bracket IP starting a substream (``group`` names it, optionally)."""
        return cls(OPEN, group)

    @classmethod
    def close(cls, group: Any = None) -> IP:
        """A close-bracket IP ending the substream ``open`` started."""
        return cls(CLOSE, group)

    @property
    def is_data(self) -> bool:
        """True for a data IP (not a bracket)."""
        return self.kind is DATA

    @property
    def is_open(self) -> bool:
        """True for an open bracket."""
        return self.kind is OPEN

    @property
    def is_close(self) -> bool:
        """True for a close bracket."""
        return self.kind is CLOSE

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IP):
            return NotImplemented
        return self.kind == other.kind and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.kind, repr(self.data)))

    def __repr__(self) -> str:
        return f"IP({self.kind}, {self.data!r})"


def as_ip(item: Any) -> IP:
    """The IP a raw item stands for (see the module docstring)."""
    return item if isinstance(item, IP) else IP(DATA, item)


def as_ips(items: Iterable[Any]) -> list[IP]:
    """The IPs a raw batch stands for, in order."""
    return [item if isinstance(item, IP) else IP(DATA, item) for item in items]


def raw_value(value: Any) -> Any:
    """The raw form of a data IP carrying ``value``."""
    return IP(DATA, value) if isinstance(value, IP) else value


def raw_data(values: Iterable[Any]) -> list[Any]:
    """The raw form of data IPs carrying ``values``, in order (a batch for ``send_raw``)."""
    values = values if isinstance(values, list) else list(values)
    if not any(map(isinstance, values, repeat(IP))):  # the usual case, without a Python loop
        return values
    return [IP(DATA, value) if isinstance(value, IP) else value for value in values]


def count_data(items: list[Any]) -> int:
    """How many of the raw ``items`` are data IPs."""
    if not any(map(isinstance, items, repeat(IP))):  # no brackets: without a Python loop
        return len(items)
    return sum(1 for item in items if not isinstance(item, IP) or item.kind is DATA)
