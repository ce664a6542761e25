"""Run a component, or a small graph, with given inputs and collect what comes out: for tests.

::

    assert run_component(Upper, {"in": ["a", "b"]})["out"] == ["A", "B"]

Each input list is a stream that then ends, as IIPs and upstream processes give it; output
is collected until every process has ended, in a real network with real connections and
back-pressure, so what passes here behaves the same in a graph. A process error, or a process
still running after ``timeout``, fails with :class:`ProcessFailed` (an AssertionError).
docs/writing-components.md ("Testing") has more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from flowpy.engine.component import Component
from flowpy.engine.failures import Failure
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.graphs.model import Graph

NODE = "process"


class ProcessFailed(AssertionError):
    """The component (or a process of the graph) failed, or did not end in time."""


def run_component(
    component: type[Component] | str,
    inputs: Mapping[str, Iterable[Any]] | None = None,
    *,
    registry: Registry | None = None,
    timeout: float = 10.0,
    ips: bool = False,
) -> dict[str, list[Any]]:
    """Run one process of ``component`` (a class, or a registered name such as
    ``"core/Repeat"``) and return ``{outport: [what it sent]}``: the data payloads, or the
    IPs themselves (brackets included) with ``ips=True``. Addressable outports are collected
    per slot only in :func:`run_graph` (export ``node.out[0]`` there)."""
    registry = registry if registry is not None else Registry()
    if isinstance(component, str):
        name = component
        cls = registry.get(name)
    else:
        cls = component
        name = f"testing/{cls.__name__}"
        registry.register(name, cls)
    graph = Graph("testing")
    graph.add_node(NODE, name)
    for port in inputs or {}:
        graph.add_inport(port, NODE, port)
    for port, spec in cls.port_specs("out").items():
        if not spec.addressable:
            graph.add_outport(port, NODE, port)
    return run_graph(graph, inputs, registry=registry, timeout=timeout, ips=ips)


def run_graph(
    graph: Graph,
    inputs: Mapping[str, Iterable[Any]] | None = None,
    *,
    registry: Registry | None = None,
    timeout: float = 10.0,
    ips: bool = False,
) -> dict[str, list[Any]]:
    """Run ``graph`` with each list of ``inputs`` fed to the exported inport of that name
    (exported inports given none get end-of-stream at once) and return what each exported
    outport sent, as :func:`run_component` does."""
    collector = _Collector(ips)
    network = Network(graph, registry if registry is not None else Registry(), collector)
    network.start()
    feeders = []
    try:
        given = {name.lower(): values for name, values in (inputs or {}).items()}
        for port in network.exported_inports:
            values = given.get(port.lower())
            if values is None:
                network.close_inport(port)
                continue
            feeder = threading.Thread(
                target=_feed, args=(network, port, values), name=f"testing-feed-{port}"
            )
            feeder.start()
            feeders.append(feeder)
        finished = network.wait(timeout)
    finally:
        network.stop(drain=False)
        for feeder in feeders:
            feeder.join()
    if collector.errors:
        raise ProcessFailed("\n".join(collector.errors))
    if not finished:
        raise ProcessFailed(
            f"still running after {timeout}s (stopped): does every process end when its inputs end?"
        )
    return collector.outputs


def _feed(network: Network, port: str, values: Iterable[Any]) -> None:
    from flowpy.engine.network import NetworkError

    try:
        for value in values:
            network.send_inport(port, value if isinstance(value, IP) else IP.make_data(value))
        network.close_inport(port)
    except NetworkError:
        pass  # the network ended or was stopped: nothing left to feed


class _Collector(NetworkListener):
    def __init__(self, ips: bool) -> None:
        self.ips = ips
        self.outputs: dict[str, list[Any]] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def started(self, network: Network) -> None:
        for port in network.exported_outports:
            self.outputs.setdefault(port, [])

    def outport_ips(self, network: Network, port: str, ips: list[IP]) -> None:
        with self._lock:
            out = self.outputs.setdefault(port, [])
            out.extend(ips if self.ips else (ip.data for ip in ips if ip.is_data))

    def process_failed(self, network: Network, failure: Failure) -> bool:
        super().process_failed(network, failure)
        return True  # the caller is told: run_graph raises ProcessFailed

    def process_error(self, network: Network, node: str, message: str, tb: str) -> None:
        with self._lock:
            self.errors.append(f"process {node!r} failed: {message}\n{tb}")


__all__ = ["ProcessFailed", "run_component", "run_graph"]
