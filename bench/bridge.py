"""Bridge throughput: packets/s through A → core/Bridge → B (Repeat) → core/Bridge → A.

B is a real ``flowpy serve --graph examples/echo.json`` process; A is a network run in this
process: a source of N integers → ``core/Bridge`` ``in[in]``, ``out[out]`` → a counting
sink. A figure is N divided by the time from the network's start to the last packet back.
All in one run, against the same B:

* **bridge, extension**: the default window, the flowpy link extension (seq numbers, acks);
* **bridge, plain**: the default window over plain ``runtime:packet`` / ``packetsent``;
* **bridge, window=1**: lock-step (each packet waits for its acknowledgement);
* **client**: no Bridge, no network on A: ``flowpy.client`` sends straight into B with the
  same window and a second thread counts the ``runtime:packet`` outputs.

The target is windowed ≥ 10× lock-step. Machines here are noisy: compare the ratios.

    python bench/bridge.py [--count 20000] [--lockstep-count 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data  # noqa: E402
from flowpy.cli.tuning import tune_gc  # noqa: E402
from flowpy.engine.ip import IP  # noqa: E402
from flowpy.engine.network import Network  # noqa: E402
from flowpy.engine.registry import Registry  # noqa: E402
from flowpy.graphs.model import Graph, PortRef  # noqa: E402
from flowpy.link.client import Client  # noqa: E402
from flowpy.link.config import DEFAULT_WINDOW  # noqa: E402


class Numbers(Component):
    """N integers (N from conf), in batches."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        count = next_data(self.inports["conf"])
        out = self.outports["out"]
        for start in range(0, count, 256):
            out.send_many([IP.make_data(n) for n in range(start, min(count, start + 256))])


class Counter(Component):
    """Counts data IPs; sets ``Counter.done`` when ``Counter.target`` have arrived."""

    inports = InPorts(InPort("in"))
    target = 0
    done = threading.Event()
    last = None

    def run(self) -> None:
        seen = 0
        port = self.inports["in"]
        while True:
            for ip in port.recv_many():
                if ip.is_data:
                    seen += 1
                    Counter.last = ip.data
            if seen >= Counter.target:
                Counter.done.set()


def start_b() -> tuple[subprocess.Popen, str]:
    state = tempfile.mkdtemp(prefix="flowpy-bench-b-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowpy", "serve", "--port", "0", "--state-dir", state,
         "--graph", str(ROOT / "examples" / "echo.json")],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"B did not start: {line!r}")
    return proc, match.group(1)


def through_bridge(url: str, count: int, window: int, extension: bool) -> float:
    registry = Registry()
    registry.register("bench/Numbers", Numbers)
    registry.register("bench/Counter", Counter)
    graph = Graph("a")
    graph.add_node("src", "bench/Numbers")
    graph.add_node("bridge", "core/Bridge")
    graph.add_node("sink", "bench/Counter")
    graph.add_edge(PortRef("src", "out"), PortRef("bridge", "in", "in"))
    graph.add_edge(PortRef("bridge", "out", "out"), PortRef("sink", "in"))
    graph.add_initial(count, PortRef("src", "conf"))
    graph.add_initial({"url": url, "start": True, "window": window, "extension": extension},
                      PortRef("bridge", "conf"))
    Counter.target, Counter.done, Counter.last = count, threading.Event(), None
    network = Network(graph, registry)
    began = time.perf_counter()
    network.start()
    try:
        if not Counter.done.wait(300):
            raise SystemExit(f"only part of {count} packets came back (last {Counter.last})")
        return count / (time.perf_counter() - began)
    finally:
        network.stop()


def straight_client(url: str, count: int, window: int) -> float:
    with Client(url, packet_inbox=4096) as client:
        graph = client.getruntime()["graph"]
        if not client.network_status(graph)["running"]:
            client.start_network(graph)
        done = threading.Event()

        def receive() -> None:
            seen = 0
            while seen < count:
                packet = client.recv_packet(timeout=60)
                seen += packet.get("event") == "data" and packet.get("port") == "out"
            done.set()

        receiver = threading.Thread(target=receive, name="bench-receiver")
        began = time.perf_counter()
        receiver.start()
        client.send_stream(graph, "in", range(count), window=window)
        receiver.join(300)
        if not done.is_set():
            raise SystemExit("the client did not get every packet back")
        return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="packets per windowed run")
    parser.add_argument("--lockstep-count", type=int, default=2_000,
                        help="packets per window=1 run")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    tune_gc()
    proc, url = start_b()
    try:
        cases = [
            ("bridge, extension", lambda: through_bridge(url, args.count, args.window, True)),
            ("bridge, plain", lambda: through_bridge(url, args.count, args.window, False)),
            ("bridge, window=1", lambda: through_bridge(url, args.lockstep_count, 1, True)),
            ("client, straight", lambda: straight_client(url, args.count, args.window)),
        ]
        results = {}
        for name, case in cases:
            rates = [case() for _ in range(args.repeat)]
            results[name] = max(rates)
            print(f"{name:<20} {results[name]:>9,.0f} packets/s   "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})", flush=True)
        lockstep = results["bridge, window=1"]
        client = results["client, straight"]
        print(f"\nwindow={args.window}, {args.count} packets per run "
              f"({args.lockstep_count} for window=1), best of {args.repeat}")
        for name in ("bridge, extension", "bridge, plain"):
            print(f"{name:<20} {results[name] / lockstep:5.1f}x lock-step   "
                  f"{results[name] / client:5.2f}x the straight client")
        ratio = results["bridge, extension"] / lockstep
        print(f"target windowed >= 10x lock-step: {'met' if ratio >= 10 else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
