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
    result = subprocess.run([sys.executable, "-m", "flowpy", "run", *args], input=stdin,
                            capture_output=True, text=True, timeout=60, env=python_env())
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
        '{"begingroup":"pair"}', '"a"', '"b"', '{"endgroup":"pair"}',
        '{"begingroup":"pair"}', '"c"', '{"endgroup":"pair"}']


def test_lines_format_is_plain_text_both_ways(tmp_path):
    pairs = tmp_path / "pairs.fbp"
    pairs.write_text(PAIRS)
    result = run(str(pairs), "--stdin", "in", "--stdout", "out", "--format", "lines",
                 stdin='1\n"quoted"\nplain\n')
    assert result.stdout.splitlines() == ["1", '"quoted"', "plain"]


@pytest.mark.parametrize("ip", [
    IP.make_data("HELLO"), IP.make_data(""), IP.make_data("5"), IP.make_data(5),
    IP.make_data({"k": [1, None]}), IP.make_data({"begingroup": "x", "other": 1}),
    IP.open("g"), IP.close("g"), IP.open(None), IP.make_data("caf\u00e9 \U0001f600"),
])
def test_every_ip_round_trips_through_a_json_line(ip):
    line = line_of_ip(ip, "json")
    assert line is not None and "\n" not in line
    assert ip_of_line(line, "json") == ip


def test_hostile_lines_are_read_as_text_not_crashes():
    for line in ("NaN", "1e400", '"\\ud800"', "[" * 200, "{not json"):
        assert ip_of_line(line, "json") == IP.make_data(line)
