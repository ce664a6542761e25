"""Waiting on several plain inports at once (a gate's ``in``, ``open`` and ``close``).

The engine's ports select only across the slots of one addressable port; this does the same
across named ports, with the engine's own :class:`Selector`, so nothing polls: a process
blocks until one of the ports it asks about has an IP or ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flowpy import IP, EndOfStream
from flowpy.engine.connection import Connection, Selector
from flowpy.engine.ip import as_ip


class PortSelect:
    """``recv(names)`` gives ``(name, ip)`` from whichever of those ports has an IP first
    (earlier names win a tie); a port that ends is remembered (:meth:`ended`), and
    EndOfStream comes once every asked port has ended. ``(None, None)`` comes only after a
    :meth:`wake`."""

    def __init__(self, inports: Any, names: Iterable[str]) -> None:
        self._conns: dict[str, Connection] = {}
        self._ended: set[str] = set()
        self._interrupted = False
        self._woken = False
        self._selector = Selector()
        for name in names:
            port = inports[name]
            conn = port._single() if port.is_connected else None  # noqa: SLF001
            if conn is None:
                self._ended.add(name)  # never connected: ended from the start
                continue
            conn.selector = self._selector
            self._conns[name] = conn

    def ended(self, name: str) -> bool:
        return name in self._ended

    def wake(self) -> None:
        """From another thread: make the current (or else the next) ``recv`` return
        ``(None, None)`` once, so its caller can look at something else that has happened
        (a request finished)."""
        self._woken = True
        self._selector.poke()

    def interrupt(self) -> None:
        """From another thread: make the current and every later ``recv`` raise
        EndOfStream, as if every port had ended (a helper thread's reader is done)."""
        self._interrupted = True
        self._selector.poke()

    def recv(
        self, names: Iterable[str], timeout: float | None = None
    ) -> tuple[str, IP] | tuple[None, None]:
        names = list(names)
        deadline = None if timeout is None else time.monotonic() + timeout
        selector = self._selector
        while True:
            seen = selector.generation
            if self._interrupted:
                raise EndOfStream()
            if self._woken:
                self._woken = False
                return None, None
            live = 0
            for name in names:
                if name in self._ended:
                    continue
                try:
                    batch = self._conns[name].try_recv_many(1)
                except EndOfStream:
                    self._ended.add(name)
                    continue
                live += 1
                if batch:
                    return name, as_ip(batch[0])  # a connection carries the raw form
            if not live:
                raise EndOfStream()
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"nothing received on {names} within {timeout}s")
            selector.wait(seen, remaining)
