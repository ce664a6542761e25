"""Stop accounting (issue 24, case 4): 20 stop cycles amid traffic through
``in -> Repeat -> time/Delay 1 ms -> Repeat -> out`` with a window of 300 unacknowledged
packets, against one ``flowpy serve``. Prints acknowledged, delivered, reported discarded and
unreported (acknowledged but neither delivered nor reported: must be 0).

    python bench/stop_accounting.py [--cycles 20] [--window 300] [--per-cycle 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from processes import RuntimeProcess  # noqa: E402
from stop_traffic import stop_cycles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--per-cycle", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served = RuntimeProcess([], Path(tmp))
        try:
            tally = stop_cycles(served.url, args.cycles, args.window, args.per_cycle)
        finally:
            served.stop()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"cycles {args.cycles}, window {args.window}: sent {tally.sent}, "
        f"acknowledged {len(tally.acknowledged)}, refused {tally.refused}, "
        f"delivered {len(set(tally.delivered))} (duplicates "
        f"{len(tally.delivered) - len(set(tally.delivered))}), "
        f"reported discarded {tally.discarded}, unreported {tally.unreported}"
    )


if __name__ == "__main__":
    main()
