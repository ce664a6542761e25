"""AMQP 0-9-1 (RabbitMQ) with pika's blocking connection, on one I/O thread.

Queues are declared exactly as MsgFlo's participants declare them (an inqueue ``Q`` durable
with ``x-dead-letter-exchange: dead-Q`` behind a fanout exchange ``Q``, an outqueue a fanout
exchange, dead letters kept in ``dead-Q``, discovery on ``fbp``), so flowpy and MsgFlo share
a broker without a declaration conflict (docs/distributed.md). Consumption uses manual
acknowledgements and ``basic.qos(prefetch)``; messages are published persistent as
``application/json``.
"""

from __future__ import annotations

import logging
from typing import Any

import pika
import pika.exceptions

from .base import (
    DISCOVERY_QUEUE,
    BrokerTransport,
    BrokerURL,
    Delivery,
    TransportOptions,
    dead_letter_queue,
)

log = logging.getLogger(__name__)

#: How long the I/O loop sleeps when nothing happens (it is woken for queued operations).
IDLE = 1.0


def inqueue_arguments(queue: str) -> dict[str, Any]:
    """The arguments MsgFlo gives an inqueue; a queue declared otherwise would conflict."""
    return {"x-dead-letter-exchange": dead_letter_queue(queue)}


class AmqpTransport(BrokerTransport):
    """Talks AMQP 0-9-1 (RabbitMQ) for a participant, on the I/O thread of the base."""

    scheme = "amqp"

    def __init__(
        self, url: BrokerURL, options: TransportOptions | None = None, name: str = "amqp"
    ) -> None:
        super().__init__(url, options, name)
        self._connection: Any = None
        self._channel: Any = None
        self._consumers: dict[str, str] = {}  # queue -> consumer tag
        params = pika.URLParameters(url.url if url.scheme.startswith("amqp") else url.url)
        params.connection_attempts = 1
        params.socket_timeout = max(1.0, self.options.connect_timeout)
        params.blocked_connection_timeout = None
        if not url.query or "heartbeat" not in url.query:
            params.heartbeat = 30
        if self.options.client_id:
            params.client_properties = {"connection_name": self.options.client_id}
        self._params = params
        self._json = pika.BasicProperties(content_type="application/json", delivery_mode=2)

    # -- I/O thread -----------------------------------------------------------------------
    def _io_wake(self) -> None:
        connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(_nothing)
            except Exception:  # noqa: BLE001 - closed meanwhile: the loop notices by itself
                pass

    def _io_main(self) -> None:
        while not self._closing.is_set():
            try:
                self._io_connect()
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._first_error = self._first_error or exc
                self._io_disconnected(exc, connecting=True)
                continue
            try:
                self._io_serve()
            except Exception as exc:  # noqa: BLE001 - pika raises more than AMQPError when
                self._io_disconnected(exc)  # its socket dies under it; all mean: reconnect
                continue
            break
        self._io_close()

    def _io_connect(self) -> None:
        self._set_state(
            "connecting" if self.generation == 0 else "reconnecting", attempt=self._attempt + 1
        )
        connection = pika.BlockingConnection(self._params)
        self._connection = connection
        channel = connection.channel()
        self._channel = channel
        if self.options.confirm:
            channel.confirm_delivery()
        channel.basic_qos(prefetch_count=max(0, int(self.options.prefetch)))
        for queue in sorted(self._outqueues):
            channel.exchange_declare(queue, "fanout", durable=True)
        self._consumers = {}
        for queue in sorted(self._declared_inqueues | set(self._inqueues)):
            channel.queue_declare(queue, durable=True, arguments=inqueue_arguments(queue))
            channel.exchange_declare(queue, "fanout", durable=True)
            channel.queue_bind(queue, queue)
            # Its dead letters (as MsgFlo declares them): a fanout exchange and a queue, both
            # dead-Q, so what is rejected without requeue is kept, not dropped by the broker.
            dead = dead_letter_queue(queue)
            channel.exchange_declare(dead, "fanout", durable=True)
            channel.queue_declare(dead, durable=True)
            channel.queue_bind(dead, dead)
        for queue, handler in sorted(self._inqueues.items()):
            if self._consuming:
                self._consumers[queue] = channel.basic_consume(
                    queue, self._on_message(queue, handler), auto_ack=False
                )
        self.generation += 1
        if self.generation > 1:
            self.stats["reconnects"] += 1
        self._connected.set()
        self._set_state("connected")

    def _on_message(self, queue: str, handler: Any) -> Any:
        def deliver(channel: Any, method: Any, properties: Any, body: bytes) -> None:
            self.stats["delivered"] += 1
            handler(
                Delivery(
                    queue,
                    body,
                    properties.headers or {},
                    method.delivery_tag,
                    self.generation,
                    bool(method.redelivered),
                )
            )

        return deliver

    def _io_serve(self) -> None:
        connection = self._connection
        while True:
            ops = self._take_ops()
            if ops:
                self._io_run(ops)
            elif self._closing.is_set():
                return
            connection.process_data_events(time_limit=0 if self._ops else IDLE)

    def _io_run(self, ops: list[tuple[Any, ...]]) -> None:
        channel = self._channel
        for position, op in enumerate(ops):
            kind = op[0]
            try:
                if kind == "publish":
                    _, queue, body, headers = op
                    properties = (
                        self._json
                        if not headers
                        else pika.BasicProperties(
                            content_type="application/json", delivery_mode=2, headers=headers
                        )
                    )
                    channel.basic_publish(queue, "", body, properties)
                    self._published()
                elif kind == "ack":
                    delivery = op[1]
                    if not self._stale(delivery):
                        channel.basic_ack(delivery.tag)
                        self.stats["acked"] += 1
                elif kind == "reject":
                    _, delivery, requeue = op
                    if not self._stale(delivery):
                        channel.basic_reject(delivery.tag, requeue=requeue)
                        self.stats["rejected"] += 1
                elif kind == "announce":
                    channel.queue_declare(DISCOVERY_QUEUE, durable=True)
                    channel.basic_publish("", DISCOVERY_QUEUE, op[1], self._json)
                elif kind == "cancel":
                    for tag in self._consumers.values():
                        channel.basic_cancel(tag)
                    self._consumers = {}
                    op[1].set()
            except Exception:
                self._requeue_ops(ops[position:])
                raise
        self._notify()

    def _io_disconnected(self, error: BaseException, connecting: bool = False) -> None:
        self._connected.clear()
        self._drop_connection()
        if self._closing.is_set():
            return
        delay = self._backoff()
        self._status(
            {
                "type": "retry",
                "message": f"{type(error).__name__}: {error}",
                "attempt": self._attempt,
                "retry_in": round(delay, 3),
            }
        )
        if not connecting:
            self._set_state("reconnecting", reason=str(error) or type(error).__name__)
        self._closing.wait(delay)
        if self._closing.is_set():  # closed while away: nothing queued will be carried out
            self._drop_ops()

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is going anyway
                pass

    def _io_close(self) -> None:
        self._connected.clear()
        self._drop_ops()
        self._drop_connection()

    def _drop_ops(self) -> None:
        """Operations never carried out: tell the waiters of a "cancel", count publishes off
        as discarded."""
        for op in self._take_ops():
            if op[0] == "cancel":
                op[1].set()
            elif op[0] == "publish":
                with self._room:
                    self._publishes_held -= 1
                    self.stats["discarded"] += 1
                    self._room.notify_all()


def _nothing() -> None:
    """Scheduled on the I/O thread just to wake it."""
