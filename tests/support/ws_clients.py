"""WebSocket clients for end-to-end tests: one that reads everything, in a thread of its own.

``ReadingClient(url)`` keeps every message it receives (``messages``) and lets a test wait for
one with a condition, never a sleep; ``request`` sends with a fresh ``requestId`` and waits for
the reply that names it. ``send_raw`` sends a text frame exactly as given (hostile input).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import websocket

WAIT = 10.0


def connect(url: str, **options: Any) -> websocket.WebSocket:
    options.setdefault("subprotocols", ["noflo"])
    return websocket.create_connection(url, timeout=30, skip_utf8_validation=True, **options)


def unread_by(ws: websocket.WebSocket | socket.socket) -> int:
    """Bytes the client's own kernel holds that the client has not read: a reply written now
    waits behind them whatever the server does (on loopback they grow to megabytes). Takes
    a websocket-client connection or a plain socket."""
    sock = ws if isinstance(ws, socket.socket) else ws.sock
    raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4)
    return int(struct.unpack("i", raw)[0])


def frame(protocol: str, command: str, payload: Any = None, request_id: str | None = None) -> str:
    message: dict[str, Any] = {"protocol": protocol, "command": command, "payload": payload or {}}
    if request_id is not None:
        message["requestId"] = request_id
    return json.dumps(message)


class ReadingClient:
    _ids = itertools.count(1)

    def __init__(
        self,
        url: str,
        name: str = "client",
        keep: Callable[[dict], bool] | None = None,
        work: float = 0.0,
        **options: Any,
    ) -> None:
        """``keep``: which messages to keep (default all); the others are only counted in
        ``seen``, so a flood of debug data costs no memory. ``work``: seconds of CPU spent on
        every message, as a client that renders what it receives does."""
        self.name = name
        self.keep = keep
        self.work = work
        self.seen = 0
        self.ws = connect(url, **options)
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        self.closed = False
        self.close_code: int | None = None
        self._reader = threading.Thread(target=self._read, name=f"test-{name}-reader")
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_code = int.from_bytes(data[:2], "big")
                    break
                message = json.loads(data)
                self.seen += 1
                if self.work:
                    busy_until = time.perf_counter() + self.work
                    while time.perf_counter() < busy_until:
                        pass
                if self.keep is not None and not self.keep(message):
                    if self.seen % 1000 == 0:
                        with self.cond:
                            self.cond.notify_all()
                    continue
                with self.cond:
                    self.messages.append(message)
                    self.cond.notify_all()
        except (OSError, websocket.WebSocketException, ValueError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def send(
        self, protocol: str, command: str, payload: Any = None, request_id: str | None = None
    ) -> None:
        self.ws.send(frame(protocol, command, payload, request_id))

    def wait_for(
        self, predicate: Callable[[dict], bool], start: int = 0, timeout: float = WAIT
    ) -> dict:
        found: list[dict] = []

        def ready() -> bool:
            for message in self.messages[start:]:
                if predicate(message):
                    found.append(message)
                    return True
            return self.closed

        with self.cond:
            self.cond.wait_for(ready, timeout)
            if not found:
                tail = "\n  ".join(json.dumps(m)[:200] for m in self.messages[start:][-10:])
                raise AssertionError(
                    f"{self.name}: no such message within {timeout}s "
                    f"(closed={self.closed}); last received:\n  {tail}"
                )
            return found[0]

    def wait_until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until ``condition()`` (checked as messages arrive)."""
        with self.cond:
            if (
                not self.cond.wait_for(lambda: condition() or self.closed, timeout)
                or not condition()
            ):
                raise AssertionError(
                    f"{self.name}: condition not met within {timeout}s (closed={self.closed})"
                )

    def request(
        self, protocol: str, command: str, payload: Any = None, timeout: float = WAIT
    ) -> dict:
        """Send with a fresh requestId; the reply (or error) that names it."""
        rid = f"{self.name}-{next(self._ids)}"
        self.send(protocol, command, payload, rid)
        return self.wait_for(lambda m: m.get("responseTo") == rid, timeout=timeout)

    def timed_request(self, protocol: str, command: str, payload: Any = None) -> float:
        began = time.perf_counter()
        self.request(protocol, command, payload)
        return time.perf_counter() - began

    def count(self, predicate: Callable[[dict], bool]) -> int:
        with self.cond:
            return sum(1 for m in self.messages if predicate(m))

    def close(self) -> None:
        try:
            self.ws.close(timeout=2)
        except (OSError, websocket.WebSocketException):
            pass
        try:
            self.ws.sock and self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._reader.join(10)


def is_data(port: str = "out") -> Callable[[dict], bool]:
    def check(m: dict) -> bool:
        p = m.get("payload")
        return (
            m.get("command") == "packet"
            and isinstance(p, dict)
            and p.get("event") == "data"
            and p.get("port") == port
        )

    return check


def build_chain(
    client: ReadingClient, graph: str, count: int = 1, component: str = "core/Repeat"
) -> None:
    """``in -> n0 -> ... -> n{count-1} -> out`` over the protocol."""
    client.request("graph", "clear", {"id": graph})
    for n in range(count):
        client.request("graph", "addnode", {"graph": graph, "id": f"n{n}", "component": component})
        if n:
            client.request(
                "graph",
                "addedge",
                {
                    "graph": graph,
                    "src": {"node": f"n{n - 1}", "port": "out"},
                    "tgt": {"node": f"n{n}", "port": "in"},
                },
            )
    client.request(
        "graph", "addinport", {"graph": graph, "public": "in", "node": "n0", "port": "in"}
    )
    client.request(
        "graph",
        "addoutport",
        {"graph": graph, "public": "out", "node": f"n{count - 1}", "port": "out"},
    )
