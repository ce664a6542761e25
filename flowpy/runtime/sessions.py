"""The table of a runtime's durable link sessions (:class:`SessionTable`): who owns each.

A session (:mod:`.link_session`) outlives its connection, so the table keys it by (graph id,
session id), lets a connection open, resume, take over or leave it, ends it ``grace`` seconds
after its connection closed (the expiry thread), and offers graph output to every session of a
graph. Rules and reasons: docs/architecture.md ("Link sessions") and docs/bridge-protocol.md.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .link_session import (
    DEFAULT_GRACE,
    MAX_PER_CONNECTION,
    MAX_SESSIONS,
    LinkSession,
    SessionError,
)
from .session_host import GraphLookup, SessionClient

if TYPE_CHECKING:
    from .permissions import Grant

log = logging.getLogger(__name__)


class SessionTable:
    """Every link session of one runtime, and the threads they own."""

    def __init__(
        self,
        runtime: GraphLookup,
        grace: float = DEFAULT_GRACE,
        per_connection: int = MAX_PER_CONNECTION,
    ) -> None:
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

    def open(
        self, client: SessionClient, graph: str, session_id: str, grant: Grant, window: int
    ) -> tuple[LinkSession, bool]:
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
                    f"session {session_id!r} of graph {graph!r} was opened with another secret"
                )
            if session is None or session.owner is not client:
                owned = sum(1 for s in self._sessions.values() if s.owner is client)
                if owned >= self.per_connection:
                    raise SessionError(
                        f"this connection holds {owned} link sessions, the most one may "
                        f"(limit {self.per_connection}); end one with flowpy:bye first "
                        f"(a session left by a closed connection ends {self.grace:g} s later)"
                    )
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
            log.info(
                "link session %s of graph %s resumed: %d packets went to other clients "
                "while it was away",
                session_id[:8],
                graph,
                missed,
            )
        return session, resumed

    def get(self, graph: str, session_id: str) -> LinkSession | None:
        """The session (graph, id), or None."""
        with self._lock:
            return self._sessions.get((graph, session_id))

    def discard(self, session: LinkSession) -> None:
        """End one session now (``bye``): it leaves the table and its connection."""
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
            return self._changed.wait_for(
                lambda: (graph, session_id) not in self._sessions, timeout
            )

    def of_graph(self, graph: str) -> list[LinkSession]:
        """The sessions of one graph (a copy: safe to iterate)."""
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
            self._expiry = threading.Thread(
                target=self._expire, name="flowpy-sessions-expiry", daemon=True
            )
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
                    left = [
                        s.detached_at + self.grace - now
                        for s in self._sessions.values()
                        if s.detached_at is not None
                    ]
                    if any(t <= 0 for t in left):
                        break
                    self._changed.wait(min(left) if left else None)
                ended = [
                    s
                    for s in self._sessions.values()
                    if s.detached_at is not None and s.detached_at + self.grace <= now
                ]
                for session in ended:
                    del self._sessions[(session.graph, session.id)]
                self._changed.notify_all()
            for session in ended:
                session.close()
                log.info(
                    "link session %s of graph %s ended: its connection did not come "
                    "back within %g s",
                    session.id[:8],
                    session.graph,
                    self.grace,
                )

    def publish(
        self,
        graph: str,
        port: str,
        payloads: list[dict[str, Any]],
        cancelled: Callable[[], bool],
        marker: bool = False,
        on_taken: Callable[[list[dict[str, Any]]], None] | None = None,
        receivers: Callable[[Grant], bool] = lambda grant: False,
    ) -> int:
        """Offer outport packets to every session of ``graph`` that may receive ``port``.

        A session is a durable subscriber, connected or not. Packets go into the sessions in
        chunks as their outboxes make room; ``on_taken(chunk)`` runs once every session has
        a chunk (or let it pass: a detached session with a full outbox lets packets pass
        while ``receivers(its grant)``, some standard client holding another grant may take
        them, or another session of the port is connected). Returns how many packets (from
        the start) every session took: 0 with no session, fewer than all when cancelled or
        when the last session ended meanwhile.
        """
        sessions = [
            session
            for session in self.of_graph(graph)
            if session.grant.may_receive_from(graph, port)
        ]

        def others_for(session: LinkSession) -> Callable[[], bool]:
            return lambda: (
                receivers(session.grant)
                or any(
                    other.client is not None and not other.closed
                    for other in sessions
                    if other is not session
                )
            )

        progress = dict.fromkeys(sessions, 0)
        done = 0
        while progress and done < len(payloads):
            for session in list(progress):
                if progress[session] == done:  # this one holds the others back
                    took = session.publish(payloads[done:], cancelled, marker, others_for(session))
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
        """Make waiting sessions (of one graph, or all) re-check their conditions."""
        with self._lock:
            sessions = [s for (g, _), s in self._sessions.items() if graph in (None, g)]
        for session in sessions:
            session.wake()

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a session's thread; the table joins it at shutdown."""
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
