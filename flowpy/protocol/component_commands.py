"""The component sub-protocol: list the library, show a component's source, compile a new one.

``component:source`` executes code sent by a client, so only clients holding the
``component:setsource`` capability may use it, and no client holds it unless an operator
grants it by name (see flowpy.permissions).
"""

from __future__ import annotations

import inspect
import json
import linecache
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

from flowpy import wire
from flowpy.engine.component import Component
from flowpy.engine.subgraph import is_subgraph

from .fields import ProtocolError, Request, string

if TYPE_CHECKING:
    from flowpy.runtime.core import Runtime

log = logging.getLogger(__name__)

PYTHON = ("python", "python3", "py")
SOURCE_MODULE_PREFIX = "flowpy_sources."


def list_(rt: Runtime, req: Request, payload: dict) -> None:
    """One ``component:component`` per component, then ``componentsready`` with the count.

    Graphs other than the main one are among them (``subgraph: true``), and so are the graph
    files of the components directory, read again now so a new file shows up.
    """
    rt.refresh_components_dir(announce=False)
    count = 0
    for name in rt.registry.names():
        try:
            info = rt.registry.describe(name)
        except Exception:  # a broken component class must not hide the others
            log.exception("cannot describe component %s", name)
            continue
        rt.reply(req, "component", wire.jsonable(info))
        count += 1
    rt.reply(req, "componentsready", count)


def _resolve(rt: Runtime, name: str) -> str | None:
    """The registered full name for ``name`` (``core/Repeat``, or ``Repeat`` if unambiguous)."""
    if name in rt.registry:
        return name
    matches = [full for full in rt.registry.names() if full.rpartition("/")[2] == name]
    return matches[0] if len(matches) == 1 else None


def getsource(rt: Runtime, req: Request, payload: dict) -> None:
    """The Python module defining a component, the source compiled with ``component:source``,
    or the JSON of a graph (a subgraph component, or a hosted graph by its id)."""
    from flowpy.graphs import json_format as graph_json

    name = string(payload, "name")
    assert name is not None
    full = _resolve(rt, name)
    if full is None:
        hosted = rt.get_graph(name)
        if hosted is None:
            raise ProtocolError(f"component {name!r} not found")
        code = json.dumps(graph_json.dump(hosted.graph), indent=2)
        rt.reply(req, "source", {"name": name, "language": "json", "code": code})
        return
    library, _, short = full.rpartition("/")
    cls = rt.registry.get(full)
    if is_subgraph(cls):
        code = json.dumps(graph_json.dump(cls.graph), indent=2)
        reply: dict[str, Any] = {"name": short, "language": "json", "code": code}
        if library:
            reply["library"] = library
        rt.reply(req, "source", reply)
        return
    code = rt.component_sources.get(full)
    if code is None:
        try:
            module = sys.modules.get(cls.__module__)
            code = inspect.getsource(module) if module is not None else inspect.getsource(cls)
        except (OSError, TypeError) as exc:
            raise ProtocolError(f"source of component {full!r} is not available: {exc}") from None
    reply = {"name": short, "language": "python", "code": code}
    if library:
        reply["library"] = library
    rt.reply(req, "source", reply)


def source(rt: Runtime, req: Request, payload: dict) -> None:
    """Compile Python source, register the Component subclass it defines, announce it."""
    name = string(payload, "name")
    language = string(payload, "language")
    code = string(payload, "code", empty=True)
    library = string(payload, "library", required=False, empty=True)
    string(payload, "tests", required=False, empty=True)
    assert name is not None and language is not None and code is not None
    if language.lower() not in PYTHON:
        raise ProtocolError(f"cannot compile {language[:32]!r} components: flowpy compiles python")
    full = f"{library}/{name}" if library else name
    if rt.graph_component_owner(full) is not None:
        raise ProtocolError(f"{full!r} is a graph component: change the graph instead")
    cls = compile_component(full, code)
    rt.registry.register(full, cls)
    rt.component_sources[full] = code
    info = wire.jsonable(cls.describe(full))
    rt.reply(req, "component", info)
    others = [c for c in rt.clients() if c is not req.client]
    rt.broadcast("component", "component", info, "component", only=others)


def compile_component(full: str, code: str) -> type[Component]:
    """The Component subclass defined by Python ``code`` for the component ``full``;
    ProtocolError saying why if there is none (or the code fails)."""
    short = full.rpartition("/")[2]
    safe = "".join(ch if ch.isalnum() else "_" for ch in full)
    module_name = SOURCE_MODULE_PREFIX + safe
    filename = f"<component {full}>"
    try:
        compiled = compile(code, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        raise ProtocolError(f"cannot compile component {full!r}: {exc}") from None
    module = types.ModuleType(module_name)
    module.__file__ = filename
    # inspect and tracebacks find the source through linecache.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        exec(compiled, module.__dict__)
    except Exception as exc:
        raise ProtocolError(
            f"component {full!r} failed to load: {type(exc).__name__}: {exc}") from None
    classes = [
        value for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, Component) and value is not Component
        and value.__module__ == module_name
    ]
    chosen = [c for c in classes if c.__name__ == short] or classes
    if len(chosen) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise ProtocolError(
            f"component {full!r}: the source must define one Component subclass "
            f"(preferably named {short!r}); found {found}")
    sys.modules[module_name] = module
    return chosen[0]


COMMANDS = {
    "list": list_,
    "getsource": getsource,
    "source": source,
}
