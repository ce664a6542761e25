"""Scale-out on AMQP: a pool of participants with one role shares one input queue
(competing consumers), and losing one of them mid-stream loses no message."""

from __future__ import annotations

import json
import signal
import time

import brokers
import pytest
from brokers import REPEAT_FBP, AmqpProbe, graph_file, participants, unique_role

pytestmark = [pytest.mark.broker, pytest.mark.integration]
rabbitmq = brokers.rabbitmq

TOTAL = 10_000


def test_a_pool_of_three_shares_a_queue_and_survives_a_kill(rabbitmq, tmp_path):
    role = unique_role("pool")
    graph = str(graph_file(tmp_path, "repeat", REPEAT_FBP))
    client = AmqpProbe(rabbitmq.url)
    client.declare_inqueue(f"{role}.IN")
    out_queue = client.collect(f"{role}.OUT")
    args = ["--broker", rabbitmq.url, "--role", role, "--ack", "output", "--prefetch", "50", graph]
    with participants(tmp_path) as start:
        pool = [start(args + ["--id", f"{role}-{n}"]) for n in range(3)]
        consumers = client.channel.queue_declare(f"{role}.IN", passive=True).method
        assert consumers.consumer_count == 3  # competing consumers on one queue
        for n in range(TOTAL):
            client.send(f"{role}.IN", {"id": n, "payload": f"message {n}"})

        seen: list[int] = []
        victim = pool[1]
        killed_at = None
        deadline = time.monotonic() + 120
        for method, _props, body in client.channel.consume(out_queue, inactivity_timeout=0.5):
            if method is not None:
                message = json.loads(body)
                assert message == {"id": message["id"], "payload": f"message {message['id']}"}
                seen.append(message["id"])
                client.channel.basic_ack(method.delivery_tag)
            if killed_at is None and len(seen) >= TOTAL // 3:
                victim.signal(signal.SIGKILL)  # mid-stream, holding unacknowledged messages
                killed_at = len(seen)
            if len(set(seen)) == TOTAL or time.monotonic() > deadline:
                break
        client.channel.cancel()
        assert victim.wait() == -signal.SIGKILL
        # stragglers (duplicates of what the victim had published but not acknowledged)
        seen += [json.loads(b)["id"] for b in client.messages(f"{role}.OUT", TOTAL, 1.0)]
        for survivor in (pool[0], pool[2]):
            assert survivor.stop() == 143, survivor
    left = client.channel.queue_declare(f"{role}.IN", passive=True).method.message_count
    client.close()

    assert killed_at is not None and killed_at < TOTAL
    assert set(seen) == set(range(TOTAL)), f"lost: {sorted(set(range(TOTAL)) - set(seen))[:20]}"
    assert len(set(seen)) == TOTAL  # output count after de-duplication by id = input count
    assert left == 0
    duplicates = len(seen) - TOTAL
    print(
        f"\n{TOTAL} messages, 3 participants, one killed after {killed_at} outputs: "
        f"{duplicates} duplicate(s) (at-least-once)"
    )
