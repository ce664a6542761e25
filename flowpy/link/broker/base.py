"""The one small interface both broker transports implement, and what they share.

A :class:`BrokerTransport` is one connection to a broker, owned by one I/O thread it starts,
names and joins. What callers do from other threads (publish, ack, reject, announce) goes
through one queue the I/O thread carries out in order, so a publish reaches the broker
before a later acknowledgement: that is what makes ``--ack output`` safe. Deliveries reach a
handler that must not block; the transport reconnects with backoff, declares again after
every connect, and drops acknowledgements of an earlier connection's deliveries (the broker
delivers those again: at-least-once).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from flowpy import errors
from flowpy.errors import FlowpyError, require_extra

log = logging.getLogger(__name__)

#: Environment variable holding the default broker URL, as in MsgFlo.
BROKER_ENV = "MSGFLO_BROKER"
#: The queue (AMQP) or topic (MQTT) participants announce themselves on.
DISCOVERY_QUEUE = "fbp"
#: Messages handed to a transport and not yet given to the broker, at most (then publish blocks).
DEFAULT_OUTBOX = 1000
DEFAULT_PREFETCH = 100


class BrokerError(FlowpyError):
    """A broker URL, connection or declaration flowpy cannot use."""


class MissingBrokerLibrary(BrokerError, errors.MissingExtra):
    """The broker client library of a transport is not installed."""


#: scheme -> (module of this package, client library, pip extra)
SCHEMES = {
    "mqtt": ("mqtt", "paho.mqtt.client", "mqtt"),
    "mqtts": ("mqtt", "paho.mqtt.client", "mqtt"),
    "amqp": ("amqp", "pika", "amqp"),
    "amqps": ("amqp", "pika", "amqp"),
}


def require_client(scheme: str) -> Any:
    """The client library for ``scheme``, imported; :class:`MissingBrokerLibrary` in one line naming
    the extra to install when it is not there."""
    if scheme not in SCHEMES:
        known = ", ".join(sorted(SCHEMES))
        raise BrokerError(f"unsupported broker scheme {scheme!r} (known: {known})")
    _module, library, extra = SCHEMES[scheme]
    return require_extra(library, extra, f"{scheme}://", error=MissingBrokerLibrary)


def default_broker_url() -> str | None:
    """``$MSGFLO_BROKER``, the broker MsgFlo's tools use when given none."""
    return os.environ.get(BROKER_ENV) or None


@dataclass(frozen=True)
class BrokerURL:
    """A parsed ``mqtt://``, ``mqtts://``, ``amqp://`` or ``amqps://`` URL."""

    url: str
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    path: str
    query: str

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Split and check a broker URL; BrokerError names what is wrong with it."""
        if not isinstance(url, str) or "://" not in url:
            raise BrokerError(
                f"broker URL {url!r} is not a URL (mqtt://HOST:PORT or "
                "amqp://USER:PASS@HOST:PORT/VHOST)"
            )
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            known = ", ".join(sorted(SCHEMES))
            raise BrokerError(f"unsupported broker scheme {scheme!r} in {url!r} (known: {known})")
        try:
            port = parts.port
        except ValueError:
            raise BrokerError(f"broker URL {url!r} has an invalid port") from None
        default_port = {"mqtt": 1883, "mqtts": 8883, "amqp": 5672, "amqps": 5671}[scheme]
        return cls(
            url=url,
            scheme=scheme,
            host=parts.hostname or "localhost",
            port=port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            path=parts.path,
            query=parts.query,
        )

    @property
    def transport(self) -> str:
        """``mqtt`` or ``amqp``."""
        return SCHEMES[self.scheme][0]

    def redacted(self) -> str:
        """The URL without its password, for logs and status reports."""
        if self.password is None:
            return self.url
        return self.url.replace(":" + self._password_quoted() + "@", ":***@", 1)

    def _password_quoted(self) -> str:
        netloc = urlsplit(self.url).netloc
        userinfo = netloc.rpartition("@")[0]
        return userinfo.partition(":")[2]


def dead_letter_queue(queue: str) -> str:
    """Where the messages of ``queue`` that cannot be processed go: ``dead-QUEUE`` (MsgFlo's
    dead-letter exchange and queue on AMQP; a topic of that name on MQTT)."""
    return "dead-" + queue


@dataclass
class Delivery:
    """One message received from the broker."""

    queue: str  # the queue (AMQP) or topic (MQTT) it came from
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    tag: Any = None  # the broker's handle for acknowledging it
    generation: int = 0  # which connection of the transport delivered it
    redelivered: bool = False


@dataclass
class TransportOptions:
    """How a transport connects and behaves (the same for MQTT and AMQP)."""

    client_id: str = ""
    #: Unacknowledged messages the broker may hand this client at once (AMQP basic.qos,
    #: MQTT 5 Receive Maximum).
    prefetch: int = DEFAULT_PREFETCH
    #: Publishes held before ``publish`` blocks (also while disconnected).
    outbox: int = DEFAULT_OUTBOX
    #: MQTT: keep the session (subscriptions, unacknowledged messages) this many seconds after
    #: a disconnect, under ``client_id``; 0 = a clean session every connect.
    session_expiry: int = 0
    #: MQTT: subscribe to inqueues as a shared subscription of this group (competing
    #: consumers); None = a plain subscription (every subscriber gets every message).
    share_group: str | None = None
    #: AMQP: wait for the broker's confirmation of every publish (slower; for components
    #: whose publishes are not followed by an acknowledgement that orders them).
    confirm: bool = False
    reconnect_initial: float = 0.2
    reconnect_max: float = 5.0
    connect_timeout: float = 10.0
    #: Called from the I/O thread with a dict for every state change and connection problem.
    on_status: Callable[[dict[str, Any]], None] | None = None


class BrokerTransport:
    """One broker connection served by its own I/O thread (see the module docstring).

    Subclasses implement the ``_io_*`` methods, which run on the I/O thread only.
    """

    scheme = ""

    def __init__(
        self, url: BrokerURL, options: TransportOptions | None = None, name: str = "broker"
    ) -> None:
        self.url = url
        self.options = options or TransportOptions()
        self.name = name
        self.state = "idle"
        self.generation = 0
        #: ``discarded``: publishes taken by :meth:`publish` that the broker had not been
        #: handed (AMQP) or had not confirmed (MQTT) when the transport closed.
        self.stats = {
            "published": 0,
            "delivered": 0,
            "acked": 0,
            "rejected": 0,
            "reconnects": 0,
            "discarded": 0,
        }
        self._inqueues: dict[str, Callable[[Delivery], None]] = {}
        self._outqueues: set[str] = set()
        self._declared_inqueues: set[str] = set()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._ops: deque[tuple[Any, ...]] = deque()
        self._publishes_held = 0
        self._closing = threading.Event()
        self._closing_deadline = 0.0
        self._connected = threading.Event()
        self._consuming = True
        self._thread: threading.Thread | None = None
        self._first_error: BaseException | None = None
        self._attempt = 0

    # -- setup (before start) -------------------------------------------------------------
    def declare_outqueue(self, queue: str) -> None:
        """A queue this client publishes to (AMQP: a fanout exchange of that name)."""
        self._outqueues.add(queue)

    def declare_inqueue(self, queue: str) -> None:
        """A queue others consume, declared so messages published to it wait there even
        before its consumer starts (AMQP: MsgFlo's inqueue declaration; MQTT: nothing)."""
        self._declared_inqueues.add(queue)

    def subscribe(self, queue: str, handler: Callable[[Delivery], None]) -> None:
        """Consume ``queue`` (AMQP: a durable queue bound to the exchange of the same name,
        as MsgFlo declares it; MQTT: the topic, QoS 1). ``handler`` runs on the I/O thread
        and must not block."""
        self._inqueues[queue] = handler

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Start the I/O thread. With ``wait``, block until the first connection is made and
        raise :class:`BrokerError` if it cannot be (within ``connect_timeout``); the
        transport is closed again then."""
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-io")
        self._thread.start()
        if not wait:
            return
        deadline = time.monotonic() + self.options.connect_timeout
        while not self._connected.wait(0.05):
            if time.monotonic() >= deadline or not self._thread.is_alive():
                break
        if not self._connected.is_set():
            error = self._first_error
            self.close(1.0)
            why = f": {error}" if error else ""
            raise BrokerError(f"cannot connect to {self.url.redacted()}{why}")

    def close(self, timeout: float = 5.0) -> None:
        """Carry out what is queued (within ``timeout``), disconnect, join the I/O thread.
        Unacknowledged deliveries go back to the broker (AMQP: at once; MQTT: when the
        session ends or, with a kept session, redelivered at the next connect). Publishes
        not carried out by then are counted in ``stats["discarded"]``."""
        self._closing_deadline = time.monotonic() + timeout
        self._closing.set()
        with self._room:
            self._room.notify_all()
        self._io_wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout + 1.0)
            if self._thread.is_alive():
                log.warning("%s: I/O thread did not end in %.1fs", self.name, timeout + 1.0)

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up now (it may drop and come back)."""
        return self._connected.is_set()

    # -- from any thread ------------------------------------------------------------------
    def publish(
        self,
        queue: str,
        body: bytes,
        headers: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Queue a message for ``queue``; blocks while ``outbox`` publishes are held (also
        while disconnected). False if it timed out or the transport is closing."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._room:
            while self._publishes_held >= self.options.outbox:
                if self._closing.is_set():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._room.wait(0.1 if remaining is None else min(remaining, 0.1))
            if self._closing.is_set():
                return False
            self._publishes_held += 1
        self._submit(("publish", queue, body, headers))
        return True

    def ack(self, delivery: Delivery) -> None:
        """Settle a delivery: the broker forgets the message."""
        self._submit(("ack", delivery))

    def reject(self, delivery: Delivery, requeue: bool = True) -> None:
        """Give a delivery back (AMQP ``basic.reject``; with ``requeue=False`` it goes to the
        queue's dead-letter exchange). MQTT has no reject: the message stays unacknowledged
        and the broker sends it again after a reconnect of a kept session."""
        self._submit(("reject", delivery, requeue))

    def dead_letter(self, delivery: Delivery, acked: bool = False) -> None:
        """``delivery`` can never be processed: to its dead-letter queue, never redelivered.
        Unacknowledged on AMQP, it is rejected without requeue (the broker dead-letters it,
        as MsgFlo does); otherwise its body is published to ``dead-QUEUE`` and, unless
        ``acked`` already, acknowledged (MQTT has no reject)."""
        if self.scheme == "amqp" and not acked:
            self.reject(delivery, requeue=False)
            return
        self.publish(dead_letter_queue(delivery.queue), delivery.body, dict(delivery.headers))
        if not acked:
            self.ack(delivery)

    def announce(self, body: bytes) -> None:
        """Publish ``body`` on the discovery queue ``fbp``."""
        self._submit(("announce", body))

    def stop_consuming(self, timeout: float = 5.0) -> bool:
        """Ask the broker for no more messages (AMQP ``basic.cancel``, MQTT unsubscribe) and
        wait until it confirms, so every message it sent before has been handed to the
        handlers. True if confirmed in time (or not connected)."""
        done = threading.Event()
        self._consuming = False
        self._submit(("cancel", done))
        return done.wait(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued operation has been carried out and every publish handed to
        the broker (MQTT: acknowledged by it). True if that happened in time."""
        deadline = time.monotonic() + timeout
        with self._room:
            while self._ops or self._publishes_held or self._io_unconfirmed():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._closing.is_set() and not self._thread_alive()):
                    return False
                self._room.wait(min(remaining, 0.05))
        return True

    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _submit(self, op: tuple[Any, ...]) -> None:
        """Hand an operation to the I/O thread, after every one submitted before it."""
        with self._lock:
            self._ops.append(op)
            wake = len(self._ops) == 1
        if wake:
            self._io_wake()

    # -- the I/O thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._io_main()
        except Exception:  # noqa: BLE001 - report, never die silently
            log.exception("%s: I/O thread failed", self.name)
        finally:
            self._connected.clear()
            self._set_state("closed")
            with self._room:
                self._room.notify_all()

    def _backoff(self) -> float:
        self._attempt += 1
        ceiling = min(
            self.options.reconnect_max, self.options.reconnect_initial * 2 ** (self._attempt - 1)
        )
        return random.uniform(ceiling / 2, ceiling)

    def _take_ops(self) -> list[tuple[Any, ...]]:
        with self._lock:
            ops = list(self._ops)
            self._ops.clear()
        return ops

    def _requeue_ops(self, ops: list[tuple[Any, ...]]) -> None:
        """Put back operations not carried out (a connection was lost midway), in order."""
        with self._lock:
            self._ops.extendleft(reversed(ops))

    def _published(self, count: int = 1) -> None:
        with self._room:
            self._publishes_held -= count
            self.stats["published"] += count
            self._room.notify_all()

    def _notify(self) -> None:
        with self._room:
            self._room.notify_all()

    def _set_state(self, state: str, **info: Any) -> None:
        previous, self.state = self.state, state
        if state == "connected":
            self._attempt = 0
        if previous != state or info:
            self._status(
                {
                    "type": "state",
                    "state": state,
                    "previous": previous,
                    "url": self.url.redacted(),
                    **info,
                }
            )

    def _status(self, info: dict[str, Any]) -> None:
        callback = self.options.on_status
        if callback is None:
            if info.get("type") == "retry":
                log.info("%s: %s", self.name, info.get("message"))
            return
        try:
            callback(info)
        except Exception:  # noqa: BLE001 - a listener bug must not kill the I/O thread
            log.exception("%s: status callback failed", self.name)

    def _stale(self, delivery: Delivery) -> bool:
        return delivery.generation != self.generation

    # -- to implement ---------------------------------------------------------------------
    def _io_main(self) -> None:
        raise NotImplementedError

    def _io_wake(self) -> None:
        """Wake the I/O thread (from any thread) so it carries out queued operations."""
        raise NotImplementedError

    def _io_unconfirmed(self) -> int:
        """Publishes handed to the broker and not yet confirmed by it (MQTT QoS 1)."""
        return 0
