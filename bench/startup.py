"""How long ``flowpy run examples/hello.json`` takes to start: the first thing a new user times.

Each run is a fresh interpreter (``python -m flowpy run GRAPH``, output thrown away); the
figures are the median wall and CPU (user + system) seconds of the runs, and the median of
what ``-X importtime`` counts for the imports ``flowpy run`` makes (the cumulative time of
each top-level import, summed), with the number of modules imported. Point ``--checkout`` at
another checkout (``git archive REV | tar -x -C DIR``) to compare two versions on the same
machine in the same minute.

    python bench/startup.py [--runs 15] [--graph examples/hello.json] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")
COUNT = (
    "import sys, runpy; sys.argv = ['flowpy', 'run', {graph!r}];\n"
    "try: runpy.run_module('flowpy', run_name='__main__')\n"
    "except SystemExit: pass\n"
    "print(len(sys.modules), file=sys.stderr)"
)


def _env(checkout: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(checkout))


def one_run(checkout: Path, graph: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``flowpy run``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flowpy", "run", graph],
        cwd=checkout,
        env=_env(checkout),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_ms(checkout: Path, graph: str) -> float:
    """Milliseconds ``-X importtime`` counts for the top-level imports of one run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowpy", "run", graph],
        cwd=checkout,
        env=_env(checkout),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return (
        sum(int(m.group(1)) for line in done.stderr.splitlines() if (m := TOP_LEVEL.match(line)))
        / 1000
    )


def module_count(checkout: Path, graph: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", COUNT.format(graph=graph)],
        cwd=checkout,
        env=_env(checkout),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return int(done.stderr.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--graph", default="examples/hello.json")
    parser.add_argument("--checkout", type=Path, default=ROOT)
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    one_run(checkout, args.graph)  # warm the page cache and the .pyc files
    runs = [one_run(checkout, args.graph) for _ in range(args.runs)]
    imports = [import_ms(checkout, args.graph) for _ in range(args.runs)]
    print(
        f"{checkout}: flowpy run {args.graph}, {args.runs} runs (median): "
        f"wall {statistics.median(w for w, _ in runs):.3f} s, "
        f"cpu {statistics.median(c for _, c in runs):.3f} s, "
        f"imports {statistics.median(imports):.0f} ms, "
        f"{module_count(checkout, args.graph)} modules"
    )


if __name__ == "__main__":
    main()
