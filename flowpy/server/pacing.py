"""A token bucket: at most ``rate`` events a second, in bursts of up to ``burst``.

The server paces each client's debug data with one (:mod:`.connection`), so a busy edge
cannot crowd out what else the client is sent. Not thread-safe: its owner holds its own lock.
"""

from __future__ import annotations

import time


class TokenBucket:
    """``take()`` is True while the pace allows one more event; a rate of 0 allows every one."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._tokens = self.burst
        self._refilled = time.monotonic()

    def take(self) -> bool:
        """Take one token if there is one (the bucket refills at ``rate`` a second)."""
        if not self.rate:
            return True
        now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
