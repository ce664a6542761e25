"""A ``flowpy:packets`` batch is taken as a batch on the runtime side: each port of it is
checked once (permission, graph, exported inport), and the session takes the packets under
one lock with one signal to its feeder, while every packet keeps its own verdict."""

from __future__ import annotations

import uuid

from protocol_harness import ProtocolClient, build, matches

from flowpy.protocol import link_commands
from flowpy.runtime.link_session import CheckedPacket


class Link(ProtocolClient):
    """A Bridge-like client of one session of graph g (as tests/protocol/test_link_commands)."""

    def __init__(self, runtime) -> None:
        super().__init__(runtime, "link", None, extension=True)
        self.session = str(uuid.uuid4())

    def hello(self) -> dict:
        payload = {"version": 1, "session": self.session, "graph": "g", "batch": True}
        return self.request("flowpy", "hello", payload, reply="welcome")

    def packets(self, entries) -> None:
        self.send("flowpy", "packets", {"graph": "g", "packets": entries})

    def wait_ack(self, seq) -> dict:
        return self.sink.wait_for(matches("flowpy", "ack", seq=seq))[1]

    def errors(self) -> list[dict]:
        return [
            m["payload"]
            for m in self.messages
            if m["protocol"] == "flowpy" and m["command"] == "error"
        ]


def data(seq, value, port="in"):
    return {"port": port, "event": "data", "payload": value, "seq": seq}


def data_out(client) -> list:
    return [
        m["payload"]["payload"]
        for m in client.messages
        if m["protocol"] == "runtime"
        and m["command"] == "packet"
        and m["payload"]["event"] == "data"
    ]


def test_each_port_of_a_batch_is_checked_once(runtime, client, monkeypatch):
    build(
        client,
        "g",
        {"R": "core/Repeat"},
        inports={"in": ("R", "in")},
        outports={"out": ("R", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    checked: list[str] = []
    real = link_commands._port_problem

    def counting(rt, session, port):
        checked.append(port)
        return real(rt, session, port)

    monkeypatch.setattr(link_commands, "_port_problem", counting)
    link = Link(runtime)
    link.hello()
    link.packets(
        [data(n, n) for n in range(1, 41)]
        + [data(41, "bad", port="nope"), data(42, "bad again", port="nope")]
    )
    link.wait_ack(42)
    client.sink.wait_for(lambda m: m["command"] == "packet" and m["payload"].get("payload") == 40)
    assert checked == ["in", "nope"]
    assert data_out(client) == list(range(1, 41))
    assert [e["seq"] for e in link.errors()] == [41, 42]  # each refused packet answered


def test_a_batch_wakes_the_session_feeder_once(runtime, client, monkeypatch):
    build(
        client,
        "g",
        {"R": "core/Repeat"},
        inports={"in": ("R", "in")},
        outports={"out": ("R", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    link = Link(runtime)
    link.hello()
    session = next(iter(runtime.sessions._sessions.values()))
    wakes: list[int] = []
    wake = session._ensure_feeder
    monkeypatch.setattr(session, "_ensure_feeder", lambda: (wakes.append(1), wake())[1])
    verdicts = session.offer_many(
        [(n, CheckedPacket("in", "data", n)) for n in range(1, 31)]
        + [(3, CheckedPacket("in", "data", 3)), (40, CheckedPacket("in", "data", 40))]
    )
    assert verdicts[:30] == [("new", verdicts[0][1])] * 30
    assert [v for v, _ in verdicts[30:]] == ["duplicate", "gap"]
    assert wakes == [1]  # one signal to the feeder for the whole batch
    link.wait_ack(30)
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=30))


def test_a_run_of_ips_to_one_port_is_one_request_to_the_network(runtime, client, monkeypatch):
    """The feeder hands consecutive IPs of one port over as one request (one hand-off, one
    answer); a stream marker or another port starts a new one. Order and acks stay."""
    build(
        client,
        "g",
        {"R": "core/Repeat"},
        inports={"in": ("R", "in")},
        outports={"out": ("R", "out")},
    )
    client.request("network", "start", {"graph": "g"}, reply="started")
    requests: list[tuple[str, int]] = []
    network = runtime.get_graph("g").network
    real = network._request

    def recording(kind, port, ip, *rest):
        requests.append((kind, len(ip) if isinstance(ip, list) else 1))
        return real(kind, port, ip, *rest)

    monkeypatch.setattr(network, "_request", recording)
    link = Link(runtime)
    link.hello()
    session = next(iter(runtime.sessions._sessions.values()))
    session.offer_many(  # taken at once, so the feeder sees them as one batch
        [(1, CheckedPacket("in", "begingroup", "g"))]
        + [(n, CheckedPacket("in", "data", n)) for n in range(2, 7)]
        + [(7, CheckedPacket("in", "connect")), (8, CheckedPacket("in", "data", 8))]
        + [(9, CheckedPacket("in", "endgroup", "g"))]
    )
    link.wait_ack(9)
    client.sink.wait_for(lambda m: m["command"] == "packet" and m["payload"]["event"] == "endgroup")
    assert data_out(client) == [2, 3, 4, 5, 6, 8]
    assert requests == [("ips", 6), ("event", 1), ("ips", 2)]
    assert not link.errors()
