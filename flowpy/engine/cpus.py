"""Which CPUs the runtime's threads run on.

Every IP that crosses a connection wakes the thread of the process downstream. Left to
itself, Linux puts the woken thread on whichever CPU is idle, and waking an idle CPU (an
inter-processor interrupt, the CPU leaving its idle state; in a virtual machine, a trip
through the hypervisor) costs more than the hand-off itself. With CPython's global
interpreter lock the threads cannot run Python on two CPUs at once anyway, so a runtime
whose threads all stay on one CPU hands IPs over faster, in throughput and in latency
(bench/protocol.py measures both ways). ``flowpy run`` and ``flowpy serve`` therefore pin
themselves to one CPU by default (``--cpus``); the library never does it by itself.

What pinning gives up is work that runs outside the lock: C extensions that release it
(numpy, zlib, hashing) and waits on child processes still run on one CPU. A component whose
work is mostly of that kind sets ``parallel = True``; the network then lets its thread use
every CPU the process was allowed before it was pinned (:func:`spread_this_thread`).
A free-threaded CPython (no GIL) runs threads in parallel for real, so ``auto`` does not pin.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

#: The CPUs the process was allowed before :func:`pin`, or None while it is not pinned.
_before_pin: frozenset[int] | None = None


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
            raise CpuError(f"{text!r} is not auto, all or a CPU list such as 0 or 0,2 "
                           "or 1-3") from None
        if first < 0 or last < first:
            raise CpuError(f"{part.strip()!r} is not a CPU range")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def choose(choice: frozenset[int] | str, pid: int | None = None) -> frozenset[int] | None:
    """The CPUs to pin to for ``choice``, or None for "do not pin".

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
        raise CpuError(f"this process may run on CPUs {format_cpus(allowed)} only, "
                       f"not on {format_cpus(missing)}")
    return choice


def pin(cpus: frozenset[int]) -> None:
    """Every thread of the process, and every thread started from now on, runs on ``cpus``."""
    global _before_pin
    if _before_pin is None:
        _before_pin = available()
    for tid in _thread_ids():
        try:
            os.sched_setaffinity(tid, cpus)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            pass


def pinned() -> frozenset[int] | None:
    """The CPUs the process was pinned to, or None if it was not."""
    return available() if _before_pin is not None else None


def spread_this_thread() -> None:
    """Let the calling thread use every CPU the process had before :func:`pin` (for a
    component doing its work outside the GIL). Nothing to do if the process is not pinned."""
    if _before_pin is None or not supported():
        return
    try:
        os.sched_setaffinity(0, _before_pin)
    except OSError as exc:  # the cpuset shrank meanwhile: keep running where it is
        log.warning("cannot spread thread over CPUs %s: %s", format_cpus(_before_pin), exc)


def format_cpus(cpus: frozenset[int] | set[int]) -> str:
    """``0-3,6`` for {0, 1, 2, 3, 6}."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: the calling thread only (others inherit from it later)
        return [0]
