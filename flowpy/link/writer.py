"""Frames to one socket, in order and batched: the write side of :mod:`flowpy.link.client`.

Several threads send on one connection (a Bridge's process thread, its delivery thread
acknowledging what arrived), and the reader writes too, but never waits: its pongs are only
queued (:meth:`FrameWriter.post`), and what it queues otherwise (a window refilled by the
acks it just read) is written as far as the socket takes it at once
(:meth:`FrameWriter.flush_nowait`). What is left is written by the next writer or the
client's flusher thread. A reader that waited behind a blocked write would stop reading, and
the peer may be waiting for exactly that (its output waits for our pong, and our write waits
for its network, which waits for its output). Each frame written with its own ``sendall``
costs a system call and, on a busy machine, a trip through the GIL; frames that queue up
while one is being written are instead written together by whoever writes next.
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
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # writers waiting for their frames
        self._orphans = threading.Condition(lock)  # the flusher, waiting for frames nobody writes
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
        with self._ready:
            if self._ended and final:
                return  # the close frame is sent already
            mine = self._enqueue(frames)
            self._ended = final
        self.flush(sock, mine, timeout)

    def queue(self, frames: bytes) -> int:
        """Queue ``frames`` without writing them: a later :meth:`flush` or
        :meth:`flush_nowait` does. Returns their place in line."""
        with self._ready:
            return self._enqueue(frames)

    def _enqueue(self, frames: bytes) -> int:
        if self._ended:
            raise self._error or OSError("the connection is closing")
        self._queue.append(frames)
        self._queued += 1
        return self._queued

    def flush(self, sock: socket.socket, upto: int, timeout: float | None = None) -> None:
        """Return once everything queued up to place ``upto`` is written, writing it (and
        what queued since) if nobody else is; OSError if the connection broke, or if a
        write at work did not end within ``timeout``."""
        ready = self._ready
        with ready:
            if not ready.wait_for(lambda: not self._writing or self._written >= upto, timeout):
                raise OSError("a write at work did not end in time")
            if self._error is not None:  # the connection broke while this waited
                raise self._error
            if self._written >= upto:  # another writer sent it
                return
            batch, last = self._take()
        self._send(sock, batch, last)

    def flush_nowait(self, sock: socket.socket) -> None:
        """Write what is queued as far as the socket takes it now, never waiting (the
        reader's way to write): if somebody writes already, or the socket is full, the rest
        stays first in line for the next writer or the flusher thread."""
        with self._ready:
            if self._writing or self._ended or self._written >= self._queued:
                return
            if sock.gettimeout() is not None:  # a timed goodbye: send would wait that long
                self._orphans.notify()
                return
            before = self._written
            batch, upto = self._take()
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        sent, error = 0, None
        try:
            while sent < len(data):
                sent += sock.send(memoryview(data)[sent:], socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        except OSError as exc:
            error = exc
        with self._ready:
            if sent < len(data) and error is None:
                self._queue.insert(0, data[sent:])  # first in line; its frames not written
                if self._pong_at is not None:
                    self._pong_at += 1
                upto = before
            self._ended_writing(upto, error)

    def post(self, pong: bytes) -> None:
        """Queue the reader's ``pong`` without waiting, for the reader's :meth:`flush_nowait`
        (or, when a writer is at work, that writer's next batch or the flusher thread). The
        reader must never wait behind a write: the peer may be waiting for what the reader
        has yet to read. A pong still queued is replaced (RFC 6455 lets the last ping alone
        be answered), so a peer that pings and never reads makes this hold one pong, not
        one per ping."""
        with self._ready:
            if self._ended:
                return  # nothing more is written; a pong then no longer matters
            if self._pong_at is not None:
                self._queue[self._pong_at] = pong
                return
            self._pong_at = len(self._queue)
            self._queue.append(pong)
            self._queued += 1

    def flush_posted(self, sock: socket.socket) -> bool:
        """The flusher thread's step: wait until frames are queued and nobody writes them,
        then write them (blocking this thread, not the reader). False once nothing more
        will be written."""
        with self._ready:
            while not self._ended and (self._writing or self._written >= self._queued):
                self._orphans.wait()
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
            self._orphans.notify_all()

    def _take(self) -> tuple[list[bytes], int]:
        """Become the writer of everything queued so far (the lock is held)."""
        batch, self._queue = self._queue, []
        self._pong_at = None
        self._writing = True
        return batch, self._queued

    def _send(self, sock: socket.socket, batch: list[bytes], upto: int) -> None:
        """Write what :meth:`_take` took (the lock is not held), then let the others on."""
        error = None
        try:
            sock.sendall(batch[0] if len(batch) == 1 else b"".join(batch))
        except OSError as exc:
            error = exc
        with self._ready:
            self._ended_writing(upto, error)
        if error is not None:
            raise error

    def _ended_writing(self, upto: int, error: OSError | None) -> None:
        """A write is over, written up to place ``upto`` (the lock is held): wake the
        writers waiting, and the flusher if frames are left that no writer may take."""
        self._written = max(self._written, upto)
        self._writing = False
        if error is not None:
            self._error = self._error or error
            self._ended = True
            self._orphans.notify_all()
        elif self._written < self._queued:
            self._orphans.notify()
        self._ready.notify_all()

    def last(self, sock: socket.socket, frame: bytes, timeout: float | None = None) -> None:
        """Write the close frame: the last this connection sends (once; later calls no-op)."""
        self.write(sock, frame, final=True, timeout=timeout)
