"""What happens when handling an IP raises: the error policy, the failure as data, restarts.

A failure is an event in the flow, not the end of it (as in Node-RED and OTP): the IP being
handled (:class:`Handling`) and the error become a :class:`Failure`, which goes to a
connected ``error`` outport as data, or else is reported and handed to the process's
:class:`ErrorPolicy` (``continue``, ``restart`` within an OTP-like intensity, or ``stop``).
Going on always means a fresh instance on the same connections, with the IIPs put back; a
failure outside handling an IP would only repeat, so it stops the process whatever the
policy. docs/graphs.md has the rules users see (``onError``, ``maxRestarts``,
``restartWithin`` in node metadata).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import NetworkError
from .ip import IP, as_ip

CONTINUE, RESTART, STOP = "continue", "restart", "stop"
ACTIONS = (CONTINUE, RESTART, STOP)

#: The node metadata keys of a policy, and the attribute each one sets.
METADATA_KEYS = {
    "onError": "action",
    "maxRestarts": "max_restarts",
    "restartWithin": "restart_within",
}

#: Characters of the IP's data shown in one-line messages.
SHORT_LIMIT = 60


@dataclass(frozen=True)
class ErrorPolicy:
    """What a process does after a failure nobody caught (see the module docstring)."""

    action: str = STOP
    max_restarts: int = 5
    restart_within: float = 60.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise NetworkError(f"onError must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if self.max_restarts < 0 or not self.restart_within > 0:  # NaN is not > 0 either
            raise NetworkError("maxRestarts must be >= 0 and restartWithin > 0 seconds")

    def for_node(self, metadata: Mapping[str, Any] | None) -> ErrorPolicy:
        """This policy (the default) overridden by a node's metadata; NetworkError names a
        bad value."""
        changes: dict[str, Any] = {}
        for key, attribute in METADATA_KEYS.items():
            if not metadata or key not in metadata:
                continue
            value = metadata[key]
            if attribute == "action":
                changes[attribute] = str(value).strip().lower()
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if attribute == "max_restarts":
                if not (number.is_integer() and number >= 0):  # NaN and infinity are not
                    raise NetworkError(f"{key} must be a whole number >= 0, not {value!r}")
                changes[attribute] = int(number)
            elif number > 0:  # infinity: a restart is never forgotten
                changes[attribute] = number
            else:
                raise NetworkError(f"{key} must be a number of seconds > 0, not {value!r}")
        if not changes:
            return self
        return ErrorPolicy(**{**self.__dict__, **changes})


def short(value: Any, limit: int = SHORT_LIMIT) -> str:
    """``repr`` of an IP's data cut to ``limit`` characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Failure:
    """One failure of a process while it handled an IP: the error as data."""

    node: str
    component: str
    type: str
    message: str
    #: The IP being handled (None: the failure was not tied to an IP).
    ip: IP | None
    time: str = field(default_factory=lambda: _timestamp())
    traceback: str = ""
    #: Filled in by the network: what the policy did ("continue", "restart", "stop",
    #: "error port", or "stop" after too many restarts with ``gave_up`` set).
    outcome: str = ""
    gave_up: bool = False
    hint: str = ""
    #: Lines a person reads under the one-line error (an expression with a caret under the
    #: place it fails); never part of a protocol message.
    pointer: str = ""

    def lines(self) -> str:
        """What a person reads in a terminal or a log: :meth:`line`, then the pointer."""
        return self.line() + (f"\n{self.pointer}" if self.pointer else "")

    def as_data(self) -> dict[str, Any]:
        """The documented shape (docs/graphs.md, "When a process fails"): node, component,
        type, message, input (the IP's data; ``None`` if no IP) and time. Values are as the
        process had them; what crosses the wire is written under the JSON policy."""
        return {
            "node": self.node,
            "component": self.component,
            "type": self.type,
            "message": self.message,
            "input": self.ip.data if self.ip is not None else None,
            "time": self.time,
        }

    def line(self) -> str:
        """One line for people: the component, the error, the IP shortened, what happens
        next and a hint when a common cause is known."""
        text = f"{self.type}: {self.message}" if self.type else self.message
        text = text.splitlines()[0] if "\n" in text else text
        if self.ip is not None:
            text += f" (on {short(self.ip.data)})"
        if self.outcome:
            text += f"; {_OUTCOMES.get(self.outcome, self.outcome)}"
        if self.gave_up:
            text += " (too many restarts)"
        if self.hint:
            text += f". Hint: {self.hint}"
        return text


#: What the process does after a reported failure, as the one-line message says it.
_OUTCOMES = {CONTINUE: "going on with the next IP", RESTART: "restarted", STOP: "process stopped"}


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: In :attr:`Handling.item`: the process is handling no IP (None is a payload like any other).
NOTHING: Any = object()


class Handling:
    """The IP a process is handling: the last one it took from a port other processes or
    the graph's inports feed (IIPs are options, not work). Set by the bound inports on
    every IP or batch they hand out (one attribute store of the raw item, see
    :mod:`flowpy.engine.ip`, so a batch costs no IP object), cleared when an instance starts."""

    __slots__ = ("item",)

    def __init__(self) -> None:
        self.item: Any = NOTHING

    @property
    def ip(self) -> IP | None:
        """The IP being handled; None when none is."""
        item = self.item
        return None if item is NOTHING else as_ip(item)


class Intensity:
    """At most ``max_restarts`` restarts within ``restart_within`` seconds (OTP's restart
    intensity); :meth:`allow` counts one and says whether it is still within the limit."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self, policy: ErrorPolicy) -> bool:
        """Count one restart now; False if that would exceed the policy's intensity."""
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > policy.restart_within:
                self._times.popleft()
            if len(self._times) >= policy.max_restarts:
                return False
            self._times.append(now)
            return True
