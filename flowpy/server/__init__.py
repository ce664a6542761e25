"""The FBP Network Protocol over WebSocket: the Flask app, its connections, and serving it.

* :mod:`~flowpy.server.app`: the app factory (flask-sock route, status page) and the set of
  connections of one app;
* :mod:`~flowpy.server.connection`: one client connection, its reader and its writer;
* :mod:`~flowpy.server.frames`: WebSocket frames in and out;
* :mod:`~flowpy.server.budget`: the bytes all connections' partial messages may hold;
* :mod:`~flowpy.server.origins`: which web pages may open the WebSocket;
* :mod:`~flowpy.server.handshakes`: the deadline of connections not yet WebSockets;
* :mod:`~flowpy.server.service`: serving the app with werkzeug, and stopping on signals.

``-c python:flowpy.server`` (gunicorn) finds :func:`worker_exit` here.
"""

from __future__ import annotations

from flowpy.wire import encode

from .app import SUBPROTOCOL, Transport, create_app, transport_of, worker_exit
from .connection import DEFAULT_QUEUE_SIZE, DEFAULT_STALL_TIMEOUT, ClientConnection
from .service import DEFAULT_PORT, Service, serve

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_STALL_TIMEOUT",
    "SUBPROTOCOL",
    "ClientConnection",
    "Service",
    "Transport",
    "create_app",
    "encode",
    "serve",
    "transport_of",
    "worker_exit",
]
