"""The supervisor of one network's processes: after a failure, what the error policy says.

:mod:`flowpy.engine.failures` says what a policy and a failure are; this module applies them
for a running network (OTP's supervisor, one per network): it reads each process's policy
at a start, sends a failure to the error port or reports it and decides, and makes the
fresh instance that goes on reading the same connections, its IIPs put back.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

from .component import Component
from .errors import NetworkError
from .failures import RESTART, STOP, ErrorPolicy, Failure
from .graphlike import GraphLike
from .ip import IP
from .topology import Process, Topology
from .wiring import Plan

log = logging.getLogger(__name__)


class Supervisor:
    """The failures of one network's processes: reads each process's policy at a start,
    decides after each failure, and makes the fresh instances (the network's process
    threads call :meth:`recover`)."""

    def __init__(
        self,
        default: ErrorPolicy,
        graph: GraphLike,
        structure: Topology,
        stopping: threading.Event,
        report: Callable[[Failure], bool],
    ) -> None:
        #: the policy of a process whose node says nothing
        self.default = default
        self.graph = graph
        self.structure = structure
        self.stopping = stopping
        self.report = report
        self._policies: dict[str, ErrorPolicy] = {}
        self._iips: frozenset[int] = frozenset()

    def load(self, plan: Plan) -> None:
        """A start: each process's policy (NetworkError names a node with a bad one)."""
        policies = {}
        for node_id, metadata in plan.metadata.items():
            try:
                policies[node_id] = self.default.for_node(metadata)
            except NetworkError as exc:
                raise NetworkError(f"node {node_id!r}: {exc}") from None
        self._policies = policies
        self._iips = frozenset(id(ip) for ips in plan.iips.values() for ip in ips)

    def policy_of(self, node_id: str) -> ErrorPolicy:
        """The error policy of process ``node_id`` (one a live edit added: from its node's
        metadata now, or the default when that is not valid)."""
        policy = self._policies.get(node_id)
        if policy is not None:
            return policy
        default = self.default
        node = getattr(self.graph, "nodes", {}).get(node_id)
        try:
            return default.for_node(getattr(node, "metadata", None))
        except NetworkError as exc:
            log.warning(
                "network %s: node %s: %s; the default policy applies",
                self.graph.name,
                node_id,
                exc,
            )
            return default

    def recover(self, proc: Process, component: Component, exc: BaseException) -> bool:
        """A failure of ``component``: to its error port, or reported and decided by the
        policy. True when a fresh instance goes on."""
        ip = proc.handling.ip  # an IIP is an IP object, so it keeps its identity here
        if ip is not None and id(ip) in self._iips:
            ip = None  # an IIP is an option, not work: failing on it would only repeat
        failure = Failure(
            proc.node_id,
            type(component).component_name or type(component).__name__,
            type(exc).__name__,
            str(exc),
            ip,
            traceback=traceback.format_exc(),
            hint=str(getattr(exc, "hint", "") or ""),
            pointer=str(getattr(exc, "pointer", "") or ""),
        )
        if failure.message.startswith(f"{proc.node_id}: "):  # the node is said once
            failure.message = failure.message[len(proc.node_id) + 2 :]
        outports = component.outports
        if ip is not None and "error" in outports and outports["error"].is_connected:
            failure.outcome = "error port"
            outports["error"].send(IP.make_data(failure.as_data()))
            return self.fresh(proc)
        policy = self.policy_of(proc.node_id)
        action = policy.action if ip is not None else STOP
        if action == RESTART and not proc.intensity.allow(policy):
            action, failure.gave_up = STOP, True
        failure.outcome = action
        if not self.report(failure):  # nobody watching was told: never a silent failure
            what = f"process {proc.node_id} ({failure.component})"
            log.error("%s failed: %s", what, failure.lines())
            log.debug("%s traceback:\n%s", what, failure.traceback.rstrip())
        return action != STOP and self.fresh(proc)

    def fresh(self, proc: Process) -> bool:
        """A new instance of the process's component on the same ports, with its IIPs put
        back; False if the network is stopping or the instance cannot be made."""
        old = proc.component
        assert old is not None
        cls = type(old)
        with self.structure.lock:
            if self.stopping.is_set():
                return False
            try:
                proc.component = cls(
                    proc.node_id,
                    cls.inports.bind(dict(old.inports.items())),
                    cls.outports.bind(dict(old.outports.items())),
                    old._context,
                )
            except Exception as exc:
                log.error(
                    "network %s: process %s cannot be restarted: %s",
                    self.graph.name,
                    proc.node_id,
                    exc,
                )
                return False
            proc.restarts += 1
            plan = self.structure.plan
        for port in proc.inports:
            replayed = port.replay_options()
            for index, conn in port._slots.items():
                slot = (proc.node_id, port.name, index)
                if index in replayed or plan.writers.get(slot) != 0 or slot not in plan.iips:
                    continue  # its options come back, or it is fed by edges
                if not len(conn) and not port.has_unread(index):
                    conn.preload(plan.iips[slot])  # IIPs read as data are read again
        return True
