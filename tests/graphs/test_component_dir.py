"""Both ways of taking in a components directory offer the same components.

``flowpy run`` registers a directory at once (``register_directory_components``); ``flowpy
serve``'s catalogue reads it file by file and follows changes. Both must name and make the
same components from the same files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowpy.engine.registry import Registry
from flowpy.engine.subgraph import is_subgraph
from flowpy.graphs.files import register_directory_components
from flowpy.runtime.catalogue import Catalogue

SHOUT = """
from flowpy import Component, InPort, OutPort


class Shout(Component):
    inports = [InPort("in")]
    outports = [OutPort("out")]

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send(ip)
"""

PASS_FBP = "INPORT=p.IN:IN\nOUTPORT=p.OUT:OUT\np(core/Repeat)\n"


def _directory(root: Path) -> Path:
    (root / "mylib").mkdir()
    (root / "mylib" / "shout.py").write_text(SHOUT, encoding="utf-8")
    (root / "loud.py").write_text(SHOUT, encoding="utf-8")
    (root / "Pass.fbp").write_text(PASS_FBP, encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "Again.fbp").write_text(PASS_FBP, encoding="utf-8")
    (root / "_helpers.py").write_text("raise RuntimeError('never loaded')\n", encoding="utf-8")
    return root


def _offered(registry: Registry, before: set[str]) -> dict[str, bool]:
    """The names registered since ``before``, each with whether it is a subgraph."""
    return {name: is_subgraph(registry.get(name)) for name in set(registry.names()) - before}


def test_run_and_serve_offer_the_same_components(tmp_path: Path) -> None:
    directory = _directory(tmp_path)
    at_once = Registry()
    before = set(at_once.names())
    register_directory_components(at_once, [str(directory)])

    watched = Registry()
    problems: list[str] = []
    catalogue = Catalogue(watched, directory, lambda text, **_: problems.append(text))
    changed = catalogue.refresh_files()

    offered = _offered(at_once, before)
    assert offered == {
        "mylib/Shout": False,
        "loud/Shout": False,
        "graphs/Pass": True,
        "sub/Again": True,
    }
    assert _offered(watched, before) == offered
    assert sorted(changed) == sorted(offered)
    assert problems == []


def test_a_bad_file_is_named_by_both(tmp_path: Path) -> None:
    directory = _directory(tmp_path)
    (directory / "Broken.fbp").write_text("this is not fbp ->\n", encoding="utf-8")

    with pytest.raises(ValueError, match="Broken.fbp"):
        register_directory_components(Registry(), [str(directory)])

    problems: list[str] = []
    Catalogue(Registry(), directory, lambda text, **_: problems.append(text)).refresh_files()
    assert len(problems) == 1
    assert "Broken.fbp" in problems[0]
