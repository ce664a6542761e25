"""The Network's running state has one owner: no engine module but network.py touches its privates.

``flowpy/engine/topology.py`` owns the running structure and ``network.py`` the lifecycle and
the threads; live edits and the drain work through their public operations (issue 23, item 1).
Read from the source with ``ast``: any ``network._x`` / ``net._x`` / ``<...>.network._x`` in
another module of the engine is a private reached from outside.
"""

from __future__ import annotations

import ast

from flowpy_imports import FLOWPY

ENGINE = FLOWPY / "engine"
NETWORK_NAMES = {"network", "net"}


def _is_network(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in NETWORK_NAMES
    return isinstance(node, ast.Attribute) and node.attr in NETWORK_NAMES


def privates_touched(source: str) -> list[tuple[int, str]]:
    """(line, attribute) of every private attribute of a network the source reaches."""
    return sorted(
        (node.lineno, node.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and _is_network(node.value)
    )


def test_the_finder_sees_a_private_of_a_network() -> None:
    source = "def f(network, x):\n    network._plan.edges\n    x.network._live += 1\n    x._own\n"
    assert privates_touched(source) == [(2, "_plan"), (3, "_live")]


def test_no_engine_module_but_network_py_touches_network_privates() -> None:
    found = [
        f"{path.name}:{line}: network.{attr}"
        for path in sorted(ENGINE.glob("*.py"))
        if path.name != "network.py"
        for line, attr in privates_touched(path.read_text(encoding="utf-8"))
    ]
    assert not found, "Network privates touched outside network.py:\n  " + "\n  ".join(found)
