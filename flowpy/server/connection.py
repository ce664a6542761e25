"""One client connection: its reader, its writer, and the queues between the runtime and the socket.

One reader and exactly one writer, and neither dies of one message; one thread at a time
writes, so frames never interleave; replies overtake queued output (the lanes,
:mod:`flowpy.wire.lanes`); what sits in the kernel is kept small (:mod:`.writeahead`). Rules and
reasons: docs/architecture.md ("One client connection", "How a frame travels").
"""

from __future__ import annotations

import collections
import itertools
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from flowpy.engine import cpus
from flowpy.wire import DEBUG, STREAM, Lane, encode
from flowpy.wire.lanes import OUTPUT

from . import frames
from .pacing import TokenBucket
from .recording import Recorder
from .serial_socket import SerialSocket
from .writeahead import DEFAULT_READ_AHEAD, DEFAULT_WRITE_AHEAD, WriteAhead

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1024  # messages a STREAM send may find queued before it waits
#: Seconds a client may leave its full queue unread before the server cuts it (None: never).
DEFAULT_STALL_TIMEOUT = 60.0
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # larger messages close the connection (1009)
#: The message limit of a client that has not presented a secret yet (runtimes with secrets).
DEFAULT_UNTRUSTED_MESSAGE_SIZE = 64 * 1024
RECEIVE_BYTES = 64 * 1024
WRITE_BATCH = 64  # messages written with one sendall, at most
#: A batch is full once its messages hold this many characters; it adds at most that (or one
#: larger message) to the DEFAULT_WRITE_AHEAD bytes the kernel may hold unsent (writeahead).
BATCH_BYTES = 16 * 1024
DEFAULT_DEBUG_RATE = 5000  # debug messages a second, at most, to one client (0: no limit)
GOODBYE_TIMEOUT = 0.5  # seconds a close frame may wait for room in the socket
#: After a protocol error, the reader drops what the client still sends for this long at
#: most, so that closing does not reset the connection under the close frame.
LINGER_SECONDS = 1.0

_connection_ids = itertools.count(1)


class ClientConnection:
    """The sink the runtime sends through for one WebSocket client (see the module docstring).

    ``send(message, lane) -> bool``: True once the message is queued for the writer; False if
    it was dropped (debug data, queue full) or the client is gone (closed, cut, or, for a STREAM
    send waiting for room, the server's shutdown deadline passed).
    """

    def __init__(
        self,
        sock: Any,
        codec: Any,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        recorder: Recorder | None = None,
        name: str | None = None,
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
        hard_limit: int | None = None,
        subprotocol: str | None = None,
        debug_rate: int = DEFAULT_DEBUG_RATE,
        peer: str | None = None,
        write_ahead: int = DEFAULT_WRITE_AHEAD,
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        self.id = next(_connection_ids)
        self.name = name or f"flowpy-client-{self.id}"
        #: The client's address ("host:port"), for log lines.
        self.peer = peer
        #: Why the reader stopped reading (for the disconnect's log line).
        self.end_reason = "the connection ended"
        self.subprotocol = subprotocol
        self.codec = codec
        self.sock = sock if isinstance(sock, SerialSocket) else SerialSocket(sock)
        self.dropped = 0  # debug messages dropped because their queue was full
        self.unencodable = 0  # messages dropped because they could not be framed
        self.sent = 0  # messages written to the socket
        self.cut_reason: str | None = None  # why the server gave up on this client
        self._recorder = recorder
        self._capacity = max(1, int(queue_size))
        self._hard_limit = hard_limit or max(4 * self._capacity, self._capacity + 256)
        self._debug_limit = self._capacity
        self._debug_pace = TokenBucket(debug_rate, debug_rate / 5)  # guarded by _lock
        self._seq = 0
        # (seq, lane, text or frame bytes): replies, news and control frames (lane None)
        self._main: collections.deque[tuple[int, Lane | None, Any]] = collections.deque()
        # (seq, lane, text or the rest of a frame): graph output, given way to by replies
        self._output: collections.deque[tuple[int, Lane | None, Any]] = collections.deque()
        self._debug: collections.deque[tuple[int, str]] = collections.deque()
        self._ahead = WriteAhead(
            self.sock.raw, write_ahead, self.name, read_ahead, getattr(codec, "ping", None)
        )
        self._lock = threading.Lock()
        self._wake_writer = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)  # main queue below capacity, input resumed
        self._closing = False  # no new messages accepted; the writer drains and ends
        self._broken = False  # nothing more can be written
        self._lingering = False  # the reader drains after a protocol error: shut writes only
        self._writing = False  # the writer is inside a socket write
        self._direct = False  # a sender is writing its message itself (see the docstring)
        self._close_frame: bytes | None = None  # the last thing the writer writes
        self._input_paused = False
        self._deadline: float | None = None  # STREAM sends give up after this (shutdown)
        self._stall_timeout = stall_timeout
        self._progress = time.monotonic()  # when the writer last took from the queue
        self._writer = threading.Thread(target=self._write_loop, name=f"{self.name}-writer")
        self._writer.start()

    # -- the sink ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """No more messages are accepted (closing, or the socket broke)."""
        return self._closing or self._broken

    @property
    def stalled(self) -> bool:
        """Was the client cut for reading too slowly (or too little)?"""
        return self.cut_reason is not None

    def send(
        self,
        message: dict[str, Any],
        lane: Lane = STREAM,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """``cancelled``: for a send that waits, checked whenever :meth:`wake` is called (a
        network stopping): once it says True, the send gives up and returns False."""
        if lane is DEBUG and not self._debug_room():
            return False  # dropped before it costs an encoding: a busy edge makes many
        try:
            text = encode(message)
        except Exception as exc:  # noqa: BLE001 - MemoryError and the like: this message only
            self._unencodable(message, exc)
            return True  # taken, and gone for good: sending it again cannot help
        with self._lock:
            if self._closing or self._broken:
                return False
            self._seq += 1
            if lane is DEBUG:
                self._debug.append((self._seq, text))
                if len(self._debug) == 1:
                    self._wake_writer.notify()
                return True
            if lane.waits and not self._writing and not self._direct and not self._pending():
                self._direct = True  # the shortcut: write it from this thread, now
                seq = self._seq
            else:
                queue = self._output if lane.queue == OUTPUT else self._main
                if (
                    lane.waits
                    and len(queue) >= self._capacity
                    and not self._wait_for_room(cancelled)
                ):
                    return False
                if not lane.waits and len(queue) >= self._hard_limit:
                    self._cut(f"{len(queue)} messages unread: the client reads too slowly")
                    return False
                queue.append((self._seq, lane, text))
                if len(queue) == 1:
                    self._wake_writer.notify()
                return True
        self._write_now(seq, lane, text)
        return True

    def _pending(self) -> int:
        """Lock held: messages queued for the writer."""
        return len(self._main) + len(self._output) + len(self._debug)

    def _drop_queued(self) -> None:
        """Lock held: nothing queued will ever be written."""
        self._main.clear()
        self._output.clear()
        self._debug.clear()

    def _write_now(self, seq: int, lane: Lane, text: str) -> None:
        """The shortcut (``_direct`` claimed): frame and write ``text`` without blocking if the
        kernel holds less than ``write_ahead`` unsent bytes; the writer gets the rest of a
        frame the socket did not take first, or the whole message back in its lane."""
        data = b""
        sent = 0
        failed = False
        try:
            data = self.codec.text(text)
            with self.sock.lock:
                if self._ahead.has_room():
                    sent = self.sock.raw.send(data, socket.MSG_DONTWAIT)
                    self._ahead.wrote(sent)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            log.debug("%s: write failed: %s", self.name, exc)
            failed = True
        except Exception as exc:  # noqa: BLE001 - drop this message, keep the connection
            self._unencodable({"protocol": text[:60]}, exc)
            data = b""
        with self._lock:
            self._direct = False
            if failed:
                self._broken = True
                self._drop_queued()
                self._room.notify_all()
            elif data and not sent:
                self._output.appendleft((seq, lane, text))  # nothing went: back in its lane
                data = b""
            elif data:
                if sent < len(data):  # the rest of this frame goes before anything else
                    self._main.appendleft((0, None, data[sent:]))
                self.sent += 1
                self._progress = time.monotonic()
            if self._pending() or failed:
                self._wake_writer.notify()
        if failed:
            self._shut_down()
        elif data and self._recorder is not None:
            self._recorder.write([text])

    def _debug_room(self) -> bool:
        """Take a place for one debug message (room in its queue and a token of the pace), or
        count it dropped."""
        with self._lock:
            if self._closing or self._broken:
                return False
            if len(self._debug) >= self._debug_limit or not self._debug_pace.take():
                self.dropped += 1
                return False
            return True

    def _wait_for_room(self, cancelled: Callable[[], bool] | None = None) -> bool:
        """Lock held: wait until the main queue is below capacity. False if the client is gone,
        was cut for reading nothing for ``stall_timeout``, the shutdown deadline passed, or
        ``cancelled()`` (checked when woken)."""
        began = time.monotonic()
        while len(self._output) >= self._capacity:
            if self._closing or self._broken or (cancelled is not None and cancelled()):
                return False
            now = time.monotonic()
            waits = []
            if self._deadline is not None:
                waits.append(self._deadline - now)
            if self._stall_timeout is not None:
                stalled_for = now - max(self._progress, began)
                if stalled_for >= self._stall_timeout:
                    self._cut(
                        f"read nothing for {self._stall_timeout:.0f}s with "
                        f"{len(self._output)} messages waiting"
                    )
                    return False
                waits.append(self._stall_timeout - stalled_for)
            if waits and min(waits) <= 0:
                return False
            self._room.wait(min(waits) if waits else None)
        return True

    def _cut(self, reason: str) -> None:
        """Lock held: give up on this client. Its writer ends, its socket is shut, its reader
        wakes and the runtime hears it is gone."""
        if self.cut_reason is None:
            self.cut_reason = reason
            log.warning("%s: disconnecting it: %s", self.name, reason)
        self._broken = True
        self._drop_queued()
        self._room.notify_all()
        self._wake_writer.notify_all()
        if self._writing or self._direct:  # on a client that does not read: no goodbye
            self._shut_down()
        else:
            self._close_frame = self.codec.close(frames.POLICY_VIOLATION, "client too slow")

    def _unencodable(self, message: Any, exc: BaseException) -> None:
        self.unencodable += 1
        command = "?"
        if isinstance(message, dict):
            command = f"{message.get('protocol')}:{message.get('command')}"
        log.error(
            "%s: dropped a %s message that cannot be written: %s: %s",
            self.name,
            command,
            type(exc).__name__,
            exc,
        )

    def wake(self) -> None:
        """Sends waiting for room check their ``cancelled`` (a network is stopping)."""
        with self._lock:
            self._room.notify_all()

    @property
    def confirmed_read(self) -> int:
        """Bytes of what was written that the client has confirmed reading (writeahead)."""
        return self._ahead.read

    def queued(self) -> int:
        """Messages waiting in the connection's queues."""
        with self._lock:
            return self._pending()

    # -- input flow control (called by the runtime) ----------------------------------------
    def pause_reading(self) -> None:
        """Stop reading from the client (its input waits: TCP back-pressure)."""
        with self._lock:
            self._input_paused = True

    def resume_reading(self) -> None:
        """Read from the client again."""
        with self._lock:
            self._input_paused = False
            self._room.notify_all()

    def wait_until_readable(self) -> bool:
        """The reader, before it takes the next message: wait while input is paused or the
        client's own output piles up (TCP back-pressure on this client alone). False once the
        connection is closing."""
        if not (
            self._input_paused or self._closing or self._broken or len(self._main) >= self._capacity
        ):
            return True  # the common case, without the lock (checked again under it below)
        with self._lock:
            while self._input_paused or len(self._main) >= self._capacity:
                if self._closing or self._broken:
                    self._ahead.reader_waits(True)
                    return False
                self._ahead.reader_waits(True)  # it would not see the pongs the writer waits for
                self._room.wait()
            self._ahead.reader_waits(False)
            return not (self._closing or self._broken)

    # -- the writer ----------------------------------------------------------------------
    def _take(self) -> list[Any]:
        """Lock held: up to WRITE_BATCH items (BATCH_BYTES), each from the first queue that
        holds one: replies and news, then output, then debug data (flowpy.wire.lanes)."""
        queues: tuple[collections.deque[Any], ...] = (self._main, self._output, self._debug)
        batch: list[Any] = []
        size = 0
        while len(batch) < WRITE_BATCH and size < BATCH_BYTES:
            for queue in queues:
                if queue:
                    item: Any = queue.popleft()[-1]
                    break
            else:
                break
            batch.append(item)
            size += len(item)
        return batch

    def _write_loop(self) -> None:
        # The writer is a link of the packets' chain (packetsent, output the outport handler
        # could not write itself): it runs beside the networks' threads (flowpy.engine.cpus).
        cpus.place_this_thread()
        try:
            while True:
                with self._lock:
                    while (
                        self._direct or (not self._pending() and not self._closing)
                    ) and not self._broken:
                        self._wake_writer.wait()
                    if self._broken or (self._closing and not self._pending()):
                        break
                    self._writing = True
                try:
                    # The batch is taken once the kernel has room, so whatever came meanwhile
                    # (a reply above all) takes its place in it by its lane, not by its age.
                    self._ahead.wait(lambda: self._broken, self._write_mark, self._lagging())
                    with self._lock:
                        if self._broken:
                            break
                        full = max(len(self._main), len(self._output)) >= self._capacity
                        batch = self._take()
                        self._progress = time.monotonic()
                        if full and max(len(self._main), len(self._output)) < self._capacity:
                            self._room.notify_all()  # STREAM senders, and a paused reader
                    ok = self._write(batch)
                finally:
                    with self._lock:
                        self._writing = False
                if not ok:
                    break
        except Exception:  # noqa: BLE001 - the writer must end visibly, never silently
            log.exception("%s: writer failed", self.name)
        finally:
            self._writer_ended()

    def _write(self, batch: list[Any]) -> bool:
        """Frame ``batch`` and write it with one sendall; False if the socket failed."""
        texts = []
        chunks = []
        codec = self.codec
        for item in batch:
            if item.__class__ is bytes:  # a control frame, ready to go
                chunks.append(item)
                continue
            try:
                chunks.append(codec.text(item))
            except Exception as exc:  # noqa: BLE001 - drop this message, keep the connection
                self._unencodable({"protocol": item[:60]}, exc)
                continue
            texts.append(item)
        data = b"".join(chunks)
        try:
            with self.sock.lock:
                self._ahead.wrote(len(data))
                mark = self._ahead.mark(self._lagging())
                self.sock.raw.sendall(data + mark if mark else data)
        except OSError as exc:
            log.debug("%s: write failed: %s", self.name, exc)
            return False
        self.sent += len(texts)
        if self._recorder is not None and texts:
            self._recorder.write(texts)
        return True

    def _lagging(self) -> bool:
        """Output or debug data waits for the client (read marks are for this case only)."""
        return bool(self._output or self._debug)

    def _shut_down(self) -> None:
        """Shut the socket down: the reader and a writer in any wait wake up and end (a
        reader draining after a protocol error reads on: it ends by itself)."""
        self._ahead.stop()
        self.sock.shutdown_now(writes_only=self._lingering)

    def _write_mark(self, frame: bytes) -> None:
        """A read-mark ping the writer needs answered before it writes on (writeahead)."""
        try:
            with self.sock.lock:
                self.sock.raw.sendall(frame)
        except OSError as exc:
            log.debug("%s: write failed: %s", self.name, exc)

    def _writer_ended(self) -> None:
        """However the writer ended, the connection ends now: goodbye if possible, socket shut,
        senders and the reader woken."""
        with self._lock:
            self._broken = True
            self._drop_queued()
            goodbye = self._close_frame
            self._close_frame = None
            self._room.notify_all()
        if goodbye:
            self._say_goodbye(goodbye)
        self._shut_down()

    def _say_goodbye(self, frame: bytes, timeout: float = GOODBYE_TIMEOUT) -> None:
        """Write the close frame if the socket takes it within ``timeout`` (a client that
        reads nothing would otherwise hold this thread forever)."""
        raw = self.sock.raw
        try:
            poller = select.poll()
            poller.register(raw.fileno(), select.POLLOUT)
            if not poller.poll(timeout * 1000):
                return
            with self.sock.lock:
                raw.send(frame, socket.MSG_DONTWAIT)
        except (OSError, ValueError, AttributeError):
            pass  # already gone, or not a real socket: nothing to say goodbye to

    # -- control frames (the reader) -------------------------------------------------------
    def _control(self, data: bytes) -> None:
        with self._lock:
            if self._closing or self._broken:
                return
            self._seq += 1
            self._main.append((self._seq, None, data))
            if len(self._main) == 1:
                self._wake_writer.notify()

    def close_with(self, code: int, reason: str = "") -> None:
        """End the connection with a close frame after what is queued (a protocol error, the
        client's own close, a shutdown)."""
        with self._lock:
            if self._close_frame is None and not self._broken:
                self._close_frame = self.codec.close(code, reason)
            self._closing = True
            self._wake_writer.notify_all()
            self._room.notify_all()

    # -- the reader ------------------------------------------------------------------------
    def serve(
        self, endpoint: Any, client: Any, lift_limit: Callable[[], bool] | None = None
    ) -> None:
        """Read until the client closes, breaks the protocol or the connection ends; hand every
        message to ``endpoint`` in order.

        ``lift_limit``: the codec's message limit is a small one until this returns True,
        which it is asked after each text message (the one that presented a secret); the
        codec parses the next frame only then, so the new limit applies to it."""
        sock = self.sock.raw
        codec = self.codec
        ahead = self._ahead  # told when the reader reads: see writeahead.READER_BUSY_MS
        self.end_reason = "the server closed it"
        try:
            while self.wait_until_readable():
                ahead.reading = True
                try:
                    data = sock.recv(RECEIVE_BYTES)
                except OSError as exc:
                    self._ended_by(f"connection lost ({exc})")
                    return
                finally:
                    ahead.reading = False
                    ahead.reads += 1
                if not data:
                    self._ended_by("the client went away")
                    return
                try:
                    for event in codec.receive(data):
                        kind = event.__class__
                        if kind is frames.Text:
                            if not self.wait_until_readable():
                                return
                            endpoint.receive_text(client, event.data)
                            if lift_limit is not None and lift_limit():
                                lift_limit = None
                        elif kind is frames.Binary:
                            endpoint.receive_binary(client, event.data)
                        elif kind is frames.Ping:
                            self._control(codec.pong(event.data))
                        elif kind is frames.Pong:
                            self._ahead.confirmed(event.data)
                        elif kind is frames.Close:
                            code = event.code if event.code != frames.NO_STATUS else frames.NORMAL
                            self.end_reason = f"closed by the client ({code})"
                            self.close_with(code)
                            return
                except frames.FrameError as exc:
                    log.info("%s: closing: %s (%d)", self.name, exc.reason, exc.code)
                    self.end_reason = f"protocol error: {exc.reason} ({exc.code})"
                    # The client may still be sending (the rest of an oversized frame):
                    # read on while the close frame goes out, so closing resets nothing.
                    self._lingering = True
                    self.close_with(exc.code, exc.reason)
                    self.sock.drain(LINGER_SECONDS, RECEIVE_BYTES)
                    return
        finally:
            self._ahead.reader_waits(True)  # for good: no pong will be read any more
            self.begin_close()

    def _ended_by(self, reason: str) -> None:
        """The socket stopped giving data: say why, unless the server itself ended it."""
        if self.cut_reason is not None:
            self.end_reason = self.cut_reason
        elif not (self._closing or self._broken):
            self.end_reason = reason

    # -- closing -------------------------------------------------------------------------
    def set_deadline(self, deadline: float) -> None:
        """From now on, a STREAM send waiting for room gives up at ``deadline``."""
        with self._lock:
            self._deadline = deadline
            self._room.notify_all()

    def begin_close(self) -> None:
        """Accept no more messages; the writer ends once the queue is written."""
        with self._lock:
            if self._close_frame is None and not self._broken:
                self._close_frame = self.codec.close(frames.GOING_AWAY)
            self._closing = True
            self._wake_writer.notify_all()
            self._room.notify_all()

    def finish_close(self, deadline: float) -> None:
        """Wait for the writer until ``deadline``; a writer still blocked on a client that does
        not read is woken by shutting the socket down."""
        self._writer.join(max(0.0, deadline - time.monotonic()))
        if self._writer.is_alive():
            self._shut_down()
            self._writer.join()

    def close(self, timeout: float = 2.0) -> None:
        """Flush what is queued (for up to ``timeout`` s), say goodbye, join the writer.
        Idempotent; safe from any thread but the writer."""
        self.begin_close()
        self.finish_close(time.monotonic() + timeout)

    def abort(self) -> None:
        """Shut the socket down now: the reader and writer wake up with an error."""
        with self._lock:
            self._broken = True
            self._drop_queued()
            self._wake_writer.notify_all()
            self._room.notify_all()
        self._shut_down()
