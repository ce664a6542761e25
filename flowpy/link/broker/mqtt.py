"""MQTT (Mosquitto and others) with paho-mqtt, on one I/O thread.

A MsgFlo queue ``Q`` is the topic ``Q``. flowpy speaks MQTT 5 (brackets marked by a user
property, ``Receive Maximum`` as the prefetch), with QoS 1 and manual acknowledgement, so a
message is acknowledged only once the network has it; MQTT 3.1.1 clients (MsgFlo's) share
the topics. Participants of one role share a topic through ``$share/ROLE/Q``. MQTT has no
reject: an unacknowledged message comes back only with a kept session (``session_expiry`` > 0
and a fixed id); docs/distributed.md has the rules.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .base import DISCOVERY_QUEUE, BrokerTransport, BrokerURL, Delivery, TransportOptions

log = logging.getLogger(__name__)

#: How long one turn of the I/O loop may wait for the socket (it is woken for writes).
IDLE = 1.0
KEEPALIVE = 30


class MqttTransport(BrokerTransport):
    """Talks MQTT 5 (Mosquitto and others) for a participant, on the I/O thread of the base."""

    scheme = "mqtt"

    def __init__(
        self, url: BrokerURL, options: TransportOptions | None = None, name: str = "mqtt"
    ) -> None:
        super().__init__(url, options, name)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if url.scheme == "mqtts":
            client.tls_set()
        client.max_inflight_messages_set(max(20, self.options.outbox))
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_unsubscribe = self._on_unsubscribe
        self._client = client
        self._topics: dict[str, str] = {}  # subscribed topic filter -> queue
        self._unsubscribing: dict[int, threading.Event] = {}
        self._mqtt_lock = threading.Lock()  # orders acks against reconnects
        #: Discovery messages handed to paho, maybe not confirmed yet (not outputs: a close
        #: does not count them as discarded).
        self._announcing: list[mqtt.MQTTMessageInfo] = []
        self._announce_lock = threading.Lock()

    # -- from any thread: paho's calls are thread-safe in threaded mode, so operations are
    # -- carried out at once, in the caller's order.
    def _submit(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        client = self._client
        if kind == "publish":
            _, queue, body, headers = op
            properties = None
            if headers:
                properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: untyped
                properties.UserProperty = [(str(k), str(v)) for k, v in headers.items()]
            client.publish(queue, body, qos=1, properties=properties)
        elif kind == "ack":
            delivery = op[1]
            with self._mqtt_lock:
                mid, qos = delivery.tag
                if qos and not self._stale(delivery) and self._connected.is_set():
                    client.ack(mid, qos)  # (a QoS 0 message has nothing to acknowledge)
                    self.stats["acked"] += 1
        elif kind == "reject":
            self.stats["rejected"] += 1  # no reject in MQTT: it stays unacknowledged
        elif kind == "announce":
            with self._room:
                self._publishes_held += 1
            info = client.publish(DISCOVERY_QUEUE, op[1], qos=1)
            with self._announce_lock:  # never around a paho call: paho calls back under its own
                self._announcing = [i for i in self._announcing if _unconfirmed(i)]
                self._announcing.append(info)
        elif kind == "cancel":
            done = op[1]
            with self._mqtt_lock:
                topics = list(self._topics)
                if not topics or not self._connected.is_set():
                    done.set()
                    return
                result, mid = client.unsubscribe(topics)
                if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
                    done.set()
                    return
                self._unsubscribing[mid] = done

    def _io_wake(self) -> None:
        # paho wakes its loop itself for every packet queued; only a close needs waking
        if self._closing.is_set() and not self._publishes_held:
            self._client.disconnect()

    # -- the I/O thread -------------------------------------------------------------------
    def _io_main(self) -> None:
        client = self._client
        # Threaded mode, with our own (named, joined, non-daemon) thread instead of paho's
        # daemon thread: calls from other threads then only queue packets and wake the loop.
        client._thread = threading.current_thread()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
        properties.ReceiveMaximum = max(1, min(65535, int(self.options.prefetch or 65535)))
        if self.options.session_expiry:
            properties.SessionExpiryInterval = int(self.options.session_expiry)
        first = True
        while not self._closing.is_set():
            self._set_state("connecting" if first else "reconnecting", attempt=self._attempt + 1)
            try:
                if first:
                    client.connect(
                        self.url.host,
                        self.url.port,
                        keepalive=KEEPALIVE,
                        clean_start=not self.options.session_expiry,
                        properties=properties,
                    )
                    first = False
                else:
                    client.reconnect()
            except OSError as exc:
                self._first_error = self._first_error or exc
                self._retry(exc)
                continue
            reason = self._loop()
            if self._closing.is_set():
                break
            self._connected.clear()
            self._retry(ConnectionError(reason))
        self._finish()

    def _loop(self) -> str:
        client = self._client
        while True:
            rc = client.loop(IDLE)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return mqtt.error_string(rc)
            if self._closing.is_set():
                deadline = self._closing_deadline
                if (
                    not self._publishes_held
                    or time.monotonic() >= deadline
                    or not self._connected.is_set()
                ):
                    return "closing"

    def _retry(self, error: BaseException) -> None:
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
        self._closing.wait(delay)

    def _finish(self) -> None:
        client = self._client
        with self._mqtt_lock:
            self._connected.clear()
            for done in self._unsubscribing.values():
                done.set()
            self._unsubscribing.clear()
        try:
            client.disconnect()
            client.loop(0.1)  # write the DISCONNECT
        except Exception:  # noqa: BLE001 - it is going anyway
            pass
        with self._announce_lock:
            announcing = sum(1 for info in self._announcing if _unconfirmed(info))
            self._announcing = []
        with self._room:  # what the broker has not confirmed, discovery messages aside
            self.stats["discarded"] += max(0, self._publishes_held - announcing)
            self._publishes_held = 0
            self._room.notify_all()

    # -- paho callbacks (I/O thread) ------------------------------------------------------
    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._first_error = self._first_error or ConnectionError(str(reason))
            self._status(
                {
                    "type": "retry",
                    "message": f"broker refused: {reason}",
                    "attempt": self._attempt + 1,
                    "retry_in": 0,
                }
            )
            return
        with self._mqtt_lock:
            self.generation += 1
            if self.generation > 1:
                self.stats["reconnects"] += 1
            self._topics = {}
            if self._consuming:
                for queue in self._inqueues:
                    group = self.options.share_group
                    topic = f"$share/{group}/{queue}" if group else queue
                    self._topics[topic] = queue
                if self._topics:
                    client.subscribe([(topic, 1) for topic in self._topics])
            self._connected.set()
        self._set_state("connected", session_present=bool(getattr(flags, "session_present", False)))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._mqtt_lock:
            self._connected.clear()
            for done in self._unsubscribing.values():
                done.set()
            self._unsubscribing.clear()
        if not self._closing.is_set():
            self._set_state("reconnecting", reason=str(reason))

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        topic = message.topic
        queue = topic
        handler = self._inqueues.get(topic)
        if handler is None:  # a subscription with wildcards
            for candidate, function in self._inqueues.items():
                if mqtt.topic_matches_sub(candidate, topic):
                    queue, handler = candidate, function
                    break
            else:
                return  # not ours (a late message after unsubscribing)
        headers: dict[str, Any] = {}
        props = getattr(message, "properties", None)
        for key, value in getattr(props, "UserProperty", None) or ():
            headers[key] = value
        self.stats["delivered"] += 1
        headers.setdefault("topic", topic)
        handler(
            Delivery(
                queue,
                message.payload,
                headers,
                (message.mid, message.qos),
                self.generation,
                bool(message.dup),
            )
        )

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        self._published()

    def _on_unsubscribe(
        self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        with self._mqtt_lock:
            done = self._unsubscribing.pop(mid, None)
            self._topics = {}
        if done is not None:
            done.set()


def _unconfirmed(info: mqtt.MQTTMessageInfo) -> bool:
    """A QoS 1 publish the broker has not acknowledged (one paho took while disconnected,
    or could not queue, counts as unconfirmed: paho cannot tell)."""
    try:
        return not info.is_published()
    except (ValueError, RuntimeError):
        return True
