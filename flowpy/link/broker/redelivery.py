"""The delivery limit: a message whose deliveries keep ending with the worker gone goes to
the dead letters instead of killing the next worker.

The count travels in the message (header ``flowpy-deliveries``), so every worker of a pool
on either broker sees it: a redelivered message is published again to its own queue with
the count raised, then acknowledged (publish first, on the same connection, so a crash in
between leaves a duplicate, never a loss); at the limit it goes to ``dead-QUEUE``.
docs/distributed.md ("The delivery limit") says why not a quorum queue or a local count.
"""

from __future__ import annotations

from typing import Any

from .base import BrokerTransport, Delivery

#: The header (MQTT 5 user property) holding the deliveries of a message that ended unsettled.
DELIVERIES_HEADER = "flowpy-deliveries"
#: Deliveries ending unsettled after which a message goes to the dead letters.
DEFAULT_DELIVERY_LIMIT = 5

FEED, COUNT, DEAD = "feed", "count", "dead"


def failed_deliveries(headers: dict[str, Any]) -> int:
    """The count a message carries (0 if none, or if it is not a count)."""
    value = headers.get(DELIVERIES_HEADER)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        count = int(str(value)) if value is not None else 0
    except ValueError:
        return 0
    return max(0, count)


def verdict(delivery: Delivery, limit: int) -> tuple[str, int]:
    """What to do with ``delivery`` under ``limit`` (0: no limit), and its failed deliveries
    so far: ``FEED`` it to the graph; ``COUNT`` (publish it again carrying that count, then
    acknowledge it); ``DEAD`` (to the dead letters, the limit is reached)."""
    failed = failed_deliveries(delivery.headers)
    if not delivery.redelivered or limit <= 0:
        return FEED, failed
    failed += 1
    return (DEAD if failed >= limit else COUNT), failed


def counted_headers(delivery: Delivery, failed: int) -> dict[str, Any]:
    """The headers of the copy published again: the delivery's own, with the count."""
    headers = {key: value for key, value in delivery.headers.items() if key != "topic"}
    headers[DELIVERIES_HEADER] = failed
    return headers


def settle(delivery: Delivery, limit: int, transport: BrokerTransport) -> tuple[str, int]:
    """Apply :func:`verdict`: publish the counted copy and acknowledge (``COUNT``), or
    dead-letter (``DEAD``); nothing for ``FEED``. Returns the verdict."""
    action, failed = verdict(delivery, limit)
    if action == COUNT:
        transport.publish(delivery.queue, delivery.body, counted_headers(delivery, failed))
        transport.ack(delivery)
    elif action == DEAD:
        transport.dead_letter(delivery)
    return action, failed


def why_dead(delivery: Delivery, failed: int, limit: int) -> str:
    """The one line a dead-lettered message gets."""
    return (
        f"a message of {delivery.queue} was delivered {failed} times without being settled "
        f"(did it kill the worker?): delivery limit {limit} reached, to dead-{delivery.queue}"
    )
