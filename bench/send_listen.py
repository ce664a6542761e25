"""``flowpy send`` and ``flowpy listen`` against one ``flowpy serve``, beside the Node client.

B is ``flowpy serve --graph examples/echo.json`` (one core/Repeat). In one run, against the
same B:

* **send**: ``flowpy send --port in --window W`` of N lines piped to its stdin, alone,
  timed twice: from starting the command to its exit (start-up included, as a user sees
  it), and **its stream** as the command reports it (first packet to last acknowledgement:
  what the Node client's own figure times);
* **send → listen**: the same, with ``flowpy listen --count N --format lines`` running: the
  time from starting send to listen having printed its N-th line (both processes' start-up
  included, as a user sees it);
* **node client**: bench/protocol_client.js driving the same B with the same window (the
  server's own pace, measured the way bench/bridge.py measures it): the baseline of send;
* **node -> node listener**: the same with bench/listen_client.js connected and counting the
  outputs, the time from starting the sender to the listener's N-th output: the baseline of
  send -> listen, since the server then writes every output twice (to both clients), as it
  does for send and listen.

Then the same four against bench/standin_runtime.js ("@stand-in"), a runtime in Node that
answers each packet as B does with no network behind it: there the clients, not the server,
set the pace, so those ratios say how fast the commands themselves are.

The figures are packets/s; the ratio to its Node baseline says whether a command keeps up
with the server. Machines here are noisy: runs are interleaved, and each figure is given
for the best run and for the median of the runs, with the spread.

    python bench/send_listen.py [--count 100000] [--window 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bridge import WS_PACKAGE, node_client, start_b, start_standin, timed_on  # noqa: E402

from flowpy.link.client import Client  # noqa: E402


def flowpy(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowpy", *args]


def send(url: str, lines: bytes, window: int) -> tuple[float, float]:
    """Seconds of one ``flowpy send`` as a user sees them (start-up included), and of its
    stream alone as it reports them (the part the Node client's own figure times)."""
    began = time.perf_counter()
    done = subprocess.run(
        flowpy("send", url, "--port", "in", "--window", str(window)),
        input=lines,
        capture_output=True,
        timeout=600,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"flowpy send failed: {done.stderr.decode()[-500:]}")
    reported = re.search(rb"packets to \S+ in ([0-9.]+) s", done.stderr)
    if reported is None:
        raise SystemExit(f"flowpy send did not say how long it took: {done.stderr[-300:]!r}")
    return seconds, float(reported.group(1))


@contextlib.contextmanager
def listening(command: list[str], **options: Any) -> Iterator[subprocess.Popen]:
    """A listener process for the length of a run; killed if it has not ended by then."""
    listener = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, **options)
    try:
        yield listener
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()


def send_and_listen(url: str, lines: bytes, count: int, window: int) -> float:
    printed: list[int] = []
    command = flowpy("listen", url, "--count", str(count), "--format", "lines")
    with listening(command, stderr=subprocess.PIPE) as listener:
        assert listener.stderr is not None and listener.stdout is not None
        listener.stderr.readline()  # "listening to ...": it is connected
        out = listener.stdout

        def count_lines() -> None:  # read as a user's pipe would, while send runs
            printed.append(
                sum(chunk.count(b"\n") for chunk in iter(lambda: out.read1(1 << 16), b""))
            )

        reader = threading.Thread(target=count_lines, name="bench-listen-output")
        began = time.perf_counter()
        reader.start()
        sender = subprocess.Popen(
            flowpy("send", url, "--port", "in", "--window", str(window)),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        sender.communicate(lines, timeout=600)
        listener.wait(600)
        reader.join(60)
        seconds = time.perf_counter() - began
    if sender.returncode != 0 or printed != [count]:
        raise SystemExit(f"send/listen: send exited {sender.returncode}, listen printed {printed}")
    return seconds


LISTEN_CLIENT = ROOT / "bench" / "listen_client.js"


def node_pair(node: str, url: str, count: int, window: int, target: str = "flowpy") -> float:
    """Seconds from starting the Node sender to the Node listener's ``count``-th output."""
    config = json.dumps({"url": url, "graph": "bench", "count": count})
    with listening([node, str(LISTEN_CLIENT), config], text=True) as listener:
        assert listener.stdout is not None
        if json.loads(listener.stdout.readline() or "{}").get("ready") is not True:
            raise SystemExit("the node listener did not connect")
        began = time.perf_counter()
        node_client(node, url, count, window, target)
        result = json.loads(listener.stdout.readline() or "{}")
        listener.wait(60)
        seconds = time.perf_counter() - began
    if not result.get("ok"):
        raise SystemExit(f"the node listener failed: {result.get('error')}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None or not WS_PACKAGE.exists():
        raise SystemExit("needs node and the npm test tools: npm ci --prefix tests/js")
    n, w = args.count, args.window
    lines = "".join(f"{i}\n" for i in range(n)).encode()
    proc, url = start_b()
    standin, surl = start_standin(node)
    try:
        with Client(url) as client:
            graph = client.getruntime()["graph"]
            if not client.network_status(graph)["running"]:
                client.start_network(graph)

        def sending(url: str, at: str = "") -> dict[str, float]:
            wall, stream = send(url, lines, w)
            return {f"flowpy send{at}": n / wall, f"  its stream{at}": n / stream}

        servers = (("", proc.pid, url, "flowpy"), (" @stand-in", standin.pid, surl, "echo"))
        cases: dict[str, tuple[int, Callable[[], dict[str, float]]]] = {}
        baseline: dict[str, str] = {}
        for at, pid, where, target in servers:
            cases |= {
                f"node client{at}": (
                    pid,
                    lambda where=where, at=at, target=target: {
                        f"node client{at}": node_client(node, where, n, w, target)
                    },
                ),
                f"flowpy send{at}": (pid, lambda where=where, at=at: sending(where, at)),
                f"node -> node{at}": (
                    pid,
                    lambda where=where, at=at, target=target: {
                        f"node -> node{at}": n / node_pair(node, where, n, w, target)
                    },
                ),
                f"send -> listen{at}": (
                    pid,
                    lambda where=where, at=at: {
                        f"send -> listen{at}": n / send_and_listen(where, lines, n, w)
                    },
                ),
            }
            baseline |= {
                f"node client{at}": f"node client{at}",
                f"flowpy send{at}": f"node client{at}",
                f"  its stream{at}": f"node client{at}",
                f"node -> node{at}": f"node client{at}",
                f"send -> listen{at}": f"node -> node{at}",
            }
        runs: dict[str, list[float]] = {name: [] for name in baseline}
        busy: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for case_name, (pid, case) in cases.items():
                rates, cpu, wall = timed_on(pid, case, stream=False)  # as send is seen
                busy[case_name].append(cpu / wall)
                for name, rate in rates.items():
                    runs[name].append(rate)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{n} lines, window={w}, {args.repeat} interleaved runs, load average {load}")
        print("('its stream': the time flowpy send reports, start-up left out, as the Node")
        print(" client's own figure leaves it out)")
        print(f"{'':<26} {'best':>9}  {'median':>9}   ratio of best, of medians")
        for name, rates in runs.items():
            base = runs[baseline[name]]
            best, median = max(rates), statistics.median(rates)
            print(
                f"{name:<26} {best:>9,.0f}  {median:>9,.0f}   "
                f"{best / max(base):5.2f}x {median / statistics.median(base):5.2f}x "
                f"{baseline[name]}  (runs {min(rates):,.0f} .. {best:,.0f})"
            )
        # B is one CPython process: about a core is all it can use. A client that keeps it
        # as busy as the Node client does is not what limits the figure.
        print("\nthe server (B or the stand-in), busy cores (median; start-up included):")
        for name, loads in busy.items():
            print(f"  {name:<26} {statistics.median(loads):.2f}")
    finally:
        standin.kill()
        standin.wait(30)
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
