"""Durable link sessions: the state behind the ``flowpy`` sub-protocol (docs/bridge-protocol.md).

A session outlives the connection that opened it, so it lives in the runtime (a
:class:`SessionTable`), keyed by (graph id, session id), and a connection only *attaches* to
it. That is what makes the link exactly-once across reconnects: the session remembers the
highest inbound sequence number it took (``received``) and keeps every outbound packet until
the client acknowledges it (the *outbox*), whoever is connected at the time. (The module is
over 600 lines: both directions of a session share one lock and one state.)

Inbound (client -> graph). The reader thread of a connection never blocks on the network:
it only checks the sequence number and queues the packet; a *feeder* thread per session
(``flowpy-in <graph> <session>``) hands packets to the graph inport handler, where it may wait
for room. Were the reader to wait there, the client's acknowledgements of *outbound* packets,
which arrive on the same socket, could not be read while the graph waits for exactly those
acknowledgements to make room in its outbox: a deadlock between the two directions.

Cumulative acknowledgement: ``flowpy:ack {seq: n}`` means every packet up to ``n`` was either
accepted by the network or answered with a ``flowpy:error`` carrying its ``seq`` (a packet
that cannot be delivered is final, never retried, and must not hold the client's window
forever). Packets handed to a network that stops before accepting them get such an error
when the network has stopped.

Outbound (graph -> client). The graph outport handler thread appends to the outbox; a data
or bracket packet waits while the outbox holds ``window`` packets (back-pressure, also while
the client is away), until an ack makes room, the session ends, or the network stops. The
connect/disconnect markers of the outports never wait (they are emitted by ``network:start``
and after a stop, where waiting would hang the request or the stop), so they may take the
outbox a few entries past ``window``. Everything sent to the session's connection goes
through one lock per session, so a replay after ``hello`` is never overtaken by new packets.

Sessions belong to their connection (docs/bridge-protocol.md, "Sessions and connections",
states the rule). A session is *owned* by the connection that opened or last resumed it; a
connection owns at most ``per_connection``, detached ones included. When its connection
closes, the session waits ``grace`` seconds for a ``hello``, then the table's expiry thread
ends it as ``bye`` would. While away it keeps taking packets while its outbox has room; once
full it lets packets pass (``missed``) if somebody else may take them: a standard client of
another grant (one of the session's own grant may be its Bridge reconnecting) or another
connected session of the port. Otherwise it holds the graph back, exactly-once as always.

The counting itself (duplicates, gaps, cumulative acks, the outbox trimmed by acks) is
:mod:`flowpy.wire.sequencing`, shared with the client end of the link.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowpy import wire
from flowpy.engine.network import NetworkError
from flowpy.errors import FlowpyError
from flowpy.wire.sequencing import DUPLICATE, NEW, Incoming, Outgoing, SequenceError

from .session_host import GraphLookup, SessionClient

if TYPE_CHECKING:
    from .permissions import Grant

log = logging.getLogger(__name__)

VERSION = 1
DEFAULT_WINDOW = 500
MAX_WINDOW = 100_000
#: Sessions a runtime holds at most (each may keep up to its window of packets).
MAX_SESSIONS = 1024
#: Sessions one connection may own at most (default of ``SessionTable(per_connection=)``).
MAX_PER_CONNECTION = 16
#: Seconds a session waits for its connection to come back (default of ``SessionTable(grace=)``).
DEFAULT_GRACE = 30.0
#: Inbound packets of one session taken but not yet accepted by the network. A client that
#: respects its own window never comes near; one that does not is refused, not buffered.
MAX_INBOUND = 10_000
#: Packets in one ``flowpy:packets`` message at most (either direction).
MAX_BATCH = 1024


@dataclass(frozen=True)
class Inbound:
    """A checked inbound packet, ready for the graph inport handler."""

    port: str
    event: str
    payload: Any = None


class SessionError(FlowpyError):
    """A request about a session that cannot be honoured; answered with ``flowpy:error``."""


class LinkSession:
    """One durable session of one graph. Thread-safe."""

    def __init__(self, table: SessionTable, graph: str, session_id: str, grant: Grant,
                 window: int) -> None:
        self.table = table
        self.runtime = table.runtime
        self.graph = graph
        self.id = session_id
        #: The grant of the secret that opened the session; it decides what flows, always.
        self.grant = grant
        self.window = window
        #: The client takes ``flowpy:packets`` (several packets per message); see ``attach``.
        self.batch = False
        self.client: SessionClient | None = None
        self.closed = False
        #: The connection that opened or last resumed the session, and since when (monotonic)
        #: it is gone: both changed only under the table's lock (see SessionTable).
        self.owner: SessionClient | None = None
        self.detached_at: float | None = None
        #: Outbound packets that passed this session by while it was away (taken by others).
        self.missed = 0
        self._state = threading.Condition(threading.Lock())
        #: Serialises the packets sent to the session's connection (welcome, replay, new
        #: packets), so the order on the wire is the order of the outbox. Held while a packet
        #: waits for room in the client's queue, so nothing else ever takes it but the
        #: outport handler and an attaching connection's own reader.
        self._send_lock = threading.RLock()
        #: Acks go out in the order of their counts; never held while waiting (acks take the
        #: URGENT lane, which never waits).
        self._ack_lock = threading.Lock()
        #: Inbound numbering: ``finished`` counts packets accepted by the network (or
        #: answered with an error), ``acked`` what the current connection was told.
        self._in = Incoming()
        self._inflight: set[int] = set()  # handed to the graph, not yet answered
        self._queue: deque[tuple[int, Inbound]] = deque()
        self._feeder: threading.Thread | None = None
        #: The outbox: outbound packets (entries with their ``seq``) until the client acks.
        self._out: Outgoing[dict[str, Any]] = Outgoing()

    def __repr__(self) -> str:
        return f"<LinkSession {self.graph}/{self.id}>"

    @property
    def received(self) -> int:
        """The highest inbound seq taken."""
        return self._in.received

    @property
    def accepted(self) -> int:
        """Every inbound seq up to this one was accepted by the network (or refused)."""
        return self._in.finished

    @property
    def acked(self) -> int:
        """The highest outbound seq the client acknowledged."""
        return self._out.acked

    # -- the connection ------------------------------------------------------------------------
    def attach(self, client: SessionClient, window: int, welcome: Callable[[dict[str, Any]], None],
               batch: bool = False) -> None:
        """Make ``client`` the session's connection: welcome, then replay, then new packets.
        ``batch``: the client said in its hello that it takes ``flowpy:packets``."""
        with self._send_lock:
            with self._state:
                self.client = client
                self.window = window
                self.batch = batch
                self._out.rewind()  # everything after `acked` goes again, in order
                self._in.peer_heard(0)  # a new connection: the ack is owed to it again
                info = {"received": self._in.received, "acked": self._out.acked}
                self._state.notify_all()  # a larger window may make room
            welcome(info)
            self._send_ack()
            self._flush()

    def detach(self, client: SessionClient) -> bool:
        """The connection went away; the session stays. False if it was not attached to it."""
        with self._state:
            if self.client is not client:
                return False
            self.client = None
            self._state.notify_all()  # a publisher waiting for room may now pass it by
            return True

    def take_missed(self) -> int:
        """How many packets passed the session by since this was last asked."""
        with self._state:
            missed, self.missed = self.missed, 0
            return missed

    def _send(self, command: str, payload: dict[str, Any]) -> bool:
        """Acks and errors: never waiting, and ahead of debug data."""
        client = self.client
        if client is None:
            return False
        return client.send(wire.message("flowpy", command, payload), wire.URGENT)

    # -- inbound -----------------------------------------------------------------------------
    def offer_many(self, packets: list[tuple[int, Inbound | str]]) -> list[tuple[str, int]]:
        """Take inbound ``(seq, packet or problem text)`` in order, under one lock; ``(verdict,
        accepted)`` each: new, duplicate (not delivered again), then the first gap or full."""
        verdicts: list[tuple[str, int]] = []
        failed: list[tuple[int, str]] = []
        with self._state:
            if self.closed:
                raise SessionError(f"session {self.id!r} has ended")
            inbound, queue = self._in, self._queue
            for seq, packet in packets:
                verdict = inbound.verdict(seq)
                if verdict == NEW and len(queue) + len(self._inflight) >= MAX_INBOUND:
                    verdict = "full"
                if verdict == DUPLICATE:
                    verdicts.append((verdict, inbound.finished))
                    continue
                if verdict != NEW:  # a gap, or no room: the batch ends here
                    verdicts.append((verdict, inbound.received))
                    break
                inbound.take(seq)
                if isinstance(packet, str):
                    inbound.finish(seq)
                    failed.append((seq, packet))
                else:
                    queue.append((seq, packet))
                verdicts.append((NEW, 0))
            if len(failed) < sum(v == NEW for v, _ in verdicts):
                self._ensure_feeder()
                self._state.notify_all()
        for seq, problem in failed:
            self._fail(seq, problem)
        return [(NEW, self.accepted) if v == NEW else (v, n) for v, n in verdicts]

    def repeat_ack(self) -> None:
        """A duplicate of an accepted packet: say again how far we are."""
        self._send_ack(force=True)

    def _finish(self, seq: int, problem: str | None) -> None:
        with self._state:
            if not self._count_accepted(seq) and problem is not None:
                return  # counted as queued already: that answer stands
            # One ack covers many packets: sent once nothing more is on its way to the
            # network, or once a quarter of the window is due, whichever comes first (and
            # before any outbound packet, see _flush).
            due = self._in.ack_due(self.window, idle=not self._queue and not self._inflight)
        if problem is not None:
            self._fail(seq, problem)
        elif due:
            self._send_ack()

    def _fail(self, seq: int, problem: str) -> None:
        self._send("error", {"message": problem, "seq": seq})
        self._send_ack()

    def _send_ack(self, force: bool = False) -> None:
        with self._ack_lock:
            with self._state:
                if self.client is None:
                    return
                accepted = self._in.take_ack(force)
                if accepted is None:
                    return
            self._send("ack", {"graph": self.graph, "session": self.id, "seq": accepted})

    def _ensure_feeder(self) -> None:
        if self._feeder is None or not self._feeder.is_alive():
            self._feeder = self.table.start_thread(self._feed, f"flowpy-in {self.graph} "
                                                               f"{self.id[:8]}")

    def _feed(self) -> None:
        """The feeder thread: hand queued packets to the graph, in order."""
        while True:
            with self._state:
                self._state.wait_for(lambda: self._queue or self.closed or self.table.closing)
                if self.closed or self.table.closing:
                    return
                batch = list(self._queue)
                self._queue.clear()
                self._inflight.update(seq for seq, _ in batch)
            for seq, packet in batch:
                self._hand_over(seq, packet)

    def _hand_over(self, seq: int, packet: Inbound) -> None:
        hosted = self.runtime.get_graph(self.graph)
        if hosted is None:
            self._finish(seq, f"packet {seq}: graph {self.graph!r} not found")
            return
        try:  # from here on the network answers, once: accepted, or refused at a stop
            hosted.inport(packet.port, packet.event, packet.payload,
                          lambda ok: self._accepted(seq, ok), lambda: self._queued(seq))
        except NetworkError as exc:
            self._finish(seq, f"packet {seq} was not delivered: {exc}")

    def _queued(self, seq: int) -> None:
        """The packet is in the network, and nothing has read it yet: count it accepted now,
        so the ack that _flush sends before any outbound packet covers it. Runs under a
        connection lock of the network: state only, no I/O (``_accepted`` follows)."""
        with self._state:
            self._count_accepted(seq)

    def _accepted(self, seq: int, ok: bool) -> None:
        self._finish(seq, None if ok else f"packet {seq} was not delivered: the network stopped")

    def _count_accepted(self, seq: int) -> bool:
        """Move ``seq`` from in flight to done (state lock held); False if it was not in
        flight (answered already)."""
        if seq not in self._inflight:
            return False
        self._inflight.discard(seq)
        self._in.finish(seq)
        return True

    # -- outbound ----------------------------------------------------------------------------
    def publish(self, payloads: list[dict[str, Any]], cancelled: Callable[[], bool],
                marker: bool = False, others: Callable[[], bool] = lambda: False) -> int:
        """Put outport packets into the outbox and send them if connected; how many it took
        or let pass.

        Waits until there is room for one (markers never wait), then takes as many as fit.
        While detached with a full outbox it does not wait if ``others()`` (someone else may
        take these packets): they all pass it by. 0 only if the session ended or
        ``cancelled()`` (the network is stopping).
        """
        with self._state:
            outbox = self._out
            if not marker:
                self._state.wait_for(lambda: len(outbox) < self.window or self.closed
                                     or cancelled() or (self.client is None and others()))
                if cancelled():
                    return 0
            if self.closed:
                return 0
            room = len(payloads) if marker else self.window - len(outbox)
            if room <= 0:  # away, and somebody else takes these: not held for this session
                self.missed += len(payloads)
                return len(payloads)
            taken = payloads[:room]
            for payload in taken:
                entry = payload.copy()
                del entry["graph"]  # the message names it once
                entry["seq"] = outbox.push(entry)
        self._flush(cancelled)
        return len(taken)

    def _flush(self, cancelled: Callable[[], bool] | None = None) -> None:
        with self._send_lock:
            while True:
                with self._state:
                    client = self.client
                    if client is None:
                        return
                    batch = [entry for _, entry in self._out.take_unwritten()]
                    if not batch:
                        return
                    several = self.batch
                # An ack still owed goes first: whatever the graph made of the packets it
                # accepted then reaches the client after their ack, so a client that sees a
                # result never sends its input again, even if this process dies next.
                self._send_ack()
                graph = self.graph
                if several:
                    for start in range(0, len(batch), MAX_BATCH):
                        client.send(wire.message("flowpy", "packets", {
                            "graph": graph, "packets": batch[start:start + MAX_BATCH]}),
                            wire.STREAM, cancelled)
                else:
                    for entry in batch:
                        client.send(wire.message("flowpy", "packet", {"graph": graph, **entry}),
                                    wire.STREAM, cancelled)

    def client_ack(self, seq: int) -> None:
        """The client has every outbound packet up to ``seq``: drop them, make room."""
        with self._state:
            try:
                dropped = self._out.ack(seq)
            except SequenceError as exc:
                raise SessionError(str(exc)) from None
            if dropped:
                self._state.notify_all()

    def outbox_size(self) -> int:
        with self._state:
            return len(self._out)

    # -- ending --------------------------------------------------------------------------------
    def close(self) -> None:
        """``bye``: discard the outbox and the inbound queue; waiting threads move on."""
        with self._state:
            self.closed = True
            self.client = None
            self._out.clear()
            self._queue.clear()
            self._state.notify_all()

    def wake(self) -> None:
        """Re-check the wait conditions (a network is stopping, the runtime is closing)."""
        with self._state:
            self._state.notify_all()


class SessionTable:
    """Every link session of one runtime, and the threads they own."""

    def __init__(self, runtime: GraphLookup, grace: float = DEFAULT_GRACE,
                 per_connection: int = MAX_PER_CONNECTION) -> None:
        if grace < 0 or per_connection < 1:
            raise ValueError("the session grace must be >= 0 and per_connection >= 1")
        self.runtime = runtime
        self.grace = grace
        self.per_connection = per_connection
        #: Made once per runtime: a client seeing another instance knows its sessions are gone.
        self.instance = str(uuid.uuid4())
        self.closing = False
        self._lock = threading.Lock()
        #: Notified whenever a session detaches or ends (the expiry thread and observers wait).
        self._changed = threading.Condition(self._lock)
        self._sessions: dict[tuple[str, str], LinkSession] = {}
        self._threads: list[threading.Thread] = []
        self._expiry: threading.Thread | None = None

    def open(self, client: SessionClient, graph: str, session_id: str, grant: Grant,
             window: int) -> tuple[LinkSession, bool]:
        """The session (graph, id), created if new; ``(session, resumed)``. SessionError if
        it belongs to another grant or there are too many."""
        with self._lock:
            if self.closing:
                raise SessionError("the runtime is shutting down")
            session = self._sessions.get((graph, session_id))
            if session is not None and session.closed:
                session = None  # ending (expired) right now: as good as gone
            resumed = session is not None
            if session is not None and session.grant != grant:
                raise SessionError(
                    f"session {session_id!r} of graph {graph!r} was opened with another secret")
            if session is None or session.owner is not client:
                owned = sum(1 for s in self._sessions.values() if s.owner is client)
                if owned >= self.per_connection:
                    raise SessionError(
                        f"this connection holds {owned} link sessions, the most one may "
                        f"(limit {self.per_connection}); end one with flowpy:bye first "
                        f"(a session left by a closed connection ends {self.grace:g} s later)")
            if session is None:
                if len(self._sessions) >= MAX_SESSIONS:
                    raise SessionError(f"too many sessions (limit {MAX_SESSIONS})")
                session = LinkSession(self, graph, session_id, grant, window)
                self._sessions[(graph, session_id)] = session
            session.owner = client
            session.detached_at = None  # claimed: the expiry leaves it alone
            replaced: LinkSession | None = client.sessions.get(graph)
            client.sessions[graph] = session
            previous = session.client
            held: LinkSession | None = previous.sessions.get(graph) if previous else None
            if previous is not None and previous is not client and held is session:
                del previous.sessions[graph]  # taken over: the old connection lets go
            if replaced is not None and replaced is not session:
                self._detached(replaced)
        if replaced is not None and replaced is not session:
            replaced.detach(client)  # one session per graph and connection
        self.wake(graph)  # a publisher waiting on a detached session may pass it by now
        missed = session.take_missed()
        if missed:
            log.info("link session %s of graph %s resumed: %d packets went to other clients "
                     "while it was away", session_id[:8], graph, missed)
        return session, resumed

    def get(self, graph: str, session_id: str) -> LinkSession | None:
        with self._lock:
            return self._sessions.get((graph, session_id))

    def discard(self, session: LinkSession) -> None:
        with self._lock:
            if self._sessions.get((session.graph, session.id)) is session:
                del self._sessions[(session.graph, session.id)]
            client = session.client
            if client is not None and client.sessions.get(session.graph) is session:
                del client.sessions[session.graph]
            self._changed.notify_all()
        session.close()

    def owned_by(self, client: SessionClient) -> list[LinkSession]:
        """The sessions ``client`` owns (opened or resumed last), detached ones included."""
        with self._lock:
            return [s for s in self._sessions.values() if s.owner is client]

    def wait_ended(self, graph: str, session_id: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until the session (graph, id) is no longer in
        the table; whether it is gone. For observers (tests, tools)."""
        with self._changed:
            return self._changed.wait_for(lambda: (graph, session_id) not in self._sessions,
                                          timeout)

    def of_graph(self, graph: str) -> list[LinkSession]:
        with self._lock:
            return [s for (g, _), s in self._sessions.items() if g == graph]

    def detach(self, client: SessionClient) -> None:
        """A connection closed: its sessions stay for ``grace`` seconds, waiting for a
        ``hello`` that resumes them."""
        with self._lock:  # every change of a client's sessions is made under this lock
            sessions = list(client.sessions.values())
            client.sessions.clear()
            for session in sessions:
                self._detached(session)
        for session in sessions:
            session.detach(client)

    def _detached(self, session: LinkSession) -> None:
        """Start the session's grace (lock held): the expiry thread ends it unless a
        ``hello`` claims it first."""
        session.detached_at = time.monotonic()
        self._changed.notify_all()
        if self._expiry is None and not self.closing:
            self._expiry = threading.Thread(target=self._expire, name="flowpy-sessions-expiry",
                                            daemon=True)
            self._threads.append(self._expiry)
            self._expiry.start()

    def _expire(self) -> None:
        """The expiry thread: end each detached session ``grace`` seconds after it was left."""
        while True:
            with self._lock:
                while True:
                    if self.closing:
                        return
                    now = time.monotonic()
                    left = [s.detached_at + self.grace - now for s in self._sessions.values()
                            if s.detached_at is not None]
                    if any(t <= 0 for t in left):
                        break
                    self._changed.wait(min(left) if left else None)
                ended = [s for s in self._sessions.values()
                         if s.detached_at is not None and s.detached_at + self.grace <= now]
                for session in ended:
                    del self._sessions[(session.graph, session.id)]
                self._changed.notify_all()
            for session in ended:
                session.close()
                log.info("link session %s of graph %s ended: its connection did not come "
                         "back within %g s", session.id[:8], session.graph, self.grace)

    def publish(self, graph: str, port: str, payloads: list[dict[str, Any]],
                cancelled: Callable[[], bool], marker: bool = False,
                on_taken: Callable[[list[dict[str, Any]]], None] | None = None,
                receivers: Callable[[Grant], bool] = lambda grant: False) -> int:
        """Offer outport packets to every session of ``graph`` that may receive ``port``.

        A session is a durable subscriber, connected or not. Packets go into the sessions in
        chunks as their outboxes make room; ``on_taken(chunk)`` runs once every session has
        a chunk (or let it pass: a detached session with a full outbox lets packets pass
        while ``receivers(its grant)``, some standard client holding another grant may take
        them, or another session of the port is connected). Returns how many packets (from
        the start) every session took: 0 with no session, fewer than all when cancelled or
        when the last session ended meanwhile.
        """
        sessions = [session for session in self.of_graph(graph)
                    if session.grant.may_receive_from(graph, port)]

        def others_for(session: LinkSession) -> Callable[[], bool]:
            return lambda: receivers(session.grant) or any(
                other.client is not None and not other.closed
                for other in sessions if other is not session)

        progress = dict.fromkeys(sessions, 0)
        done = 0
        while progress and done < len(payloads):
            for session in list(progress):
                if progress[session] == done:  # this one holds the others back
                    took = session.publish(payloads[done:], cancelled, marker,
                                           others_for(session))
                    if took == 0:
                        if cancelled():
                            return done
                        del progress[session]  # it ended: it no longer counts
                        continue
                    progress[session] += took
            if not progress:
                break
            reached = min(progress.values())
            if on_taken is not None and reached > done:
                on_taken(payloads[done:reached])
            done = reached
        return done

    def wake(self, graph: str | None = None) -> None:
        with self._lock:
            sessions = [s for (g, _), s in self._sessions.items() if graph in (None, g)]
        for session in sessions:
            session.wake()

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def shutdown(self, timeout: float = 5.0) -> list[str]:
        """End every feeder thread and the expiry thread (after the networks stopped); names
        of those still alive."""
        with self._lock:
            self.closing = True
            self._changed.notify_all()
            threads = list(self._threads)
        self.wake()
        stuck = []
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck
