"""The flowpy imports a module makes, read from its source with ``ast``, for tests/layers.

Imports inside functions and under TYPE_CHECKING count too: the layer tests want every edge a
reader of the code sees, not only those executed at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

FLOWPY = Path(__file__).resolve().parents[2] / "flowpy"


def module_name(path: Path) -> str:
    rel = path.relative_to(FLOWPY.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append(target)
            if node.module is None or target in ("flowpy",):  # from . import x: x may be a module
                found += [f"{target}.{alias.name}" for alias in node.names]
    return [name for name in found if name.startswith("flowpy")]
