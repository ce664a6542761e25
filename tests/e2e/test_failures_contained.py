"""Issue 24, cases 1 and 2, against real processes: one bad item never stops the flow, and
what people read about it is one line (tracebacks only at --log-level debug)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from processes import python_env
from ws_clients import ReadingClient

pytestmark = pytest.mark.integration

SECRET = "s3cret"
PARSE = "INPORT=p.IN:IN\nOUTPORT=p.OUT:OUT\np(strings/ParseNumber)\n"


def flowpy_cli(*args: str, stdin: str | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "flowpy", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=python_env(),
    )


@pytest.fixture
def parse_graph(tmp_path):
    path = tmp_path / "parse.fbp"
    path.write_text(PARSE)
    return str(path)


def test_a_served_network_goes_on_after_a_bad_item_and_says_so(spawn_runtime, parse_graph):
    served = spawn_runtime("--graph", parse_graph, secret=SECRET)
    auth = ("--secret", SECRET)
    assert flowpy_cli("start", served.url, *auth).returncode == 0
    listen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowpy",
            "listen",
            served.url,
            *auth,
            "--count",
            "1",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        assert "listening to" in listen.stderr.readline()  # subscribed before anything is sent
        sent = flowpy_cli("send", served.url, *auth, "--port", "in", '"abc"', '"5"')
        assert sent.returncode == 0, sent.stderr
        out, err = listen.communicate(timeout=30)
    finally:
        listen.kill()
    assert out.splitlines() == ["5"]
    assert err.splitlines() == [
        "flowpy listen: process 'p' failed: strings/ParseNumber: ValueError: ParseNumber input "
        "must be a number, not 'abc' (on 'abc'); going on with the next IP"
    ]

    status = flowpy_cli("status", served.url, *auth)
    assert status.returncode == 0, status.stdout  # still running
    lines = status.stdout.splitlines()
    assert lines[0].startswith("parse: running")
    assert lines[1].startswith(
        "  last error: p (strings/ParseNumber) ValueError: ParseNumber "
        "input must be a number, not 'abc' on \"abc\", at "
    )
    assert ["p", "running", "1", "1"] in [line.split() for line in lines]
    [entry] = json.loads(flowpy_cli("status", served.url, *auth, "--json").stdout)["graphs"]
    error = entry["lastError"]
    assert {k: error[k] for k in ("node", "component", "type", "input", "outcome")} == {
        "node": "p",
        "component": "strings/ParseNumber",
        "type": "ValueError",
        "input": "abc",
        "outcome": "continue",
    }
    assert entry["processes"]["p"] == {"state": "running", "errors": 1, "restarts": 1}


def test_status_says_why_a_served_network_ended(spawn_runtime, parse_graph):
    """--on-error stop: the bad item ends the network, and status says so, text and JSON."""
    served = spawn_runtime("--graph", parse_graph, "--on-error", "stop")
    watcher = ReadingClient(served.url, name="watcher")
    try:
        watcher.request("network", "start", {"graph": "parse"})
        assert flowpy_cli("send", served.url, "--port", "in", '"abc"').returncode == 0
        watcher.wait_for(
            lambda m: m.get("protocol") == "network" and m.get("command") in ("stopped", "finished")
        )
    finally:
        watcher.close()
    reason = (
        "process p (strings/ParseNumber) failed: ValueError: ParseNumber input must be "
        "a number, not 'abc'"
    )
    status = flowpy_cli("status", served.url)
    assert status.returncode == 3
    assert status.stdout.splitlines()[0] == f"parse: finished ({reason})"
    [entry] = json.loads(flowpy_cli("status", served.url, "--json").stdout)["graphs"]
    assert (entry["running"], entry["ended"]["reason"]) == (False, reason)
    assert entry["lastError"]["outcome"] == "stop"


def test_send_names_the_command_that_starts_the_network(spawn_runtime, parse_graph):
    served = spawn_runtime("--graph", parse_graph, secret=SECRET)
    sent = flowpy_cli("send", served.url, "--secret", SECRET, "--port", "in", "1")
    assert sent.returncode != 0
    assert f"start it first: flowpy start {served.url}" in sent.stderr
    assert "network:start" not in sent.stderr


def run_parse(parse_graph, *options):
    return flowpy_cli(
        "run", parse_graph, "--stdin", "in", "--stdout", "out", *options, stdin='"1"\n"x"\n"3"\n'
    )


def test_run_processes_everything_and_ends_with_a_summary(parse_graph):
    done = run_parse(parse_graph)
    assert (done.returncode, done.stdout.splitlines()) == (1, ["1", "3"])
    assert done.stderr.splitlines() == [
        "flowpy: process 'p' (strings/ParseNumber) failed: ValueError: ParseNumber input must "
        "be a number, not 'x' (on 'x'); going on with the next IP",
        "flowpy: p (strings/ParseNumber) failed once; last: ValueError: ParseNumber input "
        "must be a number, not 'x' (on 'x'); going on with the next IP",
    ]


@pytest.mark.parametrize("options", [(), ("-q",), ("--log-level", "critical")])
def test_run_prints_no_traceback_unless_asked(parse_graph, options):
    done = run_parse(parse_graph, *options)
    assert "Traceback" not in done.stderr and "failed" in done.stderr


def test_run_shows_the_traceback_at_debug(parse_graph):
    assert (
        "Traceback (most recent call last)" in run_parse(parse_graph, "--log-level", "debug").stderr
    )


def test_fail_fast_keeps_the_stop_at_the_first_failure(parse_graph):
    done = run_parse(parse_graph, "--fail-fast")
    assert (done.returncode, done.stdout.splitlines()) == (1, ["1"])
    assert "process stopped" in done.stderr


#: Every line is echoed to stdout as it passes, then waits in d for a minute.
HOLD = """\
INPORT=pass.IN:IN
OUTPORT=d.OUT:OUT
pass(core/Repeat) OUT -> IN echo(core/Output)
pass OUT -> IN d(time/Delay)
'60000' -> CONF d
"""


def test_what_a_stop_discarded_is_said_once(tmp_path):
    """A stop cuts three IPs off (the drain cut short by a second Ctrl-C): the run says so
    in its own words, and the engine's log line about it does not say it again."""
    graph = tmp_path / "hold.fbp"
    graph.write_text(HOLD)
    run = subprocess.Popen(
        [sys.executable, "-m", "flowpy", "run", str(graph), "--stdin", "in", "--stdout", "out"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        run.stdin.write("1\n2\n3\n")
        run.stdin.flush()
        assert [run.stdout.readline().strip() for _ in range(3)] == ["1", "2", "3"]
        run.send_signal(signal.SIGINT)  # the drain waits for d ...
        assert run.stderr.readline().startswith("flowpy: stopping:")
        run.send_signal(signal.SIGINT)  # ... and is cut short
        _out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 130
    assert [line for line in err.splitlines() if "discarded" in line] == [
        "flowpy: 3 IP(s) still inside the graph were discarded (the drain did not finish)"
    ]


PEOPLE_GRAPH = """\
'people.csv' -> IN read(files/ReadLines) OUT -> IN parse(csv/Parse) OUT -> IN adults(flow/Filter)
adults OUT -> IN out(core/Output)
'{"expression": "EXPR"}' -> CONF adults
"""


def run_people(tmp_path, expression: str):
    (tmp_path / "people.csv").write_text("name,age\nann,20\nbob,12\n")
    graph = tmp_path / "adults.fbp"
    graph.write_text(PEOPLE_GRAPH.replace("EXPR", expression))
    return flowpy_cli("run", str(graph))


def test_comparing_csv_text_with_a_number_hints_at_numbers_true(tmp_path):
    """Case 7: csv values are text unless asked; the one line says what to change."""
    done = run_people(tmp_path, "age >= `18`")
    assert done.returncode == 1
    failures = [line for line in done.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 2 and "Traceback" not in done.stderr
    assert all("Hint: " in line and '"numbers": true' in line for line in failures)


def test_a_number_without_backticks_is_pointed_at_with_a_caret_and_the_fix(tmp_path):
    """Case 7: the caret stays under the failing token, on a line of its own."""
    done = run_people(tmp_path, "age >= 18")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if "bad JMESPath expression" in line)
    assert "Hint: a number in JMESPath is written in backticks: age >= `18`" in lines[at]
    expression, caret = lines[at + 1], lines[at + 2]
    assert expression.strip() == "age >= 18"
    assert caret.strip() == "^" and caret.index("^") == expression.index("18")
