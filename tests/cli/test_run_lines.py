"""``flowpy run --stdin/--stdout --format``: one run's output is the next run's input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from processes import ROOT, python_env

from flowpy.cli.lines import ip_of_line, line_of_ip
from flowpy.engine.ip import IP

pytestmark = pytest.mark.integration

UPPER = "INPORT=u.IN:IN\nOUTPORT=u.OUT:OUT\nu(strings/Upper)\n"
PAIRS = "INPORT=g.IN:IN\nOUTPORT=g.OUT:OUT\n'2' -> SIZE g(core/Group)\n'pair' -> GROUP g\n"
ECHO = str(ROOT / "examples" / "echo.json")


def run(*args: str, stdin: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "flowpy", "run", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_default_format_round_trips_through_a_pipe(tmp_path):
    upper = tmp_path / "upper.fbp"
    upper.write_text(UPPER)
    first = run(str(upper), "--stdin", "in", "--stdout", "out", stdin="hello\nworld\n")
    assert first.stdout.splitlines() == ['"HELLO"', '"WORLD"']
    second = run(ECHO, "--stdin", "in", "--stdout", "out", stdin=first.stdout)
    assert second.stdout == first.stdout  # not "\"HELLO\"" wrapped once more


def test_brackets_survive_a_pipe_in_the_default_format(tmp_path):
    pairs = tmp_path / "pairs.fbp"
    pairs.write_text(PAIRS)
    first = run(str(pairs), "--stdin", "in", "--stdout", "out", stdin="a\nb\nc\n")
    second = run(ECHO, "--stdin", "in", "--stdout", "out", stdin=first.stdout)
    assert second.stdout.splitlines() == [
        '{"begingroup":"pair"}',
        '"a"',
        '"b"',
        '{"endgroup":"pair"}',
        '{"begingroup":"pair"}',
        '"c"',
        '{"endgroup":"pair"}',
    ]


def test_lines_format_is_plain_text_both_ways(tmp_path):
    pairs = tmp_path / "pairs.fbp"
    pairs.write_text(PAIRS)
    result = run(
        str(pairs),
        "--stdin",
        "in",
        "--stdout",
        "out",
        "--format",
        "lines",
        stdin='1\n"quoted"\nplain\n',
    )
    assert result.stdout.splitlines() == ["1", '"quoted"', "plain"]


@pytest.mark.parametrize(
    "ip",
    [
        IP.make_data("HELLO"),
        IP.make_data(""),
        IP.make_data("5"),
        IP.make_data(5),
        IP.make_data({"k": [1, None]}),
        IP.make_data({"begingroup": "x", "other": 1}),
        IP.open("g"),
        IP.close("g"),
        IP.open(None),
        IP.make_data("caf\u00e9 \U0001f600"),
    ],
)
def test_every_ip_round_trips_through_a_json_line(ip):
    line = line_of_ip(ip, "json")
    assert line is not None and "\n" not in line
    assert ip_of_line(line, "json") == ip


def test_hostile_lines_are_read_as_text_not_crashes():
    for line in ("NaN", "1e400", '"\\ud800"', "[" * 200, "{not json"):
        assert ip_of_line(line, "json") == IP.make_data(line)


def test_a_stdin_line_that_is_not_json_is_read_as_text_and_said_once():
    result = run(ECHO, "--stdin", "in", "--stdout", "out", stdin='{"a": 1}\n{a: 2}\nplain\n')
    assert result.stdout.splitlines() == ['{"a":1}', '"{a: 2}"', '"plain"']
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "flowpy run: warning: stdin line 2 is not JSON, so it is read as a "
        "string: '{a: 2}' (--format lines reads every line as text; said once)"
    ]
    as_lines = run(ECHO, "--stdin", "in", "--stdout", "out", "--format", "lines", stdin="{a: 2}\n")
    assert as_lines.stderr == ""


def test_piping_into_a_graph_without_stdin_warns_that_stdin_is_not_read():
    result = run(ECHO, "--stdout", "out", stdin="1\n2\n")
    assert result.stdout == ""
    assert result.stderr == (
        "flowpy run: warning: stdin is not read: pass --stdin PORT to feed "
        "its lines into the graph (exported inports: in)\n"
    )
    quiet = subprocess.run(
        [sys.executable, "-m", "flowpy", "run", ECHO],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert (quiet.returncode, quiet.stderr) == (0, "")
