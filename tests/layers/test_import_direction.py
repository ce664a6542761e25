"""Imports point one way (docs/architecture.md): each layer imports only the layers below it.

Read from the source with ``ast`` (imports inside functions and under TYPE_CHECKING count
too), so a new import that reaches up a layer fails here, before anyone has to find the
circle it makes.
"""

from __future__ import annotations

import ast

from flowpy_imports import FLOWPY, imports_of, module_name

#: layer -> the layers it may import (besides itself). The root modules: flowpy (the public
#: face, __version__), flowpy.errors (the base error), flowpy.testing (a test helper).
ALLOWED = {
    "errors": set(),
    "engine": {"errors", "root"},
    "wire": {"engine", "errors", "root"},
    "graphs": {"wire", "engine", "errors", "root"},
    "runtime": {"engine", "graphs", "wire", "errors", "root"},
    "protocol": {"runtime", "engine", "graphs", "wire", "errors", "root"},
    "server": {"protocol", "runtime", "engine", "graphs", "wire", "errors", "root"},
    "link": {"engine", "graphs", "wire", "errors", "root"},
    "testing": {"engine", "graphs", "wire", "errors", "root"},
    "cli": {
        "server",
        "protocol",
        "runtime",
        "link",
        "engine",
        "graphs",
        "wire",
        "errors",
        "root",
        "testing",
    },
    "root": {"engine", "graphs", "errors"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "flowpy":
        return "outside"
    if len(parts) == 1 or parts[1] in ("__init__", "__main__"):
        return "root"
    name = parts[1]
    return name if name in ALLOWED else "root"


def test_every_import_points_down():
    wrong = []
    for path in sorted(FLOWPY.rglob("*.py")):
        source = module_name(path)
        here = layer_of(source)
        if here == "cli" or source == "flowpy.__main__":
            continue
        for target in imports_of(path):
            there = layer_of(target)
            if there in (here, "outside") or there in ALLOWED[here]:
                continue
            if here == "root" and target in ("flowpy.errors", "flowpy"):
                continue
            wrong.append(f"{source} ({here}) imports {target} ({there})")
    assert not wrong, "imports that point up a layer:\n  " + "\n  ".join(wrong)


def test_no_module_is_over_600_lines_without_a_reason_at_its_top():
    long = []
    for path in sorted(FLOWPY.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 600 and not any("over 600 lines" in line for line in lines[:40]):
            long.append(f"{path.relative_to(FLOWPY.parent)}: {len(lines)} lines")
    assert not long, "modules over ~600 lines without a reason at their top:\n  " + "\n  ".join(
        long
    )


#: What the component library (components/, installed as flowpy_components) may import: the
#: public face and the layers a component works with. Never the runtime, the protocol, the
#: server or the CLI: a component runs the same under `flowpy run`, a served runtime, a
#: broker participant and flowpy.testing.
COMPONENTS_MAY_IMPORT = {"root", "errors", "engine", "wire", "graphs", "link"}


def test_the_component_library_imports_only_what_a_component_may_use():
    library = FLOWPY.parent / "components"
    wrong = []
    for path in sorted(library.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                there = layer_of(target)
                if there != "outside" and there not in COMPONENTS_MAY_IMPORT:
                    wrong.append(f"{path.relative_to(library.parent)} imports {target}")
    assert not wrong, "components reaching into the runtime's layers:\n  " + "\n  ".join(wrong)
