"""A Link's router takes what one read of a plain-mode connection brought at once: the
runtime:packetsent of its packets as one cumulative acknowledgement, the outputs of its
graph offered to the inbox together."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from flowpy.link.config import LinkConfig
from flowpy.link.inbox import Inbox
from flowpy.link.negotiate import PLAIN, Negotiator
from flowpy.link.router import Router
from flowpy.link.window import SendWindow


def test_one_read_of_plain_replies_and_outputs_is_routed_at_once():
    stats = dict.fromkeys(
        (
            "sent",
            "resent",
            "acked",
            "handed_over",
            "received",
            "duplicates",
            "came_back",
            "inbox_peak",
            "debug",
        ),
        0,
    )
    window, inbox = SendWindow(10, stats), Inbox(10, stats, "test")
    config = LinkConfig.parse("ws://127.0.0.1:9/?graph=g")
    negotiator = Negotiator(config, "s", "test", (), (), lambda *a: None, print, print)
    router = Router(window, inbox, negotiator, stats, print, print)
    conn = SimpleNamespace(mode=PLAIN, lost=threading.Event(), tag="L1-", hello_id=None)
    conn.seq_of = lambda rid: (
        int(rid[3:]) if isinstance(rid, str) and rid.startswith("L1-") else None
    )
    window.attach(conn, lambda: None)
    window.put([("in", "data", n) for n in range(5)])
    window.take()  # written
    acks: list[int] = []
    real_ack = window.ack
    window.ack = lambda c, seq: (acks.append(seq), real_ack(c, seq))[1]  # type: ignore[method-assign]

    def reply(seq):
        return {"protocol": "runtime", "command": "packetsent", "responseTo": f"L1-{seq}"}

    def out(value, graph="g"):
        payload = {"graph": graph, "port": "out", "event": "data", "payload": value}
        return {"protocol": "runtime", "command": "packet", "payload": payload}

    router.route_many(
        conn,
        [
            reply(1),
            out("a"),
            reply(2),
            out("x", graph="other"),
            reply(3),
            out("b"),
            {"protocol": "runtime", "command": "packetsent", "responseTo": "someone-else-7"},
        ],
    )
    assert acks == [3]  # one cumulative acknowledgement
    assert len(window) == 2 and stats["acked"] == 3
    assert [item.payload for item in inbox._items] == ["a", "b"]
