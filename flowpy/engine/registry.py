"""Finds components: the component library (``flowpy_components``) and the entry points.

Names carry a library prefix: ``components/core/repeat.py`` (the repository folder,
installed as the package ``flowpy_components``, a name no other project uses) defining
``Repeat`` is ``core/Repeat``. A library folder without ``__init__.py`` is not a package and
cannot be loaded: that is a warning (and in ``load_errors``), never a silent skip.
Another installed package publishes components with an entry point in the
group ``flowpy.components``: its name is either a full component name (``mylib/Thing``)
pointing at a class, or a library prefix (``mylib``) pointing at a module.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import threading
from importlib.metadata import entry_points
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
        self.load_errors: dict[str, str] = {}
        if discover:
            self.discover()

    def discover(self) -> None:
        self._scan_package(LIBRARY_PACKAGE)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
            except Exception as exc:  # a broken plugin must not take the runtime down
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                log.warning("cannot load component entry point %s: %s", ep.name, exc)
                continue
            if isinstance(target, ModuleType):
                self._register_module(target, ep.name)
            elif inspect.isclass(target) and issubclass(target, Component):
                self.register(ep.name, target)

    def _scan_package(self, package_name: str) -> None:
        try:
            package = importlib.import_module(package_name)
        except ImportError as exc:
            self.load_errors[package_name] = str(exc)
            return
        prefix = package.__name__ + "."
        self._warn_about_folders_without_init(package)
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.ispkg:
                continue
            parts = info.name.split(".")
            if len(parts) < 3:
                continue  # modules directly under components/ have no library
            try:
                module = importlib.import_module(info.name)
            except Exception as exc:
                self.load_errors[info.name] = f"{type(exc).__name__}: {exc}"
                log.warning("cannot import %s: %s", info.name, exc)
                continue
            self._register_module(module, "/".join(parts[1:-1]))

    def _warn_about_folders_without_init(self, package: ModuleType) -> None:
        for root in map(Path, package.__path__):
            for folder in sorted(root.rglob("*")):
                if not folder.is_dir() or folder.name.startswith((".", "_")):
                    continue
                if any(folder.glob("*.py")) and not (folder / "__init__.py").exists():
                    where = folder.relative_to(root).as_posix()
                    message = (f"library folder {where} of {package.__name__} has no __init__.py: "
                               "its components are not loaded (add an empty __init__.py)")
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
                self.register(f"{library}/{cls.__name__}", cls)

    def register(self, name: str, cls: type[Component]) -> None:
        with self._lock:
            self._classes[name] = cls
        if not cls.component_name:
            cls.component_name = name

    def unregister(self, name: str) -> None:
        with self._lock:
            self._classes.pop(name, None)

    def get(self, name: str) -> type[Component]:
        """The class registered as ``name``. Names match without regard to case, as port
        names do (``core/range`` is ``core/Range``); an exact match wins when two names differ
        only in case. KeyError says what was meant when the name is close to a known one."""
        with self._lock:
            found = self._classes.get(name)
            if found is not None:
                return found
            same = [known for known in self._classes if known.lower() == name.lower()]
            if len(same) == 1:
                return self._classes[same[0]]
            known_names = list(self._classes)
        if same:
            raise KeyError(f"component {name!r} is ambiguous: {', '.join(sorted(same))}")
        raise KeyError(unknown_name("component", name, known_names))

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._classes

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._classes)

    def describe(self, name: str) -> dict[str, Any]:
        return self.get(name).describe(name)

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.describe(name) for name in self.names()]


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry, discovered on first use."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
