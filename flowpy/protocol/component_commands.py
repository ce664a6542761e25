"""The component sub-protocol: list the library, show a component's source, compile a new one.

``component:source`` executes code sent by a client, so only clients holding the
``component:setsource`` capability may use it, and no client holds it unless an operator
grants it by name (see flowpy.runtime.permissions).
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, cast

from flowpy import wire
from flowpy.engine.subgraph import is_subgraph
from flowpy.runtime.catalogue import ComponentSourceError
from flowpy.runtime.clients import Request

from .component_rules import refuse_forbidden
from .fields import ProtocolError, string

if TYPE_CHECKING:
    from flowpy.graphs.model import Graph

    from .host import Handler, Host

log = logging.getLogger(__name__)

PYTHON = ("python", "python3", "py")


def list_(rt: Host, req: Request, payload: dict[str, Any]) -> None:
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


def _resolve(rt: Host, name: str) -> str | None:
    """The registered full name for ``name`` (``core/Repeat``, or ``Repeat`` if unambiguous)."""
    if name in rt.registry:
        return name
    matches = [full for full in rt.registry.names() if full.rpartition("/")[2] == name]
    return matches[0] if len(matches) == 1 else None


def getsource(rt: Host, req: Request, payload: dict[str, Any]) -> None:
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
        # the catalogue makes subgraph components of model graphs only
        code = json.dumps(graph_json.dump(cast("Graph", cls.graph)), indent=2)
        reply: dict[str, Any] = {"name": short, "language": "json", "code": code}
        if library:
            reply["library"] = library
        rt.reply(req, "source", reply)
        return
    source = rt.component_sources.get(full)
    if source is not None:
        code = source
    else:
        try:
            module = sys.modules.get(cls.__module__)
            code = inspect.getsource(module) if module is not None else inspect.getsource(cls)
        except (OSError, TypeError) as exc:
            raise ProtocolError(f"source of component {full!r} is not available: {exc}") from None
    reply = {"name": short, "language": "python", "code": code}
    if library:
        reply["library"] = library
    rt.reply(req, "source", reply)


def source(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Compile Python source, register the Component subclass it defines, announce it.
    The name must be one the sender's ``components`` rule allows (checked first)."""
    name = string(payload, "name")
    language = string(payload, "language")
    code = string(payload, "code", empty=True)
    library = string(payload, "library", required=False, empty=True)
    string(payload, "tests", required=False, empty=True)
    assert name is not None and language is not None and code is not None
    if language.lower() not in PYTHON:
        raise ProtocolError(f"cannot compile {language[:32]!r} components: flowpy compiles python")
    full = f"{library}/{name}" if library else name
    refuse_forbidden(rt, req.grant, full)
    try:
        info = rt.add_component_source(full, code)
    except ComponentSourceError as exc:
        raise ProtocolError(str(exc)) from None
    rt.reply(req, "component", info)
    others = [c for c in rt.clients() if c is not req.client]
    rt.broadcast("component", "component", info, "component", only=others)


COMMANDS: dict[str, Handler] = {
    "list": list_,
    "getsource": getsource,
    "source": source,
}
