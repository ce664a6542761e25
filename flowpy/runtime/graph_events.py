"""What a hosted graph tells the rest of the runtime, as typed events.

:class:`~flowpy.runtime.hosting.HostedGraph` hands every one of these to the one callable it
was given (:data:`Emit`); the output router (:mod:`.output`) decides who hears it, on which
lane, in which shape. So the hosted graph neither knows the clients nor writes a message.
``cause`` is the request a lifecycle event answers (its sender gets it as a reply).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowpy.engine.ip import IP

if TYPE_CHECKING:
    from .clients import Request


@dataclass(frozen=True, slots=True)
class NetworkStarted:
    """The network started; its processes are about to run."""

    graph: str
    cause: Request | None = None


@dataclass(frozen=True, slots=True)
class NetworkEnded:
    """The network stopped (``started`` false) or finished by itself (``started`` true)."""

    graph: str
    started: bool
    uptime: float
    cause: Request | None = None


@dataclass(frozen=True, slots=True)
class ProcessFailure:
    """A process raised: its error and traceback."""

    graph: str
    node: str
    error: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class NetworkOutput:
    """Console output of a component, or (``notice``) flowpy's own word about the network."""

    graph: str
    text: str
    notice: bool = False


@dataclass(frozen=True, slots=True)
class PortMarker:
    """An exported port's ``connect`` or ``disconnect`` (``direction`` "in" or "out")."""

    graph: str
    direction: str
    port: str
    event: str


@dataclass(frozen=True, slots=True)
class PortOutput:
    """IPs left exported outport ``port``; delivery may wait for a client until ``stopping``."""

    graph: str
    port: str
    ips: list[IP]
    stopping: threading.Event


@dataclass(frozen=True, slots=True)
class OutputStopping:
    """The network is stopping: whoever waits to deliver its output must look again."""

    graph: str


GraphEvent = (
    NetworkStarted
    | NetworkEnded
    | ProcessFailure
    | NetworkOutput
    | PortMarker
    | PortOutput
    | OutputStopping
)

#: The one callable a hosted graph reports through.
Emit = Callable[[GraphEvent], int]
