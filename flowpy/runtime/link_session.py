"""One durable link session of one graph (:class:`LinkSession`): exactly-once across reconnects.

It remembers the highest inbound seq it took and keeps every outbound packet until acked (the
outbox), whoever is connected. The connection's reader never blocks on the network (a feeder
thread per session does), and everything sent to the connection goes through one send lock, so
a replay is never overtaken. Why: docs/architecture.md ("Link sessions").
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from flowpy import wire
from flowpy.engine.ip import IP
from flowpy.engine.network import NetworkError
from flowpy.errors import FlowpyError
from flowpy.wire.sequencing import DUPLICATE, NEW, Incoming, Outgoing, SequenceError

from .session_host import SessionClient, SessionOwner

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


class CheckedPacket(NamedTuple):
    """A checked inbound packet, ready for the graph inport handler (a named tuple: one is
    made per inbound packet, at a fraction of a frozen dataclass's cost)."""

    port: str
    event: str
    payload: Any = None


#: The packet events that are IPs, and how each becomes one (the others are stream markers).
_IP_OF: dict[str, Callable[[Any], IP]] = {
    "data": IP.make_data,
    "begingroup": IP.open,
    "endgroup": IP.close,
}


class SessionError(FlowpyError):
    """A request about a session that cannot be honoured; answered with ``flowpy:error``."""


class LinkSession:
    """One durable session of one graph. Thread-safe."""

    def __init__(
        self, table: SessionOwner, graph: str, session_id: str, grant: Grant, window: int
    ) -> None:
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
        #: it is gone: both changed only under the table's lock (see .sessions.SessionTable).
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
        self._queue: deque[tuple[int, CheckedPacket]] = deque()
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
    def attach(
        self,
        client: SessionClient,
        window: int,
        welcome: Callable[[dict[str, Any]], None],
        batch: bool = False,
    ) -> None:
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
    def offer_many(self, packets: list[tuple[int, CheckedPacket | str]]) -> list[tuple[str, int]]:
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
            self._feeder = self.table.start_thread(
                self._feed, f"flowpy-in {self.graph} {self.id[:8]}"
            )

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
            start = 0
            while start < len(batch):  # a run of IPs to one port goes as one request
                seq, packet = batch[start]
                end = start + 1
                if packet.event in _IP_OF:
                    port = packet.port
                    while end < len(batch) and batch[end][1].port == port:
                        if batch[end][1].event not in _IP_OF:
                            break
                        end += 1
                if end - start == 1:
                    self._hand_over(seq, packet)
                else:
                    self._hand_over_many(batch[start:end])
                start = end

    def _hand_over_many(self, run: list[tuple[int, CheckedPacket]]) -> None:
        """IPs to one port as one request to the network: per run, not per packet, the
        hand-offs, the callbacks and the state lock (see _hand_over for the answers)."""
        seqs = [seq for seq, _ in run]
        hosted = self.runtime.get_graph(self.graph)
        if hosted is None:
            self._finish_many(seqs, f": graph {self.graph!r} not found")
            return
        counted = 0  # the first ones of seqs entered the network; see queued

        def queued(n: int) -> None:
            # Under a connection lock of the network, and the rest of the run may wait for
            # room next: an ack due now goes now (acks take the URGENT lane, never waiting).
            nonlocal counted
            with self._state:
                for seq in seqs[counted : counted + n]:
                    self._count_accepted(seq)
                due = self._in.ack_due(self.window, idle=False)
            counted += n
            if due:
                self._send_ack()

        def accepted(ok: bool) -> None:
            self._finish_many(seqs, None if ok else "was not delivered: the network stopped")

        try:
            hosted.inport_many(
                run[0][1].port,
                [_IP_OF[packet.event](packet.payload) for _, packet in run],
                accepted,
                queued,
            )
        except NetworkError as exc:
            self._finish_many(seqs, f"was not delivered: {exc}")

    def _finish_many(self, seqs: list[int], problem: str | None) -> None:
        """_finish for many: those not answered yet are accepted, or refused with
        ``problem`` (each its own flowpy:error); then one ack if one is due."""
        with self._state:
            fresh = [seq for seq in seqs if self._count_accepted(seq)]
            due = self._in.ack_due(self.window, idle=not self._queue and not self._inflight)
        if problem is not None:
            for seq in fresh:
                self._fail(seq, f"packet {seq} {problem}")
        elif due:
            self._send_ack()

    def _hand_over(self, seq: int, packet: CheckedPacket) -> None:
        hosted = self.runtime.get_graph(self.graph)
        if hosted is None:
            self._finish(seq, f"packet {seq}: graph {self.graph!r} not found")
            return
        try:  # from here on the network answers, once: accepted, or refused at a stop
            hosted.inport(
                packet.port,
                packet.event,
                packet.payload,
                lambda ok: self._accepted(seq, ok),
                lambda: self._queued(seq),
            )
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
    def publish(
        self,
        payloads: list[dict[str, Any]],
        cancelled: Callable[[], bool],
        marker: bool = False,
        others: Callable[[], bool] = lambda: False,
    ) -> int:
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
                self._state.wait_for(
                    lambda: (
                        len(outbox) < self.window
                        or self.closed
                        or cancelled()
                        or (self.client is None and others())
                    )
                )
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
                        client.send(
                            wire.message(
                                "flowpy",
                                "packets",
                                {"graph": graph, "packets": batch[start : start + MAX_BATCH]},
                            ),
                            wire.STREAM,
                            cancelled,
                        )
                else:
                    for entry in batch:
                        client.send(
                            wire.message("flowpy", "packet", {"graph": graph, **entry}),
                            wire.STREAM,
                            cancelled,
                        )

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
        """Outbound packets kept until the client acks them."""
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
