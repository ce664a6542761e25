"""Building blocks of the protocol fuzz suite (tests/test_fuzz.py).

* :func:`dumps` writes JSON text by hand, so a frame can carry what ``json.dumps`` of a
  Python value would never produce: ``NaN``/``Infinity`` literals, ``1e400``, 10,000 levels
  of nesting (:class:`Raw` pieces are written verbatim), and lone surrogates as ``\\ud800``
  escapes (``ensure_ascii``), in values and in object keys alike.
* :data:`HOSTILE` is the list of values substituted into every field.
* :func:`fields` lists the paths of every field of a payload, nested ones included;
  :func:`mutated` puts a value at a path.
* :class:`WsClient` is one WebSocket client whose frames are read by a thread of its own
  into a queue, so every wait has a deadline and a wait on a connection whose server-side
  writer thread died ends at once instead of at the deadline.
* :func:`thread_census` counts the live threads by normalised name, for before/after checks.
"""

from __future__ import annotations

import collections
import copy
import gc
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import protocol_schemas
import websocket

#: Seconds any single wait of the suite may take (a reply, a close, a thread ending).
TIMEOUT = 5.0
#: Serialises connecting clients, so the newest server-side connection is the new client's.
CONNECT_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# JSON text with anything in it
# ---------------------------------------------------------------------------------------------


class Raw:
    """A piece of JSON text written as it is (``NaN``, ``1e400``, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r}{'...' if len(self.text) > 20 else ''})"


def dumps(value: Any) -> str:
    """JSON text for ``value``: :class:`Raw` verbatim, strings ASCII-escaped (so a lone
    surrogate travels as ``\\ud800``), keys likewise."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_key(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=True)


def _key(key: Any) -> str:
    return key.text if isinstance(key, Raw) else json.dumps(str(key), ensure_ascii=True)


@dataclass(frozen=True)
class Hostile:
    """A value put where a field was. ``kind`` decides what the runtime must do with it:

    * ``type``: a value of some JSON type (maybe the wrong one): exactly one reply,
      success or error;
    * ``surrogate``: a lone surrogate: an error naming the field, nothing changes;
    * ``nonfinite``: NaN, an infinity, or a number that overflows to one: an error saying
      so, nothing changes;
    * ``huge``: a 2 MB string: an error (the frame is over the runtime's 1 MiB message
      limit) or a close with 1009;
    * ``deep``: nesting far beyond any limit: an error (the frame cannot be decoded);
    * ``deepish``: 100 levels, decodable but over the 64-level limit: an error that still
      answers the request (its requestId could be read).
    """

    name: str
    value: Any
    kind: str


HUGE_SIZE = 2 * 1024 * 1024
DEEP_LEVELS = 10_000

HOSTILE: tuple[Hostile, ...] = (
    Hostile("number", 42, "type"),
    Hostile("bool", True, "type"),
    Hostile("null", None, "type"),
    Hostile("list", [1, "a"], "type"),
    Hostile("object", {"k": "v"}, "type"),
    Hostile("string", "hostile", "type"),
    Hostile("empty-string", "", "type"),
    Hostile("lone-high-surrogate", "\ud800", "surrogate"),
    Hostile("lone-low-surrogate-in-text", "ab\udc00cd", "surrogate"),
    Hostile("NaN", Raw("NaN"), "nonfinite"),
    Hostile("Infinity", Raw("Infinity"), "nonfinite"),
    Hostile("-Infinity", Raw("-Infinity"), "nonfinite"),
    Hostile("1e400", Raw("1e400"), "nonfinite"),
    Hostile("huge-2MB-string", Raw('"' + "x" * HUGE_SIZE + '"'), "huge"),
    Hostile("deep-10000", Raw("[" * DEEP_LEVELS + "]" * DEEP_LEVELS), "deep"),
    Hostile("deep-100", Raw("[" * 100 + "]" * 100), "deepish"),
)

#: The key put into every object of a payload (a lone surrogate as an object KEY).
SURROGATE_KEY = "\ud800"


# ---------------------------------------------------------------------------------------------
# Paths into messages
# ---------------------------------------------------------------------------------------------

Path = tuple[str | int, ...]


def fields(value: Any, prefix: Path = ()) -> list[Path]:
    """Every path below ``value`` (object members and array items, depth first)."""
    out: list[Path] = []
    if isinstance(value, dict):
        items: Iterable[tuple[str | int, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return out
    for key, child in items:
        path = (*prefix, key)
        out.append(path)
        out.extend(fields(child, path))
    return out


def objects(value: Any, prefix: Path = ()) -> list[Path]:
    """Paths of every object inside ``value``, ``prefix`` itself first if it is one."""
    out = [prefix] if isinstance(value, dict) else []
    for path in fields(value, prefix):
        node = value
        for key in path[len(prefix) :]:
            node = node[key]
        if isinstance(node, dict):
            out.append(path)
    return out


def mutated(message: dict, path: Path, value: Any) -> dict:
    """A copy of ``message`` with ``value`` at ``path``."""
    out = copy.deepcopy(message)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def with_key(message: dict, path: Path, key: str, value: Any) -> dict:
    """A copy of ``message`` with ``key: value`` added to the object at ``path``."""
    out = copy.deepcopy(message)
    node = out
    for part in path:
        node = node[part]
    node[key] = value
    return out


def path_text(path: Path) -> str:
    """``payload.src.node``, ``payload.nodes[0]``; ``<message>`` for the top level."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "<message>"


def path_pattern(path: Path) -> re.Pattern[str]:
    """What an error message must contain to name ``path`` (array items as ``[0]`` or ``.0``)."""
    pattern = ""
    for part in path:
        if isinstance(part, int):
            pattern += rf"(?:\[{part}\]|\.{part})"
        else:
            pattern += (r"\." if pattern else "") + re.escape(part)
    return re.compile(pattern)


# ---------------------------------------------------------------------------------------------
# A client whose every wait has a deadline
# ---------------------------------------------------------------------------------------------


@dataclass
class Event:
    """Something that happened on a connection: a ``message`` (decoded, with its schema
    ``problems``), a ``bad-frame`` (not JSON, binary), a ``close`` (``code``, ``reason``),
    ``gone`` (the socket failed), ``dead`` (the server's writer thread of this connection
    died), or ``timeout``."""

    kind: str
    message: Any = None
    problems: tuple[str, ...] = ()
    code: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.kind == "message":
            text = json.dumps(self.message, ensure_ascii=True, default=repr)
            return text if len(text) <= 400 else text[:400] + "..."
        if self.kind == "close":
            return f"<close {self.code} {self.reason!r}>"
        return f"<{self.kind} {self.reason}>"


class WsClient:
    """One WebSocket client of the served runtime.

    A reader thread (``fuzz-<name>-reader``) puts every frame into a queue as an
    :class:`Event`; :meth:`next_event` takes from it with a deadline. ``server_connections``
    (``service.transport.connections``) lets the client find its server-side connection, so
    a wait can end early when that connection's writer thread is dead (it would never
    deliver anything again).
    """

    def __init__(
        self, url: str, name: str, server_connections: Callable[[], list[Any]] | None = None
    ) -> None:
        self.name = name
        self.events: queue.Queue[Event] = queue.Queue()
        self.server_name: str | None = None
        self.closed = False
        self.problems: list[str] = []  # schema problems of messages nobody examined
        #: The requestId of the request sent on connect (its reply is not a case's).
        self.hello_id = ""
        with CONNECT_LOCK:
            known = {id(c) for c in server_connections()} if server_connections else set()
            self.ws = websocket.create_connection(url, subprotocols=["noflo"], timeout=TIMEOUT)
            self.ws.settimeout(None)
            self.reader = threading.Thread(
                target=self._read, name=f"fuzz-{name}-reader", daemon=True
            )
            self.reader.start()
            self._hello()
            if server_connections is not None:
                new = [c for c in server_connections() if id(c) not in known]
                if len(new) == 1:
                    self.server_name = getattr(new[0], "name", None)

    def _hello(self) -> None:
        """One round trip, so the server has registered the connection. It asks for an
        unknown command, whose error is answered whatever state the runtime is in (a
        getruntime would echo graph and port names, which may be what a case broke)."""
        rid = self.hello_id = f"hello-{self.name}-{time.monotonic_ns()}"
        self.send_text(
            dumps({"protocol": "runtime", "command": "fuzz-hello", "payload": {}, "requestId": rid})
        )
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = self.next_event(deadline)
            if event.kind == "message":
                self.problems.extend(f"{event.describe()}: {p}" for p in event.problems)
                if event.message.get("responseTo") == rid:
                    return
            else:
                raise ConnectionError(
                    f"{self.name}: no answer to a request on connect: {event.describe()}"
                )

    def _read(self) -> None:
        try:
            while True:
                opcode, frame = self.ws.recv_data_frame(True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    data = frame.data or b""
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    self.events.put(
                        Event("close", code=code, reason=data[2:].decode("utf-8", "replace"))
                    )
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self.events.put(_decode(frame.data))
                elif opcode == websocket.ABNF.OPCODE_BINARY:
                    self.events.put(Event("bad-frame", reason=f"binary frame {frame.data[:50]!r}"))
        except Exception as exc:  # noqa: BLE001 - any end of the socket is an event
            self.events.put(Event("gone", reason=f"{type(exc).__name__}: {exc}"))

    # -- sending ---------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self.ws.send(text)

    def send_frames(self, frames: list[tuple[int, bytes, bool]]) -> None:
        """Raw frames ``(opcode, data, fin)``: binary, invalid UTF-8, fragments."""
        for opcode, data, fin in frames:
            self.ws.send_frame(websocket.ABNF.create_frame(data, opcode, fin=int(fin)))

    # -- receiving ---------------------------------------------------------------------------
    def writer_alive(self) -> bool | None:
        """Is the server's writer thread of this connection alive? None if unknown."""
        if self.server_name is None:
            return None
        wanted = f"{self.server_name}-writer"
        return any(t.name == wanted and t.is_alive() for t in threading.enumerate())

    def next_event(self, deadline: float) -> Event:
        """The next event, or ``timeout`` at ``deadline``, or ``dead`` as soon as nothing
        can come any more because the server's writer of this connection died."""
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self.events.get(timeout=max(0.0, min(0.05, remaining)))
            except queue.Empty:
                pass
            if self.writer_alive() is False and self.events.empty():
                self.closed = True
                return Event(
                    "dead",
                    reason=f"server writer thread {self.server_name}-writer "
                    "is dead: nothing will be sent on this connection",
                )
            if time.monotonic() >= deadline:
                return Event("timeout", reason="nothing within the deadline")

    def drain(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close handshake if possible, then the socket; the reader thread is joined."""
        self.closed = True
        try:
            self.ws.send_close()
        except Exception:  # noqa: BLE001 - already closed by the server: fine
            pass
        self.reader.join(TIMEOUT / 2)
        if self.reader.is_alive() and self.ws.sock is not None:
            try:
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.reader.join(TIMEOUT)
        self.ws.shutdown()


def _decode(data: bytes) -> Event:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return Event("bad-frame", reason=f"text frame that is not JSON ({exc}): {data[:200]!r}")
    try:
        problems = tuple(protocol_schemas.errors(message))
    except protocol_schemas.SchemaMissing as exc:
        problems = (str(exc),)
    return Event("message", message=message, problems=problems)


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------

_NUMBERED = [
    (re.compile(r"flowpy-client-\d+-"), "flowpy-client-N-"),
    (re.compile(r"flowpy-http-\d+"), "flowpy-http-N"),
    (re.compile(r"^Thread-\d+"), "Thread-N"),
]


def normalised(name: str) -> str:
    for pattern, replacement in _NUMBERED:
        name = pattern.sub(replacement, name)
    return name


def thread_census() -> collections.Counter[str]:
    """Live threads of this process by name, connection numbers replaced by N (a client
    that reconnects is the same kind of thread, but one more or one fewer is not)."""
    return collections.Counter(normalised(t.name) for t in threading.enumerate() if t.is_alive())


def wait_for_census(
    expected: collections.Counter[str], timeout: float = TIMEOUT
) -> collections.Counter[str]:
    """Poll (bounded) until the census equals ``expected``; the last census."""
    deadline = time.monotonic() + timeout
    while True:
        census = thread_census()
        if census == expected or time.monotonic() >= deadline:
            return census
        time.sleep(0.02)


def wait_for_no_extra_threads(
    before: collections.Counter[str], timeout: float = TIMEOUT
) -> dict[str, int]:
    """Poll (bounded) until the census has no more threads of any kind than ``before``; the
    kinds still in excess then (a leak)."""
    deadline = time.monotonic() + timeout
    while True:
        extra = thread_census() - before
        if not extra or time.monotonic() >= deadline:
            return dict(extra)
        time.sleep(0.02)


def census_diff(before: collections.Counter[str], after: collections.Counter[str]) -> str:
    gone = before - after
    new = after - before
    parts = []
    if gone:
        parts.append(f"missing: {dict(gone)}")
    if new:
        parts.append(f"extra: {dict(new)}")
    return "; ".join(parts) or "same"


def rescue_stuck_websockets() -> list[str]:
    """Wake server-side simple-websocket connections whose socket thread has ended but
    whose reader still waits in ``receive()`` (so the process can exit after a failure
    has been recorded). Returns a description of each one woken."""
    try:
        from simple_websocket.ws import Base
    except ImportError:  # pragma: no cover
        return []
    woken = []
    for obj in gc.get_objects():
        if isinstance(obj, Base) and not obj.connected:
            thread = getattr(obj, "thread", None)
            if thread is not None and not thread.is_alive():
                obj.event.set()
                woken.append(
                    f"simple-websocket connection closed with {getattr(obj, 'close_reason', '?')}"
                )
    return woken


def stack_of(thread: threading.Thread) -> str:
    import sys
    import traceback

    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)[-6:]) if frame is not None else "(no frame)"
