"""Information packets: data, open bracket and close bracket.

Brackets are their own kinds, never magic values inside data, so any Python object
(``None`` included) can travel as a payload and a stream's structure is never ambiguous.

Inside a connection an IP travels as an *item*: a data IP as its bare payload, a bracket
(and the rare data IP whose payload is itself an IP) as the IP object. Most IPs are data, and
a pipeline that only forwards or counts them need never make an object per IP: the bound
inport makes the IP when a component asks for IPs (``recv``, iterating, ``recv_many``),
while components that handle whole batches (``core/Repeat``, ``core/Count``) read and send
items (``recv_items``/``send_items``). The form is unambiguous, an item is an IP exactly when
``isinstance(item, IP)``, and an IP object is always a valid item.
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
        return cls(DATA, value)

    @classmethod
    def open(cls, group: Any = None) -> IP:
        return cls(OPEN, group)

    @classmethod
    def close(cls, group: Any = None) -> IP:
        return cls(CLOSE, group)

    @property
    def is_data(self) -> bool:
        return self.kind is DATA

    @property
    def is_open(self) -> bool:
        return self.kind is OPEN

    @property
    def is_close(self) -> bool:
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
    """The IP an item stands for (see the module docstring)."""
    return item if isinstance(item, IP) else IP(DATA, item)


def as_ips(items: Iterable[Any]) -> list[IP]:
    """The IPs a batch of items stands for, in order."""
    return [item if isinstance(item, IP) else IP(DATA, item) for item in items]


def data_item(value: Any) -> Any:
    """The item of a data IP carrying ``value``."""
    return IP(DATA, value) if isinstance(value, IP) else value


def data_items(values: Iterable[Any]) -> list[Any]:
    """The items of data IPs carrying ``values``, in order (a batch for ``send_items``)."""
    values = values if isinstance(values, list) else list(values)
    if not any(map(isinstance, values, repeat(IP))):  # the usual case, without a Python loop
        return values
    return [IP(DATA, value) if isinstance(value, IP) else value for value in values]


def count_data(items: list[Any]) -> int:
    """How many of ``items`` are data IPs."""
    if not any(map(isinstance, items, repeat(IP))):  # no brackets: without a Python loop
        return len(items)
    return sum(1 for item in items if not isinstance(item, IP) or item.kind is DATA)
