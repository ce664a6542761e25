"""What happened to a graph's network: who started it, which process failed, why it ended.

A served network fails far from anybody watching it, so every fact of a run is reported
three ways from here: one log line per event (a process error or a failed start at ERROR,
a traceback at DEBUG, start and end at INFO), the ``graphs`` entries of ``GET /`` (state, last
error, why the last start failed, how the last run ended), and the reason in the refusal a
client gets when it sends a packet to a network that no longer runs ("... the network
stopped: process up (strings/Upper) failed: ...", "... stopped by flowpy-client-3"). Clients
are named in all three; their addresses appear in the log lines only (other clients may read
the rest).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flowpy import wire
from flowpy.engine.failures import STOP, Failure

log = logging.getLogger("flowpy.runtime")

#: Graph states as ``GET /`` reports them.
NOT_STARTED, RUNNING, FINISHED, STOPPED = "not started", "running", "finished", "stopped"


class RunReport:
    """The story of one graph's network runs. Thread-safe; every method logs its event."""

    def __init__(self, graph: str) -> None:
        self.graph = graph
        self._lock = threading.Lock()
        self._runs = 0
        #: The last process error (of any run): the failure as data (docs/graphs.md) and
        #: its ``outcome``.
        self.last_error: dict[str, Any] | None = None
        self._failures = 0  # process errors in the current run
        #: How the last run ended: {reason, time}; None while running or never run.
        self.ended: dict[str, Any] | None = None
        #: Process errors per node, over every run (``/metrics`` counts them).
        self.errors: dict[str, int] = {}
        #: The error of each node that failed in the current run (its state is "failed").
        self.failed_nodes: dict[str, str] = {}
        #: Why the last start failed: {message, time}; None once a start succeeds.
        self.start_error: dict[str, Any] | None = None

    def started(self, by: str | None) -> None:
        """A run began (``by``: who started it): the counts of the run before are reset."""
        with self._lock:
            self._runs += 1
            self._failures = 0
            self.ended = None
            self.failed_nodes = {}
            self.start_error = None
        log.info("graph %s: network started%s", self.graph, f" by {by}" if by else "")

    def start_failed(self, message: str) -> None:
        """The network could not start (nothing ran): kept for ``GET /`` until a start
        succeeds, so whoever looks later (``flowpy status``) learns why."""
        with self._lock:
            self.start_error = {"message": message, "time": wire.timestamp()}
        log.error("graph %s: cannot start the network: %s", self.graph, message)

    def failed(self, failure: Failure) -> None:
        """A process failed: the failure as data (``lastError``, under the JSON policy, with
        what its policy did as ``outcome``), one ERROR line, the traceback at DEBUG only."""
        node = failure.node
        what = f"{node} ({failure.component})"
        error = wire.jsonable(failure.as_data())
        error["outcome"] = failure.outcome
        with self._lock:
            self._failures += 1
            self.errors[node] = self.errors.get(node, 0) + 1
            if failure.outcome == STOP:
                self.failed_nodes = {**self.failed_nodes, node: failure.line()}
            self.last_error = error
        log.error("graph %s: process %s failed: %s", self.graph, what, failure.lines())
        if failure.traceback:
            log.debug(
                "graph %s: process %s traceback:\n%s", self.graph, what, failure.traceback.rstrip()
            )

    def finished(self) -> None:
        """Every process ended by itself (after process errors, or not)."""
        with self._lock:
            reason = self._failure_text() if self._failures else "finished: every process ended"
            self.ended = {"reason": reason, "time": wire.timestamp()}
        if self._failures:
            log.info("graph %s: network finished after a process error: %s", self.graph, reason)
        else:
            log.info("graph %s: network %s", self.graph, reason)

    def stopped(self, reason: str, peer: str | None = None) -> None:
        """Stopped from outside (a client, a restart, the runtime's shutdown). ``reason`` is
        kept for clients (refusals, ``GET /``); ``peer``, the address of the client that
        stopped it, goes into the log line only."""
        with self._lock:
            if self._failures and self.ended is None:
                reason = f"{reason}, after {self._failure_text()}"
            if self.ended is not None:  # it had finished; the stop only ends the run
                reason = f"{self.ended['reason']}; then {reason}"
            self.ended = {"reason": reason, "time": wire.timestamp()}
        log.info(
            "graph %s: network stopped: %s%s",
            self.graph,
            reason,
            f" (client at {peer})" if peer else "",
        )

    def why_not_running(self) -> str | None:
        """Why the current or last run takes no input, as a client should read it: the
        process error if one ended it, else how it ended; None if nothing is known."""
        with self._lock:
            if self._failures:
                return self._failure_text()
            if self.ended is not None:
                return str(self.ended["reason"])
            return None

    def _failure_text(self) -> str:
        """Lock held: "process NODE (COMPONENT) failed: MESSAGE" of the last error."""
        error = self.last_error or {}
        node, component = error.get("node", "?"), error.get("component")
        what = f"{node} ({component})" if component else str(node)
        kind = f"{error['type']}: " if error.get("type") else ""
        return f"process {what} failed: {kind}{error.get('message', '')}"

    def status_fields(self, started: bool, running: bool) -> dict[str, Any]:
        """``state`` and, when known, ``lastError`` and ``ended`` for ``GET /``."""
        with self._lock:
            if running:
                state = RUNNING
            elif started:
                state = FINISHED
            elif self._runs:
                state = STOPPED
            else:
                state = NOT_STARTED
            fields: dict[str, Any] = {"state": state}
            if self.last_error is not None:
                fields["lastError"] = dict(self.last_error)
            if self.ended is not None and not running:
                fields["ended"] = dict(self.ended)
            if self.start_error is not None and not running:
                fields["startError"] = dict(self.start_error)
            return fields
