"""The ports of a component: its declaration maps (``InPorts``/``OutPorts``), and the one
import path for everything about ports.

A component class declares ``inports = InPorts(InPort("in"), ...)``; at network start each
process gets maps of the same declaration bound to its connections, where ``ports["in"]``
(case-insensitive) is the bound port. The declarations themselves are in
:mod:`.portspec`, the bound ports in :mod:`.inport` and :mod:`.outport`; this module names
them all, so ``from flowpy.engine.ports import ...`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, Self, TypeVar

from flowpy.errors import missing_name

from .inport import InputPort, next_data
from .outport import OutputPort
from .portspec import (
    NO_DEFAULT,
    Index,
    InPort,
    OutPort,
    PortError,
    PortSpec,
    find_port,
    normalize_index,
    warn_renamed,
)

__all__ = [
    "NO_DEFAULT",
    "Index",
    "InPort",
    "InPorts",
    "InputPort",
    "OutPort",
    "OutPorts",
    "OutputPort",
    "PortError",
    "PortMap",
    "PortSpec",
    "find_port",
    "next_data",
    "normalize_index",
    "warn_renamed",
]


P = TypeVar("P", "InputPort", "OutputPort")


class PortMap(Generic[P]):
    """The ports of one component: declared on the class, bound on each running process.

    On a component class it is a declaration, the port specs in order (``specs``); the
    network gives each process a map of the same kind bound to its connections, where
    ``ports["in"]`` (case-insensitive) is the bound port, typed so editors know it.
    """

    __slots__ = ("specs", "_ports")

    def __init__(self, *specs: PortSpec) -> None:
        self.specs: tuple[PortSpec, ...] = specs
        self._ports: dict[str, P] | None = None  # None: a declaration, not bound

    def bind(self, ports: dict[str, P]) -> Self:
        """A map of the same declaration bound to ``ports`` (name -> bound port)."""
        bound = type(self)(*self.specs)
        bound._ports = ports
        return bound

    def __getitem__(self, name: str) -> P:
        ports = self._ports
        if ports is None:
            raise PortError(
                f"port {name!r} is not bound: ports are bound when a network runs "
                "the process (in run(), not on the class)"
            )
        try:
            return ports[name.lower()]
        except KeyError:
            raise PortError(f"no port named {missing_name(name, ports)}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self.specs) if self._ports is None else len(self._ports)

    def _names(self) -> list[str]:
        return [spec.name for spec in self.specs] if self._ports is None else list(self._ports)

    def values(self) -> Iterable[P]:
        """The ports of the process, in declaration order."""
        return (self._ports or {}).values()

    def items(self) -> Iterable[tuple[str, P]]:
        """(name, port) pairs of the process, in declaration order."""
        return (self._ports or {}).items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(spec.name for spec in self.specs)})"


class InPorts(PortMap["InputPort"]):
    """A component's inports: ``inports = InPorts(InPort("in"), InPort("conf"))``."""

    __slots__ = ()


class OutPorts(PortMap["OutputPort"]):
    """A component's outports: ``outports = OutPorts(OutPort("out"))``."""

    __slots__ = ()
