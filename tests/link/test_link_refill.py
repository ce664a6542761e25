"""A Link's reader refills the send window from the acks it has just read: the packets waiting
behind a full window are queued and written by the reader's own thread, never waiting for
the socket, instead of waking the process thread that put them (flowpy.link.link)."""

from __future__ import annotations

import threading
from typing import Any

from flowpy.link.config import LinkConfig
from flowpy.link.link import Link
from flowpy.link.negotiate import LinkConnection


class RecordingClient:
    """What a Link asks of a connection's client, recorded with the thread that asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self.places = 0

    def queue_named_packets(self, graph: str, packets: Any, ids: list[str]) -> int:
        self.calls.append(("queue", list(ids), threading.current_thread().name))
        self.places += 1
        return self.places

    def flush(self, upto: int, timeout: float | None = None) -> None:
        self.calls.append(("flush", upto, threading.current_thread().name))

    def flush_nowait(self) -> None:
        self.calls.append(("flush_nowait", None, threading.current_thread().name))


def packetsent(seq: int) -> dict[str, Any]:
    return {"protocol": "runtime", "command": "packetsent", "responseTo": f"L1-{seq}"}


def test_the_reader_writes_what_waits_behind_a_full_window_without_waiting():
    link = Link(LinkConfig.parse("ws://127.0.0.1:9/?graph=g&window=4"), name="refill")
    client = RecordingClient()
    conn = LinkConnection(client, 1)  # type: ignore[arg-type]
    link.window.attach(conn, lambda: None)
    sender = threading.Thread(
        target=link.send_many, args=([("in", "data", n) for n in range(8)],), name="process"
    )
    sender.start()
    sender.join(10)
    # the process thread wrote a window (4) and waited for the socket; 4 more wait in the window
    assert client.calls == [("queue", ["L1-1", "L1-2", "L1-3", "L1-4"], "process")] + [
        ("flush", 1, "process")
    ]
    assert len(link.window) == 8
    client.calls.clear()

    reader = threading.Thread(
        target=lambda: (
            link.router.route_many(conn, [packetsent(1), packetsent(2)]),
            link._refill(conn),
        ),
        name="reader",
    )
    reader.start()
    reader.join(10)
    # the two acks of one read make room for two: queued and written by the reader, at once
    assert client.calls == [
        ("queue", ["L1-5", "L1-6"], "reader"),
        ("flush_nowait", None, "reader"),
    ]
    assert link.window.take() is None  # nothing more fits until the next ack
