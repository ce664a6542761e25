"""A socket whose every ``send`` is one ``sendall`` under one lock.

simple-websocket's handshake and goodbye write through the socket object they hold while the
connection's writer (:mod:`.connection`) writes too; the lock keeps their frames whole.
"""

from __future__ import annotations

import select
import socket
import threading
import time
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

    def shutdown_now(self, writes_only: bool = False) -> None:
        """Wake every thread blocked on this socket: their recv/send fail at once
        (``writes_only``: sends only; a reader reads on until the peer closes)."""
        try:
            self.raw.shutdown(socket.SHUT_WR if writes_only else socket.SHUT_RDWR)
        except OSError:
            pass

    def drain(self, seconds: float, chunk: int) -> None:
        """Read and drop what comes until the peer closes, for ``seconds`` at most: a socket
        closed with unread data is reset, and the reset throws away what the peer has yet
        to read (a close frame). Nothing is kept."""
        deadline = time.monotonic() + seconds
        try:
            poller = select.poll()
            poller.register(self.raw.fileno(), select.POLLIN)
            while (left := deadline - time.monotonic()) > 0:
                if not poller.poll(left * 1000) or not self.raw.recv(chunk):
                    return  # nothing more within the time, or the peer closed
        except (OSError, ValueError):
            return

    def __getattr__(self, name: str) -> Any:  # recv, close, fileno, ... as the real socket
        return getattr(self.raw, name)
