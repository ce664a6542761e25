"""Packet events in raw form (what ``recv_raw`` gives and ``send_raw`` takes) mean the same IPs
as ``event_of``/``ip_of`` say, payloads that are themselves IPs included."""

from __future__ import annotations

import pytest

from flowpy.engine.ip import CLOSE, DATA, IP, OPEN, as_ip, raw_data
from flowpy.wire.events import event_of, events_of_raw, ip_of, raw_of


def test_a_raw_batch_gives_the_events_its_ips_give():
    ips = [IP(OPEN, "g"), IP(DATA, 1), IP(DATA, None), IP(DATA, IP(CLOSE, "x")), IP(CLOSE, "g")]
    raw = [ip if ip.kind != DATA else raw_data([ip.data])[0] for ip in ips]
    assert events_of_raw(raw) == [event_of(ip) for ip in ips]


@pytest.mark.parametrize(
    ("event", "payload"),
    [("data", 7), ("data", None), ("data", IP(OPEN, "g")), ("begingroup", "g"), ("endgroup", "g")],
)
def test_raw_of_stands_for_the_ip_of_the_event(event, payload):
    ip = as_ip(raw_of(event, payload))
    expected = ip_of(event, payload)
    assert expected is not None
    assert (ip.kind, ip.data) == (expected.kind, expected.data)


def test_raw_of_refuses_the_markers():
    with pytest.raises(KeyError):
        raw_of("connect")
