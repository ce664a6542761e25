"""Frames to one socket, in order and batched: the write side of :mod:`flowpy.link.client`.

Several threads send on one connection (a Bridge's process thread, its delivery thread
acknowledging what arrived, the reader answering pings). Each frame written with its own
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

    def write(self, sock: socket.socket, frames: bytes, final: bool = False) -> None:
        """Write ``frames`` in order, batched with other senders'; ``final`` for the close frame."""
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
            while self._writing and self._written < mine:
                ready.wait()
            if self._error is not None:  # the connection broke while this waited
                raise self._error
            if self._written >= mine:  # another writer sent it
                return
            batch, self._queue = self._queue, []
            upto = self._queued
            self._writing = True
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

    def last(self, sock: socket.socket, frame: bytes) -> None:
        """Write the close frame: the last this connection sends (once; later calls no-op)."""
        self.write(sock, frame, final=True)
