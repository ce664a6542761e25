"""The FBP Network Protocol over WebSocket: a Flask app factory and a threaded server.

This module is transport only. Every frame a client sends is handed to the runtime
(``runtime.receive_text`` / ``runtime.receive_binary``); everything the runtime sends to a
client goes through that client's :class:`ClientConnection`, the *sink* the runtime was given
by ``runtime.connect(sink)``.

One connection = one reader and exactly one writer:

* the **reader** is the request thread of the WebSocket route: it receives frames and calls
  the runtime, in order;
* the **writer** is a named thread that drains a bounded send queue and writes frames to the
  socket. Frames never interleave, and a slow client only ever slows down its own writer.
  When the queue is full, ``send(message, droppable=True)`` drops the message and counts it
  (debug traffic such as ``network:data``); ``send(message)`` waits for room, which is
  back-pressure into whoever is sending (the graph outport handler for ``runtime:packet``).
  Once the connection is closed, ``send`` returns ``False`` at once instead of waiting.

Serving:

* ``flowpy serve`` uses :func:`serve`: a threaded werkzeug server (``--port 0`` works), one
  ready line on stdout, and a clean stop on SIGINT/SIGTERM (stop accepting, stop every
  network, flush and close every connection, join every thread).
* The same app runs under gunicorn's gthread worker, one worker process per runtime::

      gunicorn -k gthread --threads 32 -w 1 -c python:flowpy.server 'flowpy.server:create_app()'

  (``-c python:flowpy.server`` installs :func:`worker_exit`, which stops the runtime when
  the worker exits.) Each open WebSocket occupies one gunicorn thread.

Why the writer does not call ``simple_websocket.Server.send``: simple-websocket 1.1.0 writes
each frame with one ``socket.send`` call, which may write only part of a large frame
(miguelgrinberg/simple-websocket#45). The writer encodes frames with the connection's own
wsproto state and writes them with ``sendall`` under a per-socket lock that simple-websocket's
own background thread (ping/pong/close replies) also goes through, via :class:`_SerialSocket`.
Several queued messages are written with one ``sendall``.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import math
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

log = logging.getLogger(__name__)

SUBPROTOCOL = "noflo"
DEFAULT_PORT = 3569
DEFAULT_QUEUE_SIZE = 1024  # messages waiting for one client's writer
#: Seconds a client may leave its full queue unread before the server cuts it (None: never).
DEFAULT_STALL_TIMEOUT = 60.0
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # larger frames close the connection (code 1009)
DEFAULT_RECEIVE_BYTES = 64 * 1024
WRITE_BATCH = 64  # messages encoded into one sendall
RECORD_ENV = "FLOWPY_VALIDATE_OUTPUT"  # append every sent message to this file (one per line)

_connection_ids = itertools.count(1)
# Runtimes of the apps made by create_app in this process, for worker_exit (gunicorn).
_app_runtimes: weakref.WeakSet[Any] = weakref.WeakSet()


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """A copy of ``value`` with NaN and infinities replaced by null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _fallback(value: Any) -> Any:
    """JSON for values json cannot encode: sets and tuples as lists, bytes as text, else repr."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return repr(value)


def encode(message: dict[str, Any]) -> str:
    """The text frame for ``message``: compact, UTF-8, always valid JSON."""
    try:
        return json.dumps(
            message, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_fallback
        )
    except ValueError:  # NaN or infinity somewhere in the payload
        return json.dumps(
            _finite(message), separators=(",", ":"), ensure_ascii=False, default=_fallback
        )


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


# ---------------------------------------------------------------------------------------------
# One client connection
# ---------------------------------------------------------------------------------------------


class _SerialSocket:
    """A socket whose ``send`` writes everything (``sendall``) under one lock.

    Installed as ``ws.sock`` of a simple-websocket connection, so its background thread's
    pong and close replies and our writer's frames never interleave on the wire.
    """

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
    """The sink the runtime sends through for one WebSocket client.

    ``send(message, droppable=False) -> bool``: ``True`` once the message is queued for the
    writer. A droppable message finding the queue full is dropped and counted (``dropped``)
    and ``False`` is returned at once. Any other message waits for room; it returns ``False``
    (at once, or when it happens) if the connection is closed or the server's shutdown
    deadline passes, so the runtime can treat the client as gone.

    The last quarter of the queue is kept for messages that cannot be dropped: for droppable
    ones the queue is "full" at three quarters, so a flood of debug data to a client that
    reads slowly never makes its acks, status changes or runtime:packet outputs wait behind it.

    A client that reads slowly holds its senders back (that is the back-pressure of
    runtime:packet). One that reads *nothing* would hold them forever, and with them every
    other client waiting for the same broadcast: once a sender has waited ``stall_timeout``
    seconds without the writer taking anything from the full queue, the connection is cut
    (``stalled`` is set, the send returns False, the client is gone for the runtime).
    """

    def __init__(
        self,
        ws: Any,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        recorder: _Recorder | None = None,
        name: str | None = None,
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        self.id = next(_connection_ids)
        self.name = name or f"flowpy-client-{self.id}"
        self.subprotocol: str | None = getattr(ws, "subprotocol", None)
        self.dropped = 0  # droppable messages dropped because the queue was full
        self.sent = 0  # messages written to the socket
        self._ws = ws
        self._sock = _SerialSocket(ws.sock)
        ws.sock = self._sock
        self._recorder = recorder
        self._capacity = max(1, int(queue_size))
        self._droppable_limit = self._capacity - self._capacity // 4
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closing = False  # no new messages accepted; the writer drains and ends
        self._broken = False  # the socket failed: nothing more can be written
        self._deadline: float | None = None  # blocking sends give up after this (shutdown)
        self._stall_timeout = stall_timeout
        self._progress = time.monotonic()  # when the writer last took from the queue
        self.stalled = False  # cut for reading nothing (see the class docstring)
        self._writer = threading.Thread(target=self._write_loop, name=f"{self.name}-writer")
        self._writer.start()

    # -- the sink ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closing or self._broken

    def send(self, message: dict[str, Any], droppable: bool = False) -> bool:
        text = encode(message)
        with self._lock:
            if self._closing or self._broken:
                return False
            if droppable and len(self._queue) >= self._droppable_limit:
                self.dropped += 1
                return False
            began = None
            while len(self._queue) >= self._capacity:
                if self._closing or self._broken:
                    return False
                now = time.monotonic()
                began = now if began is None else began
                waits = []
                if self._deadline is not None:
                    waits.append(self._deadline - now)
                if self._stall_timeout is not None:
                    stalled_for = now - max(self._progress, began)
                    if stalled_for >= self._stall_timeout:
                        self._cut_stalled()
                        return False
                    waits.append(self._stall_timeout - stalled_for)
                if waits and min(waits) <= 0:
                    return False
                self._not_full.wait(min(waits) if waits else None)
            self._queue.append(text)
            if len(self._queue) == 1:
                self._not_empty.notify()
            return True

    def _cut_stalled(self) -> None:
        """Lock held: give up on a client that reads nothing; its reader and writer wake."""
        log.warning("%s: read nothing for %.0fs with %d messages waiting: disconnecting it",
                    self.name, self._stall_timeout, len(self._queue))
        self.stalled = True
        self._broken = True
        self._queue.clear()
        self._not_full.notify_all()
        self._not_empty.notify_all()
        self._sock.shutdown_now()

    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- the writer ----------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing and not self._broken:
                    self._not_empty.wait()
                if self._broken or not self._queue:
                    break  # closing and drained, or nothing can be written any more
                count = min(len(self._queue), WRITE_BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
                self._progress = time.monotonic()
                self._not_full.notify_all()
            if not self._write(batch):
                with self._lock:
                    self._broken = True
                    self._queue.clear()
                    self._not_full.notify_all()
                break

    def _write(self, texts: list[str]) -> bool:
        """Encode ``texts`` as frames and write them with one sendall. False if that failed."""
        try:
            with self._sock.lock:
                data = b"".join(self._ws.ws.send(TextMessage(data=text)) for text in texts)
                self._sock.raw.sendall(data)
        except (OSError, LocalProtocolError, ConnectionClosed) as exc:
            log.debug("%s: write failed: %s", self.name, exc)
            return False
        self.sent += len(texts)
        if self._recorder is not None:
            self._recorder.write(texts)
        return True

    # -- closing -------------------------------------------------------------------------

    def set_deadline(self, deadline: float) -> None:
        """From now on, a send waiting for room gives up at ``deadline`` (time.monotonic)."""
        with self._lock:
            self._deadline = deadline
            self._not_full.notify_all()

    def close(self, timeout: float = 2.0, handshake_timeout: float = 0.5) -> None:
        """Flush what is queued (for up to ``timeout`` s), close the WebSocket, join threads.

        Idempotent; safe from any thread but the writer.
        """
        self.begin_close()
        self.finish_close(time.monotonic() + timeout, handshake_timeout)

    def begin_close(self) -> None:
        """Accept no more messages; the writer ends once the queue is written."""
        with self._lock:
            self._closing = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def finish_close(self, deadline: float, handshake_timeout: float = 0.5) -> None:
        """Wait for the writer until ``deadline``, then say goodbye and join the socket thread.

        A writer still blocked on a client that does not read is woken by shutting the socket
        down; so is the socket thread if the client does not answer the close frame within
        ``handshake_timeout`` seconds.
        """
        self._writer.join(max(0.0, deadline - time.monotonic()))
        if self._writer.is_alive():
            self._sock.shutdown_now()
            self._writer.join()
        try:
            self._ws.close()  # a close frame, if the connection is still open
        except Exception:  # noqa: BLE001 - already closed or broken: nothing to say goodbye to
            pass
        thread = getattr(self._ws, "thread", None)  # simple-websocket's socket reader
        if thread is not None and thread is not threading.current_thread():
            thread.join(handshake_timeout)
            if thread.is_alive():
                self._sock.shutdown_now()
                thread.join()

    def abort(self) -> None:
        """Shut the socket down now: the reader and writer wake up with an error."""
        with self._lock:
            self._broken = True
            self._queue.clear()
            self._not_empty.notify_all()
            self._not_full.notify_all()
        self._sock.shutdown_now()


# ---------------------------------------------------------------------------------------------
# The Flask app
# ---------------------------------------------------------------------------------------------


def _tune_socket(sock: Any, send_buffer_size: int | None) -> None:
    """No Nagle delay, and optionally a smaller kernel send buffer.

    Without TCP_NODELAY, two replies written back to back (runtime:packetsent, then the
    runtime:packet it caused) wait for the client's delayed ACK: 40 ms per round trip. The
    writer already coalesces what is queued into one write, so small segments stay rare.
    """
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    if send_buffer_size:
        options.append((socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_size))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except (OSError, AttributeError) as exc:  # not TCP (a Unix socket), or not a socket
            log.debug("cannot set socket option %s: %s", option, exc)


class Transport:
    """The connections of one app, so the server can stop them all."""

    def __init__(
        self,
        runtime: Any,
        queue_size: int,
        recorder: _Recorder | None,
        send_buffer_size: int | None = None,
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        self.runtime = runtime
        self.queue_size = queue_size
        self.recorder = recorder
        self.send_buffer_size = send_buffer_size
        self.stall_timeout = stall_timeout
        self.stalled = 0  # connections cut for reading nothing
        self._lock = threading.Lock()
        self._connections: set[ClientConnection] = set()
        self._stopping = False
        self.dropped_closed = 0  # drops counted by connections that have gone

    def add(self, conn: ClientConnection) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._connections.add(conn)
            return True

    def remove(self, conn: ClientConnection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.discard(conn)
                self.dropped_closed += conn.dropped
                self.stalled += conn.stalled

    def connections(self) -> list[ClientConnection]:
        with self._lock:
            return list(self._connections)

    def stats(self) -> dict[str, int]:
        with self._lock:
            conns = list(self._connections)
            dropped = self.dropped_closed
            stalled = self.stalled
        return {"connections": len(conns), "dropped": dropped + sum(c.dropped for c in conns),
                "stalled": stalled + sum(c.stalled for c in conns)}

    def begin_stop(self, deadline: float) -> None:
        """Refuse new connections; sends waiting for room give up at ``deadline``."""
        with self._lock:
            self._stopping = True
            conns = list(self._connections)
        for conn in conns:
            conn.set_deadline(deadline)

    def close_all(self, deadline: float) -> None:
        """Close every connection; they flush in parallel until ``deadline`` at the latest."""
        conns = self.connections()
        for conn in conns:
            conn.begin_close()
        for conn in conns:
            conn.finish_close(deadline)

    def serve_connection(self, ws: Any) -> None:
        """The reader loop of one WebSocket connection (runs in its request thread)."""
        _tune_socket(ws.sock, self.send_buffer_size)
        conn = ClientConnection(ws, self.queue_size, self.recorder,
                                stall_timeout=self.stall_timeout)
        threading.current_thread().name = f"{conn.name}-reader"
        if not self.add(conn):
            conn.close(0.5)
            return
        client = None
        try:
            client = self.runtime.connect(conn)
            while True:
                frame = ws.receive()
                if frame is None:
                    continue
                if isinstance(frame, str):
                    self.runtime.receive_text(client, frame)
                else:
                    self.runtime.receive_binary(client, bytes(frame))
        except ConnectionClosed:
            pass
        finally:
            try:
                if client is not None:
                    self.runtime.disconnect(client)
            finally:
                conn.close()
                self.remove(conn)


def create_app(runtime: Any = None, **runtime_options: Any) -> flask.Flask:
    """The flowpy Flask app: the protocol WebSocket and a status page, both at ``/``.

    ``runtime``: a ``flowpy.runtime.Runtime``; made from ``runtime_options`` when None.
    Transport options (taken out of ``runtime_options``): ``queue_size`` (messages buffered
    per client, default 1024), ``max_message_size`` (bytes; larger frames close the
    connection), ``ping_interval`` (seconds, None = no pings), ``send_buffer_size`` (the
    kernel send buffer of each client socket, bytes; None = the OS default), ``stall_timeout``
    (seconds a client may read nothing while its queue is full before it is disconnected;
    default 60, None = never), ``record_sent`` (a file that receives every sent message as a
    JSON line; default ``$FLOWPY_VALIDATE_OUTPUT``).
    """
    queue_size = int(runtime_options.pop("queue_size", DEFAULT_QUEUE_SIZE))
    max_message_size = runtime_options.pop("max_message_size", DEFAULT_MAX_MESSAGE_SIZE)
    ping_interval = runtime_options.pop("ping_interval", None)
    send_buffer_size = runtime_options.pop("send_buffer_size", None)
    stall_timeout = runtime_options.pop("stall_timeout", DEFAULT_STALL_TIMEOUT)
    record_sent = runtime_options.pop("record_sent", None) or os.environ.get(RECORD_ENV) or None
    if runtime is None:
        from .runtime import Runtime

        runtime = Runtime(**runtime_options)
    elif runtime_options:
        raise TypeError(f"runtime options given with a runtime: {sorted(runtime_options)}")
    _app_runtimes.add(runtime)

    app = flask.Flask("flowpy")
    app.config["SOCK_SERVER_OPTIONS"] = {
        "subprotocols": [SUBPROTOCOL],
        "max_message_size": max_message_size,
        "receive_bytes": DEFAULT_RECEIVE_BYTES,
        "ping_interval": ping_interval,
    }
    recorder = _Recorder(record_sent) if record_sent else None
    transport = Transport(runtime, queue_size, recorder, send_buffer_size, stall_timeout)
    app.extensions["flowpy"] = transport
    sock = Sock(app)

    @sock.route("/")
    def protocol_socket(ws: Any) -> None:
        transport.serve_connection(ws)

    @app.get("/")
    def status() -> flask.Response:
        document = dict(runtime.status())
        document.setdefault("transport", transport.stats())
        return flask.jsonify(document)

    return app


def transport_of(app: flask.Flask) -> Transport:
    return app.extensions["flowpy"]


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (``-c python:flowpy.server``): stop every runtime of this worker."""
    for runtime in list(_app_runtimes):
        runtime.shutdown()


# ---------------------------------------------------------------------------------------------
# Serving with werkzeug
# ---------------------------------------------------------------------------------------------


class _RequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, with request threads that are joined at ``server_close``."""

    daemon_threads = False
    block_on_close = True

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        # werkzeug's version calls server_close() on the way out, which would join the
        # WebSocket threads before Service.stop has closed their connections.
        socketserver.BaseServer.serve_forever(self, poll_interval)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        port = client_address[1] if isinstance(client_address, tuple) else "local"
        threading.current_thread().name = f"flowpy-http-{port}"
        super().process_request_thread(request, client_address)


def _address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Service:
    """A running server: ``start()``, ``url``, ``stop()``. :func:`serve` adds signals.

    ``shutdown_timeout``: how long ``runtime.shutdown`` may take to stop the networks.
    ``flush_timeout``: how long clients get, at stop, to read what is queued for them.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        runtime: Any = None,
        app: flask.Flask | None = None,
        shutdown_timeout: float = 5.0,
        flush_timeout: float = 1.0,
        **app_options: Any,
    ) -> None:
        self.app = app or create_app(runtime, **app_options)
        self.transport = transport_of(self.app)
        self.runtime = self.transport.runtime
        self.shutdown_timeout = shutdown_timeout
        self.flush_timeout = flush_timeout
        # Bind here rather than in werkzeug, which prints and calls sys.exit on bind errors:
        # an OSError is the caller's to report.
        listener = socket.create_server((host, port), family=_address_family(host), backlog=128)
        try:
            self._server = _Server(
                host, port, self.app, handler=_RequestHandler, fd=listener.fileno()
            )
        finally:
            listener.close()  # werkzeug holds its own duplicate of the descriptor
        self.host = host
        self.port: int = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    def start(self) -> Service:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flowpy-http-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, stop the runtime, flush and close every client, join every thread."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self._thread is not None:
            self._server.shutdown()  # serve_forever returns; nothing new is accepted
            self._thread.join()
        # Clients get until the deadline to take what is queued for them (the networks' last
        # messages included); a client that does not read by then is cut off.
        deadline = time.monotonic() + self.flush_timeout
        self.transport.begin_stop(deadline)
        try:
            self.runtime.shutdown(timeout=self.shutdown_timeout)
        finally:
            self.transport.close_all(max(deadline, time.monotonic() + 0.2))
            self._server.server_close()  # joins the request (reader) threads
            if self.transport.recorder is not None:
                self.transport.recorder.close()


def _ignore_signal(signum: int, frame: Any) -> None:
    """Replaces the default action (exit, KeyboardInterrupt); the wakeup fd does the work."""


def _print_ready(url: str) -> None:
    print(f"flowpy runtime listening on {url}", flush=True)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    runtime: Any = None,
    ready_callback: Callable[[str], Any] | None = None,
    **app_options: Any,
) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly. Returns the exit status (0).

    ``ready_callback(url)`` is called once the socket accepts connections; by default it
    prints ``flowpy runtime listening on ws://HOST:PORT``. Call from the main thread.
    """
    service = Service(host, port, runtime, **app_options)
    # The C-level signal handler writes the signal number to this pipe from whichever thread
    # the kernel picked; the main thread just reads it. (A Python-level handler alone would
    # only run once the main thread wakes up, which a blocking read never does by itself
    # when the signal lands on another thread.)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        service.start()
        (ready_callback or _print_ready)(service.url)
        signum = os.read(wake_read, 1)[0]
        log.info("signal %s: stopping", signal.Signals(signum).name)
    finally:
        service.stop()
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)
    return 0


if __name__ == "__main__":  # pragma: no cover - ``python -m flowpy serve`` is the way
    sys.exit(serve())
