"""The flowpy Flask app: the FBP protocol WebSocket and a status page, both at ``/``.

Transport only: frames go to the protocol's :class:`~flowpy.protocol.Endpoint`, and what the
runtime sends goes through each client's :class:`~flowpy.server.connection.ClientConnection`.
After the handshake the connection's own reader and writer own the socket. Compression is
declined unless asked for; a foreign ``Origin`` is refused (:mod:`.origins`). See
docs/architecture.md ("WebSocket frames") and docs/deployment.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any, cast

import flask
from flask_sock import Sock

from flowpy.protocol import Endpoint
from flowpy.runtime import Runtime

from . import frames, view
from .budget import DEFAULT_FRAME_BUDGET, ByteBudget
from .connection import (
    DEFAULT_DEBUG_RATE,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_STALL_TIMEOUT,
    DEFAULT_UNTRUSTED_MESSAGE_SIZE,
    ClientConnection,
)
from .handshakes import HANDSHAKE_DONE
from .origins import OriginPolicy
from .recording import Recorder
from .writeahead import DEFAULT_READ_AHEAD

log = logging.getLogger(__name__)

SUBPROTOCOL = "noflo"
RECORD_ENV = "FLOWPY_VALIDATE_OUTPUT"  # append every sent message to this file (one per line)

# Runtimes of the apps made by create_app in this process, for worker_exit (gunicorn).
_app_runtimes: weakref.WeakSet[Any] = weakref.WeakSet()


class _NoThread:
    """Given to simple-websocket as its thread class: its socket reader never runs, because
    the connection's own reader reads (with flow control) instead."""

    def __init__(self, target: Any = None, **_: Any) -> None:
        self.name = "simple-websocket reader (not used)"

    def start(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return False


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
    """The connections of one app, so the server can stop them all and report on them."""

    def __init__(
        self,
        endpoint: Any,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        recorder: Recorder | None = None,
        send_buffer_size: int | None = None,
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        compression: bool = False,
        debug_rate: int = DEFAULT_DEBUG_RATE,
        untrusted_message_size: int | None = DEFAULT_UNTRUSTED_MESSAGE_SIZE,
        frame_budget: int | None = DEFAULT_FRAME_BUDGET,
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        self.endpoint = endpoint
        self.read_ahead = read_ahead
        self.queue_size = queue_size
        self.recorder = recorder
        self.send_buffer_size = send_buffer_size
        self.stall_timeout = stall_timeout
        self.max_message_size = max_message_size
        self.compression = compression
        self.debug_rate = debug_rate
        self.untrusted_message_size = untrusted_message_size
        #: What the partial messages of all the connections may hold together.
        self.budget = ByteBudget(frame_budget)
        self._lock = threading.Lock()
        self._connections: set[ClientConnection] = set()
        self._stopping = False
        #: Counters of connections that have gone (live ones are added in stats()).
        self._gone = {"dropped": 0, "cut": 0, "unencodable": 0}

    def add(self, conn: ClientConnection) -> bool:
        """Count a new connection in; False once the app is stopping (the caller closes it)."""
        with self._lock:
            if self._stopping:
                return False
            self._connections.add(conn)
            return True

    def remove(self, conn: ClientConnection) -> None:
        """A connection ended: its counters join the totals of ended ones."""
        with self._lock:
            if conn in self._connections:
                self._connections.discard(conn)
                for key, value in _counters(conn).items():
                    self._gone[key] += value

    def connections(self) -> list[ClientConnection]:
        """The open connections (a copy: safe to iterate)."""
        with self._lock:
            return list(self._connections)

    def stats(self) -> dict[str, int]:
        """Counters over every connection, open and ended, for ``GET /`` and ``/metrics``."""
        with self._lock:
            conns = list(self._connections)
            totals = dict(self._gone)
        for conn in conns:
            for key, value in _counters(conn).items():
                totals[key] += value
        return {"connections": len(conns), **totals}

    def begin_stop(self, deadline: float) -> None:
        """Refuse new connections; STREAM sends waiting for room give up at ``deadline``."""
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
        """One WebSocket connection, in its request thread (which becomes its reader)."""
        ws.connected = False  # flask-sock's goodbye after this returns: ours was said already
        raw = ws.sock
        _tune_socket(raw, self.send_buffer_size)
        if self.compression:
            codec: Any = frames.WsprotoCodec(ws.ws, self.max_message_size, self.budget)
        else:
            codec = frames.PlainCodec(self.max_message_size, self.budget)
        conn = ClientConnection(
            raw,
            codec,
            self.queue_size,
            self.recorder,
            stall_timeout=self.stall_timeout,
            subprotocol=getattr(ws, "subprotocol", None),
            debug_rate=self.debug_rate,
            peer=_peer(raw),
            read_ahead=self.read_ahead,
        )
        ws.sock = conn.sock  # whatever else writes through simple-websocket takes the lock
        threading.current_thread().name = f"{conn.name}-reader"
        if not self.add(conn):
            conn.close_with(frames.GOING_AWAY, "the server is stopping")
            conn.finish_close(float("inf"))
            return
        client = None
        log.info("%s connected from %s", conn.name, conn.peer or "an unknown address")
        try:
            client = self.endpoint.connect(conn)
            conn.serve(self.endpoint, client, self._limit_until_trusted(codec, client))
        finally:
            codec.release()
            try:
                if client is not None:
                    self.endpoint.disconnect(client)
            finally:
                conn.close()
                self.remove(conn)
                log.info(
                    "%s (%s) disconnected: %s",
                    conn.name,
                    conn.peer or "?",
                    conn.cut_reason or conn.end_reason,
                )

    def _limit_until_trusted(self, codec: Any, client: Any) -> Callable[[], bool] | None:
        """Cap the messages of a client the endpoint does not trust yet (one that has not
        presented its secret) at ``untrusted_message_size``, and return what lifts the cap
        once it is trusted; None if there is nothing to lift."""
        trusted = getattr(self.endpoint, "trusted", None)
        limit = self.untrusted_message_size
        if trusted is None or limit is None or trusted(client):
            return None
        full = self.max_message_size
        codec.max_message_size = limit if full is None else min(limit, full)

        def lift() -> bool:
            if not trusted(client):
                return False
            codec.max_message_size = full
            return True

        return lift


def _peer(sock: Any) -> str | None:
    """``host:port`` of the client (None when the socket cannot say, e.g. a Unix socket)."""
    try:
        address = sock.getpeername()
    except (OSError, AttributeError):
        return None
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
        return f"{host}:{address[1]}"
    return str(address) or None


def _counters(conn: ClientConnection) -> dict[str, int]:
    return {"dropped": conn.dropped, "cut": int(conn.stalled), "unencodable": conn.unencodable}


def create_app(runtime: Any = None, **runtime_options: Any) -> flask.Flask:
    """The flowpy Flask app: the protocol WebSocket and a status page, both at ``/``.

    ``runtime``: a ``flowpy.runtime.Runtime`` (served through a :class:`flowpy.protocol.
    Endpoint`), or any object with the endpoint's methods (the tests serve a fake); made from
    ``runtime_options`` when None.
    Transport options (taken out of ``runtime_options``): ``queue_size`` (messages queued for
    a client before a STREAM send waits, default 1024), ``max_message_size`` (bytes; larger
    messages close the connection with 1009), ``send_buffer_size`` (the kernel send buffer of
    each client socket, bytes; None = the OS default), ``stall_timeout`` (seconds a client may
    read nothing while a send waits for it before it is disconnected; default 60, None =
    never), ``compression`` (accept permessage-deflate when offered; default False),
    ``debug_rate`` (debug messages a second, at most, to one client; default 5000, 0 = no
    limit),
    ``record_sent`` (a file that receives every sent message as a JSON line; default
    ``$FLOWPY_VALIDATE_OUTPUT``),
    ``untrusted_message_size`` (bytes, default 64 KiB: the limit, until it has presented a
    secret the runtime knows, of a client of a runtime that has secrets; None = the full
    limit), ``frame_budget`` (bytes that the partial messages of all connections may hold
    together, default 256 MiB; a message it cannot hold closes its connection with 1013),
    ``read_ahead`` (bytes written to a client beyond what it confirmed reading, default 256
    KiB, 0 = no bound; see :mod:`~flowpy.server.writeahead`),
    ``allow_origins`` (origins, besides the runtime's own, whose pages may open the
    WebSocket: ``["https://app.flowhub.io"]``, ``["*"]`` for any; see
    :mod:`~flowpy.server.origins`; raises ValueError for a value that is not an origin).
    """
    queue_size = int(runtime_options.pop("queue_size", DEFAULT_QUEUE_SIZE))
    max_message_size = runtime_options.pop("max_message_size", DEFAULT_MAX_MESSAGE_SIZE)
    send_buffer_size = runtime_options.pop("send_buffer_size", None)
    stall_timeout = runtime_options.pop("stall_timeout", DEFAULT_STALL_TIMEOUT)
    compression = bool(runtime_options.pop("compression", False))
    debug_rate = int(runtime_options.pop("debug_rate", DEFAULT_DEBUG_RATE))
    record_sent = runtime_options.pop("record_sent", None) or os.environ.get(RECORD_ENV) or None
    untrusted_message_size = runtime_options.pop(
        "untrusted_message_size", DEFAULT_UNTRUSTED_MESSAGE_SIZE
    )
    frame_budget = runtime_options.pop("frame_budget", DEFAULT_FRAME_BUDGET)
    read_ahead = int(runtime_options.pop("read_ahead", DEFAULT_READ_AHEAD))
    origins = OriginPolicy.of(runtime_options.pop("allow_origins", None))
    if runtime is None:
        runtime = Runtime(**runtime_options)
    elif runtime_options:
        raise TypeError(f"runtime options given with a runtime: {sorted(runtime_options)}")
    endpoint = Endpoint(runtime) if isinstance(runtime, Runtime) else runtime
    _app_runtimes.add(endpoint)

    app = flask.Flask("flowpy")
    app.config["SOCK_SERVER_OPTIONS"] = {
        "subprotocols": [SUBPROTOCOL],
        "max_message_size": max_message_size,
        "thread_class": _NoThread,
    }
    recorder = Recorder(record_sent) if record_sent else None
    transport = Transport(
        endpoint,
        queue_size,
        recorder,
        send_buffer_size,
        stall_timeout,
        max_message_size,
        compression,
        debug_rate,
        untrusted_message_size,
        frame_budget,
        read_ahead,
    )
    app.extensions["flowpy"] = transport
    sock = Sock(app)

    if not compression:

        @app.before_request
        def decline_extensions() -> None:
            """simple-websocket accepts any offered extension: it never sees the offer."""
            flask.request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)

    @app.before_request
    def check_origin() -> flask.Response | None:
        """A browser's handshake from a page of another origin ends here, with 403."""
        request = flask.request
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        origin = request.headers.get("Origin")
        if origins.allows(origin, request.scheme, request.headers.get("Host")):
            return None
        origin = (origin or "")[:200]
        log.warning(
            "refused a WebSocket handshake from origin %r (%s): not this runtime's "
            "own origin; to allow it, serve with --allow-origin %s",
            origin,
            request.remote_addr or "an unknown address",
            origin,
        )
        return flask.Response(
            f"origin {origin!r} is not allowed\n", status=403, mimetype="text/plain"
        )

    @sock.route("/")  # type: ignore[untyped-decorator]  # flask_sock has no types
    def protocol_socket(ws: Any) -> None:
        handshake_done = flask.request.environ.get(HANDSHAKE_DONE)
        if handshake_done is not None:  # served by flowpy.server.service: no deadline now
            handshake_done()
        transport.serve_connection(ws)

    @app.get("/")
    def status() -> flask.Response:
        if view.wants_page(flask.request):  # a browser: the live view (server/view.py)
            return view.page()
        document = dict(endpoint.status())
        document.setdefault("transport", transport.stats())
        response = flask.jsonify(document)
        response.headers["Vary"] = "Accept"
        return response

    view.install(app, endpoint, transport.stats)
    return app


def transport_of(app: flask.Flask) -> Transport:
    """The Transport an app made by ``create_app`` serves its connections with."""
    return cast(Transport, app.extensions["flowpy"])


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (``-c python:flowpy.server``): stop every runtime of this worker."""
    for endpoint in list(_app_runtimes):
        endpoint.shutdown()
