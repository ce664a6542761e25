"""A link from a local process to a graph on another runtime: the Bridge's machinery.

A :class:`Link` keeps one WebSocket connection (a :class:`flowpy.client.Client`) to a remote
runtime alive for as long as the local process runs, and moves packets both ways:

* ``send(port, event, payload)`` puts a packet in the **send window**: at most ``window``
  packets the remote has not acknowledged. While it is full, ``send`` blocks, so a caller
  reading a local inport stops reading and back-pressure reaches its upstream. Packets stay
  in the window until acknowledged, and after a reconnect everything unacknowledged is sent
  again, in its original order.
* packets from the remote graph's exported outports are handed to the listener's
  ``link_packet`` from one delivery thread, which may block (a full local downstream): the
  link then reads no further than the remote's own window (extension) or a bounded inbox
  (plain), so memory stays bounded and the remote slows down.

Two modes, chosen at every connect:

* **extension** (``flowpy:hello`` answered by ``flowpy:welcome``, docs/bridge-protocol.md):
  sequence numbers both ways, cumulative acks, a durable session on the remote that keeps
  its outbox while the link is down. Exactly-once and in order while both processes live.
* **plain** ``runtime:packet`` (NoFlo, flowd, or a runtime without the extension):
  ``runtime:packetsent`` acknowledges each packet, unacknowledged ones are re-sent after a
  reconnect (at-least-once towards the remote); what the remote emits is best effort.

The connection moves through ``connecting`` (first attempt) → ``connected`` →
``reconnecting`` (after a loss, with exponential backoff and jitter, capped) → … →
``closed``, and every change is reported to the listener. A remote that refuses the secret
is reported and retried with the same backoff. A configuration the remote cannot serve
(unknown graph, a mapped port it lacks) is *fatal*: reported, and the link closes.

Threads, all named after the link and joined by :meth:`Link.close`: ``<name>-link`` (the
supervisor: connects, negotiates, replays, waits for loss, backs off), ``<name>-deliver``
(hands remote packets to the listener, acknowledges them) and the client's reader.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flowpy import wire
from flowpy.errors import FlowpyError
from flowpy.wire.events import DEBUG_COMMANDS, PACKET_EVENTS, event_of, ip_of

from .client import Client, ClientError, ConnectionClosed, RequestError

log = logging.getLogger(__name__)

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"
STATES = (CONNECTING, CONNECTED, RECONNECTING, CLOSED)

EXTENSION = "extension"
PLAIN = "plain"

DEFAULT_WINDOW = 300
#: Window packets written per socket write (one ``flowpy:packets`` frame in extension mode).
WRITE_BATCH = 256
#: How often a blocked caller re-checks its stop event (the engine's ``stopping`` cannot wake
#: a condition variable, so waits that must end at a stop are sliced this finely).
STOP_POLL = 0.05


class LinkError(FlowpyError):
    """A configuration the remote cannot serve (fatal), or an invalid ``conf``."""


class _Refused(FlowpyError):
    """The remote does not let this secret move packets (retried with backoff)."""


class _Closing(Exception):
    """The link is being closed while connecting (control flow, not an error)."""


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class LinkConfig:
    """What a link connects to and how it behaves; built from a Bridge's ``conf`` IIP."""

    url: str
    secret: str | None = None
    graph: str | None = None
    window: int = DEFAULT_WINDOW
    start: bool = False
    reconnect_initial: float = 0.2
    reconnect_max: float = 5.0
    extension: bool = True
    timeout: float = 10.0
    hello_timeout: float = 3.0
    close_timeout: float = 1.0
    map_in: dict[str, str] = field(default_factory=dict)
    map_out: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, conf: Any) -> LinkConfig:
        """A URL string, or an object ``{url, secret, graph, window, start, reconnect, map}``.

        The URL's query may carry ``secret``, ``graph``, ``window`` and ``start``; they are
        taken out of the URL that is dialled. Raises LinkError with a readable message.
        """
        if isinstance(conf, str) and conf.lstrip().startswith("{"):
            try:  # clients that can only send strings (noflo-ui) send the object as JSON
                conf = json.loads(conf)
            except ValueError as exc:
                raise LinkError(f"conf is not valid JSON: {exc}") from None
        if isinstance(conf, str):
            conf = {"url": conf}
        if not isinstance(conf, Mapping):
            raise LinkError(f"conf must be a URL or an object, got {type(conf).__name__}")
        known = {"url", "secret", "graph", "window", "start", "reconnect", "map", "extension",
                 "timeout", "hello_timeout", "close_timeout"}
        unknown = sorted(set(conf) - known)
        if unknown:
            raise LinkError(f"conf: unknown keys {unknown} (known: {', '.join(sorted(known))})")
        url = conf.get("url")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise LinkError(f"conf.url must be a ws:// or wss:// URL, got {url!r}")
        url, query = _split_query(url)
        options: dict[str, Any] = {**query, **{k: v for k, v in conf.items() if k != "url"}}
        config = cls(url=url)
        config.secret = _opt_str(options, "secret")
        config.graph = _opt_str(options, "graph")
        config.window = _number(options, "window", config.window, int, 1, 100_000)
        config.start = _flag(options, "start", config.start)
        config.extension = _flag(options, "extension", config.extension)
        for key in ("timeout", "hello_timeout", "close_timeout"):
            setattr(config, key, _number(options, key, getattr(config, key), float, 0.01, 3600))
        reconnect = options.get("reconnect") or {}
        if not isinstance(reconnect, Mapping):
            raise LinkError("conf.reconnect must be an object {initial, max} (seconds)")
        config.reconnect_initial = _number(reconnect, "initial", config.reconnect_initial,
                                           float, 0.001, 3600)
        config.reconnect_max = _number(reconnect, "max", config.reconnect_max, float, 0.001, 86400)
        config.reconnect_max = max(config.reconnect_max, config.reconnect_initial)
        mapping = options.get("map") or {}
        if not isinstance(mapping, Mapping) or set(mapping) - {"in", "out"}:
            raise LinkError('conf.map must be {"in": {index: port}, "out": {index: port}}')
        for direction in ("in", "out"):
            table = mapping.get(direction) or {}
            if not isinstance(table, Mapping) or not all(
                isinstance(v, str) and v for v in table.values()
            ):
                raise LinkError(f"conf.map.{direction} must map indexes to remote port names")
            setattr(config, f"map_{direction}", {str(k): v for k, v in table.items()})
        return config

    @property
    def label(self) -> str:
        return f"{self.url} graph {self.graph}" if self.graph else self.url


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    taken, kept = {}, []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("secret", "graph", "window", "start", "extension"):
            taken[key] = value
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), taken


def _opt_str(options: Mapping, key: str) -> str | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LinkError(f"conf.{key} must be a string")
    return value


def _number(options: Mapping, key: str, default: Any, kind: type, low: float, high: float) -> Any:
    value = options.get(key, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise LinkError(f"conf.{key} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise LinkError(f"conf.{key} must be between {low} and {high}, got {number}")
    return number


def _flag(options: Mapping, key: str, default: bool) -> bool:
    value = options.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: ``initial * 2**(attempt-1)`` capped at ``maximum``,
    then a random value in its upper half, so retries never bunch and never come faster
    than ``initial / 2``."""
    ceiling = min(maximum, initial * (2 ** max(0, min(attempt - 1, 30))))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# ---------------------------------------------------------------------------------------------
# The listener interface
# ---------------------------------------------------------------------------------------------


class LinkListener:
    """What a link reports. Called from link threads; every method is optional.

    ``link_packet`` may block (that is the back-pressure of the remote's output) and
    returns False when the local side can take no more (the local network is stopping).
    """

    def link_state(self, state: str, info: dict) -> None: ...

    def link_report(self, info: dict) -> None:
        """Anything else worth a status line: retries, refusals, remote restarts, ports."""

    def link_error(self, info: dict) -> None:
        """Something went wrong that the graph may want to handle (``{type, message, ...}``)."""

    def link_packet(self, port: str, event: str, payload: Any) -> bool:
        return True


# ---------------------------------------------------------------------------------------------
# The link
# ---------------------------------------------------------------------------------------------


@dataclass
class _Out:
    """A packet in the send window."""

    seq: int
    port: str
    event: str
    payload: Any
    attempts: int = 0


@dataclass
class _In:
    """A packet from the remote waiting for delivery."""

    epoch: int
    seq: int
    port: str
    event: str
    payload: Any


class _Conn:
    """One negotiated connection."""

    def __init__(self, client: Client, number: int) -> None:
        self.client = client
        self.number = number
        self.mode = PLAIN
        #: The remote takes ``flowpy:packets`` (said in its welcome): many packets per frame.
        self.batch = False
        self.tag = f"L{number}-"
        self.lost = threading.Event()
        # the flowpy:hello exchange, settled by the reader thread (see Link._on_message)
        self.hello_id: str | None = None
        self.hello_done = threading.Event()
        self.hello_error: str | None = None
        self.welcome: dict | None = None
        self.restarted: str | None = None


class Link:
    """A self-healing link to one graph of one remote runtime. See the module docstring."""

    def __init__(
        self,
        config: LinkConfig,
        listener: LinkListener | None = None,
        name: str = "link",
        inports: Iterable[str] = (),
        outports: Iterable[str] = (),
        stop: threading.Event | None = None,
        close_budget: Callable[[float], float] | None = None,
    ) -> None:
        """``inports``/``outports``: remote exported ports this link must be able to use;
        a remote that lacks one (or does not let this secret use it) is a fatal error.
        ``stop``: the owner's stop event (a component's ``stopping``); once it is set, a
        connection the owner has not closed within ``close_timeout`` is cut.
        ``close_budget(close_timeout)``: how long closing may take now (a component's
        ``time_to_stop``, which keeps within the network's stop timeout)."""
        self.config = config
        self.stop = stop
        self._budget = close_budget or (lambda wanted: wanted)
        self.listener = listener or LinkListener()
        self.name = name
        self.required_in = list(dict.fromkeys(inports))
        self.required_out = list(dict.fromkeys(outports))
        self.state = CLOSED
        self.mode: str | None = None
        self.graph: str | None = config.graph
        self.remote: dict[str, Any] = {}  # the last runtime:runtime payload
        self.remote_ports: dict[str, Any] = {}  # the last runtime:ports of our graph
        self.fatal: str | None = None
        self.session = str(uuid.uuid4())
        self.stats = {
            "sent": 0, "acked": 0, "resent": 0, "received": 0, "duplicates": 0,
            "connects": 0, "handed_over": 0, "came_back": 0, "inbox_peak": 0,
            "debug": 0,  # debug (edge) messages received: the link has no use for them
        }
        self.remote_running: bool | None = None
        # send window
        self._cond = threading.Condition()
        self._window: deque[_Out] = deque()
        self._next_seq = 1
        self._written = 0  # highest seq written on the current connection
        self._write_lock = threading.Lock()
        self._conn: _Conn | None = None
        self._ready = threading.Event()  # set once the first connection is up (or fatal/closed)
        self._closing = threading.Event()
        self._wake = threading.Event()  # wakes the supervisor (loss or close)
        # inbound
        self._in_cond = threading.Condition()
        self._inbox: deque[_In] = deque()
        self._in_epoch = 0  # numbering epoch of the remote's outbound seqs (a new session: +1)
        self._in_seen = 0  # highest inbound seq queued (dedup)
        self._in_delivered = 0  # highest inbound seq handed to the listener (acked from here)
        self._in_acked = 0
        self._delivering = False
        self._instance: str | None = None  # the remote process (extension: welcome.instance)
        self._numbers = itertools.count(1)
        self._supervisor: threading.Thread | None = None
        self._deliverer: threading.Thread | None = None
        self._clients: list[Client] = []
        self._canonical: dict[str, str] = {}  # remote inport names by lower case
        self._silent_remote: str | None = None  # runtime id that never answered flowpy:hello
        #: When the remote network started, by our clock: (earliest, latest), from the uptime
        #: in network:status and the time the request took (plain mode's restart detection).
        self._remote_began: tuple[float, float] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Link:
        """Start connecting in the background; returns at once."""
        self._supervisor = threading.Thread(target=self._supervise, name=f"{self.name}-link")
        self._deliverer = threading.Thread(target=self._deliver, name=f"{self.name}-deliver")
        self._deliverer.start()
        self._supervisor.start()
        return self

    def wait_ready(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait for the first connection; False if the link closed (see ``fatal``) or ``stop``
        was set or ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._ready.wait(STOP_POLL if stop is not None else timeout):
                return self.fatal is None and not self._closing.is_set()
            if stop is not None and stop.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED

    def close(self, timeout: float | None = None, disconnect: Iterable[str] = ()) -> None:
        """Close cleanly: ``disconnect`` each given remote inport, say ``bye`` (extension),
        close the socket and join every thread, all within ``timeout`` (conf.close_timeout)."""
        budget = self._budget(self.config.close_timeout) if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._closing.set()  # first: nothing reconnects or delivers any more
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        with self._in_cond:
            self._in_cond.notify_all()
        conn = self._conn
        clean = False
        if conn is not None and not conn.lost.is_set() and self.fatal is None:
            clean = self._farewell(conn, list(disconnect), deadline)
        for client in list(self._clients):
            if not (clean and conn is not None and client is conn.client):
                client.abort()  # a writer may be stuck on a remote that reads nothing
            client.close(timeout=max(0.0, deadline - time.monotonic()))
        for thread in (self._supervisor, self._deliverer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.05, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("%s: thread %s did not end within %.1fs", self.name,
                                thread.name, budget)
        self._set_state(CLOSED, {"reason": self.fatal or "closed"})

    def _farewell(self, conn: _Conn, ports: list[str], deadline: float) -> bool:
        """disconnect packets and bye on a live connection, never past ``deadline``;
        True if all of it went out (and, extension, the remote said bye)."""
        graph = self.graph
        if not self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False  # another thread is stuck writing: the socket will be cut
        self._write_lock.release()
        conn.client.limit_blocking(deadline - time.monotonic())  # a remote that reads nothing
        try:
            for port in ports:
                with self._cond:
                    self._window.append(_Out(self._next_seq, port, "disconnect", None))
                    self._next_seq += 1
            self._pump()
            if conn.mode == EXTENSION:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    pending = conn.client.start_request(
                        "flowpy", "bye", {"graph": graph, "session": self.session},
                        expect=("bye",))
                    conn.client.wait(pending, timeout=remaining)
                else:
                    return False
        except ClientError as exc:
            log.debug("%s: farewell cut short: %s", self.name, exc)
            return False
        return not conn.lost.is_set()

    # -- sending --------------------------------------------------------------------------
    def send(self, port: str, event: str, payload: Any = None,
             stop: threading.Event | None = None) -> bool:
        """Queue one packet for remote inport ``port``; blocks while the window is full.

        False if the link is closed (or fatal) or ``stop`` was set while waiting.
        """
        return self.send_many([(port, event, payload)], stop) == 1

    def send_many(self, packets: list[tuple[str, str, Any]],
                  stop: threading.Event | None = None) -> int:
        """Queue packets in order, as many at a time as the window has room for; returns how
        many were queued (fewer only when closed or stopped)."""
        done = 0
        total = len(packets)
        while done < total:
            with self._cond:
                while len(self._window) >= self.config.window:
                    if self._closing.is_set() or self.fatal is not None:
                        return done
                    if stop is not None and stop.is_set():
                        return done
                    self._cond.wait(STOP_POLL if stop is not None else None)
                if self._closing.is_set() or self.fatal is not None:
                    return done
                room = min(total - done, self.config.window - len(self._window))
                for port, event, payload in packets[done:done + room]:
                    if event not in PACKET_EVENTS:
                        raise ValueError(f"unknown packet event {event!r}")
                    self._window.append(_Out(self._next_seq, port, event, payload))
                    self._next_seq += 1
                done += room
            self._pump()
        return done

    def flush(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait until every queued packet is acknowledged; False on close, stop or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._window:
                if self._closing.is_set() or self.fatal is not None:
                    return False
                if stop is not None and stop.is_set():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(STOP_POLL if remaining is None else min(STOP_POLL, remaining))
            return True

    @property
    def unacknowledged(self) -> int:
        with self._cond:
            return len(self._window)

    def _pump(self) -> None:
        """Write every window packet not yet written on the current connection, in order."""
        with self._write_lock:
            while True:
                with self._cond:
                    conn = self._conn
                    if conn is None or conn.lost.is_set() or not self._window:
                        return
                    first = self._window[0].seq
                    start = max(0, self._written - first + 1)
                    batch = list(itertools.islice(self._window, start, start + WRITE_BATCH))
                    if not batch:
                        return
                    self._written = batch[-1].seq
                try:
                    if conn.mode == EXTENSION and conn.batch:
                        conn.client.send("flowpy", "packets", {
                            "graph": self.graph,
                            "packets": [self._entry(packet) for packet in batch]})
                    else:
                        conn.client.send_many([self._message(conn, p) for p in batch])
                except ClientError as exc:
                    log.debug("%s: write failed: %s", self.name, exc)
                    self._lost(conn)
                    return
                for packet in batch:
                    packet.attempts += 1
                    if packet.attempts > 1:
                        self.stats["resent"] += 1
                self.stats["sent"] += len(batch)

    def _entry(self, packet: _Out) -> dict[str, Any]:
        """A packet as one entry of ``flowpy:packets`` (the graph is named once)."""
        port = self._canonical.get(packet.port.lower(), packet.port)
        entry: dict[str, Any] = {"port": port, "event": packet.event, "seq": packet.seq}
        if packet.payload is not None or packet.event == "data":
            entry["payload"] = wire.jsonable(packet.payload)
        return entry

    def _message(self, conn: _Conn, packet: _Out) -> tuple[str, str, dict, str | None]:
        body = {"graph": self.graph, **self._entry(packet)}
        if conn.mode == EXTENSION:
            return ("flowpy", "packet", body, None)
        del body["seq"]
        return ("runtime", "packet", body, f"{conn.tag}{packet.seq}")

    def _ack(self, conn: _Conn, seq: int) -> None:
        """The remote has taken every packet up to ``seq`` (cumulative)."""
        with self._cond:
            if conn is not self._conn:
                return
            window = self._window
            popped = 0
            while window and window[0].seq <= seq:
                packet = window.popleft()
                popped += 1
                if packet.event == "data":
                    self.stats["handed_over"] += 1
            if popped:
                self.stats["acked"] += popped
                self._cond.notify_all()

    # -- receiving ------------------------------------------------------------------------
    def _select_no_debug_edges(self, client: Client, runtime: dict, graph: str) -> None:
        """Ask for no edge debug data: while somebody debugs the remote graph, every
        client with ``network:data`` would get every IP of every edge, which costs the
        link bandwidth and parsing for nothing. ``network:edges []`` is standard, but only a
        flowpy remote is known to answer it (a request without an answer would stall the
        connect), so it is only asked of one."""
        if runtime.get("type") != "flowpy" or "network:data" not in (
                runtime.get("capabilities") or []):
            return
        try:
            client.request("network", "edges", {"graph": graph, "edges": []},
                           expect=("edges",))
        except RequestError as exc:  # not worth failing the link for
            log.info("%s: network:edges refused: %s", self.name, exc)

    def _on_message(self, conn: _Conn, message: dict) -> None:
        """Everything the client did not match to a request (reader thread)."""
        protocol, command = message.get("protocol"), message.get("command")
        payload = message.get("payload")
        if not isinstance(payload, dict):
            payload = {"message": payload} if command == "error" else {}
        response_to = message.get("responseTo")
        if conn.hello_id is not None and response_to == conn.hello_id:
            self._hello_reply(conn, command, payload)
            return
        if protocol == "flowpy":
            if conn.mode != EXTENSION:
                return
            if command == "packet":
                self._inbound(conn, payload)
            elif command == "packets":
                entries = payload.get("packets")
                for entry in entries if isinstance(entries, list) else ():
                    if isinstance(entry, dict):
                        self._inbound(conn, entry)
            elif command == "ack":
                seq = payload.get("seq")
                if isinstance(seq, int):
                    self._ack(conn, seq)
            elif command == "error":
                self._remote_error(conn, payload, "flowpy")
            return
        if protocol == "runtime":
            if command == "packetsent":
                self._packetsent(conn, response_to)
            elif command == "packet":
                if conn.mode != EXTENSION and payload.get("graph") == self.graph:
                    self._inbound(conn, payload)
            elif command == "error":
                self._remote_error(conn, payload, "runtime", response_to)
            return
        if protocol == "network" and command in DEBUG_COMMANDS:
            self.stats["debug"] += 1
            return
        if protocol == "network" and payload.get("graph") == self.graph:
            if command in ("started", "stopped"):
                running = bool(payload.get("running"))
                if running != self.remote_running:
                    self.remote_running = running
                    self._report({"type": "remote-network", "started": bool(payload.get("started")),
                                  "running": running})
            elif command == "error":
                self._error({"type": "remote", "message": str(payload.get("message", ""))})

    def _seq_of(self, conn: _Conn, response_to: Any) -> int | None:
        if isinstance(response_to, str) and response_to.startswith(conn.tag):
            try:
                return int(response_to[len(conn.tag):])
            except ValueError:
                return None
        return None

    def _packetsent(self, conn: _Conn, response_to: Any) -> None:
        seq = self._seq_of(conn, response_to)
        if seq is None and response_to is None:
            # A runtime without responseTo acknowledges in order: the oldest written packet.
            with self._cond:
                if self._window and self._window[0].seq <= self._written:
                    seq = self._window[0].seq
        if seq is not None:
            self._ack(conn, seq)

    def _remote_error(self, conn: _Conn, payload: dict, protocol: str,
                      response_to: Any = None) -> None:
        message = str(payload.get("message", ""))
        info: dict[str, Any] = {"type": "remote", "message": message}
        seq = payload.get("seq") if protocol == "flowpy" else self._seq_of(conn, response_to)
        if isinstance(seq, int):
            packet = self._find(seq)
            if packet is not None:
                info.update(port=packet.port, event=packet.event)
                if packet.payload is not None:
                    info["payload"] = wire.jsonable(packet.payload)
            info["type"] = "packet"
            self._ack(conn, seq)  # the remote will not take it; it is not retried
        self._error(info)

    def _find(self, seq: int) -> _Out | None:
        with self._cond:
            for packet in self._window:
                if packet.seq == seq:
                    return packet
        return None

    def _inbound(self, conn: _Conn, payload: dict) -> None:
        port, event = payload.get("port"), payload.get("event")
        if not isinstance(port, str) or event not in PACKET_EVENTS:
            return
        seq = payload.get("seq") if conn.mode == EXTENSION else 0
        if not isinstance(seq, int):
            return
        with self._in_cond:
            if conn.mode == EXTENSION:
                if seq <= self._in_seen:
                    self.stats["duplicates"] += 1
                    return
                if seq != self._in_seen + 1:
                    log.warning("%s: gap in the remote's packets (%d after %d)", self.name, seq,
                                self._in_seen)
                self._in_seen = seq
            else:
                # Plain mode has no remote window: the reader waits here when the local side
                # is slow, so the socket is not read and TCP slows the remote down.
                while (len(self._inbox) >= self.config.window and not self._closing.is_set()
                       and not conn.lost.is_set()):
                    self._in_cond.wait()
            self._inbox.append(_In(self._in_epoch, seq, port, event, payload.get("payload")))
            if len(self._inbox) > self.stats["inbox_peak"]:
                self.stats["inbox_peak"] = len(self._inbox)
            if len(self._inbox) == 1:
                self._in_cond.notify_all()

    def _deliver(self) -> None:
        """The delivery thread: remote packets to the listener, then (extension) acks."""
        ack_every = max(1, self.config.window // 4)
        while True:
            with self._in_cond:
                while not self._inbox and not self._closing.is_set():
                    self._delivering = False
                    self._in_cond.wait()
                if self._closing.is_set():
                    return
                item = self._inbox.popleft()
                self._delivering = True
                if len(self._inbox) == self.config.window - 1:
                    self._in_cond.notify_all()  # a plain-mode reader may be waiting for room
            self.stats["received"] += 1
            if item.event == "data":
                self.stats["came_back"] += 1
            try:
                keep_going = self.listener.link_packet(item.port, item.event, item.payload)
            except Exception:
                log.exception("%s: delivering a remote packet failed", self.name)
                keep_going = True
            if keep_going is False:
                return
            with self._in_cond:
                if item.epoch == self._in_epoch and item.seq:
                    self._in_delivered = item.seq
                due = self._in_delivered - self._in_acked
                idle = not self._inbox
            if due >= ack_every or (due and idle):
                self._send_ack()

    def _send_ack(self) -> None:
        conn = self._conn
        if conn is None or conn.mode != EXTENSION or conn.lost.is_set():
            return
        with self._in_cond:
            seq = self._in_delivered
            if seq <= self._in_acked:
                return
            self._in_acked = seq
        try:
            conn.client.send("flowpy", "ack", {"graph": self.graph, "session": self.session,
                                               "seq": seq})
        except ClientError:
            pass  # the next connection's welcome says what the remote has; it replays the rest

    @property
    def idle(self) -> bool:
        """True when nothing from the remote waits for delivery."""
        with self._in_cond:
            return not self._inbox and not self._delivering

    # -- the supervisor ---------------------------------------------------------------------
    def _supervise(self) -> None:
        attempt = 0
        refused_streak = False
        state = CONNECTING
        try:
            while not self._closing.is_set():
                self._set_state(state, {"attempt": attempt + 1})
                try:
                    conn = self._connect()
                except _Closing:
                    return
                except LinkError as exc:
                    self._fail(str(exc))
                    return
                except _Refused as exc:
                    attempt += 1
                    delay = backoff_delay(attempt, self.config.reconnect_initial,
                                          self.config.reconnect_max)
                    self._report({"type": "refused", "message": str(exc), "attempt": attempt,
                                  "retry_in": round(delay, 3)})
                    if not refused_streak:
                        self._error({"type": "refused", "message": str(exc)})
                    refused_streak = True
                    self._closing.wait(delay)
                    continue
                except (ClientError, OSError) as exc:
                    attempt += 1
                    delay = backoff_delay(attempt, self.config.reconnect_initial,
                                          self.config.reconnect_max)
                    self._report({"type": "retry", "message": str(exc), "attempt": attempt,
                                  "retry_in": round(delay, 3)})
                    self._closing.wait(delay)
                    continue
                attempt = 0
                refused_streak = False
                self._ready.set()
                self._pump()  # replay what the remote has not acknowledged, then new packets
                self._send_ack()
                while not self._closing.is_set() and not conn.lost.is_set():
                    if self.stop is None:
                        self._wake.wait()
                    elif not self._wake.wait(STOP_POLL) and self.stop.is_set():
                        self._stop_watch(conn)
                    self._wake.clear()
                if self._closing.is_set():
                    return
                if self.stop is not None and self.stop.is_set():
                    self._lost(conn)
                    return  # the owner is stopping: no reconnecting; close() joins us
                reason = conn.client.close_reason or "connection lost"
                self._lost(conn)
                state = RECONNECTING
                self._set_state(state, {"reason": reason})
                attempt = 1
                delay = backoff_delay(attempt, self.config.reconnect_initial,
                                      self.config.reconnect_max)
                self._closing.wait(delay)
        except Exception as exc:  # a bug here must not hang the Bridge: report and close
            log.exception("%s: link supervisor failed", self.name)
            self._fail(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._ready.set()

    def _stop_watch(self, conn: _Conn) -> None:
        """The local network is stopping: if nobody closes this link within close_timeout
        (its owner may be stuck writing to a remote that reads nothing), cut the socket."""
        budget = self._budget(self.config.close_timeout)
        if not self._closing.wait(budget):
            log.warning("%s: not closed %.1fs after the stop: cutting the connection",
                        self.name, budget)
            conn.client.abort()

    def _fail(self, message: str) -> None:
        self.fatal = message
        self._error({"type": "fatal", "message": message})
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        self._ready.set()

    def _lost(self, conn: _Conn) -> None:
        """The connection is gone (reader ended or a write failed)."""
        if conn.lost.is_set():
            return
        conn.lost.set()
        with self._cond:
            if self._conn is conn:
                self._conn = None
            self._cond.notify_all()
        with self._in_cond:
            self._in_cond.notify_all()
        conn.client.close(timeout=1.0)
        self._wake.set()

    def _connect(self) -> _Conn:
        """Connect, authenticate, negotiate, check ports, start the remote network."""
        config = self.config
        number = next(self._numbers)
        holder: list[_Conn] = []
        client = Client(
            config.url, config.secret, timeout=config.timeout, name=f"{self.name}-{number}",
            on_message=lambda message: self._on_message(holder[0], message),
            on_close=lambda _client: self._on_close(holder[0]),
        )
        conn = _Conn(client, number)
        holder.append(conn)
        self._clients = [c for c in self._clients if not c.closed.is_set()] + [client]
        client.connect()
        try:
            if self._closing.is_set():
                raise _Closing()
            self._negotiate(conn)
        except BaseException:
            conn.lost.set()
            client.close(timeout=1.0)
            raise
        return conn

    def _on_close(self, conn: _Conn) -> None:
        conn.lost.set()
        conn.hello_done.set()
        with self._in_cond:
            self._in_cond.notify_all()
        with self._cond:
            self._cond.notify_all()
            current = self._conn is conn
        if current:
            self._wake.set()

    def _negotiate(self, conn: _Conn) -> None:
        client, config = conn.client, self.config
        runtime = client.getruntime()
        self.remote = runtime
        capabilities = runtime.get("capabilities") or []
        if "protocol:runtime" not in capabilities:
            raise _Refused(
                f"{config.url} does not let this secret send or receive packets "
                f"(capabilities: {', '.join(capabilities) or 'none'}); wrong secret?")
        graph = config.graph or runtime.get("graph")
        if not graph:
            raise LinkError(f"{config.url} has no main graph: set conf.graph")
        self.graph = graph
        status: dict | None = None
        asked = time.monotonic()
        try:  # also a barrier: runtime:ports (sent after runtime:runtime) has arrived by now
            status = client.network_status(graph)
        except RequestError as exc:
            if "not found" in exc.message.lower():
                raise LinkError(f"remote graph {graph!r} not found on {config.url}") from None
        began = _network_began(status, asked, time.monotonic())
        ports = client.ports.get(graph)
        if ports is None and status is None and (self.required_in or self.required_out):
            raise LinkError(f"remote graph {graph!r} not found on {config.url} "
                            "(or it exports no port this secret may use)")
        ports = ports or {"inPorts": [], "outPorts": []}
        self.remote_ports = ports
        self._check_ports(graph, ports)
        self._select_no_debug_edges(client, runtime, graph)

        restarted: str | None = None
        resume_from = 0
        silent = self._silent_remote is not None and self._silent_remote == runtime.get("id")
        if config.extension and not silent and self._hello(conn, graph):
            restarted = conn.restarted
            assert conn.welcome is not None
            received = conn.welcome.get("received")
            resume_from = received if isinstance(received, int) and conn.welcome.get(
                "resumed") else 0
        if conn.mode == PLAIN:
            was = self.remote_running
            if status is not None:
                self.remote_running = bool(status.get("running"))
            if self.stats["connects"] and was and status is not None and not status.get("started"):
                restarted = "the remote network was not running when the link came back " \
                            "(the remote restarted or its network was stopped)"
            elif began is not None and self._remote_began is not None \
                    and began[0] > self._remote_began[1]:
                restarted = "the remote network started again while the link was down " \
                            "(its uptime is shorter than the link's absence)"
        self._remote_began = began
        if restarted:
            self._report_restart(restarted)
        if config.start and status is not None and not status.get("running"):
            try:
                asked = time.monotonic()
                client.start_network(graph)
                self._remote_began = (asked - 0.01, time.monotonic() + 0.01)
                self.remote_running = True
            except RequestError as exc:
                self._error({"type": "remote", "message": f"cannot start {graph}: {exc.message}"})
        elif config.start and status is None:
            self._error({"type": "remote", "message": (
                f"conf.start: cannot tell whether {graph} runs (network:getstatus refused); "
                "not starting it")})
        with self._cond:
            if self._closing.is_set():
                raise _Closing()
            if conn.lost.is_set():
                raise ConnectionClosed(f"{config.url}: {client.close_reason or 'closed'}")
            # Everything the remote has not taken goes (again), in its original order.
            self._written = resume_from
            self._conn = conn
            self.mode = conn.mode
            self.stats["connects"] += 1
        self._set_state(CONNECTED, {"mode": conn.mode, "graph": graph,
                                    "runtime": runtime.get("id"), "label": runtime.get("label")})

    def _check_ports(self, graph: str, ports: dict) -> None:
        self._canonical = {str(p.get("id")).lower(): str(p.get("id"))
                           for p in ports.get("inPorts") or []}
        offered_in = set(self._canonical)
        offered_out = {str(p.get("id")).lower() for p in ports.get("outPorts") or []}
        for direction, wanted, offered in (("inport", self.required_in, offered_in),
                                           ("outport", self.required_out, offered_out)):
            missing = [p for p in wanted if p.lower() not in offered]
            if missing:
                verb = "send to" if direction == "inport" else "receive from"
                raise LinkError(
                    f"remote graph {graph!r} has no exported {direction} "
                    f"{', '.join(repr(p) for p in missing)} that this secret may {verb} "
                    f"(it offers: {', '.join(sorted(offered)) or 'none'})")

    def _hello(self, conn: _Conn, graph: str) -> bool:
        """flowpy:hello; True once welcomed, False to fall back to plain runtime:packet.

        The welcome is applied by the reader thread the moment it arrives (``_hello_reply``),
        before any replayed ``flowpy:packet`` that follows it is read, so the window and the
        inbound numbering are right for every packet of the session.
        """
        conn.hello_id = f"{conn.tag}hello"
        try:
            conn.client.send("flowpy", "hello",
                             {"version": 1, "session": self.session, "graph": graph,
                              "window": self.config.window, "batch": True},
                             request_id=conn.hello_id)
        except ClientError:
            raise
        welcomed = conn.hello_done.wait(self.config.hello_timeout)
        with self._in_cond:
            if not welcomed:
                conn.hello_error = f"no answer to flowpy:hello in {self.config.hello_timeout}s"
                # a runtime that ignores unknown messages: do not wait again at every reconnect
                self._silent_remote = self.remote.get("id") or None
            conn.hello_id = None  # a late answer is ignored
        if conn.lost.is_set():
            raise ConnectionClosed(f"{self.config.url}: {conn.client.close_reason or 'closed'}")
        if conn.mode == EXTENSION:
            return True
        self._report({"type": "mode", "mode": PLAIN,
                      "message": f"no link extension: {conn.hello_error}"})
        return False

    def _hello_reply(self, conn: _Conn, command: str | None, payload: dict) -> None:
        """The answer to flowpy:hello (reader thread)."""
        with self._in_cond:
            if conn.hello_id is None or conn.hello_done.is_set():
                return
            if command == "welcome":
                conn.welcome = payload
                conn.restarted = self._welcomed(payload)
                conn.mode = EXTENSION
                conn.batch = payload.get("batch") is True
            else:
                conn.hello_error = str(payload.get("message", command))
            conn.hello_done.set()

    def _welcomed(self, welcome: dict) -> str | None:
        """Apply a welcome to the window and the inbound numbering; a restart reason or None.

        Runs in the reader thread holding ``_in_cond``.
        """
        instance = welcome.get("instance")
        resumed = bool(welcome.get("resumed"))
        received = welcome.get("received") if isinstance(welcome.get("received"), int) else 0
        acked = welcome.get("acked") if isinstance(welcome.get("acked"), int) else 0
        restarted = None
        if self._instance is not None and (instance != self._instance or not resumed):
            restarted = ("the remote runtime restarted (new instance)" if instance != self._instance
                         else "the remote lost this link's session")
        self._instance = instance
        with self._cond:
            if resumed:
                window = self._window
                while window and window[0].seq <= received:
                    packet = window.popleft()
                    self.stats["acked"] += 1
                    if packet.event == "data":
                        self.stats["handed_over"] += 1
            else:
                # A new session on the remote: both numberings start again at 1.
                for number, packet in enumerate(self._window, start=1):
                    packet.seq = number
                self._next_seq = len(self._window) + 1
            self._cond.notify_all()
        if resumed:
            self._in_acked = min(self._in_acked, acked)
        else:
            self._in_epoch += 1
            self._in_seen = self._in_delivered = self._in_acked = 0
        return restarted

    def _report_restart(self, reason: str) -> None:
        handed, back = self.stats["handed_over"], self.stats["came_back"]
        info = {"type": "remote-restart", "message": reason, "handed_over": handed,
                "came_back": back, "unaccounted": max(0, handed - back)}
        self._report(info)
        if handed > back:
            self._error({"type": "lost", "message": (
                f"{reason}: {handed - back} of the {handed} data packets it had accepted did "
                "not come back and are presumed lost inside it"), "unaccounted": handed - back})
        self.stats["handed_over"] = self.stats["came_back"] = 0

    # -- reporting ------------------------------------------------------------------------
    def _set_state(self, state: str, info: dict) -> None:
        with self._cond:
            previous = self.state
            if previous == state or (self._closing.is_set() and state != CLOSED):
                return
            self.state = state
        report = {"state": state, "previous": previous, "url": self.config.url}
        if self.graph:
            report["graph"] = self.graph
        report.update(info)
        try:
            self.listener.link_state(state, report)
        except Exception:
            log.exception("%s: link_state listener failed", self.name)

    def _report(self, info: dict) -> None:
        try:
            self.listener.link_report(info)
        except Exception:
            log.exception("%s: link_report listener failed", self.name)

    def _error(self, info: dict) -> None:
        log.info("%s: %s", self.name, info.get("message"))
        try:
            self.listener.link_error(info)
        except Exception:
            log.exception("%s: link_error listener failed", self.name)


# ---------------------------------------------------------------------------------------------
# A process driving a link: what the Bridge and remote/NAME components share
# ---------------------------------------------------------------------------------------------

def _network_began(status: dict | None, asked: float, answered: float,
                   ) -> tuple[float, float] | None:
    """When a remote network started, as an interval of our monotonic clock, from the
    ``uptime`` of a ``network:status`` asked at ``asked`` and answered at ``answered``
    (uptime is rounded: allow 10 ms either way). None if the status does not say."""
    if status is None or not status.get("started"):
        return None
    uptime = status.get("uptime")
    if not isinstance(uptime, (int, float)) or isinstance(uptime, bool) or uptime < 0:
        return None
    return asked - uptime - 0.01, answered - uptime + 0.01


class ProcessLink(LinkListener):
    """Runs one :class:`Link` for a running component: local inports → remote inports,
    remote outports → local outports, with the stop rules of the engine.

    ``inputs`` maps remote inport names to bound local inports (one feeder each: the first
    on the process thread, the others on threads named ``<node>-in-<port>``); ``outputs``
    maps remote outport names (any case) to bound local outports. Subclasses say where
    status, errors and packets of unmapped ports go.

    The process ends when every input has ended, everything sent is acknowledged and the
    remote network has stopped (or nothing is mapped out); or when the local network stops,
    in which case the link sends ``disconnect`` for every input still open, says ``bye`` and
    closes within ``close_timeout``.
    """

    def __init__(self, component: Any, config: LinkConfig, inputs: Mapping[str, Any],
                 outputs: Mapping[str, Any]) -> None:
        self.component = component
        self.stopping: threading.Event = component.stopping
        self.config = config
        self.inputs = dict(inputs)
        self.outputs = {name.lower(): port for name, port in outputs.items()}
        self.link = Link(config, self, name=component.node_id, inports=list(self.inputs),
                         outports=list(outputs), stop=self.stopping,
                         close_budget=component.time_to_stop)
        self._open_inputs: set[str] = set()
        self._lock = threading.Lock()
        self._out_done: set[str] = set()  # mapped remote outports that have disconnected
        self._remote_ended = threading.Event()

    # -- hooks for subclasses --------------------------------------------------------------
    def status(self, info: dict) -> None:
        log.info("%s: %s", self.component.node_id, info)

    def error(self, info: dict) -> None:
        log.warning("%s: %s", self.component.node_id, info.get("message"))

    def unmapped(self, port: str, event: str, payload: Any) -> None:
        """A packet from a remote outport nothing local is connected to (dropped)."""

    # -- LinkListener ---------------------------------------------------------------------
    def link_state(self, state: str, info: dict) -> None:
        self._safely(self.status, {"type": "state", **info})

    def link_report(self, info: dict) -> None:
        if info.get("type") == "remote-network":
            if info.get("running"):
                self._remote_ended.clear()
            else:
                self._remote_ended.set()
        self._safely(self.status, info)

    def link_error(self, info: dict) -> None:
        self._safely(self.error, info)

    def link_packet(self, port: str, event: str, payload: Any) -> bool:
        from flowpy.engine.connection import NetworkStopped

        if event in ("connect", "disconnect"):
            with self._lock:
                if event == "connect":
                    self._out_done.discard(port.lower())
                    self._remote_ended.clear()
                else:
                    self._out_done.add(port.lower())
                    if self._out_done >= set(self.outputs):
                        self._remote_ended.set()
            self._safely(self.status, {"type": "port", "port": port, "event": event})
            return not self.stopping.is_set()
        target = self.outputs.get(port.lower())
        if target is None:
            self._safely(self.unmapped, port, event, payload)
            return not self.stopping.is_set()
        try:
            target.send(ip_of(event, payload))
        except NetworkStopped:
            return False
        return True

    def _safely(self, hook: Any, *args: Any) -> None:
        from flowpy.engine.connection import NetworkStopped

        try:
            hook(*args)
        except NetworkStopped:
            pass  # the local network is stopping: nobody reads status/error any more
        except Exception:
            log.exception("%s: reporting failed", self.component.node_id)

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """The whole life of the link; raises LinkError when the remote cannot serve us."""
        link = self.link.start()
        try:
            if not link.wait_ready(self.stopping):
                if link.fatal is not None:
                    raise LinkError(link.fatal)
                return
            self._feed_all()
            if self.stopping.is_set() or link.fatal is not None:
                return
            # Every input has ended: let the remote take it all, then wait for its end.
            link.flush(self.stopping)
            if not self.outputs:
                return
            while not self.stopping.is_set() and link.fatal is None:
                if self._remote_ended.wait(STOP_POLL) and link.idle:
                    return
        finally:
            with self._lock:
                still_open = sorted(self._open_inputs)
            link.close(disconnect=still_open)
            if link.fatal is not None and not self.stopping.is_set():
                raise LinkError(link.fatal)

    def _feed_all(self) -> None:
        names = list(self.inputs)
        if not names:
            return
        threads = [
            threading.Thread(target=self._feed, args=(name,),
                             name=f"{self.component.node_id}-in-{name}")
            for name in names[1:]
        ]
        for thread in threads:
            thread.start()
        try:
            self._feed(names[0])
        finally:
            for thread in threads:
                thread.join()  # they end at end-of-stream, at a stop or when the link closes

    def _feed(self, remote: str) -> None:
        """One local input → one remote inport: connect, the IPs in order, disconnect."""
        from flowpy.engine.connection import EndOfStream, NetworkStopped

        port, link, stop = self.inputs[remote], self.link, self.stopping
        started = False
        try:
            while not stop.is_set():
                try:
                    batch = port.recv_many(64)
                except EndOfStream:
                    break
                packets = [(remote, *event_of(ip)) for ip in batch]
                if not started:
                    packets.insert(0, (remote, "connect", None))
                    started = True
                    with self._lock:
                        self._open_inputs.add(remote)
                if link.send_many(packets, stop) < len(packets):
                    return
            if started and not stop.is_set() and link.send(remote, "disconnect", None, stop):
                with self._lock:
                    self._open_inputs.discard(remote)
        except NetworkStopped:
            return
