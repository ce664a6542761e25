"""Process-wide settings that suit a dataflow runtime, applied by the command line only.

CPython's cyclic garbage collector runs a young-generation pass every 700 allocations of
container objects. A network keeps thousands of IPs in flight, and every pass walks them
all, so with the default a batched pipeline spends about a third of its time in the
collector (bench/pipeline.py shows both settings). Raising the young threshold makes passes
rarer without letting garbage live long; freezing moves everything imported at start-up out
of the collector's view for good. This changes the whole process, so the library never does
it by itself: ``flowpy run`` and ``flowpy serve`` do, and an embedding application may call
``tune_gc()`` if it wants the same.

The same goes for the CPUs: the commands that run networks keep the networks' threads on one
CPU unless told otherwise (``--cpus``; :mod:`flowpy.engine.cpus` says why).
"""

from __future__ import annotations

import argparse
import gc
import logging

from flowpy.engine import cpus

log = logging.getLogger("flowpy.cli")

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Rarer young-generation collections, and start-up objects frozen out of the collector."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.freeze()


#: The commands that run networks, and so take ``--cpus``.
NETWORK_COMMANDS = ("run", "serve", "participant")


def cpus_argument(text: str) -> frozenset[int] | str:
    """argparse type of ``--cpus``: a CPU set or a keyword, or a usage error saying why not."""
    try:
        return cpus.parse(text)
    except cpus.CpuError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_cpu_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--cpus`` to a subcommand that runs networks."""
    parser.add_argument(
        "--cpus",
        metavar="auto|all|LIST",
        type=cpus_argument,
        default="auto",
        help="the CPUs the threads of networks run on: auto (the default) keeps them on one "
        "CPU, where CPython hands IPs between threads fastest; all leaves them to the "
        "system; or a list such as 0 or 0,2 or 1-3 (docs/deployment.md)",
    )


def confine_networks(choice: frozenset[int] | str) -> frozenset[int] | None:
    """Apply ``--cpus``: the CPUs networks' threads will run on, or None for anywhere.
    :class:`flowpy.engine.cpus.CpuError` for CPUs this process may not use."""
    chosen = cpus.choose(choice)
    cpus.confine(chosen)
    log.debug(
        "cpus: networks run on %s (--cpus %s)",
        cpus.describe(),
        choice if isinstance(choice, str) else cpus.format_cpus(choice),
    )
    return chosen
