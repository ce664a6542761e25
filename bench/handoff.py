"""One item there and back between two threads: the hand-off every IP makes between processes.

A process thread that sends an IP to a waiting neighbour must wake that neighbour's thread;
that wake-up is the unit cost of flowpy's thread-per-process design, and the floor of the
protocol's lock-step round trip (bench/protocol.py). The figure is microseconds per round
trip through two ``Connection``s (one each way). The baseline, in the same run, is the bare
CPython hand-off: two deques, each guarded by a ``threading.Condition``.

    python bench/handoff.py [--trips 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowpy.cli.tuning import tune_gc  # noqa: E402
from flowpy.engine.connection import Connection  # noqa: E402

STOP = None


class Pipe(Protocol):
    def send(self, item: Any) -> None: ...
    def recv(self) -> Any: ...


class ConditionPipe:
    """The baseline: a deque and a Condition, nothing else."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())

    def send(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def recv(self) -> Any:
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()


def round_trip_us(there: Pipe, back: Pipe, trips: int) -> float:
    def echo() -> None:
        while True:
            item = there.recv()
            back.send(item)
            if item is STOP:
                return

    thread = threading.Thread(target=echo, name="bench-echo")
    thread.start()
    start = time.perf_counter()
    for n in range(trips):
        there.send(n)
        if back.recv() != n:
            raise AssertionError("items came back out of order")
    elapsed = time.perf_counter() - start
    there.send(STOP)
    back.recv()
    thread.join()
    return elapsed / trips * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tune_gc()
    figures: dict[str, list[float]] = {"Connection": [], "Condition+deque": []}
    for _ in range(args.repeat):  # interleaved, so noise hits both alike
        figures["Connection"].append(round_trip_us(Connection(1024), Connection(1024), args.trips))
        figures["Condition+deque"].append(
            round_trip_us(ConditionPipe(), ConditionPipe(), args.trips)
        )
    base = statistics.median(figures["Condition+deque"])
    for name, values in figures.items():
        median = statistics.median(values)
        print(
            f"{name:16s} median {median:6.2f} us/round trip  best {min(values):6.2f}"
            f"  ({median / base:.2f}x baseline)"
        )


if __name__ == "__main__":
    main()
