"""Run a bench case with its threads on one CPU, as ``flowpy run`` and ``serve`` keep a
network's threads (docs/deployment.md, "CPUs"). Shared by the benches that show both."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # flowpy from this checkout

from flowpy.engine import cpus  # noqa: E402

T = TypeVar("T")


def on_one_cpu(case: Callable[[], T]) -> T:
    """``case()`` run from a thread kept on one CPU (the one ``--cpus auto`` would pick):
    every thread it starts (a client's reader, a network's processes) inherits that."""
    result: list[T] = []
    cpu = cpus.choose("auto")

    def run() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, cpu)
        result.append(case())

    thread = threading.Thread(target=run, name="bench-one-cpu")
    thread.start()
    thread.join()
    if not result:
        raise SystemExit("a case run on one CPU failed (see above)")
    return result[0]
