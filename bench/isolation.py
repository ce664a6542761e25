"""Isolation benchmark (issue 22): how long a realistic client waits for replies while it
receives what it did not ask for.

Both scenarios run against one ``flowpy serve`` with a Python client on websocket-client (a
reader thread, ``json.loads`` per message):

1. **debug**: graph ``a(core/Repeat) -> b(core/Repeat) -> a``, one IIP, running. The measured
   client never sent ``network:edges`` (it receives every edge). Baseline, same run: the same
   client after ``network:edges`` with both edges.
2. **output**: chain ``in -> r0 -> r1 -> out``, a feeder client sending 4 KB packets (a window
   of 100 unacknowledged), and a plain client that only asks ``getruntime`` (and receives every
   ``runtime:packet``). Baseline: the same client while nothing flows.

For each: ``--trips`` getruntime round trips (median and p99, ms), and how long another
client's ``network:stop`` takes to be answered. Targets (issue 22): p99 < 50 ms, stop <
200 ms on a 2-core machine. Note the machine's load beside the figures (printed). "unread
KB" is the most the measured client's own kernel held unread when it sent a request: the
reply is written behind that, and the server cannot see it (on loopback the receive buffer
grows to megabytes).

    python bench/isolation.py [--trips 50]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from ws_clients import ReadingClient, build_chain, unread_by  # noqa: E402

EDGES = [
    {"src": {"node": "a", "port": "out"}, "tgt": {"node": "b", "port": "in"}},
    {"src": {"node": "b", "port": "out"}, "tgt": {"node": "a", "port": "in"}},
]


def replies_only(m: dict) -> bool:
    return "responseTo" in m or m["command"] in ("edges", "stopped")


BACKLOG: list[int] = []  # per trip: bytes in the measured client's kernel receive queue


def trips(client: ReadingClient, count: int) -> list[float]:
    out = []
    BACKLOG.clear()
    for _ in range(count):
        BACKLOG.append(unread_by(client.ws))
        began = time.perf_counter()
        client.request("runtime", "getruntime", timeout=60)
        out.append((time.perf_counter() - began) * 1000)
    return out


def stop_time(control: ReadingClient, graph: str) -> float:
    began = time.perf_counter()
    control.request("network", "stop", {"graph": graph, "drain": False}, timeout=60)
    return (time.perf_counter() - began) * 1000


def debug_scenario(url: str, subscribed: bool, count: int) -> tuple[list[float], float]:
    client = ReadingClient(url, "measured", keep=replies_only)
    control = ReadingClient(url, "control", keep=replies_only)
    control.request("graph", "clear", {"id": "loop"})
    for node in ("a", "b"):
        control.request(
            "graph", "addnode", {"graph": "loop", "id": node, "component": "core/Repeat"}
        )
    for edge in EDGES:
        control.request("graph", "addedge", {"graph": "loop", **edge})
    control.request(
        "graph",
        "addinitial",
        {"graph": "loop", "src": {"data": "round"}, "tgt": {"node": "a", "port": "in"}},
    )
    control.send("network", "edges", {"graph": "loop", "edges": []})
    control.wait_for(lambda m: m["command"] == "edges")
    if subscribed:
        client.send("network", "edges", {"graph": "loop", "edges": EDGES})
        client.wait_for(lambda m: m["command"] == "edges")
    control.request("network", "start", {"graph": "loop"})
    seen = client.seen
    client.wait_until(lambda: client.seen >= seen + 5000, timeout=60)  # the flood is on
    result = trips(client, count), stop_time(control, "loop")
    client.close()
    control.close()
    return result


def output_scenario(url: str, flowing: bool, count: int) -> tuple[list[float], float]:
    client = ReadingClient(url, "measured", keep=replies_only)
    acked = [0]  # packetsent counted as they arrive: re-scanning a growing list would load
    # this process's GIL and be measured as the runtime's latency

    def keep_feeder(m: dict) -> bool:
        if m["command"] == "packetsent":
            acked[0] += 1
            return True  # kept for a moment: keeping wakes the waiting feeder
        return replies_only(m)

    feeder = ReadingClient(url, "feeder", keep=keep_feeder)
    build_chain(feeder, "chain", count=2)
    feeder.request("network", "start", {"graph": "chain"})
    done = threading.Event()

    def feed() -> None:
        pad = "x" * 4096
        sent = 0
        while not done.is_set():
            for _ in range(100):
                feeder.send(
                    "runtime",
                    "packet",
                    {"graph": "chain", "port": "in", "event": "data", "payload": pad},
                )
            sent += 100
            with feeder.cond:  # drop the acknowledgements already counted
                feeder.messages[:] = [m for m in feeder.messages if m["command"] != "packetsent"]
            try:
                feeder.wait_until(
                    lambda: acked[0] >= sent - 100,  # noqa: B023 - read at once
                    timeout=30,
                )
            except AssertionError:
                return

    thread = threading.Thread(target=feed, name="bench-feeder")
    if flowing:
        thread.start()
        time.sleep(1.0)  # a bench, not a test: let the flood build up
    result = trips(client, count), stop_time(feeder, "chain")
    done.set()
    if flowing:
        thread.join(60)
    client.close()
    feeder.close()
    return result


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowpy",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--state-dir",
                state,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None
            url = ""
            for line in proc.stdout:
                match = re.search(r"listening on (ws://\S+)", line)
                if match:
                    url = match.group(1)
                    break
            print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared)")
            print(
                f"{'scenario':44} {'median ms':>10} {'p99 ms':>9} {'stop ms':>9} {'unread KB':>10}"
            )
            runs = [
                ("1. debug, never selected edges", debug_scenario, False),
                ("   baseline: selected both edges", debug_scenario, True),
                ("2. output flood, plain client", output_scenario, True),
                ("   baseline: nothing flowing", output_scenario, False),
            ]
            for label, scenario, flag in runs:
                times, stop = scenario(url, flag, args.trips)
                print(
                    f"{label:44} {statistics.median(times):10.1f} {p99(times):9.1f} "
                    f"{stop:9.1f} {max(BACKLOG) / 1024:10.0f}",
                    flush=True,
                )
            print(f"load average after: {os.getloadavg()[0]:.2f}")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
