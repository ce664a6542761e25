"""The connection under :class:`flowpy.link.client.Client`: one WebSocket to a runtime, its
reader and writer, and the requests waiting for replies.

websocket-client makes the connection and its handshake; frames are then read and written by
:class:`flowpy.wire.wsframes.FrameCodec` (the server's codec, much faster), with writes batched
by :class:`~flowpy.link.writer.FrameWriter` (``send`` returns once its frame is written, or
raises). One reader thread sorts what arrives: replies to the request waiting for them (by
``responseTo``, else by command), ``runtime:packet`` outputs to a bounded inbox (full, the
reader stops reading, so a slow consumer slows the link), the rest to a message inbox or a
callback; then it runs its hooks (a windowed sender refilling its window). The reader never
waits for the socket: its pongs are queued, and a second thread (``-pongs``) writes what no
sender takes along.
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, Self

import websocket

from flowpy.wire import jsonpolicy, wsframes

from . import skim
from .batchqueue import BatchQueue
from .errors import ClientError, ConnectionClosed, NoRuntimeThere
from .pending import (
    Done,
    Pending,
    PendingTable,
    Replies,
    ReplyRoutes,
    RouteHandler,
    expected_replies,
)
from .writer import FrameWriter

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: Bytes asked of the socket per read: many small frames at once when the runtime is busy.
READ_SIZE = 1 << 18
#: Frames after which the reader dispatches what it parsed and runs its hooks (a windowed
#: sender's refill) even within a read: the runtime gets new packets while the rest is parsed.
DISPATCH_EVERY = 64


class ClientCore:
    """A connection to one runtime. Thread-safe: any thread may send; one thread reads."""

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        packet_inbox: int = 1024,
        on_message: Callable[[dict[str, Any]], Any] | None = None,
        name: str = "flowpy-client",
        on_close: Callable[[Any], Any] | None = None,
        keep_packets: bool = True,
    ) -> None:
        self.url = url
        self.secret = secret or None
        self.timeout = timeout
        self.name = name
        self.on_message = on_message
        #: Takes the runtime:packet and unawaited runtime:packetsent of a read together (Link)
        self.on_batch: Callable[[list[dict[str, Any]]], Any] | None = None
        self.on_close = on_close
        #: False for a client that only sends (``flowpy send``): the runtime's outputs are
        #: dropped as they arrive, instead of filling an inbox nobody empties, which would
        #: stop the reader and with it the replies the sender waits for.
        self.keep_packets = keep_packets
        self.packets: BatchQueue[dict[str, Any]] = BatchQueue(maxsize=packet_inbox)
        self.messages: BatchQueue[dict[str, Any]] = BatchQueue()
        self.runtime: dict[str, Any] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self._ws: websocket.WebSocket | None = None  # the handshake's; owns the socket
        self._sock: socket.socket | None = None
        self._codec = wsframes.FrameCodec(client=True)
        self._writes = FrameWriter()
        self._pending = PendingTable()
        self._replies = Replies()  # what every request of this client waits on
        self._ids = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._flusher: threading.Thread | None = None
        #: Called by the reader after each read and once at the end (copied on change, so the
        #: reader reads it without a lock); see :meth:`add_reader_hook`.
        self._reader_hooks: tuple[Callable[[], None], ...] = ()
        self._hooks_lock = threading.Lock()
        self._routes = ReplyRoutes(self.name)  # see add_reply_route
        self._closing = threading.Event()
        self.closed = threading.Event()
        self.close_reason: str = ""

    # -- lifecycle -----------------------------------------------------------------------
    def connect(self) -> Self:
        """Open the WebSocket and start the reader thread; returns self for chaining."""
        try:
            # The runtime's frames are JSON it encoded itself; json.loads rejects bad UTF-8
            # anyway, so websocket-client's pure-Python UTF-8 check is skipped (it cost
            # about a tenth of a Bridge's CPU).
            ws = websocket.create_connection(
                self.url,
                timeout=self.timeout,
                subprotocols=["noflo"],
                enable_multithread=True,
                skip_utf8_validation=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise NoRuntimeThere(self.url, exc.status_code) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise ClientError(f"cannot connect to {self.url}: {exc}") from exc
        self._ws = ws
        sock = ws.sock
        if sock is None:  # websocket-client gives a connected socket or raises: defensive
            raise ClientError(f"cannot connect to {self.url}: no socket after the handshake")
        sock.settimeout(None)
        self._sock = sock
        self._codec = wsframes.FrameCodec(client=True)
        self._writes = FrameWriter()
        self.closed.clear()
        self._closing.clear()
        self._reader = threading.Thread(
            target=self._read_loop, args=(sock,), name=f"{self.name}-reader"
        )
        self._flusher = threading.Thread(
            target=self._flush_loop, args=(sock, self._writes), name=f"{self.name}-pongs"
        )
        self._reader.start()
        self._flusher.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Say goodbye, let the reader thread see the runtime's answer, and join it.

        Only the reader thread ever reads the socket: it sees the runtime's close frame
        and ends. The socket is shut down before its file descriptor is closed: that wakes
        a reader still blocked on it, which closing alone does not (the thread would then
        keep the process alive)."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        ws = self._ws
        # the reader thread to join: none if there is none, or if this is it (close() called
        # from on_close, say)
        reader = self._reader if self._reader is not threading.current_thread() else None
        sock = self._sock
        if sock is not None:
            try:
                self._writes.last(sock, self._codec.close(wsframes.NORMAL), min(1.0, timeout))
            except OSError:  # broken, or a send the runtime does not read: we cut it below
                pass
            if reader is not None:
                reader.join(min(1.0, timeout))  # the runtime answers the close frame
            self.abort()
        if reader is not None:
            reader.join(max(0.0, deadline - time.monotonic()))
        self._writes.end()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(max(0.0, deadline - time.monotonic()))
        if ws is not None:
            ws.shutdown()  # type: ignore[no-untyped-call]  # websocket-client: untyped

    def abort(self) -> None:
        """Cut the connection at once, no closing handshake: wakes a blocked reader and writer."""
        self._closing.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def limit_blocking(self, seconds: float) -> None:
        """A write or read blocked over ``seconds`` fails from now on (for a timed goodbye)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.settimeout(max(0.001, seconds))
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self.connect() if self._ws is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------
    def _read_loop(self, sock: socket.socket) -> None:
        writes = self._writes  # this connection's (a reconnect makes a new one)
        try:
            self._read_frames(sock)
        except wsframes.FrameError as exc:
            self.close_reason = f"the runtime broke the WebSocket protocol: {exc.reason}"
            log.warning("%s: %s", self.name, self.close_reason)
            try:  # tell the runtime why; the connection ends either way
                self._writes.last(sock, self._codec.close(exc.code, exc.reason))
            except OSError:
                pass
        except OSError as exc:
            if not self._closing.is_set():
                self.close_reason = f"connection lost: {exc}"
        finally:
            writes.end()  # the connection is over: its flusher ends too
            if not self.close_reason:
                self.close_reason = "closed"
            self._pending.fail_all(ConnectionClosed(f"{self.url}: {self.close_reason}"))
            self.closed.set()
            self._run_reader_hooks()  # they see their requests failed
            if self.on_close is not None:
                try:
                    self.on_close(self)
                except Exception:
                    log.exception("%s: on_close failed", self.name)
            for inbox in (self.packets, self.messages):
                try:
                    inbox.put_nowait(_CLOSED)  # wakes a consumer waiting on an empty inbox
                except queue.Full:
                    pass  # it is not waiting: it finds the closed flag once it has drained

    def _read_frames(self, sock: socket.socket) -> None:
        """Read until the closing handshake ends or the connection is lost. A read's messages
        are dispatched together (:meth:`_dispatch_all`; ``DISPATCH_EVERY`` at most), then hooks."""
        codec, text = self._codec, wsframes.Text
        while True:
            data = sock.recv(READ_SIZE)
            if not data:
                if not self._closing.is_set():
                    self.close_reason = "connection lost: the runtime closed the socket"
                return
            messages: list[dict[str, Any]] = []
            skip_outputs = not (self.keep_packets or self.on_batch or self.on_message)
            left = DISPATCH_EVERY
            try:
                for event in codec.receive(data):
                    if type(event) is text:
                        left -= 1
                        if not left:  # see DISPATCH_EVERY
                            left = DISPATCH_EVERY
                            self._dispatch_all(messages)
                            messages = []
                            self._run_reader_hooks()
                        try:  # what need not be parsed is not: see .skim
                            message = skim.read(event.data, skip_outputs)
                        except ValueError:
                            log.warning("%s: ignoring a frame that is not JSON", self.name)
                            continue
                        if message is not None:
                            messages.append(message)
                        continue
                    if messages:  # what came before a control frame is dispatched first
                        self._dispatch_all(messages)
                        messages = []
                    if isinstance(event, wsframes.Ping):
                        self._writes.post(codec.pong(event.data))  # never waits: see writer
                        self._writes.flush_nowait(sock)
                    elif isinstance(event, wsframes.Close):
                        self.close_reason = "closed by the runtime"
                        code = event.code if event.code != wsframes.NO_STATUS else wsframes.NORMAL
                        try:  # answer the runtime's close (a no-op if this side closed first)
                            self._writes.last(sock, codec.close(code))
                        except OSError:
                            pass
                        return
                    # Binary and Pong: nothing in the protocol uses them
            finally:  # a frame that breaks the protocol ends the connection after these
                if messages:
                    self._dispatch_all(messages)
            self._run_reader_hooks()

    def add_reader_hook(self, hook: Callable[[], None]) -> None:
        """Have the reader call ``hook()`` once a read's messages (``DISPATCH_EVERY`` at most)
        are dispatched, and once after the connection ended. A hook must never wait (for the
        socket either: it writes with :meth:`flush_nowait`): the runtime may be waiting."""
        with self._hooks_lock:
            self._reader_hooks = (*self._reader_hooks, hook)

    def remove_reader_hook(self, hook: Callable[[], None]) -> None:
        """Undo :meth:`add_reader_hook` (the hook may still run once if a read is at work)."""
        with self._hooks_lock:
            self._reader_hooks = tuple(h for h in self._reader_hooks if h != hook)

    def add_reply_route(self, handler: RouteHandler) -> str:
        """Replies to requests whose id is ``<tag>:<n>`` go to ``handler`` as ``(n, reply)``
        pairs, those of a read together, in the reader thread (it must never wait): for a
        sender with hundreds of requests in flight that keeps its own book, instead of a
        pending request each. A ``runtime:packetsent`` or ``error`` without ``responseTo``
        (a runtime that names no request) that no request waits for goes to the oldest
        route as ``(None, reply)``. Returns the tag."""
        return self._routes.add(handler)

    def remove_reply_route(self, tag: str) -> None:
        """Undo :meth:`add_reply_route`; later replies to its requests are unawaited."""
        self._routes.remove(tag)

    def _run_reader_hooks(self) -> None:
        for hook in self._reader_hooks:
            try:
                hook()
            except Exception:
                log.exception("%s: a reader hook failed", self.name)

    @staticmethod
    def _flush_loop(sock: socket.socket, writes: FrameWriter) -> None:
        """The flusher thread: writes the reader's pongs that no sender took along."""
        while writes.flush_posted(sock):
            pass

    def _dispatch_all(self, messages: list[dict[str, Any]]) -> None:
        """The messages of one read in order, the two common ones batched (see :meth:`_deliver`);
        any other message first lets what came before it take effect."""
        settled: list[dict[str, Any]] = []
        packets: list[dict[str, Any]] = []
        plain_packets = self.on_message is None or self.on_batch is not None
        for message in messages:
            command = message.get("command")
            if command == "packetsent" and message.get("responseTo") is not None:
                settled.append(message)
            elif (
                plain_packets
                and command == "packet"
                and message.get("protocol") == "runtime"
                and message.get("responseTo") is None
            ):
                if self.keep_packets or self.on_batch is not None:
                    packets.append(message)
            else:
                if settled or packets:
                    self._deliver(settled, packets)
                    settled, packets = [], []
                self._dispatch(message)
        if settled or packets:
            self._deliver(settled, packets)

    def _deliver(self, settled: list[dict[str, Any]], packets: list[dict[str, Any]]) -> None:
        """Settle runtime:packetsent replies under one lock; the outputs (and the replies no
        request waits for) go to ``on_batch``, else the outputs to the inbox, at once."""
        if settled and self._routes:
            settled = self._routes.take(settled)
        if settled:
            batch = self.on_batch
            found = self._pending.take([message["responseTo"] for message in settled])
            for match, message in zip(found, settled, strict=True):
                if match is not None:
                    match.replies.append(skim.whole(message))
                    match.done.set()
                elif batch is not None:
                    packets.append(message)  # on_batch (a Link) reads the envelope only
                else:  # nobody waits for it: the general path says what it is
                    self._dispatch(skim.whole(message))
        if packets and self.on_batch is not None:
            try:
                self.on_batch(packets)
            except Exception:
                log.exception("%s: on_batch failed", self.name)
        elif packets:
            # Blocks while the inbox is full: the socket is not read, so TCP slows the sender.
            self.packets.put_many(packets, self._closing)

    def _dispatch(self, message: dict[str, Any]) -> None:
        """One message, the general way (see :meth:`_dispatch_all` for the common ones)."""
        protocol, command = message.get("protocol"), message.get("command")
        payload = message.get("payload")
        if protocol == "runtime" and command == "runtime" and isinstance(payload, dict):
            self.runtime = payload
        elif protocol == "runtime" and command == "ports" and isinstance(payload, dict):
            self.ports[str(payload.get("graph"))] = payload
        routes = self._routes
        if routes and message.get("responseTo") is not None and not routes.take([message]):
            return
        if self._pending.settle(message):
            return
        if routes and protocol == "runtime" and command in ("packetsent", "error"):
            if message.get("responseTo") is None and routes.take_unnamed(message):
                return
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:
                log.exception("%s: on_message failed", self.name)
            return
        if protocol == "runtime" and command == "packet":
            if self.keep_packets:
                self.packets.put_many([message], self._closing)
        else:
            self.messages.put(message)

    # -- sending -------------------------------------------------------------------------
    def _encode(
        self, protocol: str, command: str, payload: Any = None, request_id: str | None = None
    ) -> str:
        message: dict[str, Any] = {
            "protocol": protocol,
            "command": command,
            "payload": payload if payload is not None else {},
        }
        if self.secret:
            message["secret"] = self.secret
            if isinstance(message["payload"], dict):
                message["payload"] = dict(message["payload"], secret=self.secret)
        if request_id is not None:
            message["requestId"] = request_id
        # The one JSON policy, as the runtime writes: NaN as null, sets as arrays, bytes as
        # base64... so no value a caller hands over makes a frame the runtime must refuse.
        return jsonpolicy.encode(message)

    def send(
        self, protocol: str, command: str, payload: Any = None, request_id: str | None = None
    ) -> None:
        """Send one message (no reply expected)."""
        self.flush(
            self._queue(self._codec.text(self._encode(protocol, command, payload, request_id)))
        )

    def send_many(self, messages: Iterable[tuple[str, str, Any, str | None]]) -> None:
        """Send several messages ``(protocol, command, payload, request_id)`` in order, as
        frames written to the socket at once (one system call instead of one each)."""
        self.flush(self.queue_many(messages))

    def queue_many(self, messages: Iterable[tuple[str, str, Any, str | None]]) -> int:
        """As :meth:`send_many`, queued but not written: their place in line for
        :meth:`flush` or :meth:`flush_nowait`."""
        encode = self._encode
        return self._queue(self._codec.texts([encode(*message) for message in messages]))

    def _queue(self, frames: bytes) -> int:
        """Queue frames to write; their place in line for :meth:`flush`."""
        if self._sock is None or self.closed.is_set():
            raise ConnectionClosed(f"{self.url}: {self.close_reason or 'not connected'}")
        try:
            return self._writes.queue(frames)
        except OSError as exc:
            raise ConnectionClosed(f"{self.url}: {exc}") from exc

    def flush(self, upto: int, timeout: float | None = None) -> None:
        """Return once what was queued up to place ``upto`` is written (writing it if nobody
        else is); ConnectionClosed if the connection broke, or if a write at work did not
        end within ``timeout``."""
        sock = self._sock
        if sock is None:
            raise ConnectionClosed(f"{self.url}: {self.close_reason or 'not connected'}")
        try:
            self._writes.flush(sock, upto, timeout)
        except OSError as exc:
            raise ConnectionClosed(f"{self.url}: {exc}") from exc

    def flush_nowait(self) -> None:
        """Write what is queued as far as the socket takes it now, never waiting (a reader
        hook's way to write); the rest is written by the next sender or the flusher thread."""
        sock = self._sock
        if sock is not None:
            self._writes.flush_nowait(sock)

    def start_request(
        self,
        protocol: str,
        command: str,
        payload: Any = None,
        expect: Iterable[str] | None = None,
        until: str | None = None,
    ) -> Pending:
        """Send a request and return its pending reply without waiting (for windows of requests)."""
        return self.start_requests([(protocol, command, payload, expect, until)])[0]

    def start_requests(
        self,
        requests: Iterable[tuple[str, str, Any, Iterable[str] | None, str | None]],
    ) -> list[Pending]:
        """Several requests ``(protocol, command, payload, expect, until)`` in order, written
        to the socket at once; their pending replies, without waiting."""
        return self._flushed(*self._queue_requests(requests))

    def _flushed(self, pendings: list[Pending], upto: int) -> list[Pending]:
        """``pendings`` once their requests (queued up to ``upto``) are written; if the
        write fails, nobody waits for their replies."""
        try:
            self.flush(upto)
        except ClientError:
            self._pending.drop(pendings)
            raise
        return pendings

    def _queue_requests(
        self,
        requests: Iterable[tuple[str, str, Any, Iterable[str] | None, str | None]],
    ) -> tuple[list[Pending], int]:
        """Requests as in :meth:`start_requests`, queued to write but not written: their
        pendings and place in line (for :meth:`flush`)."""
        requests = list(requests)
        pendings = self._new_pendings([(r[0], r[1], r[3], r[4]) for r in requests])
        encode = self._encode
        texts = [
            encode(request[0], request[1], request[2], pending.request_id)
            for request, pending in zip(requests, pendings, strict=True)
        ]
        return pendings, self._queue_texts(pendings, texts)

    def _new_pendings(
        self, requests: Iterable[tuple[str, str, Iterable[str] | None, str | None]]
    ) -> list[Pending]:
        """A pending reply, with a new request id, per ``(protocol, command, expect, until)``.
        Ids are a hex count: unique on the connection, and short, since every reply carries
        its request's id back (a long one cost the runtime a few percent of each packet)."""
        ids, replies = self._ids, self._replies
        return [
            Pending(
                protocol,
                command,
                f"{next(ids):x}",
                expected_replies(command, expect, until),
                until,
                Done(replies),
            )
            for protocol, command, expect, until in requests
        ]

    def _queue_texts(self, pendings: list[Pending], texts: list[str]) -> int:
        """Wait for the replies to ``pendings`` and queue their requests' ``texts`` to write;
        their place in line."""
        frames = self._codec.texts(texts)
        self._pending.add(pendings)
        try:
            return self._queue(frames)
        except ClientError:
            self._pending.drop(pendings)
            raise

    def wait(self, pending: Pending, timeout: float | None = None) -> list[dict[str, Any]]:
        """The replies of a started request.

        Raises RequestError, ConnectionClosed or ClientError (no reply in time).
        """
        limit = self.timeout if timeout is None else timeout
        if not pending.done.wait(limit):
            self.give_up(pending, limit)
        if pending.error is not None:
            raise pending.error
        return pending.replies

    def request(
        self,
        protocol: str,
        command: str,
        payload: Any = None,
        expect: Iterable[str] | None = None,
        until: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a request and return the payload of its (last) reply.

        Raises ClientError if that reply has no payload object (the protocol requires one).
        """
        replies = self.wait(self.start_request(protocol, command, payload, expect, until), timeout)
        reply = replies[-1]
        body = reply.get("payload")
        if not isinstance(body, dict):
            raise ClientError(
                f"{protocol}:{command}: the reply {reply.get('protocol')}:"
                f"{reply.get('command')} has no payload object: {body!r}"
            )
        return body

    def give_up(self, pending: Pending, limit: float) -> NoReturn:
        """Stop waiting for ``pending`` (no reply in ``limit`` seconds): raise ClientError."""
        self._pending.drop([pending])
        raise ClientError(f"no reply to {pending.protocol}:{pending.command} within {limit}s")

    def _take(
        self, inbox: BatchQueue[Any], what: str, limit: int, timeout: float | None
    ) -> list[dict[str, Any]]:
        limit_s = self.timeout if timeout is None else timeout
        if self.closed.is_set() and inbox.empty():
            raise ConnectionClosed(f"{self.url}: {self.close_reason}")
        try:
            items = inbox.get_many(limit, limit_s)
        except queue.Empty:
            if self.closed.is_set():
                raise ConnectionClosed(f"{self.url}: {self.close_reason}") from None
            raise ClientError(f"no {what} within {limit_s}s") from None
        if items[-1] is _CLOSED:  # the reader's last word: nothing comes after it
            items.pop()
            inbox.put_nowait(_CLOSED)  # later callers learn it too
            if not items:
                raise ConnectionClosed(f"{self.url}: {self.close_reason}")
        return items


_CLOSED: Any = {"protocol": "", "command": "", "payload": None}
