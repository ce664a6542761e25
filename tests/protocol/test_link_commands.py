"""The flowpy link extension, runtime side (docs/bridge-protocol.md), driven without a server.

Link clients are recording sinks made with ``extension=True``; every other client is a
standard one, and the fixtures fail a test in which a standard client received any
``flowpy:*`` message or any schema-invalid message.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from protocol_harness import Gate, ProtocolClient, build, matches


class Link(ProtocolClient):
    """A Bridge-like client of one session (the runtime under test holds the session)."""

    def __init__(self, runtime, name="link", secret=None, session=None, graph="g"):
        super().__init__(runtime, name, secret, extension=True)
        self.session = session or str(uuid.uuid4())
        self.graph = graph

    def hello(self, window=None, batch=None, **envelope) -> dict:
        payload = {"version": 1, "session": self.session, "graph": self.graph}
        if window is not None:
            payload["window"] = window
        if batch is not None:
            payload["batch"] = batch
        return self.request("flowpy", "hello", payload, reply="welcome", **envelope)

    def packets(self, entries) -> None:
        self.send("flowpy", "packets", {"graph": self.graph, "packets": entries})

    def packet(self, seq, event="data", payload=None, port="in", **extra) -> None:
        body = {"graph": self.graph, "port": port, "event": event, "seq": seq, **extra}
        if event == "data" or payload is not None:
            body["payload"] = payload
        self.send("flowpy", "packet", body)

    def ack(self, seq) -> None:
        self.send("flowpy", "ack", {"graph": self.graph, "session": self.session, "seq": seq})

    def wait_ack(self, seq, start=0) -> dict:
        return self.sink.wait_for(matches("flowpy", "ack", seq=seq), start)[1]

    def acks(self) -> list[int]:
        return [m["payload"]["seq"] for m in self.messages if m["command"] == "ack"]

    def wait_out(self, seq, start=0) -> dict:
        return self.sink.wait_for(matches("flowpy", "packet", seq=seq), start)[1]["payload"]

    def outbound(self, start=0) -> list[dict]:
        """Every outbound packet, single or batched, as a ``flowpy:packet`` payload."""
        found = []
        for m in self.messages[start:]:
            if m["protocol"] == "flowpy" and m["command"] == "packet":
                found.append(m["payload"])
            elif m["protocol"] == "flowpy" and m["command"] == "packets":
                found += [{"graph": m["payload"]["graph"], **e} for e in m["payload"]["packets"]]
        return found

    def errors(self) -> list[dict]:
        return [
            m["payload"]
            for m in self.messages
            if m["protocol"] == "flowpy" and m["command"] == "error"
        ]


def repeat_graph(owner: ProtocolClient, component: str = "core/Repeat", start: bool = True):
    build(owner, "g", {"R": component}, inports={"in": ("R", "in")}, outports={"out": ("R", "out")})
    if start:
        owner.request("network", "start", {"graph": "g"}, reply="started")


def data_out(client: ProtocolClient) -> list:
    """Data payloads a standard client received from outport ``out`` of g."""
    return [
        m["payload"]["payload"]
        for m in client.messages
        if m["protocol"] == "runtime"
        and m["command"] == "packet"
        and m["payload"]["port"] == "out"
        and m["payload"]["event"] == "data"
    ]


def out_seqs(link: Link) -> list[int]:
    return [p["seq"] for p in link.outbound()]


class OutboxWatch:
    """Tells when the graph outport handler offers a packet to a full outbox (it then waits)."""

    def __init__(self, runtime, link: Link) -> None:
        self.session = runtime.sessions.get(link.graph, link.session)
        self.blocked = threading.Event()
        original = self.session.publish

        def publish(payloads, cancelled, marker=False, *others):
            if not marker and self.session.outbox_size() >= self.session.window:
                self.blocked.set()
            return original(payloads, cancelled, marker, *others)

        self.session.publish = publish


# -- hello / welcome ------------------------------------------------------------------------------


def test_hello_opens_a_session(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    welcome = link.hello(window=20, requestId="h1")
    assert welcome["responseTo"] == "h1"
    assert welcome["payload"] == {
        "version": 1,
        "session": link.session,
        "graph": "g",
        "instance": runtime.sessions.instance,
        "resumed": False,
        "received": 0,
        "acked": 0,
        "batch": True,
    }
    assert uuid.UUID(runtime.sessions.instance)
    assert runtime.sessions.get("g", link.session).window == 20


def test_instance_names_the_runtime_process_not_its_id(make_runtime, tmp_path):
    first = make_runtime(state_dir=tmp_path / "s")
    again = make_runtime(state_dir=tmp_path / "s")
    assert first.id == again.id
    assert first.sessions.instance != again.sessions.instance


def test_hello_errors(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {
                "all": {"capabilities": ["protocol:runtime", "protocol:graph", "network:control"]},
                "graphs-only": {"capabilities": ["protocol:graph"]},
            }
        }
    )
    owner = ProtocolClient(rt, "owner", secret="all")
    repeat_graph(owner, start=False)
    link = Link(rt, secret="all")
    base = {"version": 1, "session": "s1", "graph": "g"}
    assert link.error("flowpy", "hello", {**base, "graph": "nope"}) == "Requested graph not found"
    assert link.error("flowpy", "hello", {**base, "version": 2}).startswith(
        "unsupported flowpy link version 2"
    )
    assert link.error("flowpy", "hello", {**base, "session": ""}) == "'session' must not be empty"
    assert link.error("flowpy", "hello", {**base, "window": 0}).startswith("'window' must be")
    refused = Link(rt, "refused", secret="graphs-only")
    assert refused.error("flowpy", "hello", base) == "flowpy:hello is not permitted"
    assert all(m["protocol"] == "flowpy" for m in link.messages + refused.messages)
    assert rt.sessions.get("g", "s1") is None


def test_commands_need_a_session(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    assert link.error(
        "flowpy", "packet", {"graph": "g", "port": "in", "event": "data", "seq": 1}
    ).startswith("no session of graph 'g'")
    assert (
        link.error("flowpy", "ack", {"graph": "g", "session": "x", "seq": 1})
        == "no session 'x' of graph 'g'"
    )
    assert link.error("flowpy", "shout", {}).startswith("unknown command flowpy:shout")


# -- into the graph ------------------------------------------------------------------------------


def test_packets_in_are_delivered_and_acknowledged(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    link.packet(1, "begingroup", "grp")
    for n in range(2, 6):
        link.packet(n, payload={"n": n})
    link.packet(6, "endgroup", "grp")
    link.wait_ack(6)
    assert link.acks() == sorted(link.acks()) and set(link.acks()) <= set(range(1, 7))
    client.sink.wait_for(matches("runtime", "packet", port="out", event="endgroup"))
    assert data_out(client) == [{"n": n} for n in range(2, 6)]
    assert not link.errors()


def data(seq, value, port="in"):
    return {"port": port, "event": "data", "payload": value, "seq": seq}


def test_packets_in_a_batch_are_delivered_in_order(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello(batch=True)
    link.packets(
        [{"port": "in", "event": "begingroup", "payload": "grp", "seq": 1}]
        + [data(n, n) for n in range(2, 40)]
        + [{"port": "IN", "event": "endgroup", "payload": "grp", "seq": 40}]
    )
    link.wait_ack(40)
    client.sink.wait_for(matches("runtime", "packet", port="out", event="endgroup"))
    assert data_out(client) == list(range(2, 40))
    assert not link.errors()


def test_a_batch_stops_at_its_first_packet_out_of_order(runtime, client):
    """The packets before it stay taken; per-packet problems do not stop the batch."""
    repeat_graph(client)
    link = Link(runtime)
    link.hello(batch=True)
    link.packets(
        [
            data(1, "one"),
            data(2, "bad", port="nope"),
            data(3, "three"),
            data(5, "five"),
            data(6, "six"),
        ]
    )
    _, refusal = link.sink.wait_for(lambda m: m["command"] == "error" and "seq" not in m["payload"])
    assert refusal["payload"]["message"] == (
        f"packet 5 is out of order: the next packet of session {link.session!r} is 4"
    )
    link.wait_ack(3)
    assert [(e["seq"], e["message"]) for e in link.errors() if "seq" in e] == [
        (2, "graph 'g' has no exported inport 'nope' (it has: in)")
    ]
    client.sink.wait_for(matches("runtime", "packet", port="out", payload="three"))
    assert data_out(client) == ["one", "three"]
    assert runtime.sessions.get("g", link.session).received == 3


@pytest.mark.parametrize(
    "packets, text",
    [
        ({"port": "in"}, "'packets' must be a list"),
        ([1], "packets[0] must be an object"),
        ([data(n, n) for n in range(1, 1026)], "at most 1024"),
    ],
)
def test_malformed_batches(runtime, client, packets, text):
    repeat_graph(client)
    link = Link(runtime)
    link.hello(batch=True)
    assert text in link.error("flowpy", "packets", {"graph": "g", "packets": packets})
    assert runtime.sessions.get("g", link.session).received == 0


def test_outbound_packets_are_batched_only_for_a_client_that_asked(runtime, client):
    repeat_graph(client)
    batched, single = Link(runtime, "batched"), Link(runtime, "single")
    assert batched.hello(batch=True)["payload"]["batch"] is True
    single.hello()
    payloads = [{"graph": "g", "port": "out", "event": "data", "payload": n} for n in range(5)]
    # What the graph outport handler does with IPs it found queued together:
    assert runtime.sessions.publish("g", "out", payloads, lambda: False) == 5
    frames = [m for m in batched.messages if m["command"] == "packets"]
    assert [len(m["payload"]["packets"]) for m in frames] == [5]
    assert [m["command"] for m in single.messages[1:]] == ["packet"] * 5
    assert (
        batched.outbound()
        == single.outbound()
        == [{**payload, "seq": n + 1} for n, payload in enumerate(payloads)]
    )


def test_a_replayed_packet_is_not_delivered_again(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    for n in (1, 2, 3):
        link.packet(n, payload=n)
    link.wait_ack(3)
    link.close()  # the link drops; the session stays
    again = Link(runtime, "again", session=link.session)
    welcome = again.hello()["payload"]
    assert welcome["resumed"] is True and welcome["received"] == 3
    start = len(again.messages)
    for n in (2, 3, 4):  # the client replays what it had not seen acknowledged
        again.packet(n, payload=n)
    again.wait_ack(3, start)  # a duplicate that was accepted is acknowledged again at once
    again.wait_ack(4, start)
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=4))
    assert data_out(client) == [1, 2, 3, 4]
    assert not again.errors()


def test_a_gap_is_an_error_and_nothing_is_delivered(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    link.packet(1, payload="one")
    link.wait_ack(1)
    assert (
        link.error(
            "flowpy",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": "three", "seq": 3},
        )
        == f"packet 3 is out of order: the next packet of session {link.session!r} is 2"
    )
    link.packet(2, payload="two")
    link.packet(3, payload="three")
    link.wait_ack(3)
    client.sink.wait_for(matches("runtime", "packet", port="out", payload="three"))
    assert data_out(client) == ["one", "two", "three"]


def test_a_packet_that_cannot_be_delivered_is_final(runtime, client):
    """Errors about one packet carry its seq; it counts as received, and the ack moves on."""
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    link.packet(1, port="nope", payload=1)
    link.packet(2, event="shout", payload=2)
    link.packet(3, payload=3)
    link.wait_ack(3)
    assert [(e["seq"], e["message"]) for e in link.errors()] == [
        (1, "graph 'g' has no exported inport 'nope' (it has: in)"),
        (2, "'event' must be one of connect, begingroup, data, endgroup, disconnect, got 'shout'"),
    ]
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=3))
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    link.packet(4, payload=4)
    link.wait_ack(4)
    last = link.errors()[-1]
    assert last["seq"] == 4 and last["message"].startswith(
        "packet 4 was not delivered: network of graph 'g' is not running: "
        "the network stopped: stopped by client"
    )
    assert data_out(client) == [3]


def test_the_ack_waits_until_the_network_accepts(runtime, client):
    """Back-pressure holds the ack: the client's window is the flow control."""
    build(client, "g", {"R": "test/Gate"}, inports={"in": ("R", "in")})
    client.request("network", "start", {"graph": "g"}, reply="started")
    capacity = runtime.network_capacity
    link = Link(runtime)
    link.hello(window=4)  # acks are due after window/4 = 1 packet: each accepted one is acked
    total = capacity + 4
    for n in range(1, total + 1):
        link.packet(n, payload=n)  # the reader never waits for the network
    link.wait_ack(capacity)
    # The Gate reads nothing yet: its inport holds `capacity` IPs and no more can be accepted.
    assert max(link.acks()) == capacity
    assert runtime.sessions.get("g", link.session).received == total
    Gate.go.set()
    link.wait_ack(total)
    assert not link.errors()


def test_one_ack_covers_what_a_busy_network_accepted(runtime, client):
    """With a large window the runtime acks once a quarter of it is due, or when nothing
    more is on its way: never beyond what the network accepted, and the last ack covers all."""
    build(client, "g", {"R": "test/Gate"}, inports={"in": ("R", "in")})
    client.request("network", "start", {"graph": "g"}, reply="started")
    capacity = runtime.network_capacity
    link = Link(runtime)
    link.hello(window=400)  # due after 100
    total = capacity + 100
    for n in range(1, total + 1):
        link.packet(n, payload=n)
    Gate.go.set()
    link.wait_ack(total)
    acks = link.acks()
    assert acks == sorted(acks) and acks[-1] == total
    assert len(acks) < total  # coalesced: fewer acks than packets
    assert not link.errors()


def test_packets_lost_in_a_stopping_network_are_reported(runtime, client):
    build(client, "g", {"W": "test/Wait"}, inports={"in": ("W", "in")})  # never reads
    client.request("network", "start", {"graph": "g"}, reply="started")
    capacity = runtime.network_capacity
    link = Link(runtime)
    link.hello(window=4)  # acks are due after window/4 = 1 packet: each accepted one is acked
    total = capacity + 3
    for n in range(1, total + 1):
        link.packet(n, payload=n)
    link.wait_ack(capacity)
    client.request("network", "stop", {"graph": "g", "drain": False}, reply="stopped")
    link.wait_ack(total)  # the window is free again
    lost = sorted(e["seq"] for e in link.errors())
    assert lost == list(range(capacity + 1, total + 1))
    assert all("was not delivered" in e["message"] for e in link.errors())


# -- out of the graph ----------------------------------------------------------------------------


def test_outport_packets_go_to_the_session_and_to_standard_clients(runtime, client):
    repeat_graph(client, start=False)
    link = Link(runtime)
    link.hello()
    client.request("network", "start", {"graph": "g"}, reply="started")
    client.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": "x"},
        reply="packetsent",
    )
    link.wait_out(2)
    assert link.outbound() == [
        {"graph": "g", "port": "out", "event": "connect", "seq": 1},
        {"graph": "g", "port": "out", "event": "data", "payload": "x", "seq": 2},
    ]
    client.sink.wait_for(matches("runtime", "packet", port="out", payload="x"))
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    assert link.wait_out(3) == {"graph": "g", "port": "out", "event": "disconnect", "seq": 3}
    # The link's connection gets g's outport traffic only through its session.
    assert not any(
        m["protocol"] == "runtime" and m["command"] == "packet" and m["payload"]["port"] == "out"
        for m in link.messages
    )


def test_the_outbox_bound_blocks_the_outport(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello(window=3)
    watch = OutboxWatch(runtime, link)
    for n in range(1, 8):
        link.packet(n, payload=n)
    link.wait_out(3)
    assert watch.blocked.wait(10)  # the 4th waits for room
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=3))
    assert out_seqs(link) == [1, 2, 3] and data_out(client) == [1, 2, 3]
    link.ack(1)
    link.wait_out(4)
    # Seen by the standard client after the session took it: the 5th must still wait.
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=4))
    assert out_seqs(link) == [1, 2, 3, 4] and data_out(client) == [1, 2, 3, 4]
    link.ack(7)  # cumulative, and more than was sent is an error ...
    assert link.errors()[-1]["message"] == "ack of packet 7, but only 4 were sent"
    link.ack(4)  # ... while a correct one makes room for everything left
    link.wait_out(7)
    assert [p["payload"] for p in link.outbound()] == list(range(1, 8))


def test_the_outbox_fills_while_the_client_is_away_and_is_replayed(make_runtime):
    """Nobody else may receive the outport: the away session holds the outport back, and
    gets every packet, exactly once, when it comes back within the grace."""
    runtime = make_runtime(
        permissions={
            "secrets": {
                "admin": {"capabilities": ["protocol:graph", "network:control"]},
                "feeder": {
                    "capabilities": ["protocol:runtime"],
                    "graphs": {"g": {"inports": ["in"], "outports": []}},
                },
                "link": {"capabilities": ["protocol:runtime"]},
            }
        }
    )
    admin = ProtocolClient(runtime, "admin", secret="admin")
    repeat_graph(admin)
    feeder = ProtocolClient(runtime, "feeder", secret="feeder")
    link = Link(runtime, secret="link")
    link.hello(window=4)
    link.packet(1, payload=1)
    link.wait_out(1)
    link.ack(1)
    link.close()
    watch = OutboxWatch(runtime, link)
    for n in range(2, 9):  # a client that may not receive `out` feeds the graph meanwhile
        feeder.request(
            "runtime",
            "packet",
            {"graph": "g", "port": "in", "event": "data", "payload": n},
            reply="packetsent",
        )
    assert watch.blocked.wait(10)  # a durable subscription: the outport waits, nothing dropped
    again = Link(runtime, "again", secret="link", session=link.session)
    welcome = again.hello(window=4)["payload"]
    assert (welcome["resumed"], welcome["acked"], welcome["received"]) == (True, 1, 1)
    again.wait_out(5)
    assert again.outbound() == [
        {"graph": "g", "port": "out", "event": "data", "payload": n, "seq": n} for n in range(2, 6)
    ]
    again.ack(5)
    again.wait_out(8)
    assert [p["payload"] for p in again.outbound()] == list(range(2, 9))
    assert out_seqs(again) == list(range(2, 9))  # nothing twice, nothing missing


def test_replay_starts_after_acked(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    for n in range(1, 6):
        link.packet(n, payload=n)
    link.wait_out(5)
    link.ack(3)
    link.close()
    again = Link(runtime, "again", session=link.session)
    assert again.hello()["payload"]["acked"] == 3
    again.wait_out(5)
    assert out_seqs(again) == [4, 5]
    again.packet(6, payload=6)
    again.wait_out(6)
    assert out_seqs(again) == [4, 5, 6]


def test_a_new_hello_takes_the_session_over(runtime, client):
    """The newest connection holds the session; the old one no longer receives anything."""
    repeat_graph(client)
    first = Link(runtime, "first")
    first.hello()
    second = Link(runtime, "second", session=first.session)
    assert second.hello()["payload"]["resumed"] is True
    second.packet(1, payload="x")
    second.wait_out(1)
    assert first.outbound() == []
    assert first.error(
        "flowpy", "packet", {"graph": "g", "port": "in", "event": "data", "seq": 2}
    ).startswith("no session of graph 'g'")


def test_every_session_gets_every_packet(runtime, client):
    repeat_graph(client)
    a, b = Link(runtime, "a"), Link(runtime, "b")
    a.hello()
    b.hello()
    a.packet(1, payload="hi")
    a.wait_out(1)
    b.wait_out(1)
    assert a.outbound() == b.outbound()


def test_sessions_with_different_room_each_get_every_packet(runtime, client):
    """One outbox with less room holds the outport back, never makes another lose a packet;
    standard clients get each packet once every session has taken it."""
    repeat_graph(client)
    small, large = Link(runtime, "small"), Link(runtime, "large")
    small.hello(window=2, batch=True)
    large.hello(window=50, batch=True)
    feeder = Link(runtime, "feeder", session=str(uuid.uuid4()))
    feeder.hello(window=50, batch=True)
    feeder.packets([data(n, n) for n in range(1, 11)])
    for seq in range(1, 11):  # the small one acks one at a time, as room is made
        small.sink.wait_for(lambda m, seq=seq: any(p["seq"] == seq for p in small.outbound()))
        small.ack(seq)
    large.sink.wait_for(lambda m: any(p["seq"] == 10 for p in large.outbound()))
    values = [p.get("payload") for p in small.outbound() if p["event"] == "data"]
    assert values == list(range(1, 11))
    assert small.outbound() == large.outbound()
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=10))
    assert data_out(client) == list(range(1, 11))


def test_a_network_stop_releases_an_outport_waiting_for_room(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello(window=1)
    watch = OutboxWatch(runtime, link)
    for n in (1, 2, 3):
        link.packet(n, payload=n)
    assert watch.blocked.wait(10)
    client.request("network", "stop", {"graph": "g", "drain": False}, reply="stopped")
    assert not [t.name for t in threading.enumerate() if t.name.startswith("g-")]
    # The disconnect marker is kept, even beyond the window.
    link.ack(1)
    link.wait_out(2)
    assert link.outbound()[-1] == {"graph": "g", "port": "out", "event": "disconnect", "seq": 2}


# -- standard clients, permissions, bye ------------------------------------------------------------


def test_standard_clients_see_nothing_of_the_extension(runtime, client):
    """The sink of every standard client fails the test on any flowpy or invalid message."""
    watcher = ProtocolClient(runtime, "watcher")
    repeat_graph(client, start=False)
    link = Link(runtime)
    link.hello()
    client.request("network", "start", {"graph": "g"}, reply="started")
    for n in range(1, 4):
        link.packet(n, payload=n)
    link.wait_out(4)
    link.ack(4)
    link.request("flowpy", "bye", {"graph": "g", "session": link.session}, reply="bye")
    client.request("network", "stop", {"graph": "g"}, reply="stopped")
    for standard in (client, watcher):
        assert not [m for m in standard.messages if m["protocol"] == "flowpy"]
        assert data_out(standard) == [1, 2, 3]
        events = [
            m["payload"]["event"]
            for m in standard.messages
            if m["command"] == "packet" and m["payload"]["port"] == "out"
        ]
        assert events == ["connect", "data", "data", "data", "disconnect"]


def test_a_session_uses_only_the_ports_of_its_secret(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {
                "all": {"capabilities": ["protocol:runtime", "protocol:graph", "network:control"]},
                "bridge": {
                    "capabilities": ["protocol:runtime"],
                    "graphs": {"g": {"inports": ["in"], "outports": ["a"]}},
                },
                "other": {"capabilities": ["protocol:runtime"]},
            }
        }
    )
    owner = ProtocolClient(rt, "owner", secret="all")
    build(
        owner,
        "g",
        {"R": "core/Repeat", "S": "core/Repeat"},
        inports={"in": ("R", "in"), "in2": ("S", "in")},
        outports={"a": ("R", "out"), "b": ("S", "out")},
    )
    owner.request("network", "start", {"graph": "g"}, reply="started")
    link = Link(rt, secret="bridge")
    link.hello()
    link.packet(1, port="in2", payload="refused")
    link.packet(2, port="IN", payload="allowed")
    link.wait_ack(2)
    assert link.errors() == [
        {"seq": 1, "message": "flowpy:packet to port 'in2' of graph 'g' is not permitted"}
    ]
    owner.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in2", "event": "data", "payload": "owner"},
        reply="packetsent",
    )
    owner.sink.wait_for(matches("runtime", "packet", port="b", payload="owner"))
    link.wait_out(1)
    assert [(p["port"], p.get("payload")) for p in link.outbound()] == [("a", "allowed")]
    # Another secret cannot take the session over, acknowledge for it or end it.
    thief = Link(rt, "thief", secret="other", session=link.session)
    assert thief.error(
        "flowpy", "hello", {"version": 1, "session": link.session, "graph": "g"}
    ).endswith("opened with another secret")
    assert thief.error("flowpy", "bye", {"graph": "g", "session": link.session}).endswith(
        "opened with another secret"
    )
    assert rt.sessions.get("g", link.session) is not None


def test_bye_ends_the_session_and_frees_its_outport(runtime, client):
    repeat_graph(client)
    link = Link(runtime)
    link.hello(window=1)
    watch = OutboxWatch(runtime, link)
    for n in (1, 2, 3):
        link.packet(n, payload=n)
    assert watch.blocked.wait(10)
    # Only what was acknowledged must outlive bye (packets still queued are discarded): wait
    # until the network accepted 3, as a client would before it lets go.
    link.wait_ack(3)
    reply = link.request("flowpy", "bye", {"graph": "g", "session": link.session}, reply="bye")
    assert reply["payload"] == {"graph": "g", "session": link.session}
    assert runtime.sessions.get("g", link.session) is None
    client.sink.wait_for(matches("runtime", "packet", port="out", payload=3))
    assert data_out(client) == [1, 2, 3]
    assert out_seqs(link) == [1]
    # bye is idempotent; the same id later opens a new session.
    link.request("flowpy", "bye", {"graph": "g", "session": link.session}, reply="bye")
    welcome = link.hello()["payload"]
    assert (welcome["resumed"], welcome["received"], welcome["acked"]) == (False, 0, 0)
    start = len(link.messages)
    client.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": "now standard"},
        reply="packetsent",
    )
    # Now the link's connection holds a session again: it gets g's packets as flowpy:packet.
    assert link.wait_out(1, start)["payload"] == "now standard"


@pytest.mark.parametrize(
    "payload, text",
    [
        ({"graph": "g", "port": "in", "event": "data"}, "'seq' is required"),
        ({"graph": "g", "port": "in", "event": "data", "seq": 0}, "'seq' must be between"),
        ({"graph": "g", "port": "in", "event": "data", "seq": "1"}, "'seq' must be an integer"),
        ({"port": "in", "event": "data", "seq": 1}, "No graph specified"),
        (
            {"graph": "g", "port": "in", "event": "data", "seq": 1, "session": "other"},
            "this connection holds session",
        ),
    ],
)
def test_malformed_packets(runtime, client, payload, text):
    repeat_graph(client)
    link = Link(runtime)
    link.hello()
    assert text in link.error("flowpy", "packet", payload)
    assert runtime.sessions.get("g", link.session).received == 0


def test_an_output_never_overtakes_the_ack_of_what_the_network_accepted(runtime, client):
    """A client that holds a result also holds the ack of its input, so after a crash of the
    runtime it never sends that input again (acks are coalesced, but never held back past
    an outbound packet)."""
    repeat_graph(client)
    link = Link(runtime)
    link.hello(window=400, batch=True)  # acks due only every 100 packets, or when idle
    total = 600
    link.packets([data(n, n) for n in range(1, total + 1)])
    acked = last = index = 0
    while last < total:
        index, message = link.sink.wait_for(lambda m: m["command"] in ("ack", "packets"), index)
        index += 1
        if message["command"] == "ack":
            acked = max(acked, message["payload"]["seq"])
            continue
        entries = message["payload"]["packets"]
        for entry in entries:
            if entry["event"] == "data":
                assert entry["payload"] <= acked, (entry["payload"], acked)
                last = entry["payload"]
        link.ack(entries[-1]["seq"])
    assert not link.errors()


# -- sessions belong to their connection --------------------------------------------------------

RECEIVE_ONLY = {
    "secrets": {
        "admin": {"capabilities": ["protocol:graph", "network:control"]},
        "viewer": {"capabilities": ["protocol:runtime"]},
        "rx": {
            "capabilities": ["protocol:runtime"],
            "graphs": {"g": {"inports": [], "outports": ["out"]}},
        },
    }
}


def feed(client: ProtocolClient, values) -> None:
    for n in values:
        client.send(
            "runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": n}
        )


def test_an_away_session_does_not_hold_back_what_others_receive(make_runtime):
    """The 1-of-20 case of issue 21: a receive-only session with window 1, then its
    connection drops; the viewer still gets all 20, and the session, back within the grace,
    gets what it kept, once."""
    runtime = make_runtime(permissions=RECEIVE_ONLY)
    repeat_graph(ProtocolClient(runtime, "admin", secret="admin"))
    viewer = ProtocolClient(runtime, "viewer", secret="viewer")
    viewer.request("runtime", "getruntime", reply="runtime")
    link = Link(runtime, "rx", secret="rx")
    link.hello(window=1)
    link.close()
    feed(viewer, range(1, 21))
    viewer.sink.wait_for(matches("runtime", "packet", port="out", payload=20), timeout=30)
    assert data_out(viewer) == list(range(1, 21))
    again = Link(runtime, "rx again", secret="rx", session=link.session)
    assert again.hello(window=1)["payload"]["resumed"] is True
    kept = again.wait_out(1)
    assert kept["port"] == "out" and again.outbound() == [kept]


def test_a_connection_that_drops_releases_the_outport_waiting_on_its_session(make_runtime):
    runtime = make_runtime(permissions=RECEIVE_ONLY)
    repeat_graph(ProtocolClient(runtime, "admin", secret="admin"))
    viewer = ProtocolClient(runtime, "viewer", secret="viewer")
    viewer.request("runtime", "getruntime", reply="runtime")
    link = Link(runtime, "rx", secret="rx")
    link.hello(window=1)
    watch = OutboxWatch(runtime, link)
    feed(viewer, range(1, 21))
    assert watch.blocked.wait(10)  # connected and not acking: its window holds the outport
    link.close()
    viewer.sink.wait_for(matches("runtime", "packet", port="out", payload=20), timeout=30)
    assert data_out(viewer) == list(range(1, 21))


def test_a_session_ends_a_grace_after_its_connection_closed(make_runtime):
    runtime = make_runtime(session_grace=0.2)
    link_owner = ProtocolClient(runtime, "owner")
    repeat_graph(link_owner)
    link = Link(runtime)
    link.hello(window=4)
    link.packet(1, payload=1)  # the session's feeder thread runs
    link.wait_ack(1)
    session = runtime.sessions.get("g", link.session)
    feeder = session._feeder
    assert feeder is not None and feeder.is_alive()
    link.close()
    assert runtime.sessions.wait_ended("g", link.session, timeout=10)
    feeder.join(10)
    assert not feeder.is_alive() and session.closed and session.outbox_size() == 0
    assert runtime.sessions.owned_by(link.client) == []
    again = Link(runtime, "again", session=link.session)
    assert again.hello()["payload"]["resumed"] is False  # a new session: the old one ended


def test_a_connection_holds_a_limited_number_of_sessions(runtime, client):
    from flowpy.runtime.link_session import MAX_PER_CONNECTION

    repeat_graph(client)
    greedy = Link(runtime, "greedy")
    for n in range(MAX_PER_CONNECTION):  # each hello leaves the previous session detached
        greedy.session = f"s{n}"
        assert greedy.hello()["command"] == "welcome"
    greedy.session = "one too many"
    refused = greedy.hello()
    assert refused["command"] == "error"
    assert refused["payload"]["message"] == (
        f"this connection holds {MAX_PER_CONNECTION} link sessions, the most one may "
        f"(limit {MAX_PER_CONNECTION}); end one with flowpy:bye first "
        "(a session left by a closed connection ends 30 s later)"
    )
    assert runtime.sessions.get("g", "one too many") is None
    other = Link(runtime, "other")
    assert other.hello()["command"] == "welcome"  # the others are not locked out
    greedy.request("flowpy", "bye", {"graph": "g", "session": "s0"})
    greedy.session = "one too many"
    assert greedy.hello()["command"] == "welcome"
