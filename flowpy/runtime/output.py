"""The output router: who hears what a runtime says, on which lane, and who is waited for.

It owns the list of connected clients and delivers to them and to the link sessions
(:mod:`.sessions`): broadcasts (never waiting), and the events of hosted graphs
(:mod:`.graph_events`), which a table turns into the messages of :mod:`flowpy.wire.reports`.
Graph output (:class:`~.graph_events.PortOutput`) is never dropped: sessions allowed to
receive the port take it first, otherwise the outport handler waits here until a standard
client allowed to receive it has taken each packet, which is the back-pressure from a slow
client into the graph. The lanes are those of docs/protocol.md#lanes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from flowpy import wire
from flowpy.wire import reports

from .clients import ClientHandle, Request, _nothing
from .graph_events import (
    GraphEvent,
    NetworkEnded,
    NetworkOutput,
    NetworkStarted,
    OutputStopping,
    PortMarker,
    PortOutput,
    ProcessFailure,
)
from .sessions import SessionTable

#: Broadcast kinds that are a network's story: told in order with its output (wire.REPORT),
#: so nobody hears ``network:stopped`` before the packets the run made. Other kinds: NEWS.
NEWS_LANES = {"network-status": wire.REPORT, "network-data": wire.REPORT}


class OutputRouter:
    """The connected clients and the delivery of everything sent to them. Thread-safe."""

    def __init__(self, sessions: SessionTable) -> None:
        self.sessions = sessions
        self._lock = threading.Lock()
        #: Notified when clients come and go and when networks stop (output waits on it).
        self._changed = threading.Condition(self._lock)
        self._clients: list[ClientHandle] = []
        self._handlers: dict[type, Callable[[Any], int | None]] = {
            NetworkStarted: self._started,
            NetworkEnded: self._stopped,
            ProcessFailure: self._failed,
            NetworkOutput: self._output,
            PortMarker: self._marker,
            PortOutput: self._deliver,
            OutputStopping: self._stopping,
        }

    # -- clients -----------------------------------------------------------------------------
    def add(self, client: ClientHandle) -> None:
        """A client connected: output may go to it now (waiting outport handlers re-check)."""
        with self._lock:
            self._clients.append(client)
            self._changed.notify_all()

    def remove(self, client: ClientHandle) -> None:
        """A client disconnected: output no longer goes or waits for it."""
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
            self._changed.notify_all()

    def clients(self) -> list[ClientHandle]:
        """The connected clients (a copy: safe to iterate)."""
        with self._lock:
            return list(self._clients)

    def packet_receivers(self, graph: str, port: str) -> list[ClientHandle]:
        """Standard receivers of an outport's ``runtime:packet``: clients allowed to receive
        it, except connections holding a link session of the graph (they get it as
        ``flowpy:packet`` through the session, and must not get it twice)."""
        with self._lock:
            return self._receivers(graph, port)

    def _receivers(self, graph: str, port: str) -> list[ClientHandle]:
        return [
            c
            for c in self._clients
            if c.takes_packets and c.grant.may_receive_from(graph, port) and graph not in c.sessions
        ]

    # -- broadcasts -----------------------------------------------------------------------------
    def broadcast(
        self,
        protocol: str,
        command: str,
        payload: Any,
        kind: str,
        cause: Request | None = None,
        only: Iterable[ClientHandle] | None = None,
    ) -> None:
        """Send to every client allowed to receive ``kind`` (see permissions.OUTPUT_CAPABILITIES).

        Never waits for anybody. The sender of the request that caused it (``cause``) gets it
        as its reply, with its ``responseTo``; everybody else as news, or, for what a network
        reports (:data:`NEWS_LANES`), in order with the network's output.
        """
        plain = wire.message(protocol, command, payload)
        lane = NEWS_LANES.get(kind, wire.NEWS)
        answer = plain
        if cause is not None and cause.request_id is not None:
            answer = wire.message(protocol, command, payload, cause.request_id)
        for client in self.clients() if only is None else only:
            if client.grant.may_receive(kind):
                if cause is not None and client is cause.client:
                    client.send(answer, wire.URGENT)
                else:
                    client.send(plain, lane)

    # -- what hosted graphs report ------------------------------------------------------------
    def emit(self, event: GraphEvent) -> int:
        """Route one event of a hosted graph (the callable each hosted graph is given); for
        graph output, how many IPs a network's stop kept from being delivered (else 0)."""
        return self._handlers[type(event)](event) or 0

    def _started(self, event: NetworkStarted) -> None:
        self.broadcast(*reports.network_started(event.graph), "network-status", event.cause)

    def _stopped(self, event: NetworkEnded) -> None:
        report = reports.network_stopped(event.graph, event.started, event.uptime)
        self.broadcast(*report, "network-status", event.cause)

    def _failed(self, event: ProcessFailure) -> None:
        report = reports.process_error(event.graph, event.node, event.error, event.traceback)
        self.broadcast(*report, "network-data")

    def _output(self, event: NetworkOutput) -> None:
        self.broadcast(*reports.network_output(event.text, event.notice), "network-data")

    def _marker(self, event: PortMarker) -> None:
        """connect/disconnect of an exported port: ``runtime:packet`` to those who may use it;
        for outports also into the link sessions' outboxes (never waiting for room)."""
        graph, port = event.graph, event.port
        payload = reports.marker_payload(graph, port, event.event)
        message = reports.packet(payload)
        if event.direction == "in":
            receivers = [c for c in self.clients() if c.grant.may_send_to(graph, port)]
        else:
            self.sessions.publish(graph, port, [payload], lambda: False, marker=True)
            receivers = self.packet_receivers(graph, port)
        # A disconnect follows the run's packets (REPORT: in order with them); a connect
        # opens a run and goes with the news, so the network:started a client waits for
        # (a reply, which overtakes output) never arrives before its ports' connects.
        lane = wire.REPORT if event.event == "disconnect" else wire.NEWS
        for client in receivers:
            client.send(message, lane)  # never waiting

    def _deliver(self, event: PortOutput) -> int:
        """IPs left a graph outport: never dropped.

        Link sessions allowed to receive the port take them first (into their outboxes, which
        may wait for room). A session is a durable subscriber, connected or not, so once one
        took the packets the standard clients connected now get them and nobody is waited for.
        A detached session with a full outbox waits for nobody while a standard client of
        another grant may take the packets: they pass it by (see :mod:`.sessions`).
        Otherwise this blocks the graph's outport handler (back-pressure into the network)
        until at least one standard client allowed to receive this outport has taken each
        packet, waiting for such a client to connect if need be, or until the network is
        stopping. Returns how many (the last ones) the stop kept from being delivered.
        """
        graph, port, stopping = event.graph, event.port, event.stopping
        payloads = [reports.packet_payload(graph, port, ip) for ip in event.ips]

        def cancelled() -> bool:  # the network's stop set it once the drain was over
            return stopping.is_set()

        def to_standard_clients(chunk: list[dict[str, Any]]) -> None:
            receivers = self.packet_receivers(graph, port)
            if not receivers:  # the usual case behind a Bridge: no message to build at all
                return
            for payload in chunk:
                message = reports.packet(payload)
                for client in receivers:
                    client.send(message, wire.STREAM, cancelled)

        done = self.sessions.publish(
            graph,
            port,
            payloads,
            cancelled,
            on_taken=to_standard_clients,
            receivers=lambda grant: any(
                client.grant != grant for client in self.packet_receivers(graph, port)
            ),
        )
        if done < len(payloads):  # no session (left) took these: a client must
            messages = [reports.packet(payload) for payload in payloads[done:]]
            return len(messages) - self._to_clients(graph, port, messages, cancelled)
        return 0

    def _to_clients(
        self, graph: str, port: str, messages: list[dict[str, Any]], cancelled: Callable[[], bool]
    ) -> int:
        """Send each message to every standard client allowed to receive ``port``, waiting
        until there is at least one that takes it; how many were taken (fewer if cancelled)."""
        position = 0
        while position < len(messages):
            with self._lock:
                while True:
                    if cancelled():
                        return position
                    targets = self._receivers(graph, port)
                    if targets:
                        break
                    # Woken by connect/disconnect and by stops; the timeout only guards
                    # against a stop made directly on the Network, which we would not hear.
                    self._changed.wait(timeout=1.0)
            while position < len(messages):
                message = messages[position]
                delivered = False
                for client in targets:
                    delivered = client.send(message, wire.STREAM, cancelled) or delivered
                if not delivered:  # every target was gone, or the stop cancelled the sends
                    if cancelled():
                        return position  # at once: the stop is waiting for this count
                    with self._lock:  # wait for the client list to change
                        self._changed.wait(timeout=1.0)
                    break
                position += 1
        return position

    def _stopping(self, event: OutputStopping) -> None:
        self.wake(event.graph)

    def wake(self, graph: str | None = None) -> None:
        """Outport handlers waiting for a client, for room in a client's queue or in an outbox
        re-check why (a network is stopping, the runtime is closing)."""
        with self._lock:
            self._changed.notify_all()
            clients = list(self._clients)
        for client in clients:
            getattr(client.sink, "wake", _nothing)()
        self.sessions.wake(graph)
