"""Finds components: the component library (``flowpy_components``) and the entry points.

Names carry a library prefix (``components/core/repeat.py`` defining ``Repeat`` is
``core/Repeat``); other packages publish components in the entry-point group
``flowpy.components``, by full name or by library prefix. Discovery is lazy: ``discover``
only notes how to load each prefix, and a library is imported the first time a name with
its prefix is asked for (every library only when the whole list is, or a name is unknown),
so a graph imports only the libraries it uses. A library that cannot load is a warning and
in ``load_errors``, never a silent skip.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import threading
from collections.abc import Callable
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from flowpy.errors import unknown_name

from .component import Component

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flowpy.components"
#: The import name of the component library (the repository's ``components/`` folder).
LIBRARY_PACKAGE = "flowpy_components"


class Registry:
    """Component classes by name. Thread-safe; ``register`` also serves setsource and subgraphs."""

    def __init__(self, discover: bool = True) -> None:
        self._classes: dict[str, type[Component]] = {}
        self._lock = threading.Lock()
        #: How to load each library not loaded yet, by lower-case prefix.
        self._unloaded: dict[str, list[Callable[[], None]]] = {}
        self._loading = threading.RLock()  # one loader at a time; a loader may register
        self.load_errors: dict[str, str] = {}
        if discover:
            self.discover()

    def discover(self) -> None:
        """Note the library package and every entry-point library, to load on first use."""
        self._scan_package(LIBRARY_PACKAGE)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._note(_prefix(ep.name) or ep.name, partial(self._load_entry, ep))

    def _note(self, prefix: str, loader: Callable[[], None]) -> None:
        with self._loading:
            self._unloaded.setdefault(prefix.lower(), []).append(loader)

    def _load(self, prefix: str) -> None:
        """Import the library ``prefix`` (any case) if it is not imported yet."""
        with self._loading:
            loaders = self._unloaded.pop(prefix.lower(), [])
            for loader in loaders:
                loader()

    def _load_all(self) -> None:
        with self._loading:
            for prefix in list(self._unloaded):
                self._load(prefix)

    def _load_entry(self, ep: EntryPoint) -> None:
        try:
            target = ep.load()
        except Exception as exc:  # a broken plugin must not take the runtime down
            self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("cannot load component entry point %s: %s", ep.name, exc)
            return
        if isinstance(target, ModuleType):
            self._register_module(target, ep.name)
        elif inspect.isclass(target) and issubclass(target, Component):
            self._add(ep.name, target)

    def _scan_package(self, package_name: str) -> None:
        """Note every library (sub)package of ``package_name``, importing none of them."""
        try:
            package = importlib.import_module(package_name)
        except ImportError as exc:
            self.load_errors[package_name] = str(exc)
            return
        self._warn_about_folders_without_init(package)
        for root in map(Path, package.__path__):
            for init in sorted(root.rglob("__init__.py")):
                parts = init.parent.relative_to(root).parts
                if parts and not any(part.startswith((".", "_")) for part in parts):
                    module = ".".join((package.__name__, *parts))
                    library = "/".join(parts)
                    self._note(library, partial(self._load_library, module, library))

    def _load_library(self, package_name: str, library: str) -> None:
        try:
            package = importlib.import_module(package_name)
        except Exception as exc:
            self.load_errors[package_name] = f"{type(exc).__name__}: {exc}"
            log.warning("cannot import %s: %s", package_name, exc)
            return
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.ispkg:
                continue  # a library of its own
            try:
                module = importlib.import_module(info.name)
            except Exception as exc:
                self.load_errors[info.name] = f"{type(exc).__name__}: {exc}"
                log.warning("cannot import %s: %s", info.name, exc)
                continue
            self._register_module(module, library)

    def _warn_about_folders_without_init(self, package: ModuleType) -> None:
        for root in map(Path, package.__path__):
            for folder in sorted(root.rglob("*")):
                if not folder.is_dir() or folder.name.startswith((".", "_")):
                    continue
                if any(folder.glob("*.py")) and not (folder / "__init__.py").exists():
                    where = folder.relative_to(root).as_posix()
                    message = (
                        f"library folder {where} of {package.__name__} has no __init__.py: "
                        "its components are not loaded (add an empty __init__.py)"
                    )
                    self.load_errors[f"{package.__name__}/{where}"] = message
                    log.warning("%s", message)

    def _register_module(self, module: ModuleType, library: str) -> None:
        for cls in vars(module).values():
            if (
                inspect.isclass(cls)
                and issubclass(cls, Component)
                and cls is not Component
                and cls.__module__ == module.__name__
                and not getattr(cls, "abstract", False)
            ):
                self._add(f"{library}/{cls.__name__}", cls)

    def register(self, name: str, cls: type[Component]) -> None:
        """Add or replace ``name``; its library is loaded first, so what is registered here
        wins over the library's own class of that name, as when discovery was eager."""
        self._load(_prefix(name))
        self._add(name, cls)

    def _add(self, name: str, cls: type[Component]) -> None:
        with self._lock:
            self._classes[name] = cls
        if not cls.component_name:
            cls.component_name = name

    def unregister(self, name: str) -> None:
        """Forget the class registered as ``name`` (a removed subgraph or source)."""
        self._load(_prefix(name))
        with self._lock:
            self._classes.pop(name, None)

    def get(self, name: str) -> type[Component]:
        """The class registered as ``name``. Names match without regard to case, as port
        names do (``core/range`` is ``core/Range``); an exact match wins when two names differ
        only in case. KeyError says what was meant when the name is close to a known one."""
        self._load(_prefix(name))
        found = self._find(name)
        if found is None and self._unloaded:
            self._load_all()  # a library of another name may hold it, and the error lists all
            found = self._find(name)
        if found is not None:
            return found
        with self._lock:
            same = [known for known in self._classes if known.lower() == name.lower()]
            known_names = list(self._classes)
        if same:
            raise KeyError(f"component {name!r} is ambiguous: {', '.join(sorted(same))}")
        raise KeyError(unknown_name("component", name, known_names))

    def _find(self, name: str) -> type[Component] | None:
        with self._lock:
            found = self._classes.get(name)
            if found is not None:
                return found
            same = [known for known in self._classes if known.lower() == name.lower()]
            return self._classes[same[0]] if len(same) == 1 else None

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._load(_prefix(name))
        with self._lock:
            return name in self._classes

    def names(self) -> list[str]:
        """Every registered name, sorted; loads every library first."""
        self._load_all()
        with self._lock:
            return sorted(self._classes)

    def describe(self, name: str) -> dict[str, Any]:
        """The component:component payload describing ``name``."""
        return self.get(name).describe(name)

    def describe_all(self) -> list[dict[str, Any]]:
        """The component:component payloads of every registered component."""
        return [self.describe(name) for name in self.names()]


def _prefix(name: str) -> str:
    """The library prefix of a component name: ``core`` of ``core/Repeat``."""
    return name.rpartition("/")[0]


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry, discovered on first use."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
