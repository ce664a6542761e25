"""How far a connection's writer may write ahead of what its client has read.

Written bytes cannot be overtaken, so a reply waits behind them: the kernel's unsent bytes
(bounded with TCP_NOTSENT_LOWAT) and what the client's own receive buffer holds unread
(bounded with read marks: pings naming an offset, which the client's pongs confirm; sent
and waited for only while output or debug data waits). Invariant: a reply is behind at most
``limit`` + ``read_ahead`` + one batch. docs/protocol.md ("Lanes") says why and what a
client sees.
"""

from __future__ import annotations

import fcntl
import logging
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Bytes that may wait unsent in the kernel before the writer writes its next batch.
DEFAULT_WRITE_AHEAD = 16 * 1024
SIOCOUTQNSD = 0x894B  # Linux ioctl: the bytes of a TCP socket not yet sent
#: Bytes written beyond the last offset the client confirmed reading (its pong) before the
#: writer waits.
DEFAULT_READ_AHEAD = 256 * 1024
PING_EVERY = 32 * 1024  # bytes written between two read-mark pings
PING_TAG = b"flowpy-read:"  # a read-mark ping's payload: the tag, then the offset (8 bytes)
WAKE_GUARD_MS = 1000  # a wait re-checks ``gone()`` this often, in case no wake-up comes
#: A reader that neither read nor waited in ``recv`` for this long is busy with one message
#: (a ``network:stop`` that drains): the pong is not read before it is done, so the bound is
#: lifted until the reader reads again.
READER_BUSY_MS = 50


class WriteAhead:
    """The write-ahead bound of one socket (see the module docstring)."""

    def __init__(
        self,
        raw: Any,
        limit: int = DEFAULT_WRITE_AHEAD,
        name: str = "",
        read_ahead: int = DEFAULT_READ_AHEAD,
        ping_frame: Callable[[bytes], bytes] | None = None,
    ) -> None:
        """``ping_frame(payload)``: a ping frame as the codec writes it (None: no read marks,
        the unread bytes are not bounded; so is ``read_ahead`` 0)."""
        self.limit = int(limit)
        self.read_ahead = int(read_ahead)
        self._ping_frame = ping_frame
        #: The bytes of one read-mark ping (its length does not depend on the offset it
        #: carries); 0 when no marks are sent.
        self._mark_size = (
            len(ping_frame(PING_TAG + bytes(8)))
            if ping_frame is not None and self.read_ahead > 0
            else 0
        )
        self.written = 0  # bytes written to the socket since the handshake
        self.read = 0  # of those, what the client confirmed reading (its last pong)
        self._pinged = 0  # the offset of the last read-mark ping
        self._answers = False  # the client has answered a read-mark ping
        self._reader_waits = False  # the connection's reader is not reading
        #: Set by the connection's reader, without a lock: it is in ``recv`` now, and how
        #: many reads it has done (so a wait can tell a reader busy with one long message).
        self.reading = False
        self.reads = 0
        self._busy_at = -1  # ``reads`` when the reader was found busy with one message
        self._stopped = False  # the socket is shut down: no wait waits any more
        self._marks = threading.Condition()
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
        """Whether a write now stays within both bounds (see the module docstring)."""
        return not self._behind_reader() and self.unsent() < self.limit

    # -- the unread bound: read marks ------------------------------------------------------
    def _behind_reader(self) -> bool:
        return (  # answers come only to marks, which are sent only with read_ahead > 0
            self._answers
            and not (self._stopped or self._not_reading())
            and self.written - self.read >= self.read_ahead
        )

    def _not_reading(self) -> bool:
        """The connection's reader reads nothing now: it waits (input paused), or it is busy
        with one long message (see READER_BUSY_MS). A pong would not be seen."""
        return self._reader_waits or self.reads == self._busy_at

    def wrote(self, size: int) -> None:
        """``size`` more bytes went to the socket."""
        self.written += size

    def mark(self, lagging: bool) -> bytes | None:
        """The read-mark ping to write after what was written, if one is due (its bytes are
        counted as written); None if not. ``lagging``: output or debug data waits for the
        client; only then are marks sent (replies behind replies keep their order anyway).
        None while the reader is not reading: nobody would read the pong, and a client whose
        writes we do not read could have its reader stuck behind them, answering."""
        if (
            not (lagging and self._mark_size)
            or self.written - self._pinged < PING_EVERY
            or self._not_reading()
        ):
            return None
        return self._next_mark()

    def _next_mark(self) -> bytes:
        assert self._ping_frame is not None
        offset = self.written + self._mark_size
        self.written = self._pinged = offset
        return self._ping_frame(PING_TAG + offset.to_bytes(8, "big"))

    def confirmed(self, payload: bytes) -> None:
        """The reader got a pong: if it answers a read mark, the client has read that far."""
        if len(payload) != len(PING_TAG) + 8 or not payload.startswith(PING_TAG):
            return  # an answer to some other ping, or a client's own unsolicited pong
        offset = int.from_bytes(payload[len(PING_TAG) :], "big")
        with self._marks:
            if self.read < offset <= self.written:
                self.read = offset
                self._answers = True
                self._marks.notify_all()

    def reader_waits(self, waiting: bool) -> None:
        """The connection's reader stops (True) or resumes (False) reading the socket."""
        if waiting != self._reader_waits:
            with self._marks:
                self._reader_waits = waiting
                self._marks.notify_all()

    def stop(self) -> None:
        """The socket is being shut down: end every wait for the client's reading."""
        with self._marks:
            self._stopped = True
            self._marks.notify_all()

    def _wait_for_reader(self, gone: Callable[[], bool], write: Callable[[bytes], None]) -> None:
        with self._marks:
            if not self._behind_reader():
                return
            # The pong that frees room must be on its way: a mark covering all that was written.
            mark = self._next_mark() if self._pinged < self.written else None
        if mark is not None:
            write(mark)  # not under the lock: the reader takes it for every pong
        with self._marks:
            while self._behind_reader() and not gone():
                reads = self.reads
                self._marks.wait(READER_BUSY_MS / 1000)
                if self.reads == reads and not self.reading:  # busy with one message
                    self._busy_at = reads

    def wait(
        self,
        gone: Callable[[], bool],
        write: Callable[[bytes], None] | None = None,
        lagging: bool = False,
    ) -> None:
        """Wait until fewer than ``limit`` bytes are unsent and, if ``lagging`` (see
        :meth:`mark`), the client has read all but ``read_ahead`` bytes (``write(frame)``
        writes a read-mark ping when none is on its way); shutting the socket down (or
        ``gone()``) ends the wait, and the write that follows fails."""
        if write is not None and lagging:
            self._wait_for_reader(gone, write)
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
