"""A graph as a MsgFlo participant: its exported ports are queues on a message broker.

Inport ``p`` consumes ``ROLE.P`` and outport ``q`` publishes to ``ROLE.Q`` (MsgFlo's naming;
``queue_prefix`` and ``queues`` change it); the participant announces itself on ``fbp``.
Invariants: a message is acknowledged only by the ``ack`` rule (``accepted``, or ``output``:
after the output made of it reached the broker); one that fails in the graph or reaches the
delivery limit goes to ``dead-QUEUE``, never back to the graph; at most ``prefetch``
messages are unsettled, so a full network stops consumption. docs/distributed.md has the
rules users see, docs/architecture.md ("A MsgFlo participant") the inside.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flowpy.engine.failures import CONTINUE, STOP, ErrorPolicy, Failure
from flowpy.engine.ip import DATA, IP
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.wire.jsonpolicy import encode

from . import discovery, redelivery
from .base import (
    DEFAULT_PREFETCH,
    BrokerError,
    BrokerTransport,
    BrokerURL,
    Delivery,
    TransportOptions,
)
from .codec import CodecError, decode_ip, encode_ip
from .discovery import DEFAULT_DISCOVERY_PERIOD, announcement_waits, queue_name
from .transports import open_transport

log = logging.getLogger(__name__)

ACK_MODES = ("accepted", "output")
BRACKET_MODES = ("envelope", "drop")
STOP_TIMEOUT = 5.0


@dataclass
class ParticipantConfig:
    """What a participant is (role, id, component) and how it uses its queues."""

    role: str
    id: str = ""
    queue_prefix: str = ""
    queues: dict[str, str] = field(default_factory=dict)  # port -> queue, overriding the rule
    prefetch: int = DEFAULT_PREFETCH
    ack: str = "accepted"
    brackets: str = "envelope"
    discovery_period: float = DEFAULT_DISCOVERY_PERIOD
    #: MQTT: share the inqueues' subscriptions among the participants of the role.
    shared: bool = True
    #: MQTT: keep the session this many seconds (needs a fixed ``id``); None: 3600 with a
    #: given id, 0 (clean session) without.
    session_expiry: int | None = None
    #: Seconds ``start()`` tries to reach the broker before it gives up.
    connect_timeout: float = 10.0
    component: str = ""
    label: str = ""
    icon: str = ""
    #: Deliveries ending unsettled after which a message goes to the dead letters (0: none).
    delivery_limit: int = redelivery.DEFAULT_DELIVERY_LIMIT

    def __post_init__(self) -> None:
        if not self.role or not isinstance(self.role, str):
            raise BrokerError("a participant needs a role")
        if any(c in self.role for c in "#+/ ") or self.role.startswith("$"):
            raise BrokerError(
                f"role {self.role!r} may not hold '#', '+', '/', spaces or "
                "start with '$' (it names queues and MQTT topics)"
            )
        if self.ack not in ACK_MODES:
            raise BrokerError(f"ack mode {self.ack!r} is not one of {', '.join(ACK_MODES)}")
        if self.brackets not in BRACKET_MODES:
            raise BrokerError(
                f"brackets mode {self.brackets!r} is not one of {', '.join(BRACKET_MODES)}"
            )
        if self.prefetch < 1:
            raise BrokerError(f"prefetch must be at least 1, not {self.prefetch}")
        if self.delivery_limit < 0:
            raise BrokerError(f"delivery limit {self.delivery_limit}: 0 (none) or more")
        if self.discovery_period <= 0:
            raise BrokerError("the discovery period must be positive")

    def queue(self, port: str) -> str:
        """The queue bound to ``port``: from ``queues`` (any case), else the MsgFlo rule."""
        for name, queue in self.queues.items():
            if name.lower() == port.lower():
                return queue
        return queue_name(self.role, port, self.queue_prefix)


class Participant(NetworkListener):
    """Runs ``graph`` with its exported ports bound to broker queues (module docstring).

    ``start()`` connects (``BrokerError`` if it cannot), starts the network and consumes;
    ``stop()`` stops consuming, feeds in what was received, drains the network, hands the
    last outputs to the broker and disconnects; unacknowledged messages go back to the
    broker. ``wait()`` returns once the network finished by itself or a stop completed.
    """

    def __init__(
        self,
        graph: Any,
        registry: Any,
        url: str | BrokerURL,
        config: ParticipantConfig,
        listeners: Iterable[NetworkListener] = (),
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.graph = graph
        self.registry = registry
        self.url = url if isinstance(url, BrokerURL) else BrokerURL.parse(url)
        self.config = config
        self.id = config.id or f"{config.role}-{uuid.uuid4()}"
        self.on_status = on_status
        # A participant keeps processing after a failure (docs/graphs.md, error policies).
        self.network = Network(
            graph, registry, [self, *listeners], error_policy=ErrorPolicy(CONTINUE)
        )
        self.transport: BrokerTransport | None = None
        self.stats = {
            "received": 0,
            "refused": 0,
            "sent": 0,
            "announced": 0,
            "dead": 0,
            "restarts": 0,
            "recounted": 0,
            #: Outputs (data and brackets) the broker did not get before the stop ended.
            "discarded": 0,
        }
        self.inqueues = {port: config.queue(port) for port in graph.inports}
        self.outqueues = {port: config.queue(port) for port in graph.outports}
        self._port_of_queue = {queue: port for port, queue in self.inqueues.items()}
        self._public_out = {port.lower(): port for port in graph.outports}
        self._inbox: deque[Delivery] = deque()
        self._inbox_ready = threading.Condition()
        self._inbox_closed = False
        #: Data messages inside the network whose output has not come, oldest first (in
        #: both ack modes: the oldest is the one a process error is about).
        self._unacked: deque[Delivery] = deque()
        #: id of a data IP fed in -> (the IP, its message), while the message is unsettled:
        #: a process that fails on that very IP names the message to dead-letter.
        self._carrying: dict[int, tuple[IP, Delivery]] = {}
        self._unacked_lock = threading.Lock()
        #: A process error ended a process: the network is being restarted (the feeder waits).
        self._restarting = False
        self._restarted = threading.Condition()
        self._drained = True
        self._done = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._heartbeat_stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect, start the network and consume; BrokerError if the broker is out of reach."""
        config = self.config
        expiry = config.session_expiry
        if expiry is None:
            expiry = 3600 if config.id else 0
        options = TransportOptions(
            client_id=self.id,
            prefetch=config.prefetch,
            session_expiry=expiry,
            share_group=config.role if config.shared else None,
            connect_timeout=config.connect_timeout,
            on_status=self._transport_status,
        )
        transport = open_transport(self.url, options, name=config.role)
        for queue in self.outqueues.values():
            transport.declare_outqueue(queue)
        for queue in self.inqueues.values():
            transport.subscribe(queue, self._received)
        self.transport = transport
        transport.start(wait=True)  # BrokerError: nothing else started
        try:
            self.network.start()
        except NetworkError:
            transport.close(1.0)
            raise
        feeder = threading.Thread(target=self._feed, name=f"{config.role}-feed")
        heartbeat = threading.Thread(target=self._heartbeat, name=f"{config.role}-discovery")
        self._threads = [feeder, heartbeat]
        feeder.start()
        heartbeat.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the graph finished or was stopped; False if ``timeout`` passed first."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Stop gracefully within about ``timeout`` seconds (module docstring); returns the
        names of threads that did not end in time. Safe to call more than once."""
        with self._stop_lock:
            if self._stopped:
                return []
            self._stopped = True
        with self._restarted:  # a feeder waiting for a restart gives up
            self._restarted.notify_all()
        transport = self.transport
        deadline = time.monotonic() + timeout
        self._heartbeat_stop.set()
        if transport is not None:
            transport.stop_consuming(min(2.0, timeout / 4))
        with self._inbox_ready:  # what was received before the cancel still goes in
            self._inbox_closed = True
            self._inbox_ready.notify_all()
        feeder = self._threads[0] if self._threads else None
        if feeder is not None:
            feeder.join(max(0.0, (deadline - time.monotonic()) / 2))
        stuck = self.network.stop(max(0.5, deadline - time.monotonic()), drain=True)
        if feeder is not None:
            feeder.join(1.0)
        self._settle_unacked()
        if transport is not None:
            transport.flush(max(0.2, deadline - time.monotonic()))
            transport.close(max(0.5, deadline - time.monotonic()))
            self.stats["discarded"] += transport.stats.get("discarded", 0)
        self._report_discarded()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        self._done.set()
        return stuck

    # -- discovery ------------------------------------------------------------------------
    def definition(self) -> dict[str, Any]:
        """The ``payload`` of this participant's discovery message."""
        config = self.config
        return discovery.payload(
            self.id,
            config.role,
            self.graph,
            self.registry,
            self.inqueues,
            self.outqueues,
            component=config.component,
            label=config.label,
            icon=config.icon,
        )

    def announce(self) -> None:
        """Send the discovery message now (also used when the definition changed)."""
        if self.transport is None:
            return
        message = {"protocol": "discovery", "command": "participant", "payload": self.definition()}
        self.transport.announce(encode(message).encode("utf-8"))
        self.stats["announced"] += 1

    def _heartbeat(self) -> None:
        self.announce()
        for wait in announcement_waits(self.config.discovery_period):
            if self._heartbeat_stop.wait(wait):
                return
            self.announce()

    # -- from the broker ------------------------------------------------------------------
    def _received(self, delivery: Delivery) -> None:
        """I/O thread: hand over to the feeder (bounded by the prefetch)."""
        with self._inbox_ready:
            self._inbox.append(delivery)
            self._inbox_ready.notify()

    def _feed(self) -> None:
        network, transport = self.network, self.transport
        assert transport is not None
        inbox = self._inbox
        while True:
            with self._inbox_ready:
                while not inbox and not self._inbox_closed:
                    self._inbox_ready.wait()
                if not inbox:
                    return
                batch = list(inbox)
                inbox.clear()
            for position, delivery in enumerate(batch):
                self.stats["received"] += 1
                if not self._within_limit(delivery):
                    continue
                port = self._port_of_queue.get(delivery.queue)
                try:
                    ip = decode_ip(delivery.body, delivery.headers)
                except CodecError as exc:
                    self._refuse(delivery, str(exc))
                    continue
                if port is None:
                    self._refuse(delivery, f"no inport for queue {delivery.queue!r}")
                    continue
                try:
                    self._send(network, port, ip, delivery)
                except NetworkError:  # stopped: nothing more goes in, all goes back
                    for rest in batch[position:]:
                        transport.reject(rest, requeue=True)
                    self._reject_inbox()
                    return

    def _send(self, network: Network, port: str, ip: IP, delivery: Delivery) -> None:
        """Into the network; while a restart is under way, once it is over (NetworkError if
        the network stopped for good)."""
        is_data = ip.kind == DATA
        while True:
            try:
                network.send_inport(
                    port,
                    ip,
                    on_accepted=partial(self._accepted, delivery, is_data),
                    on_queued=partial(self._queued, delivery, ip) if is_data else None,
                )
                return
            except NetworkError:
                with self._restarted:
                    if not self._restarting or self._stopped:
                        raise
                    self._restarted.wait_for(lambda: not self._restarting or self._stopped)

    def _within_limit(self, delivery: Delivery) -> bool:
        """The delivery limit (:mod:`.redelivery`): False if ``delivery`` was published again
        with its count, or dead-lettered, instead of going to the graph."""
        assert self.transport is not None
        action, failed = redelivery.settle(delivery, self.config.delivery_limit, self.transport)
        if action == redelivery.COUNT:
            self.stats["recounted"] += 1
        elif action == redelivery.DEAD:
            self.stats["dead"] += 1
            limit = self.config.delivery_limit
            self._report(
                {
                    "type": "dead-letter",
                    "queue": delivery.queue,
                    "message": redelivery.why_dead(delivery, failed, limit),
                }
            )
        return action == redelivery.FEED

    def _reject_inbox(self) -> None:
        transport = self.transport
        with self._inbox_ready:
            rest = list(self._inbox)
            self._inbox.clear()
            self._inbox_closed = True
        for delivery in rest:
            if transport is not None:
                transport.reject(delivery, requeue=True)

    def _refuse(self, delivery: Delivery, why: str) -> None:
        """A message that can never become an IP: to the dead letters, not redelivered."""
        self.stats["refused"] += 1
        self._report({"type": "refused", "queue": delivery.queue, "message": why})
        if self.transport is not None:
            self.transport.dead_letter(delivery)

    def _queued(self, delivery: Delivery, ip: IP | None = None) -> None:
        """A data IP entered the network (before anything made of it can leave)."""
        with self._unacked_lock:
            self._unacked.append(delivery)
            if ip is not None:
                self._carrying[id(ip)] = (ip, delivery)

    def _settled(self, deliveries: list[Delivery]) -> None:
        """These messages left ``_unacked``: forget the IPs that carried them (lock held)."""
        if deliveries and self._carrying:
            gone = {id(delivery) for delivery in deliveries}
            self._carrying = {k: v for k, v in self._carrying.items() if id(v[1]) not in gone}

    def _accepted(self, delivery: Delivery, is_data: bool, ok: bool) -> None:
        transport = self.transport
        assert transport is not None
        if not ok:
            transport.reject(delivery, requeue=True)
        elif not is_data or self.config.ack == "accepted":
            transport.ack(delivery)

    def _settle_unacked(self) -> None:
        """ack=output, at a stop: what the drain processed is done; the rest goes back."""
        transport = self.transport
        with self._unacked_lock:
            rest = list(self._unacked)
            self._unacked.clear()
            self._carrying.clear()
        if self.config.ack != "output":
            return  # acknowledged when accepted
        for delivery in rest:
            if transport is None:
                break
            if self._drained:
                transport.ack(delivery)
            else:
                transport.reject(delivery, requeue=True)

    # -- to the broker (NetworkListener) --------------------------------------------------
    def outport_ips(self, network: Network, port: str, ips: list[IP]) -> None:
        """Publish what an exported outport sent to its queue (blocks while the outbox is full)."""
        transport = self.transport
        if transport is None:
            return
        public = self._public_out.get(str(port).lower(), port)
        queue = self.outqueues.get(public)
        if queue is None:
            return
        drop = self.config.brackets == "drop"
        sent = 0
        wanted = [ip for ip in ips if not drop or ip.kind == DATA]
        for position, ip in enumerate(wanted):
            body, headers = encode_ip(ip)
            while not transport.publish(queue, body, headers, timeout=0.25):
                if network.stopping.is_set() or not transport._thread_alive():
                    # The broker takes no more before the stop: counted, reported at its end.
                    self.stats["discarded"] += len(wanted) - position
                    self.stats["sent"] += sent
                    return
            if ip.kind == DATA:
                sent += 1
        self.stats["sent"] += sent
        if sent:
            with self._unacked_lock:
                done = [self._unacked.popleft() for _ in range(min(sent, len(self._unacked)))]
                self._settled(done)
            if self.config.ack == "output":
                for delivery in done:
                    transport.ack(delivery)

    def outport_ip(self, network: Network, port: str, ip: IP) -> None:
        """Publish one IP, as ``outport_ips`` does."""
        self.outport_ips(network, port, [ip])

    def discarded(self, network: Network, count: int, drained: bool) -> None:
        """Remember whether the stop drained the network, which decides ack or requeue."""
        self._drained = drained and count == 0

    def finished(self, network: Network) -> None:
        """The graph ended by itself (not for a restart): report it and end ``wait``."""
        with self._restarted:
            if self._restarting:
                return  # a process error ended it: it is being restarted
        self._report({"type": "finished", "message": "every process of the graph ended"})
        self._done.set()

    def process_failed(self, network: Network, failure: Failure) -> bool:
        """A process that goes on after a failure (its error policy): the message whose IP it
        failed on goes to the dead letters at once, nothing restarts. A process the failure
        ended: :meth:`process_error` replaces it. Either way it is reported (True)."""
        if failure.outcome == STOP or failure.ip is None:
            super().process_failed(network, failure)
            return True
        self._report({"type": "process-error", "node": failure.node, "message": failure.line()})
        with self._unacked_lock:
            carried = self._carrying.pop(id(failure.ip), None)
            failing = carried[1] if carried is not None and carried[0] is failure.ip else None
            if failing is None and self._unacked:
                failing = self._unacked[0]  # an IP made inside the graph: the oldest message
            if failing is not None:
                self._unacked.remove(failing)
                self._settled([failing])
        self._dead_letter(failing, failure.node, failure.line())
        return True

    def process_error(self, network: Network, node: str, message: str, tb: str) -> None:
        """A message failed: it goes to the dead letters, and a process that ended with the
        error is replaced by a restart of the network (module docstring). Done by a thread
        of its own: the outputs of what went before must come out first."""
        self._report({"type": "process-error", "node": node, "message": message, "traceback": tb})
        proc = network.structure.process(node)
        thread = proc.thread if proc is not None else None
        with self._restarted, self._stop_lock:
            if thread is None or self._stopped or self._restarting:
                return
            self._restarting = True
        recover = threading.Thread(
            target=self._recover,
            args=(network, thread, node, message),
            name=f"{self.config.role}-recover",
        )
        self._threads.append(recover)
        recover.start()

    def _recover(self, network: Network, failed: threading.Thread, node: str, message: str) -> None:
        try:
            failed.join(STOP_TIMEOUT)
            if failed.is_alive():  # it goes on with its next IP (a per-IP error policy)
                self._dead_letter_oldest(node, message)
                return
            # The drain lets out what was made before the failure, so the oldest message
            # whose output has not come is the failing one.
            network.stop(STOP_TIMEOUT, drain=True)
            self._dead_letter_oldest(node, message)
            with self._unacked_lock:
                inside = list(self._unacked)
                self._unacked.clear()
                self._carrying.clear()
            self._drained = True
            if self._stopped:
                return
            network.start()
            self.stats["restarts"] += 1
            log.warning("%s: restarted the network after a process error", self.config.role)
            for delivery in inside:
                port = self._port_of_queue.get(delivery.queue)
                if port is not None:
                    network.send_inport(
                        port,
                        decode_ip(delivery.body, delivery.headers),
                        on_accepted=partial(self._requeued, delivery),
                        on_queued=partial(self._queued, delivery),
                    )
        except (NetworkError, CodecError) as exc:
            log.warning("%s: cannot restart the network: %s", self.config.role, exc)
            self._done.set()
        finally:
            with self._restarted:
                self._restarting = False
                self._restarted.notify_all()

    def _dead_letter_oldest(self, node: str, message: str) -> None:
        with self._unacked_lock:
            failing = self._unacked.popleft() if self._unacked else None
            if failing is not None:
                self._settled([failing])
        self._dead_letter(failing, node, message)

    def _dead_letter(self, failing: Delivery | None, node: str, message: str) -> None:
        transport = self.transport
        if failing is None or transport is None:
            return
        self.stats["dead"] += 1
        transport.dead_letter(failing, acked=self.config.ack == "accepted")
        self._report(
            {
                "type": "dead-letter",
                "queue": failing.queue,
                "node": node,
                "message": f"processing failed: {message}",
            }
        )

    def _requeued(self, delivery: Delivery, ok: bool) -> None:
        """A message fed in again after a restart (acknowledged already under ack=accepted)."""
        if not ok and self.config.ack == "output" and self.transport is not None:
            self.transport.reject(delivery, requeue=True)

    # -- reports --------------------------------------------------------------------------
    def _report_discarded(self) -> None:
        """One report (and log line) for the outputs a stop could not hand to the broker."""
        count = self.stats["discarded"]
        if count:
            queues = ", ".join(self.outqueues.values())
            self._report(
                {
                    "type": "discarded",
                    "count": count,
                    "message": f"{count} output message(s) for {queues} discarded at the "
                    "stop: the broker did not take them before the deadline",
                }
            )

    def _transport_status(self, info: dict[str, Any]) -> None:
        if (
            info.get("type") == "state"
            and info.get("state") == "connected"
            and info.get("previous") == "reconnecting"
            and not self._heartbeat_stop.is_set()
        ):
            self.announce()  # a coordinator (or a restarted broker) learns of us again
        self._report(info)

    def _report(self, info: dict[str, Any]) -> None:
        if self.on_status is not None:
            try:
                self.on_status(info)
            except Exception:  # noqa: BLE001 - never let a report break the participant
                log.exception("participant status callback failed")
        elif info.get("type") in ("refused", "discarded", "process-error", "dead-letter"):
            log.warning("%s: %s", self.config.role, info.get("message"))
