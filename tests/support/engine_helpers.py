"""Small builders for engine tests: graphs from text, recording listeners, test components."""

from __future__ import annotations

import threading
from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph, PortRef


def ref(text: str) -> PortRef:
    """``node.port`` or ``node.port[index]``."""
    node, port = text.split(".", 1)
    index: Any = None
    if port.endswith("]"):
        port, raw = port[:-1].split("[")
        index = int(raw) if raw.isdigit() else raw
    return PortRef(node, port, index)


def build(
    nodes: dict[str, str],
    edges: list[str] = (),
    iips: dict[str, Any] | None = None,
    inports: dict[str, str] | None = None,
    outports: dict[str, str] | None = None,
    name: str = "test",
) -> Graph:
    """A graph from {id: component}, ["a.out -> b.in"], {"a.conf": 3}, {"public": "a.in"}."""
    graph = Graph(name)
    for node_id, component in nodes.items():
        graph.add_node(node_id, component)
    for edge in edges:
        src, tgt = (part.strip() for part in edge.split("->"))
        graph.add_edge(ref(src), ref(tgt))
    for target, value in (iips or {}).items():
        graph.add_initial(value, ref(target))
    for public, target in (inports or {}).items():
        r = ref(target)
        graph.add_inport(public, r.node, r.port)
    for public, target in (outports or {}).items():
        r = ref(target)
        graph.add_outport(public, r.node, r.port)
    return graph


class Recorder(NetworkListener):
    """Records every listener call; lets tests wait for conditions instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.outputs: list[tuple[str, IP]] = []
        self.errors: list[tuple[str, str, str]] = []
        self.console: list[tuple[str, str]] = []
        self.cond = threading.Condition()

    def _add(self, item: tuple) -> None:
        with self.cond:
            self.events.append(item)
            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def started(self, network):
        self._add(("started",))

    def port_event(self, network, direction, port, event):
        self._add(("port", direction, port, event))

    def outport_ip(self, network, port, ip):
        with self.cond:
            self.outputs.append((port, ip))
        self._add(("ip", port, ip))

    def process_error(self, network, node, message, tb):
        with self.cond:
            self.errors.append((node, message, tb))
        self._add(("error", node))

    def output(self, network, node, text):
        with self.cond:
            self.console.append((node, text))
        self._add(("output", node, text))

    def finished(self, network):
        self._add(("finished",))

    def stopped(self, network):
        self._add(("stopped",))


class Collect(Component):
    """Test sink: keeps every IP in ``Collect.seen[node_id]``."""

    seen: dict[str, list[IP]] = {}
    inports = InPorts(InPort("in"))

    def run(self) -> None:
        got = Collect.seen.setdefault(self.node_id, [])
        for ip in self.inports["in"]:
            got.append(ip)


class Emit(Component):
    """Test source: sends the IPs of its ``conf`` IIP list; {"<": g} / {">": g} are brackets."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        items = next_data(self.inports["conf"])
        for item in items:
            if isinstance(item, dict) and set(item) == {"<"}:
                self.outports["out"].send(IP.open(item["<"]))
            elif isinstance(item, dict) and set(item) == {">"}:
                self.outports["out"].send(IP.close(item[">"]))
            else:
                self.outports["out"].send_data(item)


class Fail(Component):
    """Test component: fails after forwarding ``conf`` IPs."""

    inports = InPorts(InPort("in"), InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        limit = next_data(self.inports["conf"]) if self.inports["conf"].is_connected else 0
        for n, ip in enumerate(self.inports["in"]):
            if n >= limit:
                raise RuntimeError(f"failing on purpose at IP {n}")
            self.outports["out"].send(ip)


class Block(Component):
    """Test component: reads nothing until the network stops (keeps its inport full)."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        self.stopping.wait()


def registry() -> Registry:
    reg = Registry()
    for cls in (Collect, Emit, Fail, Block):
        reg.register(f"test/{cls.__name__}", cls)
    return reg


def run_to_end(graph: Graph, timeout: float = 20.0) -> Recorder:
    rec = Recorder()
    net = Network(graph, registry(), rec)
    net.start()
    assert net.wait(timeout), "network did not finish"
    assert net.stop() == []
    return rec


def start_network(
    graph: Graph,
    ready: str | None = None,
    capacity: int | None = None,
    components: dict[str, type[Component]] | None = None,
) -> tuple[Network, Recorder]:
    """Start ``graph`` with the test components (and ``components``) registered beside the
    library; with ``ready``, wait until that exported outport has sent (a server's
    ``listening``). The caller stops the network."""
    reg = registry()
    for name, cls in (components or {}).items():
        reg.register(name, cls)
    recorder = Recorder()
    network = Network(graph, reg, recorder, **({"capacity": capacity} if capacity else {}))
    network.start()
    if ready is not None:
        assert recorder.wait_for(lambda: any(port == ready for port, _ in recorder.outputs))
    return network, recorder


def first_sent(recorder: Recorder, port: str) -> Any:
    """The data of the first IP exported outport ``port`` sent."""
    with recorder.cond:
        return next(ip.data for name, ip in recorder.outputs if name == port)
