"""A deadline for every connection until its HTTP request has become a WebSocket.

werkzeug gives each accepted socket a thread that reads the request line and headers with no
timeout: a socket that connects and says nothing, or sends half a request (one byte at a
time, if it likes), holds its thread for ever, and a server that joins its threads at a stop
could not stop while one is open. :class:`HandshakeDeadlines` holds the sockets that have not
finished their handshake, each with its deadline (``timeout`` seconds after the accept);
one thread shuts down those whose deadline passes, so their reads end and their threads go
away. A stop shuts every one of them down at once (:meth:`HandshakeDeadlines.close_all`).

A socket leaves the set when its WebSocket handshake is done (the app calls the hook the
server puts in the WSGI environ, :data:`HANDSHAKE_DONE`) or when its request thread ends
(a plain HTTP request answered). The deadline covers the whole handshake, not each read, so
a client that trickles its request in does not get more time.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # seconds from the accept to a finished handshake
#: WSGI environ key of a no-argument callable: "this socket's handshake is done".
HANDSHAKE_DONE = "flowpy.handshake_done"


def _shut(sock: Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone


class HandshakeDeadlines:
    """Sockets still in their handshake, and the thread that enforces their deadline.

    ``timeout`` None: no deadline (a stop still shuts them down). ``start()`` starts the
    thread, ``stop()`` ends and joins it.
    """

    def __init__(self, timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT) -> None:
        self.timeout = timeout
        # socket -> (deadline, peer). One timeout for all, so the dict's order (insertion)
        # is the deadlines' order: the first entry is always the next to expire.
        self._pending: dict[Any, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = False  # close_all() was called: every socket is shut on arrival
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the deadline thread (when there is a timeout)."""
        if self.timeout is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="flowpy-handshake-deadlines")
        self._thread.start()

    def admit(self, sock: Any, peer: str) -> None:
        """A socket was accepted (its request thread calls this first)."""
        with self._lock:
            if not self._closed:
                deadline = time.monotonic() + (self.timeout or 0.0)
                self._pending[sock] = (deadline, peer)
                if len(self._pending) == 1:
                    self._changed.notify()
                return
        _shut(sock)

    def done(self, sock: Any) -> None:
        """The socket's handshake is over (it is a WebSocket now, or its request ended)."""
        with self._lock:
            self._pending.pop(sock, None)

    def pending(self) -> int:
        """Sockets still in their handshake."""
        with self._lock:
            return len(self._pending)

    def close_all(self) -> None:
        """Shut down every socket still in its handshake, now and from now on (a stop)."""
        with self._lock:
            self._closed = True
            socks = list(self._pending)
            self._pending.clear()
        for sock in socks:
            _shut(sock)

    def stop(self) -> None:
        """End and join the deadline thread."""
        with self._lock:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                expired = self._wait_for_expiry()
                if expired is None:
                    return
            for sock, peer in expired:
                log.info(
                    "closed the connection from %s: no WebSocket handshake within %gs",
                    peer,
                    self.timeout,
                )
                _shut(sock)

    def _wait_for_expiry(self) -> list[tuple[Any, str]] | None:
        """Lock held: wait until some deadline passes; those sockets, taken out of the set
        (None once stopping)."""
        while not self._stopping:
            now = time.monotonic()
            expired = []
            for sock, (deadline, peer) in self._pending.items():
                if deadline > now:
                    break
                expired.append((sock, peer))
            if expired:
                for sock, _ in expired:
                    del self._pending[sock]
                return expired
            if self._pending:
                first_deadline = next(iter(self._pending.values()))[0]
                self._changed.wait(first_deadline - now)
            else:
                self._changed.wait()
        return None
