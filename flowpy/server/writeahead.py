"""The bound on what a connection's writer hands to the kernel ahead of the client.

Once bytes are in the kernel's send buffer nothing can overtake them, so a reply queued now
waits behind all of them. :class:`WriteAhead` keeps that small: it asks the kernel to call the
socket writable only while fewer than ``limit`` bytes wait unsent (TCP_NOTSENT_LOWAT, Linux),
and the writer waits for that before each batch; what the client has not read meanwhile stays
in the connection's lanes, where replies go first. For anything that is not a TCP socket
(tests' fakes, Unix sockets) nothing is bounded and nothing waits.
"""

from __future__ import annotations

import fcntl
import logging
import select
import socket
import struct
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Bytes that may wait unsent in the kernel before the writer writes its next batch.
DEFAULT_WRITE_AHEAD = 16 * 1024
SIOCOUTQNSD = 0x894B  # Linux ioctl: the bytes of a TCP socket not yet sent
WAKE_GUARD_MS = 1000  # a wait re-checks ``gone()`` this often, in case no wake-up comes


class WriteAhead:
    """The write-ahead bound of one socket (see the module docstring)."""

    def __init__(self, raw: Any, limit: int = DEFAULT_WRITE_AHEAD, name: str = "") -> None:
        self.limit = int(limit)
        self._poll: Any = None
        self._fd: int | None = None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, self.limit)
            self._fd = int(raw.fileno())
        except (OSError, AttributeError, ValueError, TypeError) as exc:
            log.debug("%s: what is written ahead is not bounded: %s", name, exc)

    def unsent(self) -> int:
        """Bytes written to the socket that the kernel has not sent yet (0 if unknown)."""
        if self._fd is None:
            return 0
        try:
            return int(struct.unpack("i", fcntl.ioctl(self._fd, SIOCOUTQNSD, b"\0" * 4))[0])
        except OSError:
            return 0

    def has_room(self) -> bool:
        """Is less than ``limit`` unsent in the kernel (may the writer write now)?"""
        return self.unsent() < self.limit

    def wait(self, gone: Callable[[], bool]) -> None:
        """Wait until fewer than ``limit`` bytes are unsent; shutting the socket down (or
        ``gone()``) ends the wait, and the write that follows fails."""
        if self._fd is None:
            return
        try:
            if self._poll is None:
                self._poll = select.poll()
                self._poll.register(self._fd, select.POLLOUT)
            while not self._poll.poll(WAKE_GUARD_MS) and not gone():
                pass
        except (OSError, ValueError):
            pass
