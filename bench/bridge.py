"""Bridge throughput: packets/s through A → core/Bridge → B (Repeat) → core/Bridge → A.

B is a real ``flowpy serve --graph examples/echo.json`` process; A is a network run in this
process: a source of N integers → ``core/Bridge`` ``in[in]``, ``out[out]`` → a counting
sink. A Bridge's figure is N divided by the time from its link's connecting (its ``status``
port says so) to the last packet back: like the clients' figures, it leaves out connecting,
negotiating and starting networks (that set-up is printed on its own). All in one run,
against the same B:

* **bridge, extension**: the default window, the flowpy link extension (seq numbers, acks);
* **bridge, plain**: the default window over plain ``runtime:packet`` / ``packetsent``;
* **bridge, window=1**: lock-step (each packet waits for its acknowledgement);
* **client**: no Bridge, no network on A: ``flowpy.client`` sends straight into B with the
  same window and a second thread counts the ``runtime:packet`` outputs.
* **node client**: the baseline, bench/protocol_client.js (the npm ``ws`` package, frames
  written by hand) doing what the straight client does against the same B: the same window,
  one ``core/Repeat`` (its own graph on B, built over the protocol).

Against B every plain-protocol client runs at B's pace (B is one CPython process and the
limit), so the same three run again against bench/standin_runtime.js ("@stand-in"): a Node
process that answers each packet as B does without a network behind it, so that the client
sets the pace. Those ratios say how fast the clients themselves are. The straight client
and the plain Bridge run there once more with every thread of A on one CPU ("1 CPU"), as
``flowpy run`` and ``serve`` keep a network's threads (a Bridge's link included): under the
GIL, threads that hand packets along run faster on one CPU (docs/deployment.md, "CPUs").

The targets are ratios against B (issue 27): windowed ≥ 10× lock-step, the Bridge with the
extension ≥ 2.5× the Node client, the straight client ≥ the Node client, the plain Bridge ≥
the straight client. The last two compare clients that both run at B's pace: a tie there
counts as met (see ``tie``), and "B busy" beside them says whether either left B idle.
The stand-in's ratios follow, as the clients' own speed (not targets). Machines here are
noisy: compare the ratios, and the runs are interleaved so drift in the machine's load hits
every case alike. Each ratio is given for the best run of each case and for the medians of
its runs; a target is judged on the medians. One fast outlier (a quiet second on a shared
machine) moves a best-of ratio by a fifth or more, either way; the median of interleaved runs
does not.

    python bench/bridge.py [--count 20000] [--lockstep-count 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from one_cpu import on_one_cpu  # noqa: E402

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, next_data  # noqa: E402
from flowpy.cli.tuning import tune_gc  # noqa: E402
from flowpy.engine.ip import IP  # noqa: E402
from flowpy.engine.network import Network  # noqa: E402
from flowpy.engine.registry import Registry  # noqa: E402
from flowpy.graphs.model import Graph, PortRef  # noqa: E402
from flowpy.link.client import Client  # noqa: E402
from flowpy.link.config import DEFAULT_WINDOW  # noqa: E402


class Numbers(Component):
    """N integers (N from conf), in batches, from when the Bridge's link is connected (so that
    no packet waits in the Bridge before the clock starts)."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        count = next_data(self.inports["conf"])
        out = self.outports["out"]
        if not Watch.ready.wait(60):
            raise RuntimeError("the Bridge's link did not connect within 60 s")
        for start in range(0, count, 256):
            out.send_many([IP.make_data(n) for n in range(start, min(count, start + 256))])


def cpu_now(pid: int) -> float:
    """CPU seconds the live threads of process ``pid`` have used, to the nanosecond (from
    /proc/PID/task/*/schedstat, Linux): fine enough to measure one stream of a second, which
    /proc/PID/stat, in ticks of 10 ms, is not."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e9


class StreamMeter:
    """The server's CPU over a case's stream alone: from its first packet out (for a Bridge,
    its link's being connected) to its last reply in, set-up and shutdown left out, as the
    figures are. ``server`` is the pid the case runs against (0: none, nothing is measured,
    as when a case runs outside ``timed_on``); a case that cannot say leaves ``measured``
    None (its whole run is measured then)."""

    def __init__(self) -> None:
        self.server = 0
        self.measured: tuple[float, float] | None = None  # (CPU seconds, wall seconds)
        self._began = (0.0, 0.0)

    def began(self) -> None:
        if self.server:
            self._began = (cpu_now(self.server), time.perf_counter())

    def ended(self) -> None:
        if self.server:
            cpu, wall = cpu_now(self.server), time.perf_counter()
            self.measured = (cpu - self._began[0], wall - self._began[1])


METER = StreamMeter()


class Watch(Component):
    """Notes when the Bridge's link first says it is connected (on its ``status`` port).
    The note is taken a thread switch after the link's, never before it."""

    inports = InPorts(InPort("in"))
    connected: float | None = None
    ready = threading.Event()

    def run(self) -> None:
        port = self.inports["in"]
        while True:
            for ip in port.recv_many():
                report = ip.data if ip.is_data else None
                if Watch.connected is None and isinstance(report, dict):
                    if report.get("type") == "state" and report.get("state") == "connected":
                        METER.began()
                        Watch.connected = time.perf_counter()
                        Watch.ready.set()


#: Seconds from a Bridge network's start to its link's being connected, one per run.
BRIDGE_SETUP: list[float] = []


class Counter(Component):
    """Counts data IPs; notes the time (and the server's CPU) and sets ``Counter.done`` when
    ``Counter.target`` have arrived."""

    inports = InPorts(InPort("in"))
    target = 0
    done = threading.Event()
    ended = 0.0
    last = None

    def run(self) -> None:
        seen = 0
        port = self.inports["in"]
        while True:
            for ip in port.recv_many():
                if ip.is_data:
                    seen += 1
                    Counter.last = ip.data
            if seen >= Counter.target and not Counter.done.is_set():
                METER.ended()
                Counter.ended = time.perf_counter()
                Counter.done.set()


def start_b() -> tuple[subprocess.Popen, str]:
    state = tempfile.mkdtemp(prefix="flowpy-bench-b-")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowpy",
            "serve",
            "--port",
            "0",
            "--state-dir",
            state,
            "--graph",
            str(ROOT / "examples" / "echo.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    return proc, url_said_by(proc, "B")


def url_said_by(proc: subprocess.Popen, what: str) -> str:
    """The ws:// URL a server just started prints on its first line (killed if it did not)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}")
    return match.group(1)


STANDIN = ROOT / "bench" / "standin_runtime.js"


def start_standin(node: str) -> tuple[subprocess.Popen, str]:
    """bench/standin_runtime.js: a runtime that answers at Node's speed (see the docstring)."""
    proc = subprocess.Popen([node, str(STANDIN)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return proc, url_said_by(proc, "the stand-in")


def through_bridge(url: str, count: int, window: int, extension: bool) -> float:
    registry = Registry()
    registry.register("bench/Numbers", Numbers)
    registry.register("bench/Counter", Counter)
    registry.register("bench/Watch", Watch)
    graph = Graph("a")
    graph.add_node("src", "bench/Numbers")
    graph.add_node("bridge", "core/Bridge")
    graph.add_node("sink", "bench/Counter")
    graph.add_node("watch", "bench/Watch")
    graph.add_edge(PortRef("src", "out"), PortRef("bridge", "in", "in"))
    graph.add_edge(PortRef("bridge", "out", "out"), PortRef("sink", "in"))
    graph.add_edge(PortRef("bridge", "status"), PortRef("watch", "in"))
    graph.add_initial(count, PortRef("src", "conf"))
    graph.add_initial(
        {"url": url, "start": True, "window": window, "extension": extension},
        PortRef("bridge", "conf"),
    )
    Counter.target, Counter.done, Counter.last = count, threading.Event(), None
    Watch.connected, Watch.ready = None, threading.Event()
    network = Network(graph, registry)
    began = time.perf_counter()
    network.start()
    try:
        if not Counter.done.wait(300):
            raise SystemExit(f"only part of {count} packets came back (last {Counter.last})")
        if Watch.connected is None:
            raise SystemExit("the Bridge never said it was connected")
        BRIDGE_SETUP.append(Watch.connected - began)
        return count / (Counter.ended - Watch.connected)
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
                for packet in client.recv_packets(timeout=60):
                    seen += packet.get("event") == "data" and packet.get("port") == "out"
            done.set()

        receiver = threading.Thread(target=receive, name="bench-receiver")
        METER.began()
        began = time.perf_counter()
        receiver.start()
        client.send_stream(graph, "in", range(count), window=window)
        receiver.join(300)
        if not done.is_set():
            raise SystemExit("the client did not get every packet back")
        ended = time.perf_counter()
        METER.ended()
        return count / (ended - began)


NODE_CLIENT = ROOT / "bench" / "protocol_client.js"
WS_PACKAGE = ROOT / "tests" / "js" / "node_modules" / "ws" / "package.json"


def node_client(node: str, url: str, count: int, window: int, target: str = "flowpy") -> float:
    """bench/protocol_client.js, workload A only, through one core/Repeat on B (or, with
    ``target="echo"``, into a runtime that answers by itself: the stand-in)."""
    config = {
        "url": url,
        "target": target,
        "deflate": False,
        "chain": 1,
        "count": count,
        "window": window,
        "trips": 0,
        "server_pid": METER.server,
    }
    done = subprocess.run(
        [node, str(NODE_CLIENT), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr.strip()}
    if done.returncode != 0 or not result.get("ok"):
        raise SystemExit(f"the node client failed: {result.get('error')}")
    seconds = result["throughput"]["seconds"]
    METER.measured = (result["throughput"]["server_cpu"], seconds)  # read as cpu_now does
    return count / seconds


def old_tree(ref: str) -> Path:
    """The tree of git ``ref`` in a temporary directory (for figures of an older flowpy)."""
    where = Path(tempfile.mkdtemp(prefix="flowpy-bench-ref-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def bridge_at(tree: Path, url: str, count: int, window: int, extension: bool) -> float:
    """This bench's Bridge case run by the flowpy package of ``tree``, in a subprocess (the
    bench's own code, so that both are timed alike; ``flowpy`` is imported first, from
    ``tree``, so the bench's path does not shadow it)."""
    code = (
        f"import sys; sys.path[:0] = [{str(tree)!r}]; import flowpy; "
        f"sys.path[:0] = [{str(ROOT / 'bench')!r}]; "
        "import bridge; from flowpy.cli.tuning import tune_gc; tune_gc(); "
        f"print(bridge.through_bridge({url!r}, {count}, {window}, {extension}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tree
    )
    if done.returncode != 0:
        raise SystemExit(f"the Bridge of {tree} failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


T = TypeVar("T")

#: How busy B must be under a client, against the client it is compared with, for a tie
#: to count: then that client did not leave B idle waiting for it.
AS_BUSY = 0.95


def interval(runs: list[float], base: list[float], rounds: int = 4000) -> tuple[float, float]:
    """The 95% interval of the ratio of the medians of ``runs`` and ``base`` (a bootstrap
    over the runs; seeded, so a run's figures always give the same interval)."""
    rng = random.Random(27)
    ratios = sorted(
        statistics.median(rng.choices(runs, k=len(runs)))
        / statistics.median(rng.choices(base, k=len(base)))
        for _ in range(rounds)
    )
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def tie(ratio_range: tuple[float, float], target: float, busy_ratio: float) -> bool:
    """Whether a ratio below its target is a tie: two clients that both run at B's pace.
    B is the limit of both, and its CPU per packet moves by ±15% between runs of the same
    client, so with a few runs of each the ratio of medians lands on either side of 1 from
    one invocation to the next. It is a tie when the target lies within the ratio's 95%
    interval (the runs cannot tell the two apart) and B was as busy under the one as under
    the other (the client did not leave B idle). The interval does most of the work: a
    client can be slower and keep B busy, by costing it more per packet. The straight
    client with a window of 20 ran at 0.78 of the Node client (interval 0.67 .. 0.88), B as
    busy under it (1.04): no tie. With 7 to 9 runs of each, the test cannot tell apart
    clients less than about a tenth apart."""
    return ratio_range[0] <= target <= ratio_range[1] and busy_ratio >= AS_BUSY


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_on(pid: int, case: Callable[[], T], stream: bool = True) -> tuple[T, float, float]:
    """``case()``'s figure, with the CPU seconds process ``pid`` (the server) used over its
    stream and the stream's wall seconds (see StreamMeter); over the whole case, set-up
    included, if not ``stream`` or for a case that cannot say when its stream ran (an older
    tree's Bridge)."""
    METER.server, METER.measured = pid, None
    cpu, began = cpu_seconds(pid), time.perf_counter()
    figure = case()
    if stream and METER.measured is not None:
        return figure, *METER.measured
    return figure, cpu_seconds(pid) - cpu, time.perf_counter() - began


def spread(rates: list[float]) -> str:
    return (
        f"{max(rates):>9,.0f} packets/s  (median {statistics.median(rates):,.0f}, "
        f"runs {min(rates):,.0f} .. {max(rates):,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="packets per windowed run")
    parser.add_argument(
        "--lockstep-count", type=int, default=2_000, help="packets per window=1 run"
    )
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also run the Bridges of git REF (e.g. main) against the same B",
    )
    args = parser.parse_args()
    tune_gc()
    node = shutil.which("node")
    if node is None or not WS_PACKAGE.exists():
        raise SystemExit("needs node and the npm test tools: npm ci --prefix tests/js")
    tree = old_tree(args.against) if args.against else None
    proc, url = start_b()
    standin, surl = start_standin(node)
    n, w = args.count, args.window
    try:
        cases: dict[str, tuple[int, Callable[[], float]]] = {
            "node client": (proc.pid, lambda: node_client(node, url, n, w)),
            "client, straight": (proc.pid, lambda: straight_client(url, n, w)),
            "bridge, extension": (proc.pid, lambda: through_bridge(url, n, w, True)),
            "bridge, plain": (proc.pid, lambda: through_bridge(url, n, w, False)),
            "bridge, window=1": (
                proc.pid,
                lambda: through_bridge(url, args.lockstep_count, 1, True),
            ),
            "node client @stand-in": (standin.pid, lambda: node_client(node, surl, n, w, "echo")),
            "client, straight @stand-in": (standin.pid, lambda: straight_client(surl, n, w)),
            "bridge, plain @stand-in": (standin.pid, lambda: through_bridge(surl, n, w, False)),
            "client, straight @stand-in, 1 CPU": (
                standin.pid,
                lambda: on_one_cpu(lambda: straight_client(surl, n, w)),
            ),
            "bridge, plain @stand-in, 1 CPU": (
                standin.pid,
                lambda: on_one_cpu(lambda: through_bridge(surl, n, w, False)),
            ),
        }
        if tree is not None:
            cases[f"extension @{args.against}"] = (
                proc.pid,
                lambda: bridge_at(tree, url, n, w, True),
            )
            cases[f"plain @{args.against}"] = (proc.pid, lambda: bridge_at(tree, url, n, w, False))
        packets = {name: args.lockstep_count if "window=1" in name else n for name in cases}
        runs: dict[str, list[float]] = {name: [] for name in cases}
        server: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved: drift in the machine's load hits all alike
            for name, (pid, case) in cases.items():
                rate, cpu, wall = timed_on(pid, case)
                runs[name].append(rate)
                server[name].append((cpu / wall, 1e6 * cpu / packets[name]))
        best = {name: max(rates) for name, rates in runs.items()}
        # One fast outlier of one case moves a best-of ratio a lot on a shared machine; the
        # median of the interleaved runs does not: the checks judge by it, and say both.
        median = {name: statistics.median(rates) for name, rates in runs.items()}
        print(
            f"window={w}, {n} packets per run ({args.lockstep_count} for window=1), best of "
            f"{args.repeat}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        for name, rates in runs.items():
            node_there = "node client @stand-in" if "@stand-in" in name else "node client"
            print(
                f"{name:<33} {spread(rates)}   {best[name] / best[node_there]:5.2f}x node "
                f"(medians {median[name] / median[node_there]:.2f}x)"
            )
        # Whether a client keeps up with the server: B is one CPython process, so about one
        # core is all it can use; a client that keeps it as busy as the Node client does is
        # not what limits the figure. Measured over each stream alone, as the figures are.
        print(
            f"\nthe server (B or the stand-in) in each case:    {'busy cores':>10}  "
            f"{'CPU us/packet':>13}"
        )
        for name, loads in server.items():
            busy = statistics.median(x[0] for x in loads)
            cost = statistics.median(x[1] for x in loads)
            print(f"  {name:<48} {busy:>10.2f}  {cost:>13.1f}")
        setup = [1e3 * seconds for seconds in BRIDGE_SETUP]
        print(
            "\na Bridge's set-up (its network's start to its link's being connected; not in "
            f"its figure): median {statistics.median(setup):.0f} ms, runs "
            f"{min(setup):.0f} .. {max(setup):.0f} ms"
        )
        busy = {name: statistics.median(x[0] for x in loads) for name, loads in server.items()}
        checks = [
            ("straight client >= node client", "client, straight", "node client", 1.0, True),
            ("bridge, extension >= 2.5x node", "bridge, extension", "node client", 2.5, False),
            ("bridge, plain >= straight client", "bridge, plain", "client, straight", 1.0, True),
            ("windowed >= 10x lock-step", "bridge, extension", "bridge, window=1", 10.0, False),
        ]
        if tree is not None:
            checks.append(
                (
                    f"bridge, extension >= 2x @{args.against}",
                    "bridge, extension",
                    f"extension @{args.against}",
                    2.0,
                    False,
                )
            )
        print(
            f"\ntargets, against B{'':<24} {'best':>6}  {'median':>6}  {'95% interval':>12}  "
            f"{'B busy':>6}"
        )
        for what, case, base, target, at_b_pace in checks:
            ratios = (best[case] / best[base], median[case] / median[base])
            within = interval(runs[case], runs[base])
            held = busy[case] / busy[base]
            if ratios[1] >= target:
                verdict = "met"
            elif at_b_pace and tie(within, target, held):
                verdict = "met: a tie, both at B's pace"
            else:
                verdict = "NOT met"
            shown = f"{held:6.2f}" if at_b_pace else ""
            print(
                f"{what:<42} {ratios[0]:6.2f}  {ratios[1]:6.2f}  "
                f"{within[0]:5.2f} .. {within[1]:4.2f}  {shown:>6}  {verdict}"
            )
        # Not targets: where the client, not B, sets the pace (the Bridge does more on A
        # than a client does: more threads hand each packet on under one GIL).
        print(f"\nthe clients' own speed, against the stand-in {'best':>6}  {'median':>6}")
        for what, case, base in (
            ("straight / node", "client, straight @stand-in", "node client @stand-in"),
            (
                "straight / node, client on 1 CPU",
                "client, straight @stand-in, 1 CPU",
                "node client @stand-in",
            ),
            ("bridge, plain / straight", "bridge, plain @stand-in", "client, straight @stand-in"),
            (
                "bridge, plain / straight, both on 1 CPU",
                "bridge, plain @stand-in, 1 CPU",
                "client, straight @stand-in, 1 CPU",
            ),
        ):
            ratios = (best[case] / best[base], median[case] / median[base])
            print(f"{what:<42} {ratios[0]:6.2f}  {ratios[1]:6.2f}")
    finally:
        standin.kill()
        standin.wait(30)
        proc.terminate()
        proc.wait(30)
        if tree is not None:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    main()
