"""Graph files on disk: reading one, and the graph files of a components directory.

Shared by ``flowpy serve`` (which watches a components directory) and ``flowpy run`` (which
reads one once), so both name a file's subgraph component the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flowpy.engine.component import BASE_DIR_PROPERTY

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
        path for path in directory.rglob("*")
        if path.suffix.lower() in GRAPH_FILE_SUFFIXES and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def file_component_name(directory: Path, path: Path, graph: Any) -> str:
    """``DIR/lib/Name.fbp`` is ``lib/Name``; ``DIR/Name.fbp`` is ``<properties.library or
    graphs>/Name`` (as ``components/lib/name.py`` is for Python components)."""
    library = "/".join(path.relative_to(directory).parts[:-1])
    if not library:
        props = getattr(graph, "properties", None) or {}
        declared = props.get("library")
        library = (declared if isinstance(declared, str) else "").strip("/") \
            or DEFAULT_GRAPH_LIBRARY
    return f"{library}/{path.stem}"
