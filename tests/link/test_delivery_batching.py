"""What the remote sends a link is delivered a batch at a time: the entries of one
``flowpy:packets`` are queued under one lock, the delivery thread takes everything queued at
once, and a Bridge sends a run of IPs for one outport with one ``send_raw``; duplicates,
malformed entries, the acknowledgements and the stop rules stay as they were per packet."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from flowpy.engine.connection import NetworkStopped
from flowpy.engine.ip import CLOSE, DATA, IP, OPEN, as_ips
from flowpy.link.config import LinkConfig
from flowpy.link.inbox import Inbox
from flowpy.link.process import ProcessLink
from flowpy.link.window import SendWindow


def stats() -> dict[str, int]:
    keys = ("received", "duplicates", "came_back", "inbox_peak")
    return dict.fromkeys(keys, 0)


def entry(seq: int, event: str = "data", port: str = "out") -> dict:
    return {"port": port, "event": event, "payload": seq, "seq": seq}


def test_one_frame_of_entries_is_queued_and_delivered_as_one_batch():
    inbox = Inbox(100, stats(), "test")
    lost = threading.Event()
    inbox.offer_many(
        [entry(1), entry(2), "junk", {"port": "out", "event": "bogus", "seq": 3}], True, lost
    )
    inbox.offer_many([entry(2), entry(3), entry(4, "endgroup")], True, lost)  # 2 again: dropped
    batches: list[list] = []
    acks: list[int] = []

    def many(packets: list) -> int:
        batches.append(packets)
        inbox.close()  # one round is enough
        return len(packets)

    def send_ack() -> None:
        seq = inbox.take_ack()
        if seq is not None:
            acks.append(seq)

    inbox.deliver(lambda *packet: True, send_ack, many)
    assert batches == [
        [("out", "data", 1), ("out", "data", 2), ("out", "data", 3), ("out", "endgroup", 4)]
    ]
    assert inbox.stats["duplicates"] == 1 and inbox.stats["received"] == 4
    assert inbox.stats["came_back"] == 3
    assert acks == [4]  # everything delivered, nothing else queued: acknowledged at once


def test_a_batch_cut_short_is_acknowledged_only_as_far_as_it_was_taken():
    inbox = Inbox(100, stats(), "test")
    inbox.offer_many([entry(n) for n in range(1, 6)], True, threading.Event())
    acks: list[int] = []

    def send_ack() -> None:
        seq = inbox.take_ack()
        if seq is not None:
            acks.append(seq)

    inbox.deliver(lambda *packet: True, send_ack, lambda packets: 2)  # the local side stopped
    assert acks == [2] and inbox.stats["received"] == 2


class Port:
    """A bound outport that records what it is sent, and how."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[str, list[IP]]] = []
        self.stop_after = stop_after

    def send(self, ip: IP) -> bool:
        self.calls.append(("send", [ip]))
        return True

    def send_raw(self, items: list) -> bool:
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise NetworkStopped()
        self.calls.append(("send_raw", as_ips(items)))
        return True


def process_link(outputs: dict) -> ProcessLink:
    component = SimpleNamespace(
        stopping=threading.Event(), node_id="bridge", time_to_stop=lambda wanted: wanted
    )
    return ProcessLink(component, LinkConfig.parse("ws://127.0.0.1:9/"), {}, outputs)


def test_a_bridge_sends_a_run_of_packets_for_one_outport_at_once():
    out, other = Port(), Port()
    link = process_link({"OUT": out, "other": other})
    packets = [
        ("out", "connect", None),
        ("out", "begingroup", "g"),
        ("out", "data", 1),
        ("out", "data", 2),
        ("out", "endgroup", "g"),
        ("other", "data", 3),
        ("out", "data", 4),
        ("nowhere", "data", 5),
    ]
    assert link.link_packets(packets) == len(packets)
    assert [(how, [(ip.kind, ip.data) for ip in ips]) for how, ips in out.calls] == [
        ("send_raw", [(OPEN, "g"), (DATA, 1), (DATA, 2), (CLOSE, "g")]),
        ("send_raw", [(DATA, 4)]),
    ]
    assert [[ip.data for ip in ips] for _, ips in other.calls] == [[3]]


def test_a_stop_in_the_middle_says_how_many_packets_were_taken():
    out = Port(stop_after=1)
    link = process_link({"out": out, "other": Port()})
    packets = [("out", "data", 1), ("other", "data", 2), ("out", "data", 3)]
    assert link.link_packets(packets) == 2


def test_a_full_send_window_lets_a_sender_in_once_a_quarter_is_acknowledged():
    window = SendWindow(8, dict.fromkeys(("sent", "resent", "acked", "handed_over"), 0))
    connection = SimpleNamespace(lost=threading.Event())
    window.attach(connection, lambda: None)
    assert window.put([("in", "data", n) for n in range(16)]) == 16  # 8 written, 8 waiting
    signals: list[int] = []
    real = window.cond.notify_all
    window.cond.notify_all = lambda: (signals.append(len(window)), real())[1]  # type: ignore[method-assign]
    for seq in (1, 2, 3):  # one acknowledgement at a time, as plain runtime:packetsent does
        window.ack(connection, seq)
    # no sender is woken for one free slot: the first signal comes with a quarter (2) free
    assert signals == [14, 13]
    assert window.put([("in", "data", n) for n in range(16, 24)]) == 3
