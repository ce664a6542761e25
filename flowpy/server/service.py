"""Serving the app with werkzeug: a started :class:`Service`, and :func:`serve` with signals.

``flowpy serve`` uses :func:`serve`: a threaded werkzeug server, one ready line on stdout, and
a clean stop on SIGINT/SIGTERM (stop accepting, stop every network, flush and close every
connection, join every thread). Every accepted socket finishes its handshake within
``handshake_timeout`` (:mod:`~flowpy.server.handshakes`) or is shut down at a stop, so no
half-open socket holds the server up; the backlog (:data:`LISTEN_BACKLOG`) takes a thousand
connects at once. The same app runs under gunicorn (docs/deployment.md).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .app import create_app, transport_of
from .handshakes import DEFAULT_HANDSHAKE_TIMEOUT, HANDSHAKE_DONE, HandshakeDeadlines

log = logging.getLogger(__name__)

DEFAULT_PORT = 3569
#: Connections the kernel queues before the server accepts them (capped by the kernel's
#: net.core.somaxconn). werkzeug's 128 made the 129th of simultaneous connects wait for a
#: SYN retransmit: seconds.
LISTEN_BACKLOG = max(1024, socket.SOMAXCONN)


class _RequestHandler(WSGIRequestHandler):
    server: _Server

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)

    def make_environ(self) -> Any:
        environ = super().make_environ()
        deadlines, sock = self.server.handshakes, self.connection
        environ[HANDSHAKE_DONE] = lambda: deadlines.done(sock)
        return environ


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, with request threads that are joined at ``server_close``."""

    daemon_threads = False
    block_on_close = True
    handshakes: HandshakeDeadlines

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        # werkzeug's version calls server_close() on the way out, which would join the
        # WebSocket threads before Service.stop has closed their connections.
        socketserver.BaseServer.serve_forever(self, poll_interval)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        port = client_address[1] if isinstance(client_address, tuple) else "local"
        threading.current_thread().name = f"flowpy-http-{port}"
        peer = f"{client_address[0]}:{port}" if isinstance(client_address, tuple) else "local"
        self.handshakes.admit(request, peer)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.handshakes.done(request)


def _address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free one); OSError if not."""
    return socket.create_server((host, port), family=_address_family(host), backlog=LISTEN_BACKLOG)


class Service:
    """A running server: ``start()``, ``url``, ``stop()``. :func:`serve` adds signals.

    ``shutdown_timeout``: how long ``runtime.shutdown`` may take to stop the networks (their
    drain included: meanwhile their output still flows to the clients).
    ``flush_timeout``: how long clients get, after that, to read what is queued for them.
    ``handshake_timeout``: how long an accepted socket may take to become a WebSocket (or to
    finish its plain HTTP request) before it is closed; None = no limit.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        runtime: Any = None,
        app: flask.Flask | None = None,
        shutdown_timeout: float = 5.0,
        flush_timeout: float = 1.0,
        listener: socket.socket | None = None,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        **app_options: Any,
    ) -> None:
        """``listener``: a socket already bound (and listening) to serve on instead of
        binding ``host:port`` here; the service takes it over (``flowpy serve`` binds first
        to learn the port ``--port 0`` got before it picks the state directory)."""
        self.app = app or create_app(runtime, **app_options)
        self.transport = transport_of(self.app)
        self.endpoint = self.transport.endpoint
        self.shutdown_timeout = shutdown_timeout
        self.flush_timeout = flush_timeout
        # Bind here rather than in werkzeug, which prints and calls sys.exit on bind errors:
        # an OSError is the caller's to report.
        if listener is None:
            listener = listen(host, port)
        try:
            self._server = _Server(
                host, port, self.app, handler=_RequestHandler, fd=listener.fileno()
            )
        finally:
            listener.close()  # werkzeug holds its own duplicate of the descriptor
        self.handshakes = HandshakeDeadlines(handshake_timeout)
        self._server.handshakes = self.handshakes
        self.host = host
        self.port: int = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    def start(self) -> Service:
        """Serve on a named thread and start the handshake deadlines; returns self."""
        self.handshakes.start()
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
        # Sockets that never became WebSockets have nothing to flush: their threads end now.
        self.handshakes.close_all()
        self.handshakes.stop()
        # While the networks drain, their output still reaches the clients; a graph outport
        # waiting for a client that reads nothing gives up at the end of the shutdown time.
        self.transport.begin_stop(time.monotonic() + self.shutdown_timeout)
        try:
            self.endpoint.shutdown(timeout=self.shutdown_timeout)
        finally:
            # Clients get until this deadline to take what is queued for them (the networks'
            # last messages included); a client that does not read by then is cut off.
            self.transport.close_all(time.monotonic() + self.flush_timeout)
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
    """Serve until SIGINT or SIGTERM, then stop cleanly. Returns the exit status: 0, or 130
    when a second signal cut the shutdown's drain short.

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
    status = 0
    try:
        service.start()
        (ready_callback or _print_ready)(service.url)
        signum = os.read(wake_read, 1)[0]
        log.info(
            "signal %s: stopping (the networks drain; a second signal stops at once)",
            signal.Signals(signum).name,
        )
        status = _stop_listening_for_signals(service, wake_read, wake_write)
    finally:
        service.stop()  # at once if done already, or after a failure before the signal
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)
    return status


_STOPPED = 0  # written to the wake pipe when the stop is over (no signal has number 0)


def _stop_listening_for_signals(service: Service, wake_read: int, wake_write: int) -> int:
    """Stop ``service`` in a thread of its own while this (main) thread reads the wake pipe:
    a further signal cuts the drains short. 130 if that happened, else 0."""

    def stop() -> None:
        try:
            service.stop()
        finally:
            os.write(wake_write, bytes([_STOPPED]))

    stopper = threading.Thread(target=stop, name="flowpy-shutdown")
    stopper.start()
    status = 0
    while os.read(wake_read, 1)[0] != _STOPPED:
        if not status:
            log.warning("second signal: stopping at once")
            status = 130
        cut = getattr(service.endpoint, "cut_drains", None)
        if cut is not None:
            cut()
    stopper.join()
    return status
