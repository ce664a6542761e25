"""Which CPUs the threads of a network run on.

Under the GIL, threads that hand IPs along run faster on one CPU: a wake-up on another, idle
CPU costs more than the hand-off. So ``flowpy run``/``serve`` keep the networks' threads and
the server's per-client writers on one CPU by default (``--cpus``); the library never does
it by itself (:func:`confine`). What waits on the disk stays free (a confined reader in
``fsync`` once waited over a minute), as do components with ``parallel = True``, and
``auto`` confines nothing on a free-threaded CPython. docs/deployment.md ("CPUs") has the
figures.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

#: Linux numbers CPUs below this (its NR_CPUS is at most 8192); a larger one is a typo.
CPU_LIMIT = 1 << 16

#: The CPUs the threads of networks run on, or None for wherever the system puts them.
_confined: frozenset[int] | None = None


class CpuError(ValueError):
    """A CPU choice this process cannot have."""


def supported() -> bool:
    """Whether this platform lets a process choose its CPUs (Linux does; macOS does not)."""
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def available() -> frozenset[int]:
    """The CPUs this thread may run on now."""
    if not supported():
        return frozenset(range(os.cpu_count() or 1))
    return frozenset(os.sched_getaffinity(0))


def gil_enabled() -> bool:
    """False on a free-threaded CPython running without its GIL."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


def parse(text: str) -> frozenset[int] | str:
    """``auto``, ``all`` or a CPU list as taskset takes it (``0``, ``0,2``, ``1-3``)."""
    word = text.strip().lower()
    if word in ("auto", "all"):
        return word
    cpus: set[int] = set()
    for part in word.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise CpuError(
                f"{text!r} is not auto, all or a CPU list such as 0 or 0,2 or 1-3"
            ) from None
        if first < 0 or last < first:
            raise CpuError(f"{part.strip()!r} is not a CPU range")
        if last >= CPU_LIMIT:
            raise CpuError(f"{part.strip()!r}: CPUs are numbered below {CPU_LIMIT}")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def choose(choice: frozenset[int] | str, pid: int | None = None) -> frozenset[int] | None:
    """The CPUs to confine networks to for ``choice``, or None for "anywhere".

    ``auto`` takes one of the allowed CPUs, picked by process id, so that several runtimes on
    one machine tend to land on different CPUs."""
    allowed = available()
    if choice == "all" or not supported():
        return None
    if choice == "auto":
        if not gil_enabled() or len(allowed) <= 1:
            return None
        ordered = sorted(allowed)
        return frozenset({ordered[(os.getpid() if pid is None else pid) % len(ordered)]})
    assert isinstance(choice, frozenset)
    missing = choice - allowed
    if missing:
        raise CpuError(
            f"this process may run on CPUs {format_cpus(allowed)} only, "
            f"not on {format_cpus(missing)}"
        )
    return choice


def confine(cpus: frozenset[int] | None) -> None:
    """Run the threads of every network started from now on on ``cpus`` (None: anywhere)."""
    global _confined
    _confined = cpus


def confined() -> frozenset[int] | None:
    """The CPUs networks' threads are confined to, or None."""
    return _confined


def describe() -> str:
    """Where networks run, for a log line: ``CPU 1``, or ``any CPU``."""
    return f"CPU {format_cpus(_confined)}" if _confined is not None else "any CPU"


def place_this_thread(parallel: bool = False) -> None:
    """Called by each thread that hands IPs along, as it starts: onto the confined CPUs,
    unless the thread runs a ``parallel`` component (or nothing is confined)."""
    cpus = _confined
    if cpus is None or parallel or not supported():
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:  # the cpuset shrank since: run where the system puts it
        log.warning(
            "cannot keep thread %s on CPUs %s: %s",
            threading.current_thread().name,
            format_cpus(cpus),
            exc,
        )


def format_cpus(cpus: frozenset[int] | set[int]) -> str:
    """``0-3,6`` for {0, 1, 2, 3, 6}."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
