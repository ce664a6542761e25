"""Python component files of a components directory: one's own components, unpackaged.

A ``.py`` file under ``--components-dir`` registers the Component classes it defines, named
as the library names its own: ``DIR/mylib/shout.py`` defining ``Shout`` is ``mylib/Shout``,
``DIR/shout.py`` is ``shout/Shout``. Names starting with ``.`` or ``_`` are left out. Each file
is a module of its own (``flowpy_dir.<library>.<stem>``), so two directories may both hold
``util.py``; a file that fails to load is a :class:`ComponentFileError` naming the file and
the line, never a silent skip (docs/writing-components.md).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import traceback
import types
from pathlib import Path

from flowpy.errors import FlowpyError

from .component import Component

PYTHON_SUFFIX = ".py"
MODULE_PREFIX = "flowpy_dir."


class ComponentFileError(FlowpyError, ValueError):
    """A component file that cannot be loaded; the message names the file and the line."""


def python_files(directory: Path) -> list[Path]:
    """The ``.py`` component files under ``directory``, sorted (hidden and ``_`` names left
    out). Raises OSError if the directory cannot be read."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    return sorted(
        path
        for path in directory.rglob("*" + PYTHON_SUFFIX)
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(directory).parts)
    )


def file_library(directory: Path, path: Path) -> str:
    """``DIR/lib/name.py`` is library ``lib``; ``DIR/name.py`` is library ``name``."""
    folders = path.relative_to(directory).parts[:-1]
    return "/".join(folders) or path.stem


def _where(path: Path, exc: BaseException) -> str:
    """``path:LINE`` for the innermost frame of ``exc`` in ``path`` (or the syntax error's)."""
    if isinstance(exc, SyntaxError) and exc.filename == str(path) and exc.lineno:
        return f"{path}:{exc.lineno}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    return f"{path}:{line}" if line else str(path)


def load_component_file(directory: Path, path: Path) -> dict[str, type[Component]]:
    """Execute ``path`` and return its Component classes by full name (``lib/Class``);
    ComponentFileError if it fails to load or defines none."""
    library = file_library(directory, path)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"{MODULE_PREFIX}{digest}.{library.replace('/', '.')}.{path.stem}"
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ComponentFileError(f"cannot read component file {path}: {exc}") from None
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    try:
        exec(compile(code, str(path), "exec"), module.__dict__)
    except Exception as exc:  # noqa: BLE001 - any failure is the file's: name where it is
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ComponentFileError(
            f"component file {_where(path, exc)}: {type(exc).__name__}: {detail}"
        ) from None
    classes = {
        f"{library}/{cls.__name__}": cls
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Component)
        and cls is not Component
        and cls.__module__ == module_name
        and not getattr(cls, "abstract", False)
    }
    if not classes:
        raise ComponentFileError(f"component file {path}: defines no Component subclass")
    sys.modules[module_name] = module  # inspect.getsource and pickling find the classes
    return classes
