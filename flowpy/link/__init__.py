"""The client side: this process talking to other runtimes over the FBP Network Protocol.

* :mod:`~flowpy.link.client`: a protocol client (one connection, requests and replies);
* :mod:`~flowpy.link.link`: a self-healing link to a graph of another runtime (supervisor,
  reconnects with backoff, routing), built from :mod:`~flowpy.link.config` (``conf``),
  :mod:`~flowpy.link.window` (the send window), :mod:`~flowpy.link.inbox` (what the remote
  sends, on its way to the listener) and :mod:`~flowpy.link.negotiate` (what each connect
  settles: plain or extension mode, ports);
* :mod:`~flowpy.link.process`: a link run by a component process (core/Bridge, remote/NAME);
* :mod:`~flowpy.link.remote`: ``remote/NAME`` components for the graphs of other runtimes.

The link layer sits on the engine, the graphs and the wire layer only: it never imports the
runtime, the protocol handlers or the server, whose client it is.
"""

from __future__ import annotations

from .client import Client, ClientError, ConnectionClosed, RequestError
from .config import LinkConfig, LinkError
from .link import Link
from .listener import LinkListener
from .process import ProcessLink
from .remote import RemoteError, register_remotes

__all__ = [
    "Client",
    "ClientError",
    "ConnectionClosed",
    "Link",
    "LinkConfig",
    "LinkError",
    "LinkListener",
    "ProcessLink",
    "RemoteError",
    "RequestError",
    "register_remotes",
]
