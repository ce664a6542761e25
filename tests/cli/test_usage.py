"""The command line as Python CLIs behave: --version, help, usage errors, descriptions, one
line instead of a traceback, the shared logging options, names that suggest the fix."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import flowpy
from flowpy.cli import main as cli_main
from flowpy.cli.logs import chosen_level
from flowpy.engine.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def flowpy_cli(*args: str, stdin: str | None = None, cwd: Path = ROOT, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "flowpy", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture(autouse=True)
def root_logging_restored():
    """cli main() configures the root logger for a process (stderr handler, level): put back
    pytest's handlers afterwards, or later tests log into a closed capture stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def commands() -> dict:
    parser = cli_main.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def test_version_is_the_package_version():
    result = flowpy_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"flowpy {flowpy.__version__}"


def test_help_command_prints_the_commands_own_help(capsys):
    assert cli_main.main(["help", "send"]) == 0
    via_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main.main(["send", "--help"])
    assert via_help == capsys.readouterr().out
    assert "reads stdin" in via_help.replace("\n", " ") or "stdin is read" in via_help


def test_help_without_a_topic_lists_every_command(capsys):
    assert cli_main.main(["help"]) == 0
    text = capsys.readouterr().out
    for name in ("run", "serve", "send", "listen", "start", "stop", "status", "components"):
        assert name in text


def test_every_command_has_a_description_and_no_rst_markup():
    found = commands()
    assert {
        "run",
        "serve",
        "send",
        "listen",
        "start",
        "stop",
        "status",
        "components",
        "help",
    } <= set(found)
    for name, parser in found.items():
        assert parser.description, f"flowpy {name} has no description"
        text = parser.format_help()
        for markup in ("``", ":class:", ":func:", ":data:", ":meth:"):
            assert markup not in text, f"flowpy {name} --help shows {markup}"


def test_an_unknown_option_gets_the_subcommands_usage_and_status_2():
    result = flowpy_cli("run", "examples/hello.json", "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: flowpy run ")
    assert "unrecognized arguments: --bogus" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://127.0.0.1:3569", "use ws://127.0.0.1:3569"),
        ("https://example.org/rt", "use wss://example.org/rt"),
        ("127.0.0.1:3569", "ws://127.0.0.1:3569"),
        ("ws://127.0.0.1:99999", "port"),
        ("ws://", "is not a runtime URL"),
        ("localhost", "ws://localhost"),
    ],
)
def test_a_bad_runtime_url_is_one_line_with_the_fix_and_status_2(url, hint):
    for command in ("listen", "send", "status"):
        args = [command, url] + (["--port", "in", "1"] if command == "send" else [])
        result = flowpy_cli(*args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert hint in lines[0]
        assert "Traceback" not in result.stderr


def test_an_unexpected_failure_is_one_line_and_the_traceback_only_at_debug(monkeypatch, capsys):
    def broken(self):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(Registry, "describe_all", broken)
    assert cli_main.main(["components"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "flowpy components: RuntimeError: the disk is on fire (--log-level debug shows where)"
    )
    assert cli_main.main(["components", "--log-level", "debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "the disk is on fire" in err


def test_logging_options_move_the_level():
    parser = cli_main.build_parser()
    level = lambda *a: chosen_level(parser.parse_args(["components", *a]))  # noqa: E731
    assert level() == logging.WARNING
    assert level("-v") == logging.INFO
    assert level("-vv") == logging.DEBUG
    assert level("-q") == logging.ERROR
    assert level("--log-level", "debug", "-q") == logging.INFO
    assert chosen_level(parser.parse_args(["serve"])) == logging.INFO  # serve says more


def test_component_names_match_without_regard_to_case_like_port_names():
    registry = Registry()
    assert registry.get("core/range") is registry.get("core/Range")
    with pytest.raises(KeyError) as caught:
        registry.get("core/Rnage")
    assert "did you mean 'core/Range'?" in caught.value.args[0]


def test_a_lowercase_component_name_runs(tmp_path):
    graph = tmp_path / "g.fbp"
    graph.write_text("'3' -> CONF r(core/range) OUT -> IN o(core/output)\n")
    result = flowpy_cli("run", str(graph))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("r(core/Rnage) OUT -> IN o(core/Output)\n", "did you mean 'core/Range'?"),
        ("'3' -> CONF r(core/Range) OUTT -> IN o(core/Output)\n", "did you mean 'out'?"),
    ],
)
def test_an_unknown_name_suggests_the_right_one(tmp_path, text, expected):
    graph = tmp_path / "g.fbp"
    graph.write_text(text)
    result = flowpy_cli("run", str(graph))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_exported_port_suggests_the_right_one():
    result = flowpy_cli("run", "examples/echo.json", "--stdin", "inn", "--stdout", "out")
    assert result.returncode == 2
    assert "no exported inport 'inn': did you mean 'in'? (it has: in)" in result.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty.fbp", ""),
        ("comments.fbp", "# nothing here yet\n"),
        ("empty.json", json.dumps({"processes": {}, "connections": []})),
    ],
)
def test_an_empty_graph_says_so_and_fails(tmp_path, name, text):
    graph = tmp_path / name
    graph.write_text(text)
    result = flowpy_cli("run", str(graph))
    assert result.returncode == 2
    assert "graph has no processes" in result.stderr
