"""The error policy on the command line, and process failures as people read them.

``serve``, ``run`` and ``participant`` take ``--on-error`` (``continue``, ``restart`` or
``stop``), ``--max-restarts`` and ``--restart-within``: the default a process follows when its
node's metadata names no policy (docs/graphs.md, "When a process fails"). Each command keeps
processing by default; ``run --fail-fast`` is ``--on-error stop``, the behaviour before
policies existed.

:class:`FailureLines` writes what ``flowpy run`` says about failures: one line per failure
(the node, its component, the error, the IP shortened, what happens next), the traceback
only at ``--log-level debug``, and at the end one summary line per failing node.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any, TextIO

from flowpy.engine.failures import ACTIONS, CONTINUE, STOP, ErrorPolicy, Failure


def add_policy_options(parser: argparse.ArgumentParser, fail_fast: bool = False) -> None:
    """``--on-error``, ``--max-restarts``, ``--restart-within`` (and ``--fail-fast``)."""
    defaults = ErrorPolicy()
    group = parser.add_argument_group("when a process fails on an IP")
    group.add_argument(
        "--on-error",
        choices=ACTIONS,
        default=CONTINUE,
        help="what a process does when handling an IP raises and its error "
        "outport is not connected, unless its node's metadata says "
        "(onError): go on with the next IP (default), restart it within "
        "the limits below, or stop it",
    )
    group.add_argument(
        "--max-restarts",
        type=int,
        default=defaults.max_restarts,
        metavar="N",
        help=f"with --on-error restart: at most N restarts ... (default {defaults.max_restarts})",
    )
    group.add_argument(
        "--restart-within",
        type=float,
        default=defaults.restart_within,
        metavar="S",
        help=f"... within S seconds, else the process stops (default {defaults.restart_within:g})",
    )
    if fail_fast:
        group.add_argument(
            "--fail-fast",
            dest="on_error",
            action="store_const",
            const=STOP,
            help="stop a process at its first failure (--on-error stop)",
        )


def policy_of(args: argparse.Namespace) -> ErrorPolicy:
    """The default policy the options ask for; ValueError for values that make no sense."""
    defaults = ErrorPolicy(CONTINUE)
    try:
        return ErrorPolicy(
            getattr(args, "on_error", defaults.action),
            getattr(args, "max_restarts", defaults.max_restarts),
            getattr(args, "restart_within", defaults.restart_within),
        )
    except Exception as exc:  # NetworkError: a usage error here
        raise ValueError(str(exc)) from None


class FailureLines:
    """Failures to ``err`` as one line each (the traceback too when ``tracebacks``), and
    a summary per failing node at the end."""

    def __init__(self, err: TextIO, tracebacks: bool) -> None:
        self.err = err
        self.tracebacks = tracebacks
        self._lock = threading.Lock()
        #: node -> [component, failures, the last one's line]
        self._nodes: dict[str, list[Any]] = {}

    @property
    def count(self) -> int:
        """Failures reported so far, over every node: a non-zero count makes the exit status 1."""
        with self._lock:
            return sum(entry[1] for entry in self._nodes.values())

    def failed(self, failure: Failure) -> None:
        """Report one failure as one line on ``err`` (and count it for the summary at the end)."""
        line = f"flowpy: process {failure.node!r} ({failure.component}) failed: {failure.lines()}"
        with self._lock:
            entry = self._nodes.setdefault(failure.node, [failure.component, 0, ""])
            entry[1] += 1
            entry[2] = failure.line()
            self.err.write(line + "\n")
            if self.tracebacks and failure.traceback:
                self.err.write(failure.traceback)
            self.err.flush()

    def summary(self) -> None:
        """One line per node that failed: how often, and the last error."""
        with self._lock:
            for node, (component, count, last) in self._nodes.items():
                times = "once" if count == 1 else f"{count} times"
                self.err.write(f"flowpy: {node} ({component}) failed {times}; last: {last}\n")
            self.err.flush()
