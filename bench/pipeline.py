"""Pipeline throughput: Range -> 10 x Repeat -> Count, beside bare deques in the same run.

Prints IPs/s for flowpy networks (per-item components and the batched core components) next
to a raw baseline measured in the same process: the same 12-thread chain built from bare
bounded deques (a lock and two conditions each) with no flowpy code at all. Machines here are
noisy, so the ratio is the figure that matters (of the best runs of each, and of the medians
of the interleaved runs, which one quiet second does not move); the target is at least 0.8
for the batched core components (the "bigchain" shape: the raw form carries data IPs as bare
payloads, so Range, Repeat and Count make no object per IP) and 0.5 for the others.

Then measures the peak memory growth of a pipeline whose sink is deliberately slow: it must
stay bounded by the connection capacities, not grow with the stream.

    python bench/pipeline.py [--ips 200000] [--stages 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
import tracemalloc
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data  # noqa: E402
from flowpy.cli.tuning import tune_gc  # noqa: E402
from flowpy.engine.connection import DEFAULT_CAPACITY, EndOfStream  # noqa: E402
from flowpy.engine.ip import DATA, IP  # noqa: E402
from flowpy.engine.network import Network  # noqa: E402
from flowpy.engine.registry import Registry  # noqa: E402
from flowpy.graphs.model import Graph, PortRef  # noqa: E402

BATCH = 256


# -- the raw baseline: bare bounded deques, no flowpy code -------------------------------
class BareQueue:
    """The simplest correct bounded queue: a deque, a lock, two conditions."""

    def __init__(self, capacity: int) -> None:
        self.items: deque = deque()
        self.capacity = capacity
        lock = threading.Lock()
        self.not_empty = threading.Condition(lock)
        self.not_full = threading.Condition(lock)

    def put(self, item) -> None:
        with self.not_full:
            while len(self.items) >= self.capacity:
                self.not_full.wait()
            self.items.append(item)
            self.not_empty.notify()

    def get(self):
        with self.not_empty:
            while not self.items:
                self.not_empty.wait()
            item = self.items.popleft()
            self.not_full.notify()
            return item

    def put_many(self, batch: list) -> None:
        with self.not_full:
            while len(self.items) + len(batch) > self.capacity:
                self.not_full.wait()
            self.items.extend(batch)
            self.not_empty.notify()

    def get_many(self) -> list:
        with self.not_empty:
            while not self.items:
                self.not_empty.wait()
            batch = list(self.items)
            self.items.clear()
            self.not_full.notify()
            return batch


END = object()


def raw_chain(n: int, stages: int, batched: bool) -> float:
    queues = [BareQueue(DEFAULT_CAPACITY) for _ in range(stages + 1)]
    result = []

    def source():
        q = queues[0]
        if batched:
            for start in range(0, n, BATCH):
                q.put_many(list(range(start, min(n, start + BATCH))))
            q.put_many([END])
        else:
            for i in range(n):
                q.put(i)
            q.put(END)

    def relay(src: BareQueue, dst: BareQueue):
        if batched:
            while True:
                batch = src.get_many()
                dst.put_many(batch)
                if batch[-1] is END:
                    return
        while True:
            item = src.get()
            dst.put(item)
            if item is END:
                return

    def sink():
        q, count = queues[-1], 0
        while True:
            batch = q.get_many() if batched else [q.get()]
            for item in batch:
                if item is END:
                    result.append(count)
                    return
                count += 1

    threads = [threading.Thread(target=source)]
    threads += [
        threading.Thread(target=relay, args=(queues[i], queues[i + 1])) for i in range(stages)
    ]
    threads.append(threading.Thread(target=sink))
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert result == [n], result
    return n / elapsed


# -- flowpy, per item --------------------------------------------------------------------
class ItemRange(Component):
    """Sends 0..n-1 one IP at a time."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        out = self.outports["out"]
        for i in range(next_data(self.inports["conf"])):
            out.send(IP(DATA, i))


class ItemRepeat(Component):
    """Forwards one IP at a time with recv()/send()."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        inport, out = self.inports["in"], self.outports["out"]
        while True:
            out.send(inport.recv())


class ItemCount(Component):
    """Counts IPs received one at a time."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        inport, count = self.inports["in"], 0
        try:
            while True:
                inport.recv()
                count += 1
        except EndOfStream:
            self.outports["out"].send_data(count)


class PrebuiltRange(Component):
    """Sends IPs built before the run, so the figure shows the transport alone."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))
    prebuilt: list = []

    def run(self):
        next_data(self.inports["conf"])
        out, ips = self.outports["out"], PrebuiltRange.prebuilt
        for start in range(0, len(ips), BATCH):
            out.send_many(ips[start : start + BATCH])


class SlowSink(Component):
    """Takes a short nap every few IPs, so everything upstream fills up and waits."""

    inports = InPorts(InPort("in"))

    def run(self):
        for n, _ in enumerate(self.inports["in"]):
            if n % 64 == 0:
                time.sleep(0.001)


class Result(Component):
    inports = InPorts(InPort("in"))
    got: list = []

    def run(self):
        Result.got.extend(ip.data for ip in self.inports["in"] if ip.is_data)


def registry() -> Registry:
    reg = Registry()
    for cls in (ItemRange, ItemRepeat, ItemCount, PrebuiltRange, SlowSink, Result):
        reg.register(f"bench/{cls.__name__}", cls)
    return reg


def chain_graph(n: int, stages: int, source: str, relay: str, sink: str) -> Graph:
    g = Graph("pipeline")
    g.add_node("source", source)
    prev = "source"
    for i in range(stages):
        g.add_node(f"relay{i}", relay)
        g.add_edge(PortRef(prev, "out"), PortRef(f"relay{i}", "in"))
        prev = f"relay{i}"
    g.add_node("sink", sink)
    g.add_edge(PortRef(prev, "out"), PortRef("sink", "in"))
    if sink != "bench/SlowSink":
        g.add_node("result", "bench/Result")
        g.add_edge(PortRef("sink", "out"), PortRef("result", "in"))
    g.add_initial(n, PortRef("source", "conf"))
    return g


VARIANTS = {
    "per-item": ("bench/ItemRange", "bench/ItemRepeat", "bench/ItemCount"),
    "batched": ("core/Range", "core/Repeat", "core/Count"),
    "prebuilt": ("bench/PrebuiltRange", "core/Repeat", "core/Count"),
}


#: The ratio to the raw chain each variant should reach.
TARGETS = {"per-item": 0.5, "batched": 0.8, "prebuilt": 0.5}


def flowpy_chain(reg: Registry, n: int, stages: int, variant: str) -> float:
    graph = chain_graph(n, stages, *VARIANTS[variant])
    PrebuiltRange.prebuilt = [IP(DATA, i) for i in range(n)] if variant == "prebuilt" else []
    Result.got = []
    net = Network(graph, reg)
    start = time.perf_counter()
    net.start()
    assert net.wait(600)
    elapsed = time.perf_counter() - start
    net.stop()
    assert Result.got == [n], Result.got
    return n / elapsed


def slow_sink_memory(reg: Registry, n: int, stages: int) -> tuple[float, float, float]:
    """Peak traced memory growth (MiB) with a slow sink, the bound, and the unbounded cost."""
    graph = chain_graph(n, stages, "bench/ItemRange", "bench/ItemRepeat", "bench/SlowSink")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    net = Network(graph, reg)
    net.start()
    assert net.wait(600)
    peak = tracemalloc.get_traced_memory()[1]
    net.stop()
    tracemalloc.stop()
    per_ip = sys.getsizeof(IP(DATA, 10**6)) + sys.getsizeof(10**6) + 8  # object + int + slot
    bound = (stages + 1) * DEFAULT_CAPACITY * per_ip
    unbounded = n * per_ip
    return (peak - base) / 2**20, bound / 2**20, unbounded / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ips", type=int, default=200_000)
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    parser.add_argument("--slow-ips", type=int, default=100_000)
    args = parser.parse_args()
    reg = registry()

    print(f"Range -> {args.stages} x Repeat -> Count, {args.ips:,} IPs, best of {args.repeat}")
    print("  (prebuilt: the batched network fed IPs created before the clock starts, i.e. the")
    print("   transport of IP objects; the raw chain moves bare ints, as flowpy's batched does)")
    default_gc = gc.get_threshold()
    for setting in ("CPython's default GC", "GC as `flowpy run`/`serve` tune it"):
        print(f" {setting} (both sides alike):")
        for variant in VARIANTS:
            batched = variant != "per-item"
            raws: list[float] = []
            flows: list[float] = []
            for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
                raws.append(raw_chain(args.ips, args.stages, batched))
                flows.append(flowpy_chain(reg, args.ips, args.stages, variant))
            raw, flow = max(raws), max(flows)
            median = statistics.median(flows) / statistics.median(raws)
            print(
                f"  {variant:9s} flowpy {flow:12,.0f} IPs/s   raw deques {raw:12,.0f} IPs/s"
                f"   ratio {flow / raw:5.2f}, of medians {median:5.2f}"
                f"  (target >= {TARGETS[variant]:.2f})"
            )
        tune_gc()
    gc.unfreeze()
    gc.set_threshold(*default_gc)
    grown, bound, unbounded = slow_sink_memory(reg, args.slow_ips, args.stages)
    print(
        f"slow sink, {args.slow_ips:,} IPs: peak memory growth {grown:6.2f} MiB; "
        f"connection bound ~{bound:5.2f} MiB; the whole stream would be ~{unbounded:5.2f} MiB"
    )


if __name__ == "__main__":
    main()
