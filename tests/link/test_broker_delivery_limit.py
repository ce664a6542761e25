"""The delivery limit (issue 24): a message that kills the worker process itself under
``--ack output`` goes to the dead letters after N deliveries instead of killing every worker
that gets it; the good messages come out and the last worker stays alive."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import brokers
import pytest
from brokers import AmqpProbe, probe, unique_role
from processes import python_env

from flowpy.link.broker import Delivery
from flowpy.link.broker.redelivery import (
    COUNT,
    DEAD,
    DELIVERIES_HEADER,
    FEED,
    counted_headers,
    verdict,
)

mosquitto, rabbitmq, broker = brokers.mosquitto, brokers.rabbitmq, brokers.broker

#: A component that kills its worker process on the value "die" and forwards the rest.
KILLER = """\
import os

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Killer(Component):
    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        for ip in self.inports["in"]:
            if ip.is_data and ip.data == "die":
                os._exit(3)
            self.outports["out"].send(ip)
"""


def delivery(redelivered: bool, **headers: object) -> Delivery:
    return Delivery("r.IN", b'"x"', dict(headers), redelivered=redelivered)


def test_a_first_delivery_goes_to_the_graph() -> None:
    assert verdict(delivery(False), 3) == (FEED, 0)
    assert verdict(delivery(False, **{DELIVERIES_HEADER: 2}), 3) == (FEED, 2)


def test_a_redelivery_is_counted_then_dead_at_the_limit() -> None:
    assert verdict(delivery(True), 3) == (COUNT, 1)
    assert verdict(delivery(True, **{DELIVERIES_HEADER: 1}), 3) == (COUNT, 2)
    assert verdict(delivery(True, **{DELIVERIES_HEADER: "2"}), 3) == (DEAD, 3)  # MQTT: text


def test_no_limit_and_a_count_that_is_not_one() -> None:
    assert verdict(delivery(True, **{DELIVERIES_HEADER: 9}), 0) == (FEED, 9)
    assert verdict(delivery(True, **{DELIVERIES_HEADER: "many"}), 3) == (COUNT, 1)


def test_the_copy_keeps_the_headers_and_carries_the_count() -> None:
    original = delivery(True, **{"flowpy-ip": "openBracket", "topic": "r.IN"})
    assert counted_headers(original, 2) == {"flowpy-ip": "openBracket", DELIVERIES_HEADER: 2}


class Worker:
    """``flowpy participant`` as a supervisor runs it: no ready line awaited (a worker may die
    on a redelivered message before it prints one), output in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowpy", "participant", *args],
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env=python_env(),
        )

    def output(self) -> str:
        self._file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._file.close()


def dead_letters(client: object, broker: brokers.Broker, role: str) -> list[bytes]:
    if isinstance(client, AmqpProbe):
        return client.get_all(f"dead-{role}.IN")
    return client.messages(f"dead-{role}.IN", 1, timeout=0.5)  # type: ignore[attr-defined]


@pytest.mark.broker
def test_a_message_that_kills_the_worker_goes_to_the_dead_letters(
    broker: brokers.Broker, tmp_path: Path
) -> None:
    """A supervisor loop restarts the worker each time it dies: after 3 deliveries the bad
    message is in dead-ROLE.IN, the good ones came out, and the last worker stays alive and
    goes on working. On MQTT the worker has a fixed id, so its session (and the message it
    held) survives its death."""
    role = unique_role("limit")
    components = tmp_path / "components"
    components.mkdir()
    (components / "killer.py").write_text(KILLER)
    args = [
        "--broker",
        broker.url,
        "--role",
        role,
        "--ack",
        "output",
        "--prefetch",
        "1",
        "--delivery-limit",
        "3",
        "--components-dir",
        str(components),
        "killer/Killer",
    ]
    if broker.kind == "mqtt":
        args += ["--id", f"{role}-worker"]
    client = probe(broker)
    outputs: list[str] = []
    dead: list[bytes] = []
    workers: list[Worker] = []
    try:
        client.collect(f"{role}.OUT")
        if isinstance(client, AmqpProbe):
            client.declare_inqueue(f"{role}.IN")  # messages wait for the worker there
            dead_queue = f"dead-{role}.IN"  # declared as the worker declares it
            client.channel.exchange_declare(dead_queue, "fanout", durable=True)
            client.channel.queue_declare(dead_queue, durable=True)
            client.channel.queue_bind(dead_queue, dead_queue)
            workers.append(Worker(args, tmp_path / "worker0.txt"))
        else:
            client.collect(f"dead-{role}.IN")
            client.collect("fbp")
            workers.append(Worker(args, tmp_path / "worker0.txt"))
            # Its first announcement follows its subscription on the same connection.
            assert client.messages("fbp", 1, timeout=30), workers[0].output()
        for value in ("a", "die", "b", "c"):
            client.send(f"{role}.IN", value)
        deadline = time.monotonic() + 180
        while not (sorted(set(outputs)) == ["a", "b", "c"] and dead):
            worker = workers[-1]
            assert time.monotonic() < deadline, (outputs, dead, worker.output())
            # Waits for output at most a second, then looks at the worker: a supervisor's
            # loop (there is no event for "my child died" to await with the messages).
            got = client.messages(f"{role}.OUT", 1, timeout=1.0)
            outputs += [json.loads(body) for body in got]
            dead += dead_letters(client, broker, role)
            if worker.proc.poll() is not None:
                assert worker.proc.returncode == 3, worker.output()
                workers.append(Worker(args, tmp_path / f"worker{len(workers)}.txt"))
        worker = workers[-1]
        client.send(f"{role}.IN", "d")  # the last worker still works
        got = client.messages(f"{role}.OUT", 1, timeout=30)
        assert [json.loads(body) for body in got] == ["d"], worker.output()
        assert worker.proc.poll() is None, worker.output()
        assert worker.stop() == 143, worker.output()
        assert "delivery limit 3 reached" in worker.output()
    finally:
        client.close()
        for worker in workers:
            worker.close()
    deaths = len(workers) - 1
    assert deaths == 3
    assert dead == [b'"die"']
    assert sorted(set(outputs)) == ["a", "b", "c"]
