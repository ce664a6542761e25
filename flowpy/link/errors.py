"""The errors of :mod:`flowpy.link.client`: a connection that failed or closed, a request the
runtime refused, a URL where no runtime answers. Everything built on the client (the link,
``flowpy send``/``listen``, the tests) catches these."""

from __future__ import annotations

from flowpy.errors import FlowpyError


class ClientError(FlowpyError):
    """The connection failed, closed, or a reply did not come in time."""


class RequestError(ClientError):
    """The runtime answered a request with ``<protocol>:error`` (``message`` says why)."""

    def __init__(self, protocol: str, command: str, message: str) -> None:
        super().__init__(f"{protocol}:{command} failed: {message}")
        self.protocol, self.command, self.message = protocol, command, message


class ConnectionClosed(ClientError):
    """The WebSocket is closed (by either side)."""


class NoRuntimeThere(ClientError):
    """Something answered at the URL, but not with a WebSocket: a wrong path or a web server
    that is not a runtime. Its HTTP status is in ``status``; the message is one line, never
    the page the server sent."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(
            f"no FBP runtime answers at {url} (HTTP {status}): check the address and path"
        )
        self.status = status
