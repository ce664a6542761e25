"""A socket whose every ``send`` is one ``sendall`` under one lock.

simple-websocket's handshake and goodbye write through the socket object they hold while the
connection's writer (:mod:`.connection`) writes too; the lock keeps their frames whole.
"""

from __future__ import annotations

import socket
import threading
from typing import Any


class SerialSocket:
    """Wraps a socket: ``send`` writes everything under the lock; the rest is the real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.raw = sock
        self.lock = threading.Lock()

    def send(self, data: bytes) -> int:
        """Write all of ``data`` (under the lock, so no other frame cuts in); its length."""
        with self.lock:
            self.raw.sendall(data)
        return len(data)

    def shutdown_now(self) -> None:
        """Wake every thread blocked on this socket: their recv/send fail at once."""
        try:
            self.raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:  # recv, close, fileno, ... as the real socket
        return getattr(self.raw, name)
