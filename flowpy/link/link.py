"""A link from a local process to a graph on another runtime: the Bridge's supervisor and sender.

A :class:`Link` keeps one WebSocket connection to the remote alive while the local process
runs and moves packets both ways. Invariants: at most ``window`` packets are unacknowledged
(``send`` blocks beyond, so back-pressure reaches upstream); what is unacknowledged is sent
again, in order, after a reconnect; what the remote emits is read no faster than the
listener takes it. docs/bridge.md has the states and reports users see,
docs/architecture.md ("A Bridge link") the modes, threads and sibling modules.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

from .client import Client, ClientError, ConnectionClosed
from .config import STOP_POLL, LinkConfig, LinkError, backoff_delay
from .inbox import Inbox
from .listener import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    GRAPH_MISSING,
    RECONNECTING,
    STATE_LEVELS,
    LinkListener,
)
from .negotiate import EXTENSION, GraphMissing, LinkConnection, Negotiator, Refused
from .router import Router
from .window import SendWindow

log = logging.getLogger(__name__)


class _Closing(Exception):
    """The link is being closed while connecting (control flow, not an error)."""


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
        self.state = CLOSED
        self.mode: str | None = None
        self.fatal: str | None = None
        self.session = str(uuid.uuid4())
        self.stats = {
            "sent": 0,
            "acked": 0,
            "resent": 0,
            "received": 0,
            "duplicates": 0,
            "connects": 0,
            "handed_over": 0,
            "came_back": 0,
            "inbox_peak": 0,
            "debug": 0,  # debug (edge) messages received: the link has no use for them
        }
        self.window = SendWindow(config.window, self.stats)
        self.inbox = Inbox(config.window, self.stats, name)
        self.negotiator = Negotiator(
            config, self.session, name, inports, outports, self._welcomed, self._report, self._error
        )
        self.router = Router(
            self.window, self.inbox, self.negotiator, self.stats, self._report, self._error
        )
        self._state_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ready = threading.Event()  # set once the first connection is up (or fatal/closed)
        self._closing = threading.Event()
        self._wake = threading.Event()  # wakes the supervisor (loss or close)
        self._numbers = itertools.count(1)
        self._supervisor: threading.Thread | None = None
        self._deliverer: threading.Thread | None = None
        self._clients: list[Client] = []

    # -- what the negotiation found out ----------------------------------------------------
    @property
    def graph(self) -> str | None:
        """The remote graph this link feeds (negotiated when not configured)."""
        return self.negotiator.graph

    @property
    def remote(self) -> dict[str, Any]:
        """The last ``runtime:runtime`` payload of the remote."""
        return self.negotiator.remote

    @property
    def remote_ports(self) -> dict[str, Any]:
        """The last ``runtime:ports`` of the remote graph."""
        return self.negotiator.remote_ports

    @property
    def remote_running(self) -> bool | None:
        """Whether the remote network ran when last heard of (None: not known yet)."""
        return self.negotiator.remote_running

    @property
    def started_network(self) -> bool:
        """This link started the remote network's current run (``conf.start``)."""
        return self.negotiator.started_network

    @property
    def _conn(self) -> LinkConnection | None:
        return cast("LinkConnection | None", self.window.connection)

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
        """Whether a connection is up and negotiated now."""
        return self.state == CONNECTED

    def close(self, timeout: float | None = None, disconnect: Iterable[str] = ()) -> None:
        """Close cleanly: ``disconnect`` each given remote inport, say ``bye`` (extension),
        close the socket and join every thread, all within ``timeout`` (conf.close_timeout)."""
        budget = self._budget(self.config.close_timeout) if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._closing.set()  # first: nothing reconnects or delivers any more
        self._wake.set()
        conn = self._conn
        self.window.close()
        self.inbox.close()
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
                    log.warning(
                        "%s: thread %s did not end within %.1fs", self.name, thread.name, budget
                    )
        self._set_state(CLOSED, {"reason": self.fatal or "closed"})

    def _farewell(self, conn: LinkConnection, ports: list[str], deadline: float) -> bool:
        """disconnect packets and bye on a live connection, never past ``deadline``;
        True if all of it went out (and, extension, the remote said bye)."""
        conn.client.limit_blocking(deadline - time.monotonic())  # a remote that reads nothing
        try:
            for port in ports:
                self.window.put_now(port, "disconnect")
            # a writer stuck on a remote that reads nothing holds this one: the socket is cut
            self._pump(timeout=max(0.0, deadline - time.monotonic()))
            if conn.mode == EXTENSION:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    pending = conn.client.start_request(
                        "flowpy",
                        "bye",
                        {"graph": self.graph, "session": self.session},
                        expect=("bye",),
                    )
                    conn.client.wait(pending, timeout=remaining)
                else:
                    return False
        except ClientError as exc:
            log.debug("%s: farewell cut short: %s", self.name, exc)
            return False
        return not conn.lost.is_set()

    # -- sending --------------------------------------------------------------------------
    def send(
        self, port: str, event: str, payload: Any = None, stop: threading.Event | None = None
    ) -> bool:
        """Queue one packet for remote inport ``port``; blocks while the window is full.

        False if the link is closed (or fatal) or ``stop`` was set while waiting.
        """
        return self.send_many([(port, event, payload)], stop) == 1

    def send_many(
        self, packets: list[tuple[str, str, Any]], stop: threading.Event | None = None
    ) -> int:
        """Queue packets in order, as many at a time as the window has room for; returns how
        many were queued (fewer only when closed or stopped)."""
        done = 0
        while done < len(packets):
            queued = self.window.put(packets[done:] if done else packets, stop)
            if not queued:
                return done
            done += queued
            self._pump()
        return done

    def flush(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait until every queued packet is acknowledged; False on close, stop or timeout."""
        return self.window.flush(stop, timeout)

    @property
    def unacknowledged(self) -> int:
        """How many packets are sent or queued and not yet acknowledged."""
        return len(self.window)

    def _pump(self, timeout: float | None = None) -> None:
        """Write the window packets not yet written on the current connection that the
        remote has room for, in order; a sender's way (it waits for the socket)."""
        while True:
            queued = self._queue_next()
            if queued is None:
                return
            conn, upto = queued
            try:
                if upto is None:
                    raise ConnectionClosed("the connection is closed")
                conn.client.flush(upto, timeout)
            except ClientError as exc:
                log.debug("%s: write failed: %s", self.name, exc)
                self._lost(conn)
                return

    def _refill(self, conn: LinkConnection) -> None:
        """The reader hook of ``conn``: the acks it just read made room, so what the window
        holds goes out now, from this thread, never waiting for the socket (the flusher
        thread writes what the socket does not take at once)."""
        while self.window.connection is conn:
            queued = self._queue_next()
            if queued is None or queued[1] is None:
                return  # nothing to write, or closed: on_close tells the supervisor
            queued[0].client.flush_nowait()

    def _queue_next(self) -> tuple[LinkConnection, int | None] | None:
        """Take the next packets to write from the window and queue them on the current
        connection, under the write lock (so batches are queued in window order); the
        connection and their place in line (None: it is closed), None if there is nothing
        to write."""
        with self._write_lock:
            taken = self.window.take()
            if taken is None:
                return None
            conn, batch = taken
            try:
                upto = conn.queue(self.graph, batch, self.negotiator.port_name)
            except ClientError as exc:
                log.debug("%s: write failed: %s", self.name, exc)
                return conn, None
            self.window.count_written(batch)
            return conn, upto

    # -- receiving (what arrives is sorted by the Router: .router) -------------------------
    def _deliver(self) -> None:
        """The delivery thread: remote packets to the listener, then (extension) acks."""
        # a listener that takes many packets at once (ProcessLink) is handed what arrived
        self.inbox.deliver(
            self.listener.link_packet, self._send_ack, getattr(self.listener, "link_packets", None)
        )

    def _send_ack(self) -> None:
        conn = self._conn
        if conn is None or conn.mode != EXTENSION or conn.lost.is_set():
            return
        seq = self.inbox.take_ack()
        if seq is None:
            return
        try:
            conn.client.send(
                "flowpy", "ack", {"graph": self.graph, "session": self.session, "seq": seq}
            )
        except ClientError:
            pass  # the next connection's welcome says what the remote has; it replays the rest

    @property
    def idle(self) -> bool:
        """True when nothing from the remote waits for delivery."""
        return self.inbox.idle

    def _welcomed(self, resumed: bool, received: int, acked: int) -> None:
        """A welcome, applied in the reader thread before the packets that follow it."""
        self.window.welcome(resumed, received)
        self.inbox.welcome(resumed, acked)

    # -- the supervisor ---------------------------------------------------------------------
    def _supervise(self) -> None:
        attempt = 0
        refused_streak = False
        state = CONNECTING
        try:
            while not self._closing.is_set():
                if self.state != GRAPH_MISSING:  # that state lasts until the graph is back
                    self._set_state(state, {"attempt": attempt + 1})
                try:
                    conn = self._connect()
                except _Closing:
                    return
                except GraphMissing as exc:
                    if not self.stats["connects"]:
                        self._fail(str(exc))  # never there: a configuration error
                        return
                    attempt += 1
                    delay = self._backoff(attempt)
                    info = {"message": str(exc), "attempt": attempt, "retry_in": round(delay, 3)}
                    if self.state != GRAPH_MISSING:
                        self._set_state(GRAPH_MISSING, {"reason": str(exc), **info})
                        self._error({"type": "graph-missing", **info})
                    else:
                        self._report({"type": "retry", **info})
                    self._closing.wait(delay)
                    continue
                except LinkError as exc:
                    self._fail(str(exc))
                    return
                except Refused as exc:
                    attempt += 1
                    delay = self._backoff(attempt)
                    self._report(
                        {
                            "type": "refused",
                            "message": str(exc),
                            "attempt": attempt,
                            "retry_in": round(delay, 3),
                        }
                    )
                    if not refused_streak:
                        self._error({"type": "refused", "message": str(exc)})
                    refused_streak = True
                    self._closing.wait(delay)
                    continue
                except (ClientError, OSError) as exc:
                    attempt += 1
                    delay = self._backoff(attempt)
                    if self.state == GRAPH_MISSING:  # the remote itself is gone again
                        self._set_state(RECONNECTING, {"reason": str(exc), "attempt": attempt})
                    self._report(
                        {
                            "type": "retry",
                            "message": str(exc),
                            "attempt": attempt,
                            "retry_in": round(delay, 3),
                        }
                    )
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
                delay = self._backoff(attempt)
                self._closing.wait(delay)
        except Exception as exc:  # a bug here must not hang the Bridge: report and close
            log.exception("%s: link supervisor failed", self.name)
            self._fail(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._ready.set()

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.config.reconnect_initial, self.config.reconnect_max)

    def _stop_watch(self, conn: LinkConnection) -> None:
        """The local network is stopping: if nobody closes this link within close_timeout
        (its owner may be stuck writing to a remote that reads nothing), cut the socket."""
        budget = self._budget(self.config.close_timeout)
        if not self._closing.wait(budget):
            log.warning(
                "%s: not closed %.1fs after the stop: cutting the connection", self.name, budget
            )
            conn.client.abort()

    def _fail(self, message: str) -> None:
        self.fatal = message
        self._error({"type": "fatal", "message": message})
        self._closing.set()
        self.window.close()
        self.inbox.close()
        self._ready.set()

    def _lost(self, conn: LinkConnection) -> None:
        """The connection is gone (reader ended or a write failed)."""
        if conn.lost.is_set():
            return
        conn.lost.set()
        self.window.detach(conn)
        self.inbox.wake()
        conn.client.close(timeout=1.0)
        self._wake.set()

    def _connect(self) -> LinkConnection:
        """Connect, authenticate, negotiate, check ports, start the remote network."""
        config = self.config
        number = next(self._numbers)
        holder: list[LinkConnection] = []
        client = Client(
            config.url,
            config.secret,
            timeout=config.timeout,
            name=f"{self.name}-{number}",
            on_message=lambda message: self.router.route(holder[0], message),
            on_close=lambda _client: self._on_close(holder[0]),
        )
        client.on_batch = lambda messages: self.router.route_many(holder[0], messages)
        conn = LinkConnection(client, number)
        client.add_reader_hook(lambda: self._refill(conn))
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

    def _on_close(self, conn: LinkConnection) -> None:
        conn.lost.set()
        conn.hello_done.set()
        self.inbox.wake()
        if self.window.is_current(conn):
            self._wake.set()

    def _negotiate(self, conn: LinkConnection) -> None:
        """Negotiate (see :mod:`.negotiate`), report a remote restart, start the remote
        network if asked to, then write to this connection: what the remote has not taken
        first, in its original order."""
        client, config = conn.client, self.config
        status, restarted = self.negotiator.negotiate(conn, first=not self.stats["connects"])
        if restarted:
            self._report_restart(restarted)
        self.negotiator.start_remote(client, status)

        def still_wanted() -> None:
            if self._closing.is_set():
                raise _Closing()
            if conn.lost.is_set():
                raise ConnectionClosed(f"{config.url}: {client.close_reason or 'closed'}")

        self.window.attach(conn, still_wanted)
        self.mode = conn.mode
        self.stats["connects"] += 1
        runtime = self.remote
        self._set_state(
            CONNECTED,
            {
                "mode": conn.mode,
                "graph": self.graph,
                "runtime": runtime.get("id"),
                "label": runtime.get("label"),
            },
        )

    def _report_restart(self, reason: str) -> None:
        handed, back = self.stats["handed_over"], self.stats["came_back"]
        info = {
            "type": "remote-restart",
            "message": reason,
            "handed_over": handed,
            "came_back": back,
            "unaccounted": max(0, handed - back),
        }
        self._report(info)
        if handed > back:
            self._error(
                {
                    "type": "lost",
                    "message": (
                        f"{reason}: {handed - back} of the {handed} data packets it had "
                        "accepted did not come back and are presumed lost inside it"
                    ),
                    "unaccounted": handed - back,
                }
            )
        self.stats["handed_over"] = self.stats["came_back"] = 0

    # -- reporting ------------------------------------------------------------------------
    def _set_state(self, state: str, info: dict[str, Any]) -> None:
        with self._state_lock:
            previous = self.state
            if previous == state or (self._closing.is_set() and state != CLOSED):
                return
            self.state = state
        report = {"state": state, "previous": previous, "url": self.config.url}
        if self.graph:
            report["graph"] = self.graph
        report.update(info)
        why = info.get("reason") or info.get("mode") or ""
        log.log(
            STATE_LEVELS.get(state, logging.INFO),
            "%s: link to %s %s -> %s%s",
            self.name,
            self.config.label,
            previous,
            state,
            f" ({why})" if why else "",
        )
        try:
            self.listener.link_state(state, report)
        except Exception:
            log.exception("%s: link_state listener failed", self.name)

    def _report(self, info: dict[str, Any]) -> None:
        if info.get("type") in ("retry", "refused"):
            log.info(
                "%s: link to %s: attempt %s failed (%s); retrying in %ss",
                self.name,
                self.config.label,
                info.get("attempt"),
                info.get("message"),
                info.get("retry_in"),
            )
        try:
            self.listener.link_report(info)
        except Exception:
            log.exception("%s: link_report listener failed", self.name)

    def _error(self, info: dict[str, Any]) -> None:
        log.info("%s: %s", self.name, info.get("message"))
        try:
            self.listener.link_error(info)
        except Exception:
            log.exception("%s: link_error listener failed", self.name)
