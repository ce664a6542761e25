"""Edge taps: observe IPs crossing one edge without slowing any other.

A tap replaces the edge's connection in its sender's target list with a wrapper that calls
the observers, then forwards. Untapped edges keep the bare connection, so observation costs
nothing until somebody asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .connection import Connection
from .ip import as_ip

log = logging.getLogger(__name__)


class TapConnection:
    """Forwards to ``inner`` after showing every IP to each callback (in the sender's thread)."""

    __slots__ = ("inner", "callbacks")

    def __init__(self, inner: Connection) -> None:
        self.inner = inner
        self.callbacks: list[Callable[[Any], Any]] = []

    def _observe(self, item: Any) -> None:
        ip = as_ip(item)  # a connection carries the raw form (see flowpy.engine.ip)
        for callback in list(self.callbacks):
            try:
                callback(ip)
            except Exception:
                log.exception("edge tap callback failed")

    def send(self, ip: Any, on_queued: Callable[[], Any] | None = None) -> bool:
        """Show ``ip`` to the callbacks, then send it on the tapped connection."""
        self._observe(ip)
        return self.inner.send(ip, on_queued)

    def send_many(
        self, batch: Iterable[Any], on_queued: Callable[[int], Any] | None = None
    ) -> bool:
        """Show each IP of ``batch`` to the callbacks, then send them on together."""
        batch = list(batch)
        for ip in batch:
            self._observe(ip)
        return self.inner.send_many(batch, on_queued)

    def close_writer(self) -> None:
        """The sender is done: close the tapped connection's writer side."""
        self.inner.close_writer()

    @property
    def dropped(self) -> int:
        """How many IPs the tapped connection discarded instead of delivering."""
        return self.inner.dropped
