"""No two modules of flowpy define a public class of the same name.

Two ``Client``s, two ``Transport``s or two ``Connection``s in different layers make every
import line, traceback and review ask "which one?" (issue 23, item 5). Read from the source
with ``ast``: the classes defined at the top of each module, private ones (``_Name``) left
out, since they never leave their module.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from flowpy_imports import FLOWPY


def public_classes(source: str) -> list[str]:
    """The names of the public classes a module defines at its top level."""
    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    ]


def test_the_finder_sees_top_level_public_classes_only() -> None:
    source = "class A:\n    class Inner: ...\nclass _Private: ...\nclass B(A): ...\n"
    assert public_classes(source) == ["A", "B"]


def test_no_public_class_name_is_defined_twice() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(FLOWPY.rglob("*.py")):
        for name in public_classes(path.read_text(encoding="utf-8")):
            where[name].append(str(path.relative_to(FLOWPY)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, "public classes defined in more than one module:\n  " + "\n  ".join(
        f"{name}: {', '.join(paths)}" for name, paths in sorted(twice.items())
    )
