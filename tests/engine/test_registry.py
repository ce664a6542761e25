"""The registry: the library under its own import name, and no silent skips."""

from __future__ import annotations

import subprocess
import sys

from processes import ROOT, python_env

from flowpy.engine.registry import Registry


def test_the_core_library_is_found_under_its_own_import_name():
    registry = Registry()
    assert {"core/Repeat", "core/Range"} <= set(registry.names())
    assert registry.get("core/Repeat").__module__ == "flowpy_components.core.repeat"


def test_a_library_folder_without_init_is_a_warning_not_a_silent_skip(
    tmp_path, monkeypatch, caplog
):
    package = tmp_path / "mylibs"
    (package / "good").mkdir(parents=True)
    (package / "forgot").mkdir()
    (package / "__init__.py").write_text("")
    (package / "good" / "__init__.py").write_text("")
    component = (
        "from flowpy import Component, InPort, InPorts\n\n"
        "class Thing(Component):\n    inports = InPorts(InPort('in'))\n\n"
        "    def run(self):\n        pass\n"
    )
    (package / "good" / "thing.py").write_text(component)
    (package / "forgot" / "other.py").write_text(component.replace("Thing", "Other"))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(discover=False)
    registry._scan_package("mylibs")
    assert "good/Thing" in registry.names() and "forgot/Other" not in registry.names()
    assert "folder forgot of mylibs has no __init__.py" in registry.load_errors["mylibs/forgot"]
    assert "folder forgot of mylibs has no __init__.py" in caplog.text


def test_a_users_own_components_folder_does_not_shadow_the_library(tmp_path):
    """Any project may have a components/ folder; flowpy's library is not called that."""
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "flowpy", "components"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "core/Range" in result.stdout
    assert str(ROOT)  # the checkout is on the path (python_env), the library still found
