"""The Component base class: declared ports, metadata, and a run() executed in its own thread.

A component author writes a class with ``inports``/``outports`` declarations and a ``run()``
that reads and sends IPs. No threading, locking or protocol code is needed: the network
creates one instance per node, binds its ports and runs it in a thread named after the node.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from . import ports as _ports
from .connection import EndOfStream
from .deprecation import deprecated

#: The graph property naming the directory a graph's relative paths are relative to: set by
#: ``read_graph_file`` to the graph file's directory (a relative value there is relative to it).
BASE_DIR_PROPERTY = "baseDir"


class ProcessContext:
    """What a running process may ask of its network (console output, the graph's base
    directory); set by the network."""

    #: Where relative paths in the graph point from; None: the current directory.
    base_dir: str | None = None

    def console(self, node_id: str, text: str) -> None:
        """Print a process's console output on stdout; the protocol runtime overrides it."""
        print(text, flush=True)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Strict JSON: NaN and Infinity are not JSON numbers (flowpy's JSON policy refuses them).
_CONF_DECODER = json.JSONDecoder(parse_constant=_not_json)


def conf_value(value: Any) -> Any:
    """What a configuration IIP means: text that is JSON is decoded (``'{"stop": 10}'`` is
    that object, ``'10'`` the number, ``'true'`` the boolean, ``'"x"'`` the text ``x``); text
    that is not JSON is returned unchanged, and so is every value that is not text. One rule
    for every component, whether the IIP came from a ``.fbp`` file (always text), a JSON graph
    or a protocol client."""
    if not isinstance(value, str):
        return value
    try:
        decoded = _CONF_DECODER.decode(value)
    except (ValueError, RecursionError):
        return value
    if isinstance(decoded, float) and not math.isfinite(decoded):
        return value  # 1e400: beyond a double, so not a JSON number flowpy accepts
    return decoded


#: What a component may declare in ``reaches``: it starts programs (``exec``), reads or
#: writes the file system (``files``), or talks to other hosts or runtimes (``network``).
REACHES: tuple[str, ...] = ("exec", "files", "network")


class Component:
    """Base class of every component. Subclasses declare ports and implement ``run()``::

        class Repeat(Component):
            # Forwards every IP from `in` to `out`, brackets included (say so in a docstring).
            inports = InPorts(InPort("in", description="anything"))
            outports = OutPorts(OutPort("out", description="the same IPs, in order"))

            def run(self) -> None:
                for ip in self.inports["in"]:      # ends when every upstream has closed
                    self.outports["out"].send(ip)  # blocks while downstream is full

    While running, ``self.inports`` and ``self.outports`` map (case-insensitive) port names to
    bound ports (:class:`~flowpy.engine.ports.InputPort` / ``OutputPort``); ``self.stopping``
    is set when the network stops, for loops that wait on something other than a port.

    One vocabulary (docs/writing-components.md): IPs are made with ``IP.make_data(value)``,
    ``IP.open(group)`` and ``IP.close(group)`` and told apart with ``ip.is_data`` /
    ``ip.is_open`` / ``ip.is_close``; an inport is read by iterating it, ``recv()`` or
    ``recv_many()``, an outport written with ``send(ip)``, ``send_data(value)`` or
    ``send_many(ips)``; ``run()`` ends at end-of-stream by iterating its inports (or by
    letting ``EndOfStream`` from ``recv()`` propagate: the network takes it as a normal
    end); options come from the ``conf`` IIP through :meth:`options` (or :meth:`conf` for a
    single value). The common shapes, one data IP in and one out or an aggregate per
    substream, are the base classes of :mod:`flowpy.engine.shapes`.
    """

    description: ClassVar[str] = ""
    icon: ClassVar[str] = ""
    inports: _ports.InPorts = _ports.InPorts()
    outports: _ports.OutPorts = _ports.OutPorts()
    #: Set by the registry: the name this class is registered under (``core/Repeat``).
    component_name: ClassVar[str] = ""
    #: True for a component whose work mostly runs outside the GIL (C extensions that release
    #: it, child processes): its thread is left on every CPU even when the runtime keeps its
    #: networks on one (see :mod:`flowpy.engine.cpus`).
    parallel: ClassVar[bool] = False
    #: How the component reaches outside the process, in the words of :data:`REACHES`
    #: (``("exec",)`` for one that starts programs); empty for one that only computes.
    #: ``flowpy components`` shows it, so an operator writing a ``components`` rule for a
    #: secret knows which components to exclude.
    reaches: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = [word for word in cls.reaches if word not in REACHES]
        if unknown or not isinstance(cls.reaches, tuple):
            raise TypeError(
                f"{cls.__name__}.reaches must be a tuple of {', '.join(REACHES)}; "
                f"got {cls.reaches!r}"
            )
        # Older components declare plain lists of InPort/OutPort: the same declaration, kept
        # for a release.
        for attribute, kind in (("inports", _ports.InPorts), ("outports", _ports.OutPorts)):
            declared = cls.__dict__.get(attribute)
            if isinstance(declared, (list, tuple)):
                deprecated(f"a list as {attribute}", f"{attribute} = {kind.__name__}(...)")
                setattr(cls, attribute, kind(*declared))

    def __init__(
        self,
        node_id: str,
        inports: _ports.InPorts | None = None,
        outports: _ports.OutPorts | None = None,
        context: ProcessContext | None = None,
    ) -> None:
        self.node_id = node_id
        self.inports = inports if inports is not None else type(self).inports.bind({})
        self.outports = outports if outports is not None else type(self).outports.bind({})
        self.stopping = threading.Event()
        #: Set by the network just before ``stopping``: the monotonic time by which it
        #: expects this thread to have ended (see :meth:`time_to_stop`).
        self.stop_deadline: float | None = None
        self._context = context or ProcessContext()

    # -- options ---------------------------------------------------------------------------
    def conf(self, port: str = "conf", default: Any = _ports.NO_DEFAULT) -> Any:
        """The value of the IIP on ``port`` (``conf`` by default, flowd's convention for a
        component's options), or ``default`` when the port is not connected or ends without
        one (without ``default``: the ``default`` the port declares, else None). Read by
        :func:`conf_value`: text that is JSON is decoded, so a ``.fbp`` IIP
        (always text) means what the same value means in a JSON graph; text that is not JSON
        (``[?a > `1`]``, ``Hello {name}``, ``ws://host:3569``) comes back as it is."""
        found, raw = self._read_iip(port)
        if found:
            return conf_value(raw)
        if default is _ports.NO_DEFAULT:
            spec = type(self).port_specs("in").get(port.lower())
            default = None if spec is None or spec.default is _ports.NO_DEFAULT else spec.default
        return default

    def options(
        self,
        defaults: Mapping[str, Any],
        scalar: str | None = None,
        port: str = "conf",
        text: bool = False,
    ) -> dict[str, Any]:
        """The options of this process: ``defaults`` updated from the ``conf`` IIP (read as
        :meth:`conf` reads it), which may be an object of options or, where ``scalar`` names
        the one obvious option, a plain value for it. With ``text`` that option is text (an
        expression, a template, a separator): conf text is taken as written unless it is a
        JSON object, so ``'[0]'`` stays the text ``[0]``. Unknown options and a conf of
        another shape are a ValueError naming them (the process fails with that message)."""
        found, raw = self._read_iip(port)
        value = conf_value(raw) if found else None
        if text and isinstance(raw, str) and not isinstance(value, Mapping):
            value = raw
        merged = dict(defaults)
        if value is None:
            return merged
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(defaults))
            if unknown:
                raise ValueError(
                    f"{self.node_id}: unknown {port} option(s) {unknown} "
                    f"(known: {', '.join(sorted(defaults))})"
                )
            merged.update(value)
        elif scalar is not None:
            merged[scalar] = value
        else:
            raise ValueError(
                f"{self.node_id}: {port} must be an object of options "
                f"({', '.join(sorted(defaults))}), got {value!r}"
            )
        return merged

    def _read_iip(self, port: str) -> tuple[bool, Any]:
        """(True, payload) of the first data IP on ``port``; (False, None) when the port is
        not connected or ends without one."""
        if port not in self.inports or not self.inports[port].is_connected:
            return False, None
        try:
            return True, self.inports[port].recv_option()
        except EndOfStream:
            return False, None

    def time_to_stop(self, wanted: float) -> float:
        """Seconds a process may spend winding down after a stop (closing a link, flushing
        a file): ``wanted``, but never past the network's stop deadline (with a margin, so
        the join still sees the thread end)."""
        if self.stop_deadline is None:
            return wanted
        left = (self.stop_deadline - time.monotonic()) * 0.8
        return max(0.0, min(wanted, left))

    def run(self) -> None:
        """The process body, run in the process's own thread; every component overrides it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    def console(self, text: str) -> None:
        """Console output: stdout under ``flowpy run``, ``network:output`` over the protocol."""
        self._context.console(self.node_id, text)

    def path(self, value: str) -> str:
        """A path the graph gives (a file to read or write, a working directory) as this
        process should open it: a relative path is relative to the graph's base directory,
        the directory of the graph file it came from (see ``BASE_DIR_PROPERTY``), so a graph
        works from wherever it is run; an absolute path, and any path of a graph that came
        from no file, is returned as it is. Send on the path as given, not this one: what
        comes downstream resolves it again the same way."""
        base = self._context.base_dir
        if base is None or os.path.isabs(value):
            return value
        return os.path.join(base, value)

    # -- metadata ------------------------------------------------------------------------
    @classmethod
    def port_specs(cls, direction: str) -> dict[str, _ports.PortSpec]:
        """The declared ports of ``direction`` ("in" or "out") by name, for wiring and describe."""
        declared = cls.inports if direction == "in" else cls.outports
        return {spec.name: spec for spec in declared.specs}

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
            "inPorts": [spec.describe() for spec in cls.inports.specs],
            "outPorts": [spec.describe() for spec in cls.outports.specs],
        }
        if cls.icon:
            info["icon"] = cls.icon
        return info


__all__ = ["Component", "ProcessContext", "conf_value"]

#: The port declarations were importable from here too: one import path now, ``flowpy``.
_MOVED = ("InPort", "InPorts", "OutPort", "OutPorts")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        deprecated(f"importing {name} from flowpy.engine.component", f"from flowpy import {name}")
        return getattr(_ports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
