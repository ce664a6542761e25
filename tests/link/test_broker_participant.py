"""Participants on real brokers (Mosquitto and RabbitMQ, started by tests/support/brokers.py):
data and brackets through, discovery, acknowledgement, back-pressure, graceful stop."""

from __future__ import annotations

import json
import signal
import threading
import time

import brokers
import pytest
from brokers import (
    REPEAT_FBP,
    AmqpProbe,
    MqttProbe,
    graph_file,
    participants,
    probe,
    unique_role,
)
from tcp_proxy import TcpProxy

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph
from flowpy.link.broker import BrokerError, Participant, ParticipantConfig

pytestmark = [pytest.mark.broker, pytest.mark.integration]
# fixtures (one broker of each kind per session, shared by every module that asks)
mosquitto, rabbitmq, broker = brokers.mosquitto, brokers.rabbitmq, brokers.broker


def test_cli_participant_passes_data_through_exactly(broker, tmp_path):
    role = unique_role("rep")
    values = [0, 1.5, "two", "é ☃", None, True, [1, [2]], {"a": {"b": None}}, "x" * 10_000]
    with participants(tmp_path) as start:
        proc = start(
            [
                "--broker",
                broker.url,
                "--role",
                role,
                str(graph_file(tmp_path, "repeat", REPEAT_FBP)),
            ]
        )
        assert f"in<-{role}.IN" in proc.ready_line and f"out->{role}.OUT" in proc.ready_line
        client = probe(broker)
        try:
            client.collect(f"{role}.OUT")
            for value in values:
                client.send(f"{role}.IN", value)
            got = [json.loads(body) for body in client.messages(f"{role}.OUT", len(values))]
        finally:
            client.close()
        assert got == values
        assert proc.stop() == 143, proc


def test_brackets_cross_as_envelopes(broker, tmp_path):
    role = unique_role("br")
    stream = [
        {"flowpy:ip": "openBracket", "group": "g"},
        1,
        {"flowpy:ip": "openBracket", "group": None},
        2,
        {"flowpy:ip": "closeBracket", "group": None},
        {"flowpy:ip": "closeBracket", "group": "g"},
    ]
    with participants(tmp_path) as start:
        start(
            [
                "--broker",
                broker.url,
                "--role",
                role,
                str(graph_file(tmp_path, "repeat", REPEAT_FBP)),
            ]
        )
        client = probe(broker)
        try:
            client.collect(f"{role}.OUT")
            for value in stream:
                client.send(f"{role}.IN", value)
            got = [json.loads(b) for b in client.messages(f"{role}.OUT", len(stream))]
        finally:
            client.close()
        assert got == stream


def test_a_component_runs_as_a_participant_and_announces_itself(broker, tmp_path):
    role = unique_role("comp")
    client = probe(broker)
    try:
        if broker.kind == "mqtt":
            client.collect("fbp")
        with participants(tmp_path) as start:
            proc = start(
                [
                    "--broker",
                    broker.url,
                    "--role",
                    role,
                    "--id",
                    f"{role}-1",
                    "--discovery-period",
                    "0.5",
                    "core/Repeat",
                ]
            )
            time.sleep(0.8)  # at least one heartbeat after the first announcement
            assert proc.stop() == 143
        if broker.kind == "mqtt":
            bodies = client.messages("fbp", 1000, timeout=1.0)
        else:
            bodies = client.get_all("fbp")
    finally:
        client.close()
    mine = [json.loads(b) for b in bodies if f'"{role}-1"' in b.decode()]
    assert len(mine) >= 2, bodies  # at start, then the heartbeat
    message = mine[0]
    assert message["protocol"] == "discovery" and message["command"] == "participant"
    payload = message["payload"]
    assert payload["id"] == f"{role}-1" and payload["role"] == role
    assert payload["component"] == "flowpy/Repeat"
    assert payload["label"] and payload["icon"]
    assert payload["inports"] == [{"id": "in", "type": "all", "queue": f"{role}.IN", "options": {}}]
    assert payload["outports"] == [
        {"id": "out", "type": "all", "queue": f"{role}.OUT", "options": {}}
    ]


def test_messages_that_are_not_ips_are_refused_and_do_not_block(rabbitmq, tmp_path):
    role = unique_role("bad")
    with participants(tmp_path) as start:
        proc = start(
            [
                "--broker",
                rabbitmq.url,
                "--role",
                role,
                str(graph_file(tmp_path, "repeat", REPEAT_FBP)),
            ]
        )
        client = AmqpProbe(rabbitmq.url)
        try:
            client.collect(f"{role}.OUT")
            client.channel.queue_declare(f"dead-{role}.IN-sink", exclusive=True)
            client.channel.exchange_declare(f"dead-{role}.IN", "fanout", durable=True)
            client.channel.queue_bind(f"dead-{role}.IN-sink", f"dead-{role}.IN")
            client.send(f"{role}.IN", None, raw=b"\xff not utf-8")
            client.send(f"{role}.IN", None, raw=b'"\\udc00"')
            client.send(f"{role}.IN", "fine")
            assert [json.loads(b) for b in client.messages(f"{role}.OUT", 1)] == ["fine"]
            time.sleep(0.3)
            dead = client.get_all(f"dead-{role}.IN-sink")
        finally:
            client.close()
        assert sorted(dead) == sorted([b"\xff not utf-8", b'"\\udc00"'])
        proc.stop()


# -- in-process: acknowledgement, back-pressure, the graceful stop ---------------------------


class Gate(Component):
    """Forwards `in` to `out`, but only while the class's gate is open (test control)."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))
    opened = threading.Event()
    delay = 0.0

    def run(self) -> None:
        for ip in self.inports["in"]:
            while not type(self).opened.wait(0.05):
                if self.stopping.is_set():
                    return
            if type(self).delay:
                time.sleep(type(self).delay)
            self.outports["out"].send(ip)


def _gate_graph() -> tuple[Graph, Registry]:
    registry = Registry()
    registry.register("test/Gate", Gate)
    graph = Graph(name="gated")
    graph.add_node("g", "test/Gate")
    graph.add_inport("in", "g", "in")
    graph.add_outport("out", "g", "out")
    return graph, registry


@pytest.fixture
def gate():
    Gate.opened.clear()
    Gate.delay = 0.0
    yield Gate
    Gate.opened.set()


def test_a_full_network_stops_consumption_and_prefetch_bounds_what_is_held(rabbitmq, gate):
    role = unique_role("bp")
    graph, registry = _gate_graph()
    client = AmqpProbe(rabbitmq.url)
    client.declare_inqueue(f"{role}.IN")
    client.collect(f"{role}.OUT")
    total, prefetch = 4000, 20
    for n in range(total):
        client.send(f"{role}.IN", n)
    participant = Participant(
        graph, registry, rabbitmq.url, ParticipantConfig(role=role, prefetch=prefetch)
    )
    participant.start()
    try:
        time.sleep(1.5)  # the network fills up and stops taking IPs
        stats = participant.transport.stats
        held = stats["delivered"] - stats["acked"]
        assert 0 < held <= prefetch
        first = stats["delivered"]
        time.sleep(0.5)
        assert participant.transport.stats["delivered"] == first  # no more consumption
        waiting = client.channel.queue_declare(f"{role}.IN", passive=True).method.message_count
        assert waiting >= total - first - prefetch
        gate.opened.set()
        got = [json.loads(b) for b in client.messages(f"{role}.OUT", total, timeout=60)]
        assert got == list(range(total))
    finally:
        participant.stop()
        client.close()


@pytest.mark.parametrize("ack", ["accepted", "output"])
def test_a_stop_drains_and_gives_back_what_was_not_taken(rabbitmq, gate, ack):
    """SIGTERM-like stop mid-stream: every message is either output or back in the queue,
    none is lost, and (accepted mode) no output repeats."""
    role = unique_role("drain")
    graph, registry = _gate_graph()
    client = AmqpProbe(rabbitmq.url)
    client.declare_inqueue(f"{role}.IN")
    client.collect(f"{role}.OUT")
    total = 3000
    for n in range(total):
        client.send(f"{role}.IN", n)
    gate.delay = 0.0005
    participant = Participant(
        graph, registry, rabbitmq.url, ParticipantConfig(role=role, prefetch=50, ack=ack)
    )
    participant.start()
    gate.opened.set()
    out = client.messages(f"{role}.OUT", 200, timeout=20)
    assert len(out) == 200
    stuck = participant.stop(10.0)
    assert stuck == []
    out += client.messages(f"{role}.OUT", total, timeout=1.0)
    outputs = [json.loads(b) for b in out]
    back = [json.loads(b) for b in client.get_all(f"{role}.IN")]
    client.close()
    assert len(outputs) < total, "the stop came too late to test anything"
    assert set(outputs) | set(back) == set(range(total))
    assert len(outputs) == len(set(outputs))
    assert outputs == sorted(outputs)


def test_an_unreachable_broker_is_a_broker_error():
    graph, registry = _gate_graph()
    participant = Participant(
        graph,
        registry,
        "amqp://guest:guest@127.0.0.1:1/%2F",
        ParticipantConfig(role="nobody", connect_timeout=1.0),
    )
    with pytest.raises(BrokerError, match="cannot connect"):
        participant.start()


def test_mqtt_kept_session_redelivers_after_kill(mosquitto, tmp_path):
    """kill -9 of a participant with a fixed id: what it held unacknowledged comes back
    when a participant with that id connects again (MQTT keeps the session)."""
    role = unique_role("kill")
    graph = graph_file(tmp_path, "repeat", REPEAT_FBP)
    client = MqttProbe(mosquitto.url)
    client.collect(f"{role}.OUT")
    args = [
        "--broker",
        mosquitto.url,
        "--role",
        role,
        "--id",
        f"{role}-fixed",
        "--ack",
        "output",
        str(graph),
    ]
    total = 2000
    with participants(tmp_path) as start:
        first = start(args)
        for n in range(total):
            client.client.publish(f"{role}.IN", json.dumps(n), qos=1)
        seen = client.messages(f"{role}.OUT", 100, timeout=20)
        first.signal(signal.SIGKILL)
        first.wait()
        start(args)
        seen += client.messages(f"{role}.OUT", total * 2, timeout=4.0)
    client.close()
    values = {json.loads(b) for b in seen}
    assert values == set(range(total))


def test_outputs_the_broker_never_got_are_reported_discarded_at_the_stop(broker, gate):
    """The broker goes away while outputs are inside the graph; the stop lets them out, the
    participant cannot publish them: they are counted and reported once, not dropped
    silently (issue 24)."""
    role = unique_role("gone")
    graph, registry = _gate_graph()
    client = probe(broker)
    states = []
    proxy = TcpProxy("127.0.0.1", broker.port)
    try:
        url = broker.url.replace(f":{broker.port}", f":{proxy.port}")
        participant = Participant(
            graph, registry, url, ParticipantConfig(role=role), on_status=states.append
        )
        participant.start()
        for n in range(5):
            client.send(f"{role}.IN", n)
        deadline = time.monotonic() + 20
        while participant.stats["received"] < 5:  # all inside, held by the closed gate
            assert time.monotonic() < deadline, participant.stats
            time.sleep(0.05)
        proxy.close()  # the broker is gone for good: every reconnect is refused
        gate.opened.set()
        participant.stop(3.0)
    finally:
        proxy.close()
        client.close()
    assert participant.stats["discarded"] == 5, (participant.stats, states)
    reports = [s for s in states if s.get("type") == "discarded"]
    assert [r["count"] for r in reports] == [5], states
    assert "5 output message(s)" in reports[0]["message"]


def test_the_transport_reconnects_after_the_broker_connection_drops(broker):
    role = unique_role("re")
    graph, registry = _gate_graph()
    Gate.opened.set()
    client = probe(broker)
    client.collect(f"{role}.OUT")
    states = []
    with TcpProxy("127.0.0.1", broker.port) as proxy:
        url = broker.url.replace(f":{broker.port}", f":{proxy.port}")
        participant = Participant(
            graph, registry, url, ParticipantConfig(role=role), on_status=states.append
        )
        participant.start()
        try:
            client.send(f"{role}.IN", "before")
            assert client.messages(f"{role}.OUT", 1) == [b'"before"']
            proxy.cut()
            deadline = time.monotonic() + 20
            while (
                participant.transport.stats["reconnects"] < 1 or not participant.transport.connected
            ):
                assert time.monotonic() < deadline, states
                time.sleep(0.05)
            time.sleep(0.2)  # MQTT: the subscription is made again just after the connect
            client.send(f"{role}.IN", "after")
            # "before" may come again: its publish was in flight at the cut (at-least-once)
            got = client.messages(f"{role}.OUT", 2, timeout=5)
            assert got[-1] == b'"after"' and set(got) <= {b'"before"', b'"after"'}, got
            assert participant.transport.stats["reconnects"] == 1
            assert any(s.get("state") == "reconnecting" for s in states), states
        finally:
            participant.stop()
            client.close()


def test_ips_from_a_participant_to_a_component_graph(mosquitto):
    """The in-graph components and a participant meet on one topic."""
    from flowpy.engine.network import Network, NetworkListener

    role = unique_role("mix")
    graph, registry = _gate_graph()
    Gate.opened.set()
    participant = Participant(graph, registry, mosquitto.url, ParticipantConfig(role=role))
    participant.start()
    got, done = [], threading.Event()

    class Collect(NetworkListener):
        def outport_ip(self, network, port, ip):
            got.append(ip)
            if len(got) == 4:
                done.set()

    sender = Graph(name="sender")
    sender.add_node("sub", "mqtt/Subscribe")
    sender.add_initial({"url": mosquitto.url, "topic": f"{role}.OUT"}, _ref("sub", "conf"))
    sender.add_outport("out", "sub", "out")
    sender.add_node("pub", "mqtt/Publish")
    sender.add_initial(f"{mosquitto.url} {role}.IN", _ref("pub", "conf"))
    sender.add_inport("in", "pub", "in")
    network = Network(sender, Registry(), Collect())
    network.start()
    try:
        time.sleep(0.5)  # the subscription is made
        for ip in (IP.open("g"), IP.make_data(1), IP.make_data({"x": 2}), IP.close("g")):
            network.send_inport("in", ip)
        assert done.wait(20), got
        assert got == [IP.open("g"), IP.make_data(1), IP.make_data({"x": 2}), IP.close("g")]
    finally:
        network.stop()
        participant.stop()


def _ref(node, port):
    from flowpy.graphs.model import PortRef

    return PortRef(node, port)


# -- a message that fails never crashes the worker nor comes back (issue 24 case 6) -----------

PARSE_FBP = "INPORT=p.IN:IN\nOUTPORT=p.OUT:OUT\np(strings/ParseNumber)\n"


PARSE_JSON = {
    "processes": {"p": {"component": "strings/ParseNumber"}},
    "connections": [],
    "inports": {"in": {"process": "p", "port": "in"}},
    "outports": {"out": {"process": "p", "port": "out"}},
}


@pytest.mark.parametrize("fmt, ack", [("fbp", "accepted"), ("json", "output")])
def test_a_failing_message_goes_to_the_dead_letters_and_the_worker_goes_on(
    broker, tmp_path, fmt, ack
):
    """Bad, good, bad, good in: the goods come out, the bads are in dead-ROLE.IN, and the
    worker is alive (its ParseNumber's error port is not wired: a process error)."""
    role = unique_role("dl")
    if fmt == "fbp":
        target = str(graph_file(tmp_path, "parse", PARSE_FBP))
    else:
        path = tmp_path / "parse.json"
        path.write_text(json.dumps(PARSE_JSON), encoding="utf-8")
        target = str(path)
    with participants(tmp_path) as start:
        proc = start(["--broker", broker.url, "--role", role, "--ack", ack, target])
        client = probe(broker)
        try:
            client.collect(f"{role}.OUT")
            client.collect(f"dead-{role}.IN")
            for value in ("abc", "5", "x", "7"):  # bad, good, bad, good
                client.send(f"{role}.IN", value)
            goods = [json.loads(b) for b in client.messages(f"{role}.OUT", 2)]
            bads = [json.loads(b) for b in client.messages(f"dead-{role}.IN", 2)]
            client.send(f"{role}.IN", "9")  # still at work
            after = [json.loads(b) for b in client.messages(f"{role}.OUT", 1)]
        finally:
            client.close()
        assert (goods, bads, after) == ([5, 7], ["abc", "x"], [9]), proc.stderr()
        assert proc.stop() == 143, proc  # alive until told to stop
