"""Builders for the Bridge suite: test components that synchronise, graph files, a local network.

``Store`` is where ``test/Record`` nodes put what they receive, under a condition variable,
so a test waits for "N items on node X" instead of sleeping. ``LocalNetwork`` runs a graph
in this process (the *A* side of A → Bridge → B → Bridge → A) and records its listener events.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_helpers import Recorder, build

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine.ip import IP
from flowpy.engine.network import Network
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "examples" / "echo.json")


class Store:
    """Everything ``test/Record`` nodes received, by node id."""

    cond = threading.Condition()
    seen: dict[str, list[IP]] = {}

    @classmethod
    def reset(cls) -> None:
        with cls.cond:
            cls.seen = {}

    @classmethod
    def add(cls, node: str, ip: IP) -> None:
        with cls.cond:
            cls.seen.setdefault(node, []).append(ip)
            cls.cond.notify_all()

    @classmethod
    def get(cls, node: str) -> list[IP]:
        with cls.cond:
            return list(cls.seen.get(node, []))

    @classmethod
    def data(cls, node: str) -> list[Any]:
        return [ip.data for ip in cls.get(node)]

    @classmethod
    def wait_for(cls, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        with cls.cond:
            return cls.cond.wait_for(predicate, timeout)

    @classmethod
    def wait_count(cls, node: str, count: int, timeout: float = 30.0) -> bool:
        return cls.wait_for(lambda: len(cls.seen.get(node, [])) >= count, timeout)

    @classmethod
    def wait_match(cls, node: str, predicate: Callable[[Any], bool], timeout: float = 30.0) -> bool:
        """Wait for a data IP on ``node`` whose payload satisfies ``predicate``."""
        return cls.wait_for(
            lambda: any(ip.is_data and predicate(ip.data) for ip in cls.seen.get(node, [])), timeout
        )


class Record(Component):
    """Test sink: every IP into ``Store`` under the node id."""

    inports = InPorts(InPort("in"))

    def run(self) -> None:
        for ip in self.inports["in"]:
            Store.add(self.node_id, ip)


class Emit(Component):
    """Test source: the items of its ``conf`` list; {"<": g} / {">": g} are brackets;
    {"count": n, "start": s} is n integers from s."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        out = self.outports["out"]
        for item in next_data(self.inports["conf"]):
            if isinstance(item, dict) and set(item) == {"<"}:
                out.send(IP.open(item["<"]))
            elif isinstance(item, dict) and set(item) == {">"}:
                out.send(IP.close(item[">"]))
            elif isinstance(item, dict) and "count" in item:
                start = item.get("start", 0)
                out.send_many([IP.make_data(n) for n in range(start, start + item["count"])])
            else:
                out.send_data(item)


def registry() -> Registry:
    reg = Registry()  # discovers core/*, core/Bridge included
    reg.register("test/Record", Record)
    reg.register("test/Emit", Emit)
    return reg


def as_items(ips: list[IP]) -> list[Any]:
    """IPs back in Emit's notation, for comparisons."""
    out: list[Any] = []
    for ip in ips:
        if ip.is_open:
            out.append({"<": ip.data})
        elif ip.is_close:
            out.append({">": ip.data})
        else:
            out.append(ip.data)
    return out


class LocalNetwork:
    """Runs a graph in this process; ``stop()`` reports how long the stop took."""

    def __init__(self, graph: Graph, reg: Registry | None = None) -> None:
        self.recorder = Recorder()
        self.network = Network(graph, reg or registry(), self.recorder)
        self.stop_seconds: float | None = None
        self.stuck: list[str] = []

    def __enter__(self) -> LocalNetwork:
        Store.reset()
        self.network.start()
        return self

    def stop(self, timeout: float = 5.0) -> list[str]:
        if self.stop_seconds is None:
            began = time.monotonic()
            self.stuck = self.network.stop(timeout)
            self.stop_seconds = time.monotonic() - began
        return self.stuck

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def statuses(self, node: str = "st") -> list[dict]:
        return Store.data(node)

    def states(self, node: str = "st") -> list[str]:
        return [s["state"] for s in self.statuses(node) if s.get("type") == "state"]

    def process_errors(self) -> list[tuple[str, str]]:
        with self.recorder.cond:
            return [(node, message) for node, message, _ in self.recorder.errors]

    def wait_process_error(self, timeout: float = 30.0) -> bool:
        return self.recorder.wait_for(lambda: bool(self.recorder.errors), timeout)


def bridge_graph(
    conf: Any,
    items: list[Any] | None = None,
    inputs: dict[str, list] | None = None,
    outputs: tuple[str, ...] = ("out",),
    status: bool = True,
    error: bool = True,
) -> Graph:
    """src(s) → b(core/Bridge) → sink(s): ``inputs`` {slot: items} (default {"in": items}),
    ``outputs`` slots, each to a ``test/Record`` node ``sink-<slot>``; status → ``st``,
    error → ``err``."""
    nodes: dict[str, str] = {"b": "core/Bridge"}
    edges, iips = [], {"b.conf": conf}
    for n, (slot, values) in enumerate(
        (inputs if inputs is not None else {"in": items or []}).items()
    ):
        nodes[f"src{n}"] = "test/Emit"
        iips[f"src{n}.conf"] = values
        edges.append(f"src{n}.out -> b.in[{slot}]")
    for slot in outputs:
        nodes[f"sink-{slot}"] = "test/Record"
        edges.append(f"b.out[{slot}] -> sink-{slot}.in")
    if status:
        nodes["st"] = "test/Record"
        edges.append("b.status -> st.in")
    if error:
        nodes["err"] = "test/Record"
        edges.append("b.error -> err.in")
    return build(nodes, edges, iips)


def write_graph(path: Path, name: str, chains: dict[str, str]) -> str:
    """A graph file of Repeat chains: {"in": "out", "in2": "other"} exports each pair."""
    processes, inports, outports = {}, {}, {}
    for n, (inport, outport) in enumerate(chains.items()):
        processes[f"r{n}"] = {"component": "core/Repeat"}
        inports[inport] = {"process": f"r{n}", "port": "in"}
        outports[outport] = {"process": f"r{n}", "port": "out"}
    document = {
        "properties": {"name": name},
        "processes": processes,
        "connections": [],
        "inports": inports,
        "outports": outports,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


class Gate(Component):
    """Test sink: reads nothing until ``Gate.open`` is set, then records into ``Store``."""

    inports = InPorts(InPort("in"))
    open = threading.Event()

    def run(self) -> None:
        while not Gate.open.wait(0.05):
            if self.stopping.is_set():
                return
        for ip in self.inports["in"]:
            Store.add(self.node_id, ip)


def component_of(net: LocalNetwork, node: str) -> Component:
    """The running instance of ``node`` (for inspecting a Bridge's link)."""
    return net.network.component(node)
