"""net/WebSocketClient: a ws:// (or wss://) connection, a message per IP both ways.

The connection is read by a helper thread (websocket-client's blocking ``recv``) that hands
each message over through the bounded :class:`~flowpy_components._support.pump.Pump`: while
the graph is behind it stops reading, the socket buffers fill and TCP makes the server wait.
Writes block while the server does not read.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import websocket

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import (
    StopHook,
    flag,
    positive_int,
    reject,
    render,
    short,
)
from flowpy_components._support.pump import INPORTS_ENDED, Pump

log = logging.getLogger(__name__)


class WebSocketClient(Component):
    """Connects to a WebSocket server, sends each data IP of `in` as a text message
    (strings as they are, other values as compact JSON) and sends every message it receives
    on `out`: text frames as strings, or with "json": true parsed as JSON (a message that is
    not JSON goes to `error` as {message, input}); binary frames as UTF-8 text (undecodable
    bytes replaced).

    conf: the URL ("ws://127.0.0.1:3569/"), or {"url": ..., "json": false, "headers": {},
    "subprotocols": [], "messages": N}. When `in` ends the client goes on receiving until the
    server closes the connection, `messages` messages have come, or the network stops; then
    it closes the connection and the process ends. A connection that cannot be made fails
    the process with one clear message; one that breaks ends it with one warning.
    Back-pressure: reading stops while `out` is full, so the server waits; nothing is
    buffered without bound.
    """

    icon = "exchange"
    reaches = ("network",)
    inports = InPorts(
        InPort("in", description="what to send: a message per IP"),
        InPort(
            "conf",
            datatype="object",
            description="URL, or {url, json, headers, subprotocols, messages}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="each message received: text, or its JSON value"),
        OutPort("error", datatype="object", description="{message, input}: a message not JSON"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ws: websocket.WebSocket | None = None
        self.pump: Pump | None = None
        self.stopping = StopHook(self._stop)

    def _stop(self) -> None:
        if self.ws is not None:
            self.ws.abort()  # wakes the reader's recv
        if self.pump is not None:
            self.pump.stop()

    def run(self) -> None:
        """Connect, then send `in` as messages and what arrives on `out` until either ends."""
        options = self.options(
            {"url": None, "json": False, "headers": {}, "subprotocols": [], "messages": None},
            scalar="url",
        )
        url = options["url"]
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"{self.node_id}: url must be a ws:// or wss:// URL, not {short(url)}")
        self.parse = flag(options["json"], f"{self.node_id}: json")
        limit = options["messages"]
        self.left = None if limit is None else positive_int(limit, f"{self.node_id}: messages")
        if not isinstance(options["headers"], dict):
            raise ValueError(f"{self.node_id}: headers must be an object of header: value")
        try:
            self.ws = ws = websocket.create_connection(
                url,
                timeout=10,
                header={str(k): str(v) for k, v in options["headers"].items()},
                subprotocols=_texts(options["subprotocols"]) or None,
            )
        except (OSError, websocket.WebSocketException) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ValueError(f"{self.node_id}: cannot connect to {url}: {reason}") from None
        ws.settimeout(None)
        self.pump = pump = Pump(self, ["in"])
        pump.start("ws-reader", self._read, pump, ws)
        try:
            pump.serve(self._deliver, self._handle)
        finally:
            try:
                ws.send_close()  # the reader ends on the server's answering close
            except (OSError, websocket.WebSocketException):
                pass  # gone already
            pump.join(self.time_to_stop(1.0))
            ws.abort()  # a server that does not answer: wake the reader
            pump.join()
            ws.shutdown()

    def _read(self, pump: Pump, ws: websocket.WebSocket) -> None:
        """Reader thread: hand each message over until the server closes (or a stop)."""
        try:
            while True:
                opcode, frame = ws.recv_data_frame()  # answers pings itself
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                data = frame.data
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                if not pump.put(text):
                    return
        except (OSError, websocket.WebSocketException) as exc:
            if self.stopping.is_set() or pump.done:
                return  # closed under us by a stop, or at the process's end
            reason = getattr(exc, "strerror", None) or exc or type(exc).__name__
            log.warning("%s: the connection broke: %s", self.node_id, reason)
        pump.end_source()

    def _deliver(self, text: str) -> bool:
        """A message on `out` (parsed, with "json"); False once `out` is gone or the
        messages asked for have come."""
        value: Any = text
        if self.parse:
            try:
                value = json.loads(text)
            except ValueError as exc:
                reject(self, f"a message that is not JSON: {exc}", text)
                return True
        if not self.outports["out"].send(IP.make_data(value)):
            return False
        if self.left is not None:
            self.left -= 1
        return self.left != 0

    def _handle(self, kind: str, value: Any) -> bool:
        if kind == "end":
            return False  # the server closed the connection
        if kind != INPORTS_ENDED and value.is_data:  # after `in` ends: receive on
            assert self.ws is not None
            try:
                self.ws.send(render(value.data))
            except (OSError, websocket.WebSocketException) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise ValueError(f"{self.node_id}: cannot send: {reason}") from None
        return True


def _texts(value: Any) -> list[str]:
    """A string or a list of strings as a list."""
    return [value] if isinstance(value, str) else [str(item) for item in value or []]
