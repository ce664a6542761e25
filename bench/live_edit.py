"""Live editing: splices into a running 100-process chain, beside stop-edit-start.

A *splice* puts a new process between two neighbours of a chain of ``core/Repeat``
processes: ``addnode``, ``removeedge``, ``addedge``, ``addedge`` (four graph edits). The
figure is splices per second applied to the running network (``Network.apply_edit``, as a
hosted graph follows its clients' edits). The baseline, measured in the same run on the same
chain, is what a runtime without live editing makes its users do: stop the network, edit the
graph, start the network again.

Then packets stream through the chain, first with no edits and then while splices land, and
the throughput of both runs is printed as a ratio. Every packet must come out once and in
order in both runs; the bench fails loudly otherwise.

    python bench/live_edit.py [--stages 100] [--splices 200] [--packets 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowpy.cli.tuning import tune_gc  # noqa: E402
from flowpy.engine.ip import IP  # noqa: E402
from flowpy.engine.network import Network, NetworkListener  # noqa: E402
from flowpy.engine.registry import Registry, default_registry  # noqa: E402
from flowpy.graphs.model import Graph, PortRef  # noqa: E402

REPEAT = "core/Repeat"


class Collector(NetworkListener):
    """Counts what leaves the exported outport; the bench waits on it, never sleeps."""

    def __init__(self) -> None:
        self.values: list = []
        self.cond = threading.Condition()

    def outport_ips(self, network, port, ips) -> None:
        with self.cond:
            self.values.extend(ip.data for ip in ips if ip.is_data)
            self.cond.notify_all()

    def wait_count(self, count: int, timeout: float = 120.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.values) >= count, timeout):
                raise SystemExit(f"only {len(self.values)} of {count} packets came out")


def chain(stages: int) -> Graph:
    graph = Graph("bench")
    for n in range(stages):
        graph.add_node(f"r{n}", REPEAT)
    for n in range(stages - 1):
        graph.add_edge(PortRef(f"r{n}", "out"), PortRef(f"r{n + 1}", "in"))
    graph.add_inport("in", "r0", "in")
    graph.add_outport("out", f"r{stages - 1}", "out")
    return graph


class Splicer:
    """Splices new processes into random links of the chain; knows the current links."""

    def __init__(self, graph: Graph, stages: int, seed: int) -> None:
        self.graph = graph
        self.links = [(f"r{n}", f"r{n + 1}") for n in range(stages - 1)]
        self.rng = random.Random(seed)
        self.made = 0

    def splice(self) -> None:
        at = self.rng.randrange(len(self.links))
        src, tgt = self.links[at]
        new = f"x{self.made}"
        self.made += 1
        self.graph.add_node(new, REPEAT)
        self.graph.remove_edge(PortRef(src, "out"), PortRef(tgt, "in"))
        self.graph.add_edge(PortRef(src, "out"), PortRef(new, "in"))
        self.graph.add_edge(PortRef(new, "out"), PortRef(tgt, "in"))
        self.links[at : at + 1] = [(src, new), (new, tgt)]


def follow(graph: Graph, network: Network) -> None:
    """What the runtime's hosted graph does: check, then let the network follow."""

    def on_change(event: str, payload: dict) -> None:
        network.apply_edit(event, payload)

    graph.subscribe(on_change)


def live_splices(registry: Registry, stages: int, splices: int, seed: int) -> float:
    graph = chain(stages)
    network = Network(graph, registry, Collector())
    network.start()
    follow(graph, network)
    splicer = Splicer(graph, stages, seed)
    began = time.perf_counter()
    for _ in range(splices):
        splicer.splice()
    elapsed = time.perf_counter() - began
    running = {t.name for t in threading.enumerate()}
    missing = [node for node in graph.nodes if node not in running]
    if missing:
        raise SystemExit(f"spliced processes not running: {missing[:5]}")
    network.stop(timeout=10, drain=False)
    return splices / elapsed


def restart_splices(registry: Registry, stages: int, splices: int, seed: int) -> float:
    graph = chain(stages)
    network = Network(graph, registry, Collector())
    network.start()
    splicer = Splicer(graph, stages, seed)
    began = time.perf_counter()
    for _ in range(splices):
        network.stop(timeout=10, drain=False)
        splicer.splice()
        network.start()
    elapsed = time.perf_counter() - began
    network.stop(timeout=10, drain=False)
    return splices / elapsed


def streaming(registry: Registry, stages: int, packets: int, splices: int, seed: int) -> float:
    """Packets per second through the chain, with ``splices`` landing while they flow."""
    graph = chain(stages)
    collector = Collector()
    network = Network(graph, registry, collector)
    network.start()
    follow(graph, network)
    splicer = Splicer(graph, stages, seed)

    def feed() -> None:
        for value in range(packets):
            network.send_inport("in", IP.make_data(value))

    feeder = threading.Thread(target=feed, name="bench-feed")
    began = time.perf_counter()
    feeder.start()
    for done in range(splices):
        # spread the splices over the stream: wait until its share has come out
        collector.wait_count(packets * done // (splices + 1))
        splicer.splice()
    collector.wait_count(packets)
    elapsed = time.perf_counter() - began
    feeder.join()
    network.stop(timeout=10, drain=False)
    if collector.values != list(range(packets)):
        raise SystemExit("packets lost, repeated or reordered while splicing")
    return packets / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--splices", type=int, default=200)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tune_gc()
    registry = default_registry()
    restarts = max(10, args.splices // 10)  # a restart of 100+ threads is slow: fewer of them

    live, restart, quiet, edited = [], [], [], []
    for round_ in range(args.repeat):
        live.append(live_splices(registry, args.stages, args.splices, round_))
        restart.append(restart_splices(registry, args.stages, restarts, round_))
        quiet.append(streaming(registry, args.stages, args.packets, 0, round_))
        edited.append(streaming(registry, args.stages, args.packets, args.splices // 4, round_))

    def show(label: str, values: list[float], unit: str) -> None:
        print(
            f"  {label:<44} best {max(values):>10,.0f}  median "
            f"{statistics.median(values):>10,.0f} {unit}"
        )

    print(f"chain of {args.stages} core/Repeat processes, {args.repeat} rounds")
    show(f"live splices ({args.splices}, 4 edits each)", live, "splices/s")
    show(f"baseline: stop, edit, start ({restarts})", restart, "splices/s")
    print(
        f"  ratio live / restart (median): "
        f"{statistics.median(live) / statistics.median(restart):.1f}x"
    )
    show(f"stream of {args.packets} packets, no edits", quiet, "packets/s")
    show(f"same stream, {args.splices // 4} splices landing", edited, "packets/s")
    print(
        f"  ratio edited / quiet (median): "
        f"{statistics.median(edited) / statistics.median(quiet):.2f}"
    )


if __name__ == "__main__":
    main()
