"""Port declarations: what a component class says a port is, and how a graph's name finds it.

A declaration is metadata: name, datatype, description, addressable, required. Port names
are matched case-insensitively and reported in lower case, so graphs written for noflo
(``in``) and for flowd (``IN``) both load. A renamed port keeps its former names as
``aliases`` for a release: a graph that still uses one loads and runs as before, and the
process logs one warning per component and name (:func:`find_port` is the one place names
are looked up, by the wiring and by live edits).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowpy.errors import FlowpyError

Index = int | str

log = logging.getLogger(__name__)
_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


class PortError(FlowpyError):
    """A port was used in a way its declaration does not allow."""


def normalize_index(index: Any) -> Index | None:
    """Edge indexes arrive as ints or strings ("0" from JSON, "remote_in" by name)."""
    if index is None or index == "":
        return None
    if isinstance(index, bool):
        raise PortError(f"invalid port index {index!r}")
    if isinstance(index, int):
        return index
    if isinstance(index, str):
        return int(index) if index.isdecimal() else index
    raise PortError(f"invalid port index {index!r}: expected an int or a string")


class _NoDefault:
    """The ``default`` of a port that declares none (``None`` is a default like any other)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class PortSpec:
    """A port as a component class declares it."""

    name: str
    datatype: str = "all"
    description: str = ""
    addressable: bool = False
    required: bool = False
    #: Former names, still accepted (with a deprecation warning) for a release.
    aliases: tuple[str, ...] = ()
    #: A configuration inport's value when no IIP gives one (``Component.conf`` returns it).
    default: Any = NO_DEFAULT

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "aliases", tuple(alias.lower() for alias in self.aliases))

    def describe(self) -> dict[str, Any]:
        """The port as ``component:component`` reports it."""
        info: dict[str, Any] = {"id": self.name, "type": self.datatype}
        if self.description:
            info["description"] = self.description
        if self.addressable:
            info["addressable"] = True
        if self.required:
            info["required"] = True
        return info

    @property
    def optional_config(self) -> bool:
        """An inport that configures its process and may be left without an IIP: it declares
        a ``default``, or it is a ``conf`` port that is not ``required`` (flowd's convention,
        the options' defaults living in the component). Something that binds a graph's ports
        to the outside (a MsgFlo participant) leaves these unbound: a bound one would make
        the process wait for its configuration from outside."""
        if self.required:
            return False
        return self.default is not NO_DEFAULT or self.name == "conf"


def find_port(specs: Mapping[str, PortSpec], name: Any, owner: str = "") -> PortSpec | None:
    """The port called ``name`` (any case) among ``specs`` (name -> spec), or the port that
    was called so before it was renamed (see ``PortSpec.aliases``, a warning); None if none
    is."""
    key = str(name).lower()
    spec = specs.get(key)
    if spec is not None:
        return spec
    for spec in specs.values():
        if key in spec.aliases:
            warn_renamed(owner, key, spec.name)
            return spec
    return None


def warn_renamed(owner: str, old: str, new: str, what: str = "port") -> None:
    """Log once per process that ``owner`` (a component name) calls ``old`` ``new`` now."""
    with _warned_lock:
        if (owner, what, old) in _warned:
            return
        _warned.add((owner, what, old))
    log.warning(
        "%s: %s %r is deprecated, it is called %r now (the old name goes in the next release)",
        owner or "a component",
        what,
        old,
        new,
    )


class InPort(PortSpec):
    """Declares an input port."""


class OutPort(PortSpec):
    """Declares an output port."""


def slot_order(slot: Index) -> tuple[int, Any]:
    """Sort key of slot indexes: numbers first, in order, then names."""
    return (0, slot) if isinstance(slot, int) else (1, str(slot))
