"""The Component base class: declared ports, metadata, and a run() executed in its own thread.

A component author writes a class with ``inports``/``outports`` declarations and a ``run()``
that reads and sends IPs. No threading, locking or protocol code is needed: the network
creates one instance per node, binds its ports and runs it in a thread named after the node.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any, ClassVar

from .ports import InPort, OutPort, PortMap, PortSpec


class ProcessContext:
    """What a running process may ask of its network (console output); set by the network."""

    def console(self, node_id: str, text: str) -> None:
        print(text, flush=True)


class Component:
    """Base class of every component. Subclasses declare ports and implement ``run()``.

    While running, ``self.inports`` and ``self.outports`` map (case-insensitive) port names to
    bound ports; ``self.stopping`` is set when the network stops, for loops that wait on
    something other than a port.
    """

    description: ClassVar[str] = ""
    icon: ClassVar[str] = ""
    inports: ClassVar[list[PortSpec]] = []
    outports: ClassVar[list[PortSpec]] = []
    #: Set by the registry: the name this class is registered under (``core/Repeat``).
    component_name: ClassVar[str] = ""

    def __init__(
        self,
        node_id: str,
        inports: PortMap | None = None,
        outports: PortMap | None = None,
        context: ProcessContext | None = None,
    ) -> None:
        self.node_id = node_id
        self.inports = inports if inports is not None else PortMap({})  # type: ignore[misc]
        self.outports = outports if outports is not None else PortMap({})  # type: ignore[misc]
        self.stopping = threading.Event()
        #: Set by the network just before ``stopping``: the monotonic time by which it
        #: expects this thread to have ended (see :meth:`time_to_stop`).
        self.stop_deadline: float | None = None
        self._context = context or ProcessContext()

    def time_to_stop(self, wanted: float) -> float:
        """Seconds a process may spend winding down after a stop (closing a link, flushing
        a file): ``wanted``, but never past the network's stop deadline (with a margin, so
        the join still sees the thread end)."""
        if self.stop_deadline is None:
            return wanted
        left = (self.stop_deadline - time.monotonic()) * 0.8
        return max(0.0, min(wanted, left))

    def run(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    def console(self, text: str) -> None:
        """Console output: stdout under ``flowpy run``, ``network:output`` over the protocol."""
        self._context.console(self.node_id, text)

    # -- metadata ------------------------------------------------------------------------
    @classmethod
    def port_specs(cls, direction: str) -> dict[str, PortSpec]:
        specs = cls.inports if direction == "in" else cls.outports
        return {spec.name: spec for spec in specs}

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of the docstring, or ``description``."""
        if cls.description:
            return cls.description
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ").strip()

    @classmethod
    def describe(cls, name: str | None = None) -> dict[str, Any]:
        """The ``component:component`` payload for this class."""
        info: dict[str, Any] = {
            "name": name or cls.component_name or cls.__name__,
            "description": cls.summary(),
            "subgraph": False,
            "inPorts": [spec.describe() for spec in cls.inports],
            "outPorts": [spec.describe() for spec in cls.outports],
        }
        if cls.icon:
            info["icon"] = cls.icon
        return info


__all__ = ["Component", "InPort", "OutPort", "ProcessContext"]
