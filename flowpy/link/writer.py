"""Frames to one socket, in order and batched: the write side of :mod:`flowpy.link.client`.

Several threads send on one connection (a Bridge's process thread, its delivery thread
acknowledging what arrived). The reader's pongs are only queued (:meth:`FrameWriter.post`)
and written by the next writer or the client's flusher thread: a reader that waited behind
a blocked write would stop reading, and the peer may be waiting for exactly that (its
output waits for our pong, and our write waits for its network, which waits for its
output). Each frame written with its own
``sendall`` costs a system call and, on a busy machine, a trip through the GIL; frames that
queue up while one is being written are instead written together by whoever writes next.
"""

from __future__ import annotations

import socket
import threading


class FrameWriter:
    """Frames to one socket, in order, batched: whoever finds nobody writing becomes the
    writer and sends everything queued so far with one ``sendall``; a sender that finds a
    writer at work queues its frames and waits until they are written (so it still learns
    of an error, and memory stays bounded by the number of senders). After :meth:`last`
    (a close frame) nothing more is written: RFC 6455 allows no data after a close."""

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._queue: list[bytes] = []
        self._queued = 0  # frames ever queued
        self._written = 0  # frames ever written (or failed)
        self._writing = False
        self._error: OSError | None = None
        self._ended = False
        self._pong_at: int | None = None  # where the queue holds a posted pong, if it does

    def write(
        self,
        sock: socket.socket,
        frames: bytes,
        final: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Write ``frames`` in order, batched with other senders'; ``final`` for the close
        frame. ``timeout``: OSError if a write at work has not ended by then (a peer that
        reads nothing holds it), instead of waiting on."""
        ready = self._ready
        with ready:
            if self._ended:
                if final:
                    return  # the close frame is sent already
                raise self._error or OSError("the connection is closing")
            self._ended = final
            self._queue.append(frames)
            self._queued += 1
            mine = self._queued
            if not ready.wait_for(lambda: not self._writing or self._written >= mine, timeout):
                raise OSError("a write at work did not end in time")
            if self._error is not None:  # the connection broke while this waited
                raise self._error
            if self._written >= mine:  # another writer sent it
                return
            batch, upto = self._take()
        self._send(sock, batch, upto)

    def post(self, pong: bytes) -> None:
        """Queue the reader's ``pong`` without waiting: a writer at work sends it with its
        next batch, or :meth:`flush_posted` does. The reader must never wait behind a write:
        the peer may be waiting for what the reader has yet to read. A pong still queued is
        replaced (RFC 6455 lets the last ping alone be answered), so a peer that pings and
        never reads makes this hold one pong, not one per ping."""
        with self._ready:
            if self._ended:
                return  # nothing more is written; a pong then no longer matters
            if self._pong_at is not None:
                self._queue[self._pong_at] = pong
                return
            self._pong_at = len(self._queue)
            self._queue.append(pong)
            self._queued += 1
            self._ready.notify_all()

    def flush_posted(self, sock: socket.socket) -> bool:
        """The flusher thread's step: wait until frames are queued and nobody writes them,
        then write them (blocking this thread, not the reader). False once nothing more
        will be written."""
        ready = self._ready
        with ready:
            while not self._ended and (self._writing or self._written >= self._queued):
                ready.wait()
            if self._ended:
                return False
            batch, upto = self._take()
        try:
            self._send(sock, batch, upto)
        except OSError:
            return False
        return True

    def end(self) -> None:
        """The connection is over: nothing more is written, and a waiting flusher ends."""
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def _take(self) -> tuple[list[bytes], int]:
        """Become the writer of everything queued so far (the lock is held)."""
        batch, self._queue = self._queue, []
        self._pong_at = None
        self._writing = True
        return batch, self._queued

    def _send(self, sock: socket.socket, batch: list[bytes], upto: int) -> None:
        """Write what :meth:`_take` took (the lock is not held), then let the others on."""
        ready = self._ready
        error = None
        try:
            sock.sendall(batch[0] if len(batch) == 1 else b"".join(batch))
        except OSError as exc:
            error = exc
        with ready:
            self._written = upto
            self._writing = False
            if error is not None:
                self._error = self._error or error
                self._ended = True
            ready.notify_all()
        if error is not None:
            raise error

    def last(self, sock: socket.socket, frame: bytes, timeout: float | None = None) -> None:
        """Write the close frame: the last this connection sends (once; later calls no-op)."""
        self.write(sock, frame, final=True, timeout=timeout)
