"""Broker throughput: messages/s through flowpy participants on MQTT and on AMQP.

For each broker (Mosquitto and RabbitMQ, started here on free ports as the tests start them,
unless ``--mqtt``/``--amqp`` name running ones), all in one run:

* **bare client**: the broker's own round trip: a bare paho (QoS 1) or pika (persistent,
  manual acks, prefetch 100) client publishes N messages to a queue and a second connection
  of the same library consumes them: the ceiling for anything on that broker and machine;
* **1 participant**: ``python -m flowpy participant --role R core/Repeat`` (a process):
  the bench publishes N messages to ``R.IN`` and counts them back from ``R.OUT``;
* **pool of 2**: two such participants with the same role (competing consumers: MQTT
  shared subscription, AMQP one queue).

A figure is N divided by the time from the first publish to the last message back (best
of ``--repeat`` runs). Every process, the brokers included, shares the machine's cores:
compare the rows of one run, not runs of different machines.

    python bench/broker.py [--count 20000] [--repeat 2] [--ack accepted|output]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import brokers  # noqa: E402  (tests/support: starts brokers on free ports)


class Counter:
    """Counts messages arriving (from a consumer thread) until ``count``."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.done = threading.Event()
        self.finished_at = 0.0

    def add(self, n: int = 1) -> None:
        self.seen += n
        if self.seen >= self.count and not self.done.is_set():
            self.finished_at = time.perf_counter()
            self.done.set()


# -- MQTT ------------------------------------------------------------------------------------


def _mqtt_client(url: str, on_message=None):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, _, port = url.split("://", 1)[1].rpartition(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if on_message is not None:
        client.on_message = on_message
    client.connect(host, int(port))
    client.loop_start()
    return client


def mqtt_round_trip(url: str, send_to: str, receive_from: str, count: int) -> float:
    counter = Counter(count)
    subscribed = threading.Event()
    consumer = _mqtt_client(url, lambda c, u, m: counter.add())
    consumer.on_subscribe = lambda *args: subscribed.set()
    consumer.subscribe(receive_from, qos=1)
    subscribed.wait(10)
    producer = _mqtt_client(url)
    body = [json.dumps({"n": n, "text": "payload"}).encode() for n in range(count)]
    started = time.perf_counter()
    infos = [producer.publish(send_to, b, qos=1) for b in body]
    for info in infos[-1:]:
        info.wait_for_publish(60)
    ok = counter.done.wait(120)
    for client in (producer, consumer):
        client.disconnect()
        client.loop_stop()
    if not ok:
        raise RuntimeError(f"MQTT: {counter.seen} of {count} messages came back")
    return count / (counter.finished_at - started)


# -- AMQP ------------------------------------------------------------------------------------


def amqp_round_trip(
    url: str, send_to: str, receive_from: str, count: int, own_queue: bool
) -> float:
    """Publish to the MsgFlo queue ``send_to``; consume a queue bound to the exchange
    ``receive_from`` (or, for the bare baseline, ``send_to`` itself)."""
    import pika

    consumer = pika.BlockingConnection(pika.URLParameters(url))
    channel = consumer.channel()
    channel.basic_qos(prefetch_count=100)
    for name in {send_to, receive_from}:
        channel.exchange_declare(name, "fanout", durable=True)
    channel.queue_declare(
        send_to, durable=True, arguments={"x-dead-letter-exchange": "dead-" + send_to}
    )
    channel.queue_bind(send_to, send_to)
    if own_queue:
        target = send_to
    else:
        target = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(target, receive_from)
    counter = Counter(count)

    def consume() -> None:
        for method, _props, _body in channel.consume(target, inactivity_timeout=1):
            if method is not None:
                channel.basic_ack(method.delivery_tag)
                counter.add()
            if counter.done.is_set() or stop.is_set():
                break
        channel.cancel()

    stop = threading.Event()
    thread = threading.Thread(target=consume, name="bench-amqp-consumer")
    producer = pika.BlockingConnection(pika.URLParameters(url))
    pchannel = producer.channel()
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    body = [json.dumps({"n": n, "text": "payload"}).encode() for n in range(count)]
    thread.start()
    started = time.perf_counter()
    for b in body:
        pchannel.basic_publish(send_to, "", b, props)
    ok = counter.done.wait(120)
    stop.set()
    thread.join()
    producer.close()
    consumer.close()
    if not ok:
        raise RuntimeError(f"AMQP: {counter.seen} of {count} messages came back")
    return count / (counter.finished_at - started)


# -- participants ----------------------------------------------------------------------------


def start_participants(url: str, role: str, how_many: int, ack: str, workdir: Path) -> list:
    procs = []
    for n in range(how_many):
        procs.append(
            brokers.ParticipantProcess(
                ["--broker", url, "--role", role, "--ack", ack, "--prefetch", "100", "core/Repeat"],
                workdir / f"{role}-{n}",
            )
        )
    return procs


def measure(kind: str, url: str, count: int, repeat: int, ack: str, workdir: Path) -> dict:
    def trip(send_to: str, receive_from: str, bare: bool) -> float:
        if kind == "mqtt":
            return mqtt_round_trip(url, send_to, receive_from, count)
        return amqp_round_trip(url, send_to, receive_from, count, own_queue=bare)

    results = {}
    bare = f"bench-{uuid.uuid4().hex[:6]}"
    results["bare client"] = max(trip(bare, bare, True) for _ in range(repeat))
    for label, size in (("1 participant", 1), ("pool of 2", 2)):
        role = f"bench{uuid.uuid4().hex[:6]}"
        procs = start_participants(url, role, size, ack, workdir)
        try:
            results[label] = max(trip(f"{role}.IN", f"{role}.OUT", False) for _ in range(repeat))
        finally:
            for proc in procs:
                proc.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--ack", choices=("accepted", "output"), default="accepted")
    parser.add_argument("--mqtt", metavar="URL", help="use this MQTT broker")
    parser.add_argument("--amqp", metavar="URL", help="use this AMQP broker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowpy-bench-broker-") as tmp:
        workdir = Path(tmp)
        started = []
        try:
            urls = {}
            if args.mqtt:
                urls["mqtt"] = args.mqtt
            else:
                started.append(brokers.start_mosquitto(workdir / "mosquitto"))
                urls["mqtt"] = started[-1].url
            if args.amqp:
                urls["amqp"] = args.amqp
            else:
                started.append(brokers.start_rabbitmq(workdir / "rabbitmq"))
                urls["amqp"] = started[-1].url
            print(f"{args.count} messages per run, best of {args.repeat}, ack={args.ack}")
            print(f"{'broker':8} {'path':16} {'messages/s':>11} {'vs bare':>8}")
            for kind, url in urls.items():
                results = measure(kind, url, args.count, args.repeat, args.ack, workdir)
                base = results["bare client"]
                for label, rate in results.items():
                    print(f"{kind:8} {label:16} {rate:11,.0f} {rate / base:7.2f}x", flush=True)
        finally:
            for broker in started:
                broker.stop()


if __name__ == "__main__":
    main()
