"""One budget of bytes that every connection's partial messages draw from.

A message is held in memory from its first frame header until its last byte: one client may
hold up to the message limit, and a thousand clients a thousand times that. The codecs
(:mod:`~flowpy.server.frames`) take from a :class:`ByteBudget` shared by every connection of
an app what an incomplete message will occupy, before they buffer it, and give it back when
the message is complete or the connection ends; a message the budget cannot cover is
refused (close code 1013, try again later), so what all the partial messages of a server
hold together stays bounded whoever sends them.
"""

from __future__ import annotations

import threading

DEFAULT_FRAME_BUDGET = 256 * 1024 * 1024  # bytes of partial messages, all connections


class ByteBudget:
    """``take(n)`` (False when it would go over ``limit``), ``give(n)``, ``used``.
    ``limit`` None: no limit (the count is still kept)."""

    def __init__(self, limit: int | None = DEFAULT_FRAME_BUDGET) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Hold ``size`` more bytes if the limit allows; False if it would go over."""
        with self._lock:
            if self.limit is not None and self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        """Give back ``size`` bytes taken before."""
        with self._lock:
            self.used -= size
