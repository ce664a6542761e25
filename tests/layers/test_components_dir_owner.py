"""A components directory is read in one place: ``flowpy/graphs/files.py``.

``flowpy serve`` (the runtime's catalogue, file by file) and ``flowpy run``, ``participant``
and ``components`` (all at once) offer the same components for the same directory because
they share one reader (issue 23, item 5). Read from the source with ``ast``: a call of one of
the directory's low-level readers outside that module is a second reader in the making.
"""

from __future__ import annotations

import ast

from flowpy_imports import FLOWPY

OWNER = FLOWPY / "graphs" / "files.py"
#: Where the low-level readers are defined (engine) and the one module that combines them.
ALLOWED = {OWNER, FLOWPY / "engine" / "component_files.py"}
READERS = {"load_component_file", "python_files", "graph_files"}


def readers_called(source: str) -> list[tuple[int, str]]:
    """(line, name) of every call of a low-level reader of a components directory."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in READERS:
            found.append((node.lineno, name))
    return sorted(found)


def test_the_finder_sees_a_call_of_a_reader() -> None:
    source = "def f(d, files):\n    python_files(d)\n    files.graph_files(d)\n    other(d)\n"
    assert readers_called(source) == [(2, "python_files"), (3, "graph_files")]


def test_only_graphs_files_reads_a_components_directory() -> None:
    found = [
        f"{path.relative_to(FLOWPY)}:{line}: {name}()"
        for path in sorted(FLOWPY.rglob("*.py"))
        if path not in ALLOWED
        for line, name in readers_called(path.read_text(encoding="utf-8"))
    ]
    assert not found, "a components directory read outside graphs/files.py:\n  " + "\n  ".join(
        found
    )
