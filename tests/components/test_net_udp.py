"""net/UdpSend and net/UdpReceive on real sockets: a datagram per IP both ways, the bound
port reported, bad input answered, and a slow graph making the kernel drop (counted on
Linux) rather than flowpy buffering without bound."""

from __future__ import annotations

import json
import socket
import sys
import threading

import pytest
from engine_helpers import build, first_sent, start_network

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.testing import ProcessFailed, run_component


@pytest.fixture
def receiver():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        yield sock


def test_udp_send_sends_a_datagram_per_ip(receiver):
    port = receiver.getsockname()[1]
    result = run_component("net/UdpSend", {"conf": [{"port": port}], "in": ["one", {"n": 2}]})
    assert result["error"] == []
    assert [receiver.recv(100) for _ in range(2)] == [b"one", b'{"n":2}']


def test_udp_send_answers_a_value_too_large_for_a_datagram_and_goes_on(receiver):
    port = receiver.getsockname()[1]
    result = run_component("net/UdpSend", {"conf": [port], "in": ["x" * 70000, "after"]})
    assert [e["message"] for e in result["error"]] == [
        "70000 bytes do not fit in one datagram (at most 65507)"
    ]
    assert receiver.recv(100) == b"after"


def test_udp_send_needs_a_port():
    with pytest.raises(ProcessFailed, match="port must be a number, not None"):
        run_component("net/UdpSend", {"conf": [{"host": "127.0.0.1"}], "in": ["x"]})


class Hold(Component):
    """Test component: passes `in` on to `out` once ``Hold.release`` is set."""

    release = threading.Event()
    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        Hold.release.wait()
        for ip in self.inports["in"]:
            self.outports["out"].send(ip)


def start(conf, capacity=None):
    graph = build(
        {"r": "net/UdpReceive", "h": "test/Hold"},
        ["r.out -> h.in"],
        iips={"r.conf": conf},
        outports={"listening": "r.listening", "out": "h.out", "drops": "r.drops"},
    )
    network, recorder = start_network(
        graph, ready="listening", capacity=capacity, components={"test/Hold": Hold}
    )
    return network, recorder, first_sent(recorder, "listening")["port"]


def data(recorder, port):
    with recorder.cond:
        return [ip.data for p, ip in recorder.outputs if p == port]


def test_udp_receive_reports_its_port_and_ends_after_the_datagrams_asked_for():
    Hold.release.set()
    network, recorder, port = start({"port": 0, "datagrams": 2, "peer": True})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        sender.sendto(b"hello", ("127.0.0.1", port))
        sender.sendto("d\u00e9j\u00e0".encode(), ("127.0.0.1", port))
        me = f"127.0.0.1:{sender.getsockname()[1]}"
    assert recorder.wait_for(lambda: ("finished",) in recorder.events)
    assert data(recorder, "out") == [
        {"data": "hello", "peer": me},
        {"data": "d\u00e9j\u00e0", "peer": me},
    ]
    assert recorder.errors == []
    assert network.stop(10.0, drain=False) == []


def test_a_stop_ends_a_receiver_waiting_for_datagrams():
    Hold.release.set()
    network, recorder, _port = start({"port": 0})
    assert network.stop(10.0, drain=False) == []  # no thread left behind
    assert recorder.errors == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_RXQ_OVFL is Linux's")
def test_a_slow_graph_makes_the_kernel_drop_and_the_drops_are_counted():
    # Hold reads nothing yet and the connection holds one IP: the receiver stops reading,
    # its small kernel buffer fills and the kernel drops the rest. Once the graph catches up
    # a last datagram carries the drop count; nothing was lost anywhere else.
    Hold.release.clear()
    network, recorder, port = start({"port": 0, "buffer": 4096}, capacity=1)
    sent = 0
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for n in range(2000):
                sent += 1
                sender.sendto(json.dumps(n).encode() + b" " * 500, ("127.0.0.1", port))
            Hold.release.set()
            # A last datagram, again under a new name until one gets through (the buffer
            # may still be full); datagrams on loopback arrive in order, so once it is out,
            # everything before it is out or counted as dropped.
            for attempt in range(100):
                last = f"last {attempt}"
                sender.sendto(last.encode(), ("127.0.0.1", port))
                sent += 1
                if recorder.wait_for(lambda last=last: last in data(recorder, "out"), 1.0):
                    break
        drops = data(recorder, "drops")
        total = drops[-1]["total"]
        assert total > 0
        assert sum(d["dropped"] for d in drops) == total
        assert len(data(recorder, "out")) + total == sent
    finally:
        Hold.release.set()
        assert network.stop(10.0, drain=False) == []
    assert recorder.errors == []


def test_a_host_that_does_not_resolve_fails_with_one_clear_message():
    with pytest.raises(ProcessFailed, match="cannot resolve 'no-such-host.invalid'"):
        run_component("net/UdpSend", {"conf": [{"host": "no-such-host.invalid", "port": 9}]})
