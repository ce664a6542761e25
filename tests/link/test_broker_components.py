"""The in-graph broker components on real brokers: mqtt/Publish and mqtt/Subscribe,
amqp/Publish and amqp/Consume: round trips, status, bounded buffering while the broker is
away, configuration errors."""

from __future__ import annotations

import threading
import time

import brokers
import pytest
from brokers import unique_role
from tcp_proxy import TcpProxy

from flowpy import IP
from flowpy.engine.network import Network, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph, PortRef

pytestmark = [pytest.mark.broker, pytest.mark.integration]
mosquitto, rabbitmq, broker = brokers.mosquitto, brokers.rabbitmq, brokers.broker

NAMES = {
    "mqtt": ("mqtt/Publish", "mqtt/Subscribe", "topic"),
    "amqp": ("amqp/Publish", "amqp/Consume", "queue"),
}


class Collect(NetworkListener):
    def __init__(self) -> None:
        self.ips: dict[str, list[IP]] = {}
        self.errors: list[str] = []
        self.changed = threading.Condition()

    def outport_ip(self, network, port, ip):
        with self.changed:
            self.ips.setdefault(port, []).append(ip)
            self.changed.notify_all()

    def process_error(self, network, node, message, tb):
        with self.changed:
            self.errors.append(message)
            self.changed.notify_all()

    def wait(self, port: str, count: int, timeout: float = 20.0) -> list[IP]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.ips.get(port, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.wait(remaining)
            return list(self.ips.get(port, []))


def _graph(kind: str, url: str, name: str, pub_conf: dict | None = None) -> Graph:
    publish, consume, key = NAMES[kind]
    graph = Graph(name="brokered")
    graph.add_node("pub", publish)
    graph.add_initial({"url": url, key: name, **(pub_conf or {})}, PortRef("pub", "conf"))
    graph.add_inport("in", "pub", "in")
    graph.add_outport("pubstatus", "pub", "status")
    graph.add_outport("puberror", "pub", "error")
    graph.add_node("sub", consume)
    graph.add_initial({"url": url, key: name}, PortRef("sub", "conf"))
    graph.add_outport("out", "sub", "out")
    graph.add_outport("substatus", "sub", "status")
    return graph


def _connected(collect: Collect, port: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(ip.data.get("state") == "connected" for ip in collect.wait(port, 1, 0.2)):
            return True
        time.sleep(0.05)
    return False


def test_publish_to_and_consume_from_the_broker(broker):
    name = unique_role("c") + ".IN"
    collect = Collect()
    network = Network(_graph(broker.kind, broker.url, name), Registry(), collect)
    network.start()
    try:
        assert _connected(collect, "substatus")  # subscribed before anything is published
        time.sleep(0.2)
        stream = [
            IP.open("g"),
            IP.make_data(1),
            IP.make_data({"é": [None, 2.5]}),
            IP.close("g"),
            IP.make_data("last"),
        ]
        for ip in stream:
            network.send_inport("in", ip)
        assert collect.wait("out", len(stream)) == stream
        assert _connected(collect, "pubstatus")
        assert collect.errors == []
    finally:
        network.stop()


def test_publish_holds_a_bounded_buffer_while_the_broker_is_away(rabbitmq):
    name = unique_role("away") + ".IN"
    with TcpProxy("127.0.0.1", rabbitmq.port) as proxy:
        proxy.hold()  # connections wait: the broker is unreachable
        url = rabbitmq.url.replace(f":{rabbitmq.port}", f":{proxy.port}")
        graph = Graph(name="away")
        graph.add_node("pub", "amqp/Publish")
        graph.add_initial(
            {"url": url, "queue": name, "buffer": 5, "reconnect": {"initial": 0.05, "max": 0.2}},
            PortRef("pub", "conf"),
        )
        graph.add_inport("in", "pub", "in")
        collect = Collect()
        network = Network(graph, Registry(), collect)
        network.start()
        try:
            for n in range(50):
                network.send_inport("in", IP.make_data(n))
            time.sleep(0.5)
            transport = network.component("pub").transport
            assert not transport.connected
            assert transport._publishes_held == 5  # the buffer is full; the graph waits
            proxy.admit()
            client = brokers.AmqpProbe(rabbitmq.url)
            client.declare_inqueue(name)  # as the publisher declares it (whoever is first)
            deadline = time.monotonic() + 20
            got: list[bytes] = []
            while len(got) < 50 and time.monotonic() < deadline:
                got += client.get_all(name)
                time.sleep(0.05)
            client.close()
            assert got == [str(n).encode() for n in range(50)]
        finally:
            network.stop()


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"topic": "t"}, "needs 'url'"),
        ({"url": "mqtt://127.0.0.1:1"}, "needs 'topic'"),
        ({"url": "mqtt://127.0.0.1:1", "topic": "t", "qos": 2}, "unknown conf"),
        ("not a url", "not a URL"),
    ],
)
def test_a_bad_conf_is_an_error_ip_and_a_process_error(conf, message, monkeypatch):
    monkeypatch.delenv("MSGFLO_BROKER", raising=False)
    graph = Graph(name="bad")
    graph.add_node("pub", "mqtt/Publish")
    graph.add_initial(conf, PortRef("pub", "conf"))
    graph.add_outport("error", "pub", "error")
    collect = Collect()
    network = Network(graph, Registry(), collect)
    network.start()
    try:
        errors = collect.wait("error", 1, 10)
        assert errors and errors[0].data["type"] == "config"
        assert message in errors[0].data["message"]
        assert network.wait(10)
        assert any(message in text for text in collect.errors)
    finally:
        network.stop()
