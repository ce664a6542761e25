"""Python component files of a components directory: names, the rule for a file directly in
the directory, and errors that name the file and the line."""

import textwrap

import pytest

from flowpy.engine.component_files import (
    ComponentFileError,
    file_library,
    load_component_file,
    python_files,
)

SHOUT = textwrap.dedent('''
    from flowpy import Component, InPort, InPorts, OutPort, OutPorts


    class Shout(Component):
        """Upper-cases text."""

        inports = InPorts(InPort("in"))
        outports = OutPorts(OutPort("out"))

        def run(self):
            for ip in self.inports["in"]:
                self.outports["out"].send_data(ip.data.upper())
''')


def test_folders_are_the_library_and_a_file_in_the_directory_is_its_own(tmp_path):
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "shout.py").write_text(SHOUT)
    (tmp_path / "loud.py").write_text(SHOUT)
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('never loaded')\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.py").write_text("raise RuntimeError('never loaded')\n")
    files = python_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["loud.py", "mylib/shout.py"]
    assert file_library(tmp_path, files[0]) == "loud"
    assert list(load_component_file(tmp_path, files[1])) == ["mylib/Shout"]
    assert list(load_component_file(tmp_path, files[0])) == ["loud/Shout"]


@pytest.mark.parametrize(
    "code, line, kind",
    [
        ("x = 1\ndef broken(:\n", 2, "SyntaxError"),
        ("import os\n\nraise RuntimeError('no config')\n", 3, "RuntimeError"),
        ("import no_such_module_anywhere\n", 1, "ModuleNotFoundError"),
    ],
)
def test_a_file_that_fails_to_load_names_the_file_and_line(tmp_path, code, line, kind):
    path = tmp_path / "bad.py"
    path.write_text(code)
    with pytest.raises(ComponentFileError) as caught:
        load_component_file(tmp_path, path)
    assert f"{path}:{line}: {kind}" in str(caught.value)


def test_a_file_without_components_is_an_error(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("VALUE = 1\n")
    with pytest.raises(ComponentFileError, match="defines no Component subclass"):
        load_component_file(tmp_path, path)
