"""Windowed sending: a stream of ``runtime:packet`` requests with at most ``window`` of them
unacknowledged, for :meth:`flowpy.link.client.Client.send_stream` and ``send_batches``
(``flowpy send`` and every Python feeder of a remote graph).

As much of a batch as the window has room for is written at once (one system call, not one
per packet), and nothing waits for a later batch before sending an earlier one: a caller
hands over what it has (the lines read so far, say) as one batch. A full window is refilled
a quarter at a time: waiting for one acknowledgement and then writing one packet would cost
the sending thread a wake-up and the socket a write (and the runtime a read) per packet.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, Protocol

from .pending import Pending


class PacketSender(Protocol):
    """What windowed sending needs of :class:`flowpy.link.client.Client` (which calls it)."""

    timeout: float

    def send_packets_nowait(
        self, graph: str, port: str, packets: Iterable[tuple[str, Any]]
    ) -> list[Pending]:
        """Send packets to ``port`` of ``graph`` without waiting for their replies."""

    def wait(self, pending: Pending, timeout: float | None = None) -> list[dict[str, Any]]:
        """Wait for the replies to ``pending``."""

    def give_up(self, pending: Pending, limit: float) -> NoReturn:
        """Raise the error for a request that got no reply within ``limit``."""


def send_stream(
    client: PacketSender,
    graph: str,
    port: str,
    values: Iterable[Any],
    window: int = 100,
    timeout: float | None = None,
) -> int:
    """connect, a data packet per value, disconnect; the number of data packets sent.
    Values are taken ``window`` at a time, and written together when the window has room."""
    data = iter(values)
    batches = itertools.chain(
        [[("connect", None)]],
        iter(lambda: [("data", v) for v in itertools.islice(data, max(1, window))], []),
        [[("disconnect", None)]],
    )
    return send_batches(client, graph, port, batches, window, timeout)


def send_batches(
    client: PacketSender,
    graph: str,
    port: str,
    batches: Iterable[Sequence[tuple[str, Any]]],
    window: int = 100,
    timeout: float | None = None,
) -> int:
    """A runtime:packet per ``(event, payload)`` of each batch, in order, at most ``window``
    unacknowledged; the number of data packets sent (see the module docstring)."""
    window = max(1, window)
    refill = max(1, window // 4)
    inflight: deque[Pending] = deque()
    sent = 0
    for batch in batches:
        at = 0
        while at < len(batch):
            if len(inflight) >= window:
                _wait_for_room(client, inflight, refill, timeout)
            while inflight and inflight[0].done.is_set():
                client.wait(inflight.popleft(), timeout)
            part = batch[at : at + window - len(inflight)]
            at += len(part)
            inflight.extend(client.send_packets_nowait(graph, port, part))
            sent += sum(event == "data" for event, _ in part)
    while inflight:
        client.wait(inflight.popleft(), timeout)
    return sent


def _wait_for_room(
    client: PacketSender, inflight: deque[Pending], room: int, timeout: float | None
) -> None:
    """Wait until the oldest ``room`` requests of ``inflight`` are answered (or the oldest
    one fails or times out) and take the oldest off, so that an error is raised for the
    first request that failed."""
    limit = client.timeout if timeout is None else timeout
    if not inflight[min(room, len(inflight)) - 1].done.wait(limit):
        if not inflight[0].done.is_set():
            client.give_up(inflight[0], limit)
    client.wait(inflight.popleft(), timeout)
