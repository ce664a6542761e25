"""No module of flowpy imports one that imports it back, directly or through others.

A circle of imports is one module spread over several files: none of them can be read, tested
or loaded alone. The imports are those ``tests/support/flowpy_imports.py`` reads for every
layer test (inside functions and under TYPE_CHECKING too). An import of one's own package
(``from . import x`` names the package as well as ``x``) is left out: Python imports every
parent package first anyway, so that edge is no circle of the code's making.

The circles are listed as the sets of modules that reach each other (strongly connected
components); the test compares them with :data:`EXPECTED`, so it fails when a new circle
appears and when a known one is taken apart without this file saying so.
"""

from __future__ import annotations

from flowpy_imports import FLOWPY, imports_of, module_name

#: The circles that remain today, each to be taken apart and then removed from here.
EXPECTED: set[frozenset[str]] = set()


def import_graph() -> dict[str, set[str]]:
    """Every flowpy module -> the flowpy modules it imports (parent packages left out)."""
    modules = {module_name(path): path for path in sorted(FLOWPY.rglob("*.py"))}
    return {
        module: {
            target
            for target in imports_of(path)
            if target in modules and target != module and not module.startswith(target + ".")
        }
        for module, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.add(frozenset(component))
    return found


def test_the_circle_finder_finds_a_circle_through_others() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(graph) == {frozenset({"a", "b", "c"})}


def test_no_module_imports_one_that_imports_it_back() -> None:
    found = circles(import_graph())

    def show(cycles: set[frozenset[str]]) -> str:
        return "\n  ".join(sorted(" <-> ".join(sorted(cycle)) for cycle in cycles)) or "(none)"

    assert found == EXPECTED, (
        f"import circles:\n  {show(found)}\nexpected (tests/layers/test_import_cycles.py):\n"
        f"  {show(EXPECTED)}"
    )
