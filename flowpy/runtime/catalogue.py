"""What a runtime offers as components beyond its Python library: graphs, files and sources.

Every hosted graph but the main one is a subgraph component, so are the files of the
components directory (read through :mod:`flowpy.graphs.files`), and ``component:source``
compiles code into one. The catalogue only registers and unregisters, never takes a name
another component holds, and returns the names it changed; the runtime announces them.
Naming: docs/graphs.md.
"""

from __future__ import annotations

import inspect
import linecache
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flowpy.engine.component import Component
from flowpy.engine.component_files import ComponentFileError
from flowpy.engine.registry import Registry
from flowpy.engine.subgraph import is_subgraph, subgraph_class
from flowpy.errors import FlowpyError
from flowpy.graphs.files import DEFAULT_GRAPH_LIBRARY, component_files, file_components

log = logging.getLogger(__name__)

SOURCE_MODULE_PREFIX = "flowpy_sources."


class ComponentSourceError(FlowpyError):
    """Source code that does not make a component (it fails to compile or to load, or it
    defines no Component subclass, or several)."""


def graph_component_name(graph_id: str, graph: Any) -> str:
    """The component name of a hosted graph: ``<library>/<id>``, or the id if it has a ``/``."""
    if "/" in graph_id:
        return graph_id
    library = (getattr(graph, "properties", None) or {}).get("library")
    if not isinstance(library, str) or not library.strip("/"):
        library = DEFAULT_GRAPH_LIBRARY
    return f"{library.strip('/')}/{graph_id}"


def compile_component(full: str, code: str) -> type[Component]:
    """The Component subclass defined by Python ``code`` for the component ``full``;
    ComponentSourceError saying why if there is none (or the code fails)."""
    short = full.rpartition("/")[2]
    safe = "".join(ch if ch.isalnum() else "_" for ch in full)
    module_name = SOURCE_MODULE_PREFIX + safe
    filename = f"<component {full}>"
    try:
        compiled = compile(code, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        raise ComponentSourceError(f"cannot compile component {full!r}: {exc}") from None
    module = types.ModuleType(module_name)
    module.__file__ = filename
    # inspect and tracebacks find the source through linecache.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        exec(compiled, module.__dict__)
    except Exception as exc:
        raise ComponentSourceError(
            f"component {full!r} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Component)
        and value is not Component
        and value.__module__ == module_name
    ]
    chosen = [c for c in classes if c.__name__ == short] or classes
    if len(chosen) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise ComponentSourceError(
            f"component {full!r}: the source must define one Component subclass "
            f"(preferably named {short!r}); found {found}"
        )
    sys.modules[module_name] = module
    return chosen[0]


class Catalogue:
    """The graph, file and source components of one runtime. Thread-safe."""

    def __init__(
        self, registry: Registry, components_dir: Path | None, problem: Callable[..., None]
    ) -> None:
        self.registry = registry
        self.components_dir = components_dir
        self._problem = problem
        self._lock = threading.RLock()
        #: Source code of components compiled from component:source, by full name.
        self.sources: dict[str, str] = {}
        #: Graph components registered here: name -> owner (("graph", id) or ("file",
        #: path)), so the catalogue never replaces or removes a component it did not make.
        self._owners: dict[str, tuple[str, Any]] = {}
        self._graph_components: dict[str, str] = {}  # hosted graph id -> component name
        #: Files of components_dir: path -> ((mtime, size), the names it registered).
        self._file_components: dict[Path, tuple[tuple[int, int], tuple[str, ...]]] = {}

    # -- sources -----------------------------------------------------------------------------
    def add_source(self, full: str, code: str) -> type[Component]:
        """Compile and register ``code`` as ``full``; ComponentSourceError if it cannot be."""
        owner = self.owner(full)
        if owner is not None:
            kind = "a graph component" if owner[0] == "graph" else f"loaded from {owner[1]}"
            raise ComponentSourceError(f"{full!r} is {kind}: change that instead")
        cls = compile_component(full, code)
        self.registry.register(full, cls)
        with self._lock:
            self.sources[full] = code
        return cls

    def load_sources(self, sources: dict[str, str], where: Path) -> None:
        """Compile persisted sources again; the ones that fail are reported and skipped."""
        for full, code in sorted(sources.items()):
            try:
                self.add_source(full, code)
            except ComponentSourceError as exc:
                self._problem(f"{where}: {exc}")

    # -- graphs as components ----------------------------------------------------------------
    def sync_graphs(self, graphs: dict[str, Any], main: str | None) -> list[str]:
        """Register every graph (id -> graph model) but the main one as a subgraph component,
        and only those; the names that are new or renamed."""
        changed = []
        with self._lock:
            for graph_id in sorted(set(graphs) | set(self._graph_components)):
                graph = graphs.get(graph_id)
                wanted = None
                if graph is not None and graph_id != main:
                    wanted = graph_component_name(graph_id, graph)
                old = self._graph_components.get(graph_id)
                if old == wanted and (wanted is None or self.component_graph(wanted) is graph):
                    continue
                owner = ("graph", graph_id)
                if old is not None:
                    self._release(old, owner)
                    del self._graph_components[graph_id]
                if wanted is not None and self._claim(wanted, owner, graph):
                    self._graph_components[graph_id] = wanted
                    changed.append(wanted)
        return changed

    def component_of_graph(self, graph_id: str) -> str | None:
        """The component name a hosted graph is offered under, or None (the main graph, a clash)."""
        with self._lock:
            return self._graph_components.get(graph_id)

    def refresh_files(self) -> list[str]:
        """(Re)read the graph and Python files of ``components_dir`` that are new or changed;
        the names registered anew."""
        directory = self.components_dir
        if directory is None:
            return []
        try:
            paths = component_files(directory) if directory.is_dir() else []  # gone: none left
        except OSError as exc:
            self._problem(f"cannot read the components directory {directory}: {exc}")
            return []
        changed: list[str] = []
        with self._lock:
            for path in paths:
                try:
                    info = path.stat()
                except OSError:
                    continue
                stamp = (info.st_mtime_ns, info.st_size)
                cached = self._file_components.get(path)
                if cached is not None and cached[0] == stamp:
                    continue
                owner = ("file", path)
                for old in cached[1] if cached is not None else ():
                    self._release(old, owner)
                names = tuple(self._load_file(directory, path, owner))
                changed.extend(names)
                self._file_components[path] = (stamp, names)
            for path in set(self._file_components) - set(paths):
                _, names = self._file_components.pop(path)
                for name in names:
                    self._release(name, ("file", path))
        return changed

    def _load_file(self, directory: Path, path: Path, owner: tuple[str, Any]) -> Iterable[str]:
        """Register what one file of ``components_dir`` offers; the names it got."""
        try:
            classes = file_components(directory, path)
        except ComponentFileError as exc:
            self._problem(str(exc))
            return
        for name, cls in classes.items():
            if self._claim(name, owner, cls):
                yield name

    def owner(self, name: str) -> tuple[str, Any] | None:
        """``("graph", id)`` or ``("file", path)`` if ``name`` is a graph component of ours."""
        with self._lock:
            return self._owners.get(name)

    def component_graph(self, name: str) -> Any:
        """The graph behind subgraph component ``name`` (None if it is not one)."""
        try:
            cls = self.registry.get(name)
        except KeyError:
            return None
        return cls.graph if is_subgraph(cls) else None

    def walk(self, name: str) -> Iterator[tuple[str, str | None]]:
        """``(name, None)``, then, if ``name`` is a graph component, ``(component, the graph
        component whose node uses it)`` for every node of its graph and of the graphs within
        it, at any depth (each graph once): what instantiating ``name`` instantiates."""
        yield name, None
        seen: set[int] = set()
        stack = [(name, self.component_graph(name))]
        while stack:
            owner, graph = stack.pop()
            if graph is None or id(graph) in seen:
                continue
            seen.add(id(graph))
            with graph.lock:
                components = [node.component for node in graph.nodes.values()]
            for component in components:
                yield component, owner
                stack.append((component, self.component_graph(component)))

    def registered_name(self, name: str) -> str:
        """The name ``name`` is registered under (the registry finds names in any case), or
        ``name`` itself if it is not registered."""
        try:
            return self.registry.get(name).component_name or name
        except KeyError:
            return name

    def contains_graph(self, outer: Any, inner: Any) -> bool:
        """Does ``outer`` use ``inner`` as a subgraph, at any depth? (Cheap: follows only
        subgraph nodes, each graph once.)"""
        seen: set[int] = set()
        stack = [outer]
        while stack:
            graph = stack.pop()
            if graph is inner:
                return True
            if id(graph) in seen:
                continue
            seen.add(id(graph))
            with graph.lock:
                components: Iterable[str] = [node.component for node in graph.nodes.values()]
            for component in components:
                sub = self.component_graph(component)
                if sub is not None:
                    stack.append(sub)
        return False

    def _claim(self, name: str, owner: tuple[str, Any], made: Any) -> bool:
        """Register ``made`` (a graph, or a Component class from a file) as component ``name``
        unless somebody else has that name."""
        what = (
            "graph"
            if owner[0] == "graph" or not isinstance(made, type) or is_subgraph(made)
            else "file"
        )
        holder = self._owners.get(name)
        if holder is None and name in self.registry:
            self._problem(
                f"{what} {owner[1]} is not offered as component {name!r}: "
                "a component of that name exists",
                log_only=True,
            )
            return False
        if holder is not None and holder != owner:
            self._problem(
                f"{what} {owner[1]} is not offered as component {name!r}: "
                f"{holder[0]} {holder[1]} is",
                log_only=True,
            )
            return False
        self._owners[name] = owner
        cls = made if isinstance(made, type) else subgraph_class(name, made)
        self.registry.register(name, cls)
        return True

    def _release(self, name: str, owner: tuple[str, Any]) -> None:
        if self._owners.get(name) == owner:
            del self._owners[name]
            self.registry.unregister(name)
