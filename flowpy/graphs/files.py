"""Graph files on disk, and what a components directory offers as components.

The one owner of a components directory's reading: ``flowpy serve`` (whose catalogue watches
the directory, file by file) and ``flowpy run``/``participant``/``components`` (which register
it once, :func:`register_directory_components`) both go through :func:`component_files` and
:func:`file_components`, so a file gives the same components either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flowpy.engine.component import BASE_DIR_PROPERTY, Component
from flowpy.engine.component_files import (
    PYTHON_SUFFIX,
    ComponentFileError,
    load_component_file,
    python_files,
)
from flowpy.engine.registry import Registry
from flowpy.engine.subgraph import subgraph_class

#: Library of graph components whose graph names none (``properties.library``).
DEFAULT_GRAPH_LIBRARY = "graphs"
GRAPH_FILE_SUFFIXES = (".fbp", ".json")


def read_graph_file(path: str | os.PathLike[str], fmt: str | None = None) -> Any:
    """A graph from a ``.fbp`` file or a JSON graph file (by extension, or ``fmt``: "fbp" or
    "json"); unnamed graphs are named after the file's stem. Raises OSError,
    ``FbpSyntaxError`` or ``GraphError``.

    The graph's ``baseDir`` property becomes the absolute path of the file's directory (or of
    the ``baseDir`` the file sets, taken relative to that directory), so the relative paths
    of its components (files to read and write, a working directory) mean the same from
    wherever the graph is run."""
    from . import fbp
    from . import json_format as graph_json

    path = Path(path)
    fmt = fmt or ("fbp" if path.suffix.lower() == ".fbp" else "json")
    if fmt == "fbp":
        document = fbp.parse(path.read_text(encoding="utf-8"), filename=str(path))
        document.setdefault("properties", {}).setdefault("name", path.stem)
        graph = graph_json.load(document)
    else:
        graph = graph_json.load_file(path)
    declared = graph.properties.get(BASE_DIR_PROPERTY)
    folder = path.resolve().parent
    base = folder / declared if isinstance(declared, str) and declared else folder
    graph.properties[BASE_DIR_PROPERTY] = os.path.normpath(base)
    return graph


def graph_files(directory: Path) -> list[Path]:
    """The ``.fbp``/``.json`` files under ``directory``, hidden ones left out, sorted.
    Raises OSError if the directory cannot be read."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    return sorted(
        path
        for path in directory.rglob("*")
        if path.suffix.lower() in GRAPH_FILE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def file_component_name(directory: Path, path: Path, graph: Any) -> str:
    """``DIR/lib/Name.fbp`` is ``lib/Name``; ``DIR/Name.fbp`` is ``<properties.library or
    graphs>/Name`` (as ``components/lib/name.py`` is for Python components)."""
    library = "/".join(path.relative_to(directory).parts[:-1])
    if not library:
        props = getattr(graph, "properties", None) or {}
        declared = props.get("library")
        library = (declared if isinstance(declared, str) else "").strip(
            "/"
        ) or DEFAULT_GRAPH_LIBRARY
    return f"{library}/{path.stem}"


def component_files(directory: Path) -> list[Path]:
    """The files of a components directory that offer components: its graph files, then its
    Python component files. Raises OSError if the directory cannot be read."""
    return graph_files(directory) + python_files(directory)


def file_components(directory: Path, path: Path) -> dict[str, type[Component]]:
    """What one file of a components directory offers, by component name: a graph file its
    subgraph component, a ``.py`` file its Component classes. ComponentFileError (a
    ValueError) names the file and says why it cannot be loaded."""
    if path.suffix == PYTHON_SUFFIX:
        return load_component_file(directory, path)
    try:
        graph = read_graph_file(path)
    except Exception as exc:  # noqa: BLE001 - any problem is the file's: say which file
        raise ComponentFileError(f"cannot load component graph {path}: {exc}") from None
    name = file_component_name(directory, path, graph)
    return {name: subgraph_class(name, graph)}


def register_directory_components(registry: Registry, directories: list[str]) -> None:
    """Register everything the components directories offer, all or nothing: ValueError (or
    OSError) names the file that is wrong, or the name that is taken already."""
    found: list[tuple[Path, str, type[Component]]] = []
    for directory in map(Path, directories):
        for path in component_files(directory):
            found += [(path, name, cls) for name, cls in file_components(directory, path).items()]
    for path, name, cls in found:
        if name in registry:
            raise ValueError(f"component file {path}: a component {name!r} exists already")
        registry.register(name, cls)
