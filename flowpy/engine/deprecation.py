"""The names of the component API kept for one release after the one vocabulary replaced
them (docs/writing-components.md), all in this module, so the next release deletes it.

Each use goes through :func:`deprecated`, which logs one warning the first time a name is used
in a process (what to write instead, and where it was called from), never again after that,
and never raises. The bound ports get their former readers and senders from the mixins here.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from .connection import EndOfStream
from .ip import CLOSE, DATA, IP, OPEN

log = logging.getLogger("flowpy.deprecated")
_warned: set[str] = set()
_lock = threading.Lock()


def deprecated(name: str, instead: str, depth: int = 2) -> None:
    """Log once per process that ``name`` is deprecated and ``instead`` replaces it; ``depth``
    frames up is the caller named in the line (2: the caller of the deprecated function)."""
    with _lock:
        if name in _warned:
            return
        _warned.add(name)
    try:
        frame = sys._getframe(depth)
        where = f" (called from {frame.f_code.co_filename}:{frame.f_lineno})"
    except ValueError:
        where = ""
    log.warning(
        "%s is deprecated and goes in the next release: use %s instead%s", name, instead, where
    )


class _Port(Protocol):
    """What the former readers and senders use of a bound port."""

    def _select(self, max_items: int, timeout: float | None) -> tuple[Any, list[IP]]: ...
    def recv(self, timeout: float | None = None) -> IP: ...
    def send(self, ip: IP) -> bool: ...
    def __iter__(self) -> Iterator[IP]: ...


class DeprecatedReaders:
    """The readers of ``InputPort`` before the vocabulary: iterating, ``recv()`` and
    ``recv_many()`` replace them, ``next_data(port)`` the one for a payload."""

    def recv_any(self: _Port, timeout: float | None = None) -> tuple[Any, IP]:
        """Deprecated: (slot, IP) from whichever slot has one."""
        deprecated("InputPort.recv_any()", "recv() (or port[index] for one slot)")
        slot, batch = self._select(1, timeout)
        return slot, batch[0]

    def recv_any_many(
        self: _Port, max_items: int = 0, timeout: float | None = None
    ) -> tuple[Any, list[IP]]:
        """Deprecated: (slot, up to ``max_items`` IPs of that slot)."""
        deprecated("InputPort.recv_any_many()", "recv_many() (or port[index] for one slot)")
        return self._select(max_items, timeout)

    def items(self: _Port) -> Iterator[tuple[Any, IP]]:
        """Deprecated: (slot, IP) pairs across every slot until all have ended."""
        deprecated("InputPort.items()", "iteration (or port[index] for one slot)")
        while True:
            try:
                slot, batch = self._select(1, None)
            except EndOfStream:
                return
            yield slot, batch[0]

    def data(self: _Port) -> Iterator[Any]:
        """Deprecated: the payloads of data IPs, skipping brackets."""
        deprecated("InputPort.data()", "iteration: `for ip in port: if ip.is_data: ...`")
        for ip in self:
            if ip.kind is DATA:
                yield ip.data

    def recv_data(self: _Port, timeout: float | None = None) -> Any:
        """Deprecated: the payload of the next data IP, skipping brackets."""
        deprecated("InputPort.recv_data()", "flowpy.next_data(port)")
        while True:
            ip = self.recv(timeout)
            if ip.kind is DATA:
                return ip.data


class DeprecatedSenders:
    """The bracket senders of ``OutputPort`` before the vocabulary: ``send(IP.open(g))``."""

    def open_bracket(self: _Port, group: Any = None) -> None:
        """Deprecated: send an open bracket."""
        deprecated("OutputPort.open_bracket()", "send(IP.open(group))")
        self.send(IP(OPEN, group))

    def close_bracket(self: _Port, group: Any = None) -> None:
        """Deprecated: send a close bracket."""
        deprecated("OutputPort.close_bracket()", "send(IP.close(group))")
        self.send(IP(CLOSE, group))
