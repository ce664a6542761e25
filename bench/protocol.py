"""Protocol benchmark: what a real FBP client sees of a ``flowpy serve`` runtime.

What is measured. A Node.js client (``bench/protocol_client.js``, the npm ``ws`` package)
builds this graph over the FBP Network Protocol and runs it::

    runtime:packet -> inport in -> 10 x core/Repeat in a chain -> outport out -> runtime:packet

* **A, throughput**: N data packets (``--count``, default 20000; payload n is the integer n)
  with at most W of them (``--window``, default 200) sent but not yet acknowledged by
  ``runtime:packetsent``. The run ends when all N output ``runtime:packet`` data events and
  all N ``runtime:packetsent`` have arrived; the figure is N / elapsed, in packets/s.
* **B, latency**: T lock-step round trips (``--trips``, default 200) on the same graph: one
  packet sent, its output and its packetsent awaited, then the next; median, p90 and p99 (ms).

The client checks every run: outputs in order with exactly the payloads sent, exactly one
packetsent per packet, no ``*:error``, no debug message while nobody is subscribed. A failed
check stops the benchmark with the reason.

Why this client. Browsers, and so noflo-ui, offer permessage-deflate on every WebSocket, and
so does ``ws`` with its default options; a Python client that negotiates no extension would
measure a transport real clients never get. Both workloads therefore run twice: with the
``ws`` defaults (offers permessage-deflate; the server decides whether it is used, and the
negotiated extension is printed) and with ``perMessageDeflate: false``.

Debug. Each flowpy figure is measured with debug off (``network:debug {enable: false}``) and
with debug on but nobody subscribed (debug on, then ``network:edges`` with no edge, so no edge
is tapped and no debug message is sent). The project's target: debug on with nobody
subscribed costs within 10% of debug off; the table prints that ratio.

Live view. The ``page`` configuration is flowpy with debug off while a page-like client (the
live view's protocol traffic: ``runtime:getruntime``, then ``flowpy:stats`` once a second as
an observer, which takes no ``runtime:packet`` of the graph) is connected to
the same server; the table prints it beside the same server without it. The project's
target: within 10%. ``--view`` measures only these two configurations.

Baselines, measured in the same run, each printed beside the figure it explains:

* **echo**: the same server stack (werkzeug + Flask + flask-sock + simple-websocket +
  flowpy.server's connections and writers) with a trivial "runtime" in place of flowpy's:
  every frame is decoded as JSON and a ``runtime:packet`` is answered, as flowpy answers it,
  with a ``runtime:packetsent`` and an output ``runtime:packet``; driven by the same client with
  the same options, window and trips. flowpy/echo is what the protocol layer, the runtime and
  the 10-process network add to the transport.
* **relay**: bare CPython, no sockets: one item passed down a chain of 12 threads through
  Condition-guarded deques and back, lock-step (median of 500 trips). About as many thread
  hand-offs as a packet makes through the reader, the 10 Repeat processes and the writer: the
  floor that threads in CPython put under workload B. **relay1** is the same with its threads
  on one CPU, as ``flowpy serve`` keeps a network's threads by default.

CPUs. ``flowpy serve`` keeps the threads of its networks (processes, graph inport and outport
handlers) on one CPU unless given ``--cpus`` (see flowpy.engine.cpus: a hand-off that wakes a
thread on another, idle CPU costs more than the hand-off, and the GIL never lets two threads
run Python at once); its server threads, and all of the echo server's, go where the system
puts them. A second flowpy server started with ``--cpus all`` runs the debug-off
configurations too, so the table shows what the confinement is worth in the same run.

Figures are the best and the median of ``--repeat`` runs (default 3; every repeat runs every
configuration, in alternating order, each on a new connection with the graph built anew);
ratios are of the medians; each run's figures are also printed on stderr as they come. On a
2-core machine the lock-step latency of one run can differ 2x from the next one of the same
configuration (14 threads, two processes, two cores): judge a 10% difference on a run with
more repeats (``--repeat 9``), not on the default three.

    python bench/protocol.py [--count 20000] [--window 200] [--trips 200] [--repeat 3]
    python bench/protocol.py --quick          # a fast smoke run

Needs ``node`` and the npm test tools (``npm ci --prefix tests/js``), which include ``ws``.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # flowpy from this checkout, installed or not
CLIENT = Path(__file__).resolve().with_name("protocol_client.js")
WS_PACKAGE = ROOT / "tests" / "js" / "node_modules" / "ws" / "package.json"

CHAIN = 10  # core/Repeat nodes between the exported inport and outport
RELAY_THREADS = 12
RELAY_TRIPS = 500
RELAY_WARMUP = 50
CLIENT_TIMEOUT = 900.0  # seconds one client run may take at most


# -- the echo baseline's "runtime" ------------------------------------------------------------
class EchoRuntime:
    """Answers ``runtime:packet`` as flowpy does (packetsent, then the packet on port ``out``);
    echoes anything else. The runtime interface of ``flowpy.server``, doing no real work."""

    def connect(self, sink: Any) -> Any:
        return sink

    def disconnect(self, client: Any) -> None:
        pass

    def receive_binary(self, client: Any, data: bytes) -> None:
        pass

    def receive_text(self, client: Any, text: str) -> None:
        message = json.loads(text)
        if message.get("protocol") == "runtime" and message.get("command") == "packet":
            payload = message["payload"]
            client.send({"protocol": "runtime", "command": "packetsent", "payload": payload})
            output = {**payload, "port": "out"}
            client.send({"protocol": "runtime", "command": "packet", "payload": output})
        else:
            client.send(message)

    def shutdown(self, timeout: float = 5.0) -> None:
        pass

    def status(self) -> dict:
        return {"label": "echo"}


def serve_echo() -> int:
    from flowpy.server import serve

    return serve("127.0.0.1", 0, EchoRuntime())


# -- server processes -------------------------------------------------------------------------
def start_server(command: list[str]) -> tuple[subprocess.Popen, str]:
    """Start a server process; returns it and its URL once it printed its ready line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        raise SystemExit(f"{' '.join(command)}: did not start: {line!r}")
    # Keep reading whatever else it prints, so a full pipe can never block it.
    threading.Thread(target=proc.stdout.read, name="bench-drain", daemon=True).start()
    return proc, line.split()[-1]


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the Node client --------------------------------------------------------------------------
@dataclass
class Run:
    """One client run: workload A's rate and workload B's round trips."""

    rate: float  # packets/s
    trips_ms: list[float]
    extensions: str  # negotiated Sec-WebSocket-Extensions ("" for none)


def run_client(node: str, **config: Any) -> Run:
    """Run bench/protocol_client.js once with ``config``; its JSON result, checked."""
    what = f"{config['target']} (deflate={config['deflate']}, debug={config.get('debug')})"
    try:
        done = subprocess.run(
            [node, str(CLIENT), json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            cwd=str(ROOT),
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"client {what}: no result after {CLIENT_TIMEOUT:.0f} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": "no result line"}
    if done.returncode != 0 or not result.get("ok"):
        raise SystemExit(
            f"client {what} FAILED: {result.get('error')}\n{done.stderr.strip()}".rstrip()
        )
    seconds = result["throughput"]["seconds"]
    return Run(config["count"] / seconds, result["latency_ms"], result["extensions"] or "")


# -- the CPython relay baseline ---------------------------------------------------------------
class _Channel:
    """A deque guarded by a Condition: the cheapest blocking hand-off between two threads."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._ready = threading.Condition()

    def put(self, item: Any) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def get(self) -> Any:
        with self._ready:
            while not self._items:
                self._ready.wait()
            return self._items.popleft()


def relay_on_one_cpu() -> list[float]:
    """:func:`relay_latency` with every thread of the relay on one CPU, as ``flowpy serve``
    keeps a network's threads by default (only the relay's threads are pinned: they inherit
    it from the thread that starts them, which pins itself)."""
    from one_cpu import on_one_cpu

    return on_one_cpu(relay_latency)


def relay_latency(threads: int = RELAY_THREADS, trips: int = RELAY_TRIPS) -> list[float]:
    """Round trips (ms) of one item down a chain of ``threads`` threads and back, lock-step."""
    channels = [_Channel() for _ in range(threads + 1)]

    def relay(source: _Channel, target: _Channel) -> None:
        while True:
            item = source.get()
            target.put(item)
            if item is None:
                return

    workers = [
        threading.Thread(target=relay, args=(channels[i], channels[i + 1]), name=f"relay-{i}")
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    times = []
    for n in range(RELAY_WARMUP + trips):
        started = time.perf_counter()
        channels[0].put(n)
        if channels[-1].get() != n:
            raise SystemExit("relay baseline: the item came back changed")
        times.append((time.perf_counter() - started) * 1000)
    channels[0].put(None)
    channels[-1].get()
    for worker in workers:
        worker.join()
    return times[RELAY_WARMUP:]


# -- statistics and the table -----------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


STATISTICS = {"median": 0.5, "p90": 0.9, "p99": 0.99}


def summary(values: list[float], higher_is_better: bool) -> tuple[float, float]:
    """(best, median) of one figure over the repeats."""
    best = max(values) if higher_is_better else min(values)
    return best, statistics.median(values)


class Table:
    """Rows of: figure, flowpy best and median, baseline name, its best and median, ratio."""

    def __init__(self) -> None:
        self.lines = [
            f"{'':<38}{'flowpy':^19}   {'':<6}{'baseline':^19}   {'ratio':>8}",
            f"{'':<38}{'best':>9} {'median':>9}   {'':<6}{'best':>9} {'median':>9}   "
            f"{'(median)':>8}",
        ]

    def section(self, title: str) -> None:
        self.lines.append(title)

    def row(
        self, label: str, ours: list[float], name: str, base: list[float], higher_is_better: bool
    ) -> None:
        o_best, o_median = summary(ours, higher_is_better)
        b_best, b_median = summary(base, higher_is_better)
        digits = 0 if higher_is_better else 3
        self.lines.append(
            f"  {label:<36}{o_best:>9.{digits}f} {o_median:>9.{digits}f}   {name:<6}"
            f"{b_best:>9.{digits}f} {b_median:>9.{digits}f}   {o_median / b_median:>8.2f}"
        )

    def __str__(self) -> str:
        return "\n".join(self.lines)


# -- the benchmark ----------------------------------------------------------------------------
CLIENT_OPTIONS = {
    True: "ws defaults (offers permessage-deflate)",
    False: "perMessageDeflate: false",
}
SHORT_OPTIONS = {True: "deflate offered", False: "no deflate"}
DEBUG_LABELS: dict[bool | None, str] = {False: "debug off", True: "debug on*"}
PAGE_LABEL = "view open"


Key = tuple[str, bool, bool | None]  # (target, deflate offered, debug on); echo: debug None
CONFIGS: list[Key] = [
    (target, deflate, debug)
    for deflate in (True, False)
    for target, debug in (
        ("echo", None),
        ("flowpy", False),
        ("flowpy", True),
        ("spread", False),
        ("page", False),
    )
]
#: ``--view``: only flowpy with debug off, without and with a live view open.
VIEW_CONFIGS: list[Key] = [(t, d, False) for d in (True, False) for t in ("flowpy", "page")]
#: The server each target is: flowpy serve as it starts by default (networks on one
#: CPU), the same with ``--cpus all`` (threads wherever the system puts them), and the echo.
SERVERS = {
    "flowpy": [sys.executable, "-m", "flowpy", "serve", "--port", "0"],
    "spread": [sys.executable, "-m", "flowpy", "serve", "--port", "0", "--cpus", "all"],
    "echo": [sys.executable, str(Path(__file__).resolve()), "--echo-server"],
}
#: What the client is told it talks to (``--cpus all`` is flowpy all the same).
CLIENT_TARGET = {"flowpy": "flowpy", "spread": "flowpy", "echo": "echo", "page": "flowpy"}
#: The server each target's runs go to (``page``: the flowpy server, with a page open).
SERVER_OF = {"flowpy": "flowpy", "spread": "spread", "echo": "echo", "page": "flowpy"}


class PageClient:
    """What the live view sends and reads, in a thread: runtime:getruntime, flowpy:stats
    subscribed at 1 s as an observer (``packets: false``: no graph output), and everything
    else the runtime sends it."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, subprotocols=["noflo"], timeout=30)
        self.seen = collections.Counter()
        for number, (protocol, command, payload) in enumerate(
            (
                ("runtime", "getruntime", {}),
                ("flowpy", "stats", {"interval": 1000, "packets": False}),
            )
        ):
            self.ws.send(
                json.dumps(
                    {
                        "protocol": protocol,
                        "command": command,
                        "payload": payload,
                        "requestId": f"page{number}",
                    }
                )
            )
        self.thread = threading.Thread(target=self._read, name="bench-page", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                message = json.loads(self.ws.recv())
                self.seen[f"{message['protocol']}:{message['command']}"] += 1
        except Exception:  # closed by close()
            return

    def close(self) -> None:
        self.ws.close()
        self.thread.join(10)
        if not self.seen["flowpy:stats"]:
            raise SystemExit(f"the page-like client got no flowpy:stats: {dict(self.seen)}")


def progress(line: str) -> None:
    """The figures of each run as they come, on stderr (the table goes to stdout)."""
    print(line, file=sys.stderr, flush=True)


def measure(
    node: str,
    count: int,
    window: int,
    trips: int,
    repeat: int,
    configs: list[Key] | None = None,
) -> tuple[dict[Key, list[Run]], dict[str, list[float]]]:
    """Every configuration ``repeat`` times against one server process of each target; the
    runs of each configuration, and the relay baselines' medians (ms), one per repeat."""
    runs: dict[Key, list[Run]] = collections.defaultdict(list)
    relay: dict[str, list[float]] = {"relay": [], "relay1": []}
    configs = configs or CONFIGS
    needed = {SERVER_OF[target] for target, _, _ in configs}
    procs: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="flowpy-bench-") as state:
        try:
            for target, command in SERVERS.items():
                if target not in needed:
                    continue
                if CLIENT_TARGET[target] == "flowpy":
                    command = [*command, "--state-dir", str(Path(state) / target)]
                proc, urls[target] = start_server(command)
                procs.append(proc)
            common = {"chain": CHAIN, "window": window}
            # A short unrecorded run on each server first: imports, first graph, caches.
            for target, url in urls.items():
                run_client(
                    node,
                    url=url,
                    target=CLIENT_TARGET[target],
                    deflate=False,
                    debug=False,
                    count=min(count, 1000),
                    trips=min(trips, 20),
                    **common,
                )
            for r in range(repeat):
                relay["relay"].append(statistics.median(relay_latency()))
                relay["relay1"].append(statistics.median(relay_on_one_cpu()))
                # Alternate the order, so a slow drift of the machine favours nobody.
                progress(
                    f"repeat {r + 1}/{repeat}: relay median {relay['relay'][-1]:.3f} ms, "
                    f"on one CPU {relay['relay1'][-1]:.3f} ms"
                )
                for key in configs if r % 2 == 0 else configs[::-1]:
                    target, deflate, debug = key
                    url = urls[SERVER_OF[target]]
                    page = PageClient(url) if target == "page" else None
                    try:
                        run = run_client(
                            node,
                            url=url,
                            target=CLIENT_TARGET[target],
                            deflate=deflate,
                            debug=debug,
                            count=count,
                            trips=trips,
                            **common,
                        )
                    finally:
                        if page is not None:
                            page.close()
                    runs[key].append(run)
                    progress(
                        f"  {target:<6} {SHORT_OPTIONS[deflate]:<15} "
                        f"{DEBUG_LABELS.get(debug, ''):<9} {run.rate:>8.0f} packets/s, "
                        f"median {percentile(run.trips_ms, 0.5):.3f} ms"
                    )
        finally:
            for proc in procs:
                stop_server(proc)
    return runs, relay


def report(runs: dict[Key, list[Run]], relay: dict[str, list[float]]) -> Table:
    """The table: every flowpy figure beside its baseline, and the cost of debug on*."""

    def rates(key: Key) -> list[float]:
        return [run.rate for run in runs[key]]

    def latency(key: Key, stat: str) -> list[float]:
        return [percentile(run.trips_ms, STATISTICS[stat]) for run in runs[key]]

    table = Table()
    if set(runs) <= set(VIEW_CONFIGS):
        view_section(table, rates, latency)
        return table
    for deflate in (True, False):
        echo = ("echo", deflate, None)
        negotiated = runs["flowpy", deflate, False][0].extensions or "none"
        echo_negotiated = runs[echo][0].extensions or "none"
        table.section(
            f"A throughput, packets/s; client: {CLIENT_OPTIONS[deflate]}; negotiated: "
            f"flowpy {negotiated!r}, echo {echo_negotiated!r}"
        )
        for debug in (False, True):
            table.row(
                DEBUG_LABELS[debug], rates(("flowpy", deflate, debug)), "echo", rates(echo), True
            )
        table.row(
            "debug off, --cpus all", rates(("spread", deflate, False)), "echo", rates(echo), True
        )
    for deflate in (True, False):
        echo = ("echo", deflate, None)
        table.section(f"B latency, ms; client: {CLIENT_OPTIONS[deflate]}")
        for stat in STATISTICS:
            for debug in (False, True):
                ours = latency(("flowpy", deflate, debug), stat)
                table.row(
                    f"{stat}, {DEBUG_LABELS[debug]}", ours, "echo", latency(echo, stat), False
                )
    table.section(
        f"B latency, ms, beside bare CPython ({RELAY_THREADS} threads relaying one "
        "item); relay1: its threads on one CPU"
    )
    for deflate in (True, False):
        for debug in (False, True):
            ours = latency(("flowpy", deflate, debug), "median")
            for name in ("relay", "relay1"):
                table.row(
                    f"median, {SHORT_OPTIONS[deflate]}, {DEBUG_LABELS[debug]}",
                    ours,
                    name,
                    relay[name],
                    False,
                )
        table.row(
            f"median, {SHORT_OPTIONS[deflate]}, --cpus all",
            latency(("spread", deflate, False), "median"),
            "relay",
            relay["relay"],
            False,
        )
    table.section(
        "flowpy serve as it starts (networks on one CPU) beside --cpus all (threads "
        "wherever the system puts them), debug off"
    )
    for deflate in (True, False):
        pinned, spread = ("flowpy", deflate, False), ("spread", deflate, False)
        table.row(
            f"A packets/s, {SHORT_OPTIONS[deflate]}", rates(pinned), "all", rates(spread), True
        )
        table.row(
            f"B median ms, {SHORT_OPTIONS[deflate]}",
            latency(pinned, "median"),
            "all",
            latency(spread, "median"),
            False,
        )
    table.section("cost of debug on* (nobody subscribed) beside debug off; target: within 10%")
    for deflate in (True, False):
        on, off = ("flowpy", deflate, True), ("flowpy", deflate, False)
        table.row(f"A packets/s, {SHORT_OPTIONS[deflate]}", rates(on), "off", rates(off), True)
        table.row(
            f"B median ms, {SHORT_OPTIONS[deflate]}",
            latency(on, "median"),
            "off",
            latency(off, "median"),
            False,
        )
    view_section(table, rates, latency)
    return table


def view_section(table: Table, rates: Any, latency: Any) -> None:
    table.section(
        "cost of a live view open (flowpy:stats at 1 s, an observer: no graph output) "
        "beside none, debug off; target: within 10%"
    )
    for deflate in (True, False):
        page, alone = ("page", deflate, False), ("flowpy", deflate, False)
        table.row(f"A packets/s, {SHORT_OPTIONS[deflate]}", rates(page), "none", rates(alone), True)
        table.row(
            f"B median ms, {SHORT_OPTIONS[deflate]}",
            latency(page, "median"),
            "none",
            latency(alone, "median"),
            False,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="workload A: packets (default 20000)")
    parser.add_argument("--window", type=int, default=200, help="workload A: unacked packets")
    parser.add_argument("--trips", type=int, help="workload B: round trips (default 200)")
    parser.add_argument("--repeat", type=int, help="runs of everything (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1000 packets, 50 trips, 1 repeat unless given",
    )
    parser.add_argument(
        "--view",
        action="store_true",
        help="only flowpy (debug off) without and with a live view open",
    )
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        return serve_echo()
    count = args.count or (1000 if args.quick else 20000)
    trips = args.trips or (50 if args.quick else 200)
    repeat = args.repeat or (1 if args.quick else 3)
    if min(count, args.window, trips, repeat) < 1:
        parser.error("--count, --window, --trips and --repeat must be at least 1")

    node = shutil.which("node")
    if node is None or not WS_PACKAGE.exists():
        raise SystemExit("needs node and the npm test tools: npm ci --prefix tests/js")
    ws_version = json.loads(WS_PACKAGE.read_text())["version"]
    node_version = subprocess.check_output([node, "--version"], text=True).strip()

    runs, relay = measure(
        node, count, args.window, trips, repeat, VIEW_CONFIGS if args.view else None
    )

    print(
        f"flowpy protocol benchmark: client node {node_version} + ws {ws_version}; "
        f"servers Python {sys.version.split()[0]}\n"
        f"graph: runtime:packet -> in -> {CHAIN} x core/Repeat -> out -> runtime:packet\n"
        f"A: {count} packets, window {args.window}; B: {trips} lock-step round trips; "
        f"best and median of {repeat} repeat(s)\n"
        f"debug on* = network:debug on + network:edges [] (debug on, nobody subscribed)\n"
        f"echo  = JSON echo runtime on the same server stack; same client, options, window\n"
        f"relay = CPython, one item down {RELAY_THREADS} threads (Condition + deque) and back, "
        f"median of {RELAY_TRIPS} trips; relay1 = the same with its threads on one CPU\n"
        f"flowpy = flowpy serve as it starts (--cpus auto: a network's threads on one CPU); "
        f"--cpus all: the same server with its threads left to the system\n"
        f"{PAGE_LABEL} = a page-like client connected (flowpy:stats at 1 s, no graph output)\n"
    )
    print(report(runs, relay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
