"""One client connection: its reader, its writer, and the queue between the runtime and the socket.

One connection = one reader and exactly one writer, and neither ever dies of one message:

* the **reader** is the request thread of the WebSocket route (:meth:`ClientConnection.serve`):
  it reads the socket, parses frames and hands each message to the runtime, in order. It
  stops reading, which is TCP back-pressure on that client alone, while the runtime has paused
  its input (too many ``runtime:packet`` requests unanswered, see ``flowpy.runtime``) or while
  the client's own replies are piling up unread. A frame that breaks the protocol closes the
  connection with the code RFC 6455 gives (1002, 1007 for text that is not UTF-8, 1009).
* the **writer** is a named thread that drains the queue and writes frames with one
  ``sendall`` per batch. A message that cannot be framed is dropped, counted and logged, and
  the writer goes on; if the writer ends for any reason, the connection is closed at once.
  One shortcut: a STREAM message (graph output) that finds the queue empty and nothing being
  written is written at once by the graph outport handler that sends it, with a send that
  never blocks (what the socket does not take is queued for the writer, ahead of anything
  else): the last thread hop of every output saved. Replies do not take it: their senders
  (the inport handler above all) are on the critical path of the data, which would wait for
  their system call. Either way one thread at a time writes, so frames never interleave.

The queue has lanes (:mod:`flowpy.wire.lanes`): every lane but debug shares one ordered queue,
so replies, news and packets keep their order. URGENT and NEWS sends never wait: a client that
lets more than ``hard_limit`` of them pile up is cut (it cannot be served without holding up
whoever is sending). STREAM sends wait for room (back-pressure into the graph outport handler);
if the writer takes nothing for ``stall_timeout`` seconds while one waits, the client is cut.
DEBUG messages have their own queue: dropped and counted when it is full, and written only when
nothing urgent is waiting. They are also paced to ``debug_rate`` messages a second (a token
bucket, bursts of up to ``debug_rate // 5``): once written, a message sits in the kernel's
buffers, where nothing can overtake it, and a client reading more slowly than a busy graph
produces debug data would otherwise find every reply behind megabytes of it. No person reads
more than a few thousand debug messages a second; what exceeds the pace is dropped and counted
like any other debug data.
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

from . import frames

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1024  # messages a STREAM send may find queued before it waits
#: Seconds a client may leave its full queue unread before the server cuts it (None: never).
DEFAULT_STALL_TIMEOUT = 60.0
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # larger messages close the connection (1009)
#: The message limit of a client that has not presented a secret yet (runtimes with secrets).
DEFAULT_UNTRUSTED_MESSAGE_SIZE = 64 * 1024
RECEIVE_BYTES = 64 * 1024
WRITE_BATCH = 64  # messages written with one sendall
DEFAULT_DEBUG_RATE = 5000  # debug messages a second, at most, to one client (0: no limit)
GOODBYE_TIMEOUT = 0.5  # seconds a close frame may wait for room in the socket

_connection_ids = itertools.count(1)


class _Recorder:
    """Appends every sent message, one JSON document per line (for schema validation)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, texts: list[str]) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.write("".join(text + "\n" for text in texts))
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _SerialSocket:
    """A socket whose ``send`` writes everything (``sendall``) under one lock, for whatever
    else holds the socket object (simple-websocket's handshake and goodbye)."""

    def __init__(self, sock: socket.socket) -> None:
        self.raw = sock
        self.lock = threading.Lock()

    def send(self, data: bytes) -> int:
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
        recorder: _Recorder | None = None,
        name: str | None = None,
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
        hard_limit: int | None = None,
        subprotocol: str | None = None,
        debug_rate: int = DEFAULT_DEBUG_RATE,
        peer: str | None = None,
    ) -> None:
        self.id = next(_connection_ids)
        self.name = name or f"flowpy-client-{self.id}"
        #: The client's address ("host:port"), for log lines.
        self.peer = peer
        #: Why the reader stopped reading (for the disconnect's log line).
        self.end_reason = "the connection ended"
        self.subprotocol = subprotocol
        self.codec = codec
        self.sock = sock if isinstance(sock, _SerialSocket) else _SerialSocket(sock)
        self.dropped = 0  # debug messages dropped because their queue was full
        self.unencodable = 0  # messages dropped because they could not be framed
        self.sent = 0  # messages written to the socket
        self.cut_reason: str | None = None  # why the server gave up on this client
        self._recorder = recorder
        self._capacity = max(1, int(queue_size))
        self._hard_limit = hard_limit or max(4 * self._capacity, self._capacity + 256)
        self._debug_limit = self._capacity
        self._debug_rate = float(debug_rate)
        self._debug_burst = max(1.0, debug_rate / 5)
        self._debug_tokens = self._debug_burst
        self._debug_refilled = time.monotonic()
        self._seq = 0
        # (seq, lane, text or control frame bytes): replies, news, stream, control frames
        self._main: collections.deque[tuple[int, Lane | None, Any]] = collections.deque()
        self._debug: collections.deque[tuple[int, str]] = collections.deque()
        self._lock = threading.Lock()
        self._wake_writer = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)  # main queue below capacity, input resumed
        self._closing = False  # no new messages accepted; the writer drains and ends
        self._broken = False  # nothing more can be written
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
        return self._closing or self._broken

    @property
    def stalled(self) -> bool:
        return self.cut_reason is not None

    def send(self, message: dict[str, Any], lane: Lane = STREAM,
             cancelled: Callable[[], bool] | None = None) -> bool:
        """``cancelled``: for a send that waits, checked whenever :meth:`wake` is called (a
        network stopping): once it says True, the send gives up and returns False."""
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
                if len(self._debug) >= self._debug_limit or not self._debug_token():
                    self.dropped += 1
                    return False
                self._debug.append((self._seq, text))
                if len(self._debug) == 1 and not self._main:
                    self._wake_writer.notify()
                return True
            main = self._main
            if lane.waits and not main and not self._debug and not self._writing \
                    and not self._direct:
                self._direct = True  # the shortcut: write it from this thread, now
            else:
                if lane.waits and len(main) >= self._capacity and \
                        not self._wait_for_room(cancelled):
                    return False
                if len(main) >= self._hard_limit:
                    self._cut(f"{len(main)} messages unread: the client reads too slowly")
                    return False
                main.append((self._seq, lane, text))
                if len(main) == 1:
                    self._wake_writer.notify()
                return True
        self._write_now(text)
        return True

    def _write_now(self, text: str) -> None:
        """The shortcut (``_direct`` claimed): frame and write ``text`` without blocking; the
        writer gets what the socket did not take, first."""
        data = b""
        sent = 0
        failed = False
        try:
            data = self.codec.text(text)
            with self.sock.lock:
                sent = self.sock.raw.send(data, socket.MSG_DONTWAIT)
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
                self._main.clear()
                self._debug.clear()
                self._room.notify_all()
            elif data:
                if sent < len(data):
                    self._main.appendleft((0, None, data[sent:]))
                self.sent += 1
                self._progress = time.monotonic()
            if self._main or self._debug or failed:
                self._wake_writer.notify()
        if failed:
            self.sock.shutdown_now()
        elif data and self._recorder is not None:
            self._recorder.write([text])

    def _debug_token(self) -> bool:
        """Lock held: take one token of the debug pace (see the module docstring)."""
        rate = self._debug_rate
        if not rate:
            return True
        now = time.monotonic()
        tokens = min(self._debug_burst, self._debug_tokens + (now - self._debug_refilled) * rate)
        self._debug_refilled = now
        if tokens < 1.0:
            self._debug_tokens = tokens
            return False
        self._debug_tokens = tokens - 1.0
        return True

    def _wait_for_room(self, cancelled: Callable[[], bool] | None = None) -> bool:
        """Lock held: wait until the main queue is below capacity. False if the client is gone,
        was cut for reading nothing for ``stall_timeout``, the shutdown deadline passed, or
        ``cancelled()`` (checked when woken)."""
        began = time.monotonic()
        while len(self._main) >= self._capacity:
            if self._closing or self._broken or (cancelled is not None and cancelled()):
                return False
            now = time.monotonic()
            waits = []
            if self._deadline is not None:
                waits.append(self._deadline - now)
            if self._stall_timeout is not None:
                stalled_for = now - max(self._progress, began)
                if stalled_for >= self._stall_timeout:
                    self._cut(f"read nothing for {self._stall_timeout:.0f}s with "
                              f"{len(self._main)} messages waiting")
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
        self._main.clear()
        self._debug.clear()
        self._room.notify_all()
        self._wake_writer.notify_all()
        if self._writing or self._direct:  # on a client that does not read: no goodbye
            self.sock.shutdown_now()
        else:
            self._close_frame = self.codec.close(frames.POLICY_VIOLATION, "client too slow")

    def _unencodable(self, message: Any, exc: BaseException) -> None:
        self.unencodable += 1
        command = "?"
        if isinstance(message, dict):
            command = f"{message.get('protocol')}:{message.get('command')}"
        log.error("%s: dropped a %s message that cannot be written: %s: %s",
                  self.name, command, type(exc).__name__, exc)

    def wake(self) -> None:
        """Sends waiting for room check their ``cancelled`` (a network is stopping)."""
        with self._lock:
            self._room.notify_all()

    def queued(self) -> int:
        with self._lock:
            return len(self._main) + len(self._debug)

    # -- input flow control (called by the runtime) ----------------------------------------
    def pause_reading(self) -> None:
        with self._lock:
            self._input_paused = True

    def resume_reading(self) -> None:
        with self._lock:
            self._input_paused = False
            self._room.notify_all()

    def wait_until_readable(self) -> bool:
        """The reader, before it takes the next message: wait while input is paused or the
        client's own output piles up (TCP back-pressure on this client alone). False once the
        connection is closing."""
        if not (self._input_paused or self._closing or self._broken
                or len(self._main) >= self._capacity):
            return True  # the common case, without the lock (checked again under it below)
        with self._lock:
            while self._input_paused or len(self._main) >= self._capacity:
                if self._closing or self._broken:
                    return False
                self._room.wait()
            return not (self._closing or self._broken)

    # -- the writer ----------------------------------------------------------------------
    def _take(self) -> list[Any]:
        """Lock held: up to WRITE_BATCH items in the order they must be written (main queue in
        order; debug messages when nothing urgent is ahead of them)."""
        main, debug = self._main, self._debug
        batch: list[Any] = []
        while len(batch) < WRITE_BATCH and (main or debug):
            if main and (not debug or main[0][1] is None or main[0][1].urgent
                         or main[0][0] < debug[0][0]):
                batch.append(main.popleft()[2])
            else:
                batch.append(debug.popleft()[1])
        return batch

    def _write_loop(self) -> None:
        # The writer is a link of the packets' chain (packetsent, output the outport handler
        # could not write itself): it runs beside the networks' threads (flowpy.engine.cpus).
        cpus.place_this_thread()
        try:
            while True:
                with self._lock:
                    while (self._direct or (not self._main and not self._debug
                                            and not self._closing)) and not self._broken:
                        self._wake_writer.wait()
                    if self._broken or (self._closing and not self._main and not self._debug):
                        break
                    below = len(self._main) >= self._capacity
                    batch = self._take()
                    self._progress = time.monotonic()
                    self._writing = True
                    if below and len(self._main) < self._capacity:
                        self._room.notify_all()
                try:
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
        try:
            with self.sock.lock:
                self.sock.raw.sendall(b"".join(chunks))
        except OSError as exc:
            log.debug("%s: write failed: %s", self.name, exc)
            return False
        self.sent += len(texts)
        if self._recorder is not None and texts:
            self._recorder.write(texts)
        return True

    def _writer_ended(self) -> None:
        """However the writer ended, the connection ends now: goodbye if possible, socket shut,
        senders and the reader woken."""
        with self._lock:
            self._broken = True
            self._main.clear()
            self._debug.clear()
            goodbye = self._close_frame
            self._close_frame = None
            self._room.notify_all()
        if goodbye:
            self._say_goodbye(goodbye)
        self.sock.shutdown_now()

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
            if len(self._main) == 1 and not self._direct:
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
    def serve(self, endpoint: Any, client: Any,
              lift_limit: Callable[[], bool] | None = None) -> None:
        """Read until the client closes, breaks the protocol or the connection ends; hand every
        message to ``endpoint`` in order.

        ``lift_limit``: the codec's message limit is a small one until this returns True,
        which it is asked after each text message (the one that presented a secret); the
        codec parses the next frame only then, so the new limit applies to it."""
        sock = self.sock.raw
        codec = self.codec
        self.end_reason = "the server closed it"
        try:
            while self.wait_until_readable():
                try:
                    data = sock.recv(RECEIVE_BYTES)
                except OSError as exc:
                    self._ended_by(f"connection lost ({exc})")
                    return
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
                        elif kind is frames.Close:
                            code = event.code if event.code != frames.NO_STATUS \
                                else frames.NORMAL
                            self.end_reason = f"closed by the client ({code})"
                            self.close_with(code)
                            return
                except frames.FrameError as exc:
                    log.info("%s: closing: %s (%d)", self.name, exc.reason, exc.code)
                    self.end_reason = f"protocol error: {exc.reason} ({exc.code})"
                    self.close_with(exc.code, exc.reason)
                    return
        finally:
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
            self.sock.shutdown_now()
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
            self._main.clear()
            self._debug.clear()
            self._wake_writer.notify_all()
            self._room.notify_all()
        self.sock.shutdown_now()
