"""Information packets: data, open bracket and close bracket.

Brackets are their own kinds, never magic values inside data, so any Python object
(``None`` included) can travel as a payload and a stream's structure is never ambiguous.
"""

from __future__ import annotations

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

