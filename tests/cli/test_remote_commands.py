"""``send``, ``listen``, ``start``, ``stop`` and ``status`` against a served runtime, as a user
types them: values after options, refused secrets, graphs started from the shell."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from processes import ROOT, python_env

from flowpy.link.client import Client

ECHO = str(ROOT / "examples" / "echo.json")
SECRET = "s3cret"

pytestmark = pytest.mark.integration


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
def echo(spawn_runtime):
    """A runtime serving examples/echo.json as its main graph, network not started."""
    return spawn_runtime("--graph", ECHO, secret=SECRET)


def collect(client: Client, count: int) -> list[dict]:
    """The next ``count`` data and bracket packets (connect/disconnect markers also come when
    a network starts and stops: left out)."""
    got: list[dict] = []
    while len(got) < count:
        packet = client.recv_packet(timeout=30)
        if packet["event"] not in ("connect", "disconnect"):
            got.append(packet)
    return got


def test_start_status_stop_from_the_shell(echo):
    status = flowpy_cli("status", echo.url, "--secret", SECRET)
    assert status.returncode == 3, status.stderr
    assert status.stdout.splitlines()[0] == "echo: not started"
    started = flowpy_cli("start", echo.url, "--secret", SECRET)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("echo: running")
    status = flowpy_cli("status", echo.url, "--secret", SECRET, "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["graphs"][0]["running"] is True
    stopped = flowpy_cli("stop", echo.url, "--secret", SECRET)
    assert (stopped.returncode, stopped.stdout.strip()) == (0, "echo: not running")
    with Client(echo.url, secret=SECRET).connect() as client:
        assert client.network_status("echo")["running"] is False


def test_status_lists_every_graph_with_processes_edges_and_counts(spawn_runtime):
    served = spawn_runtime("--graph", str(ROOT / "examples" / "count.fbp"), secret=SECRET)
    with Client(served.url, secret=SECRET).connect() as client:
        client.graph("clear", id="other")
        client.graph("addnode", graph="other", id="lone", component="core/Drop")
        client.start_network("count")
        for n in range(3):
            client.send_packet("count", "in", "data", f"line {n}")
    text = flowpy_cli("status", served.url, "--secret", SECRET)
    lines = text.stdout.splitlines()
    assert "count: running" in "\n".join(lines), text.stdout
    assert "other: not started" in lines
    assert any(line.split() == ["pass", "running", "0", "0"] for line in lines), text.stdout
    # in before packetsent, so exactly 3; how many pass forwarded yet is not awaited here
    assert "  inport in: 3 packets" in lines
    assert any(
        re.fullmatch(r"  pass\.OUT -> count\.IN: [0-3] IPs, [0-3] queued", line) for line in lines
    ), text.stdout
    document = json.loads(
        flowpy_cli("status", served.url, "--secret", SECRET, "--json", "--graph", "count").stdout
    )
    assert [g["graph"] for g in document["graphs"]] == ["count"]
    assert document["graphs"][0]["processes"]["count"]["state"] == "running"


def test_send_takes_values_after_the_options_and_brackets_as_json_lines(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
        result = flowpy_cli(
            "send",
            echo.url,
            "--secret",
            SECRET,
            "--port",
            "in",
            "1",
            '"three"',
            '{"begingroup": "g"}',
            "text",
            '{"endgroup": "g"}',
        )
        assert result.returncode == 0, result.stderr
        assert "sent 3 packets to echo.in" in result.stderr
        got = [(p["event"], p.get("payload")) for p in collect(client, 5)]
    assert got == [
        ("data", 1),
        ("data", "three"),
        ("begingroup", "g"),
        ("data", "text"),
        ("endgroup", "g"),
    ]


def test_send_with_no_values_reads_stdin_and_lines_format_keeps_text(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
        result = flowpy_cli(
            "send",
            echo.url,
            "--port",
            "in",
            "--secret",
            SECRET,
            "--format",
            "lines",
            stdin='1\n"two"\n',
        )
        assert result.returncode == 0, result.stderr
        data = [p["payload"] for p in collect(client, 2)]
    assert data == ["1", '"two"']


def test_send_of_more_lines_than_any_inbox_holds_does_not_wait_on_its_own_outputs(echo):
    # The graph's outputs go to every client, the sender too: it must not stop reading
    # (and so miss its acknowledgements) because nobody takes those outputs.
    count = 5000
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
    result = flowpy_cli(
        "send",
        echo.url,
        "--port",
        "in",
        "--secret",
        SECRET,
        "--timeout",
        "20",
        stdin="".join(f"{n}\n" for n in range(count)),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(rf"sent {count} packets to echo\.in in \d+\.\d\d s", result.stderr)


def test_listen_writes_the_lines_run_and_send_read(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowpy",
            "listen",
            echo.url,
            "--secret",
            SECRET,
            "--format",
            "json",
            "--count",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        assert "listening to echo" in listener.stderr.readline()
        sent = flowpy_cli(
            "send",
            echo.url,
            "--secret",
            SECRET,
            "--port",
            "in",
            '{"begingroup": "g"}',
            '"HELLO"',
            "2",
            '{"endgroup": "g"}',
        )
        assert sent.returncode == 0, sent.stderr
        out, _err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert out.splitlines() == ['{"begingroup":"g"}', '"HELLO"', "2"]


@pytest.mark.parametrize("command", ["listen", "send", "status", "start"])
def test_a_refused_secret_is_said_at_connect_and_the_command_fails(echo, command):
    extra = ["--port", "in", "1"] if command == "send" else []
    wrong = flowpy_cli(command, echo.url, "--secret", "wrong", "--timeout", "10", *extra)
    assert wrong.returncode == 1
    assert (
        wrong.stderr.strip() == f"flowpy {command}: the runtime refused this secret "
        "(check --secret)"
    )
    missing = flowpy_cli(command, echo.url, "--timeout", "10", *extra)
    assert missing.returncode == 1
    assert "the runtime needs a secret: pass --secret" in missing.stderr


def test_unknown_graph_and_port_suggest_the_right_name(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
    port = flowpy_cli("send", echo.url, "--secret", SECRET, "--port", "inn", "1")
    assert port.returncode == 2  # a usage error, as listen's wrong port is
    assert "no exported inport 'inn': did you mean 'in'? (it has: in)" in port.stderr
    graph = flowpy_cli("send", echo.url, "--secret", SECRET, "--graph", "ecoh", "--port", "in", "1")
    assert graph.returncode == 1
    assert "graph 'ecoh' not found: did you mean 'echo'?" in graph.stderr


def test_send_and_listen_agree_that_a_wrong_port_is_a_usage_error(echo):
    sent = flowpy_cli("send", echo.url, "--secret", SECRET, "--port", "nope", "1")
    heard = flowpy_cli("listen", echo.url, "--secret", SECRET, "--port", "nope", "--count", "0")
    assert (sent.returncode, heard.returncode) == (2, 2)
    assert sent.stderr.strip() == (
        "flowpy send: graph 'echo' has no exported inport 'nope' (it has: in)"
    )
    assert heard.stderr.strip() == (
        "flowpy listen: graph 'echo' has no exported outport 'nope' (it has: out)"
    )


def test_send_to_a_stopped_network_says_why(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
        client.stop_network("echo")
    result = flowpy_cli("send", echo.url, "--secret", SECRET, "--port", "in", "1")
    assert result.returncode == 1
    assert "not running" in result.stderr and "stopped by" in result.stderr


def test_listen_refuses_a_port_the_graph_does_not_have_as_send_does(echo):
    result = flowpy_cli("listen", echo.url, "--secret", SECRET, "--port", "nope", "--timeout", "10")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "flowpy listen: graph 'echo' has no exported outport 'nope' (it has: out)"
    )
    close = flowpy_cli("listen", echo.url, "--secret", SECRET, "--port", "OUTT", "--count", "0")
    assert close.returncode == 2
    assert "did you mean 'out'?" in close.stderr
    other_case = flowpy_cli("listen", echo.url, "--secret", SECRET, "--port", "OUT", "--count", "0")
    assert other_case.returncode == 0, other_case.stderr
    assert "listening to echo.OUT" in other_case.stderr


@pytest.mark.parametrize("command", ["status", "listen", "send"])
def test_a_url_where_no_runtime_answers_is_one_line_and_a_usage_error(echo, command):
    extra = ["--port", "in", "1"] if command == "send" else []
    result = flowpy_cli(command, echo.url + "/foo", "--secret", SECRET, *extra)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"flowpy {command}: no FBP runtime answers at {echo.url}/foo (HTTP 404): check the "
        "address and path"
    ]


def test_send_says_once_that_a_stdin_line_is_not_json(echo):
    with Client(echo.url, secret=SECRET).connect() as client:
        client.start_network("echo")
        result = flowpy_cli(
            "send", echo.url, "--secret", SECRET, "--port", "in", stdin="1\nnot json\n{bad\n"
        )
        assert result.returncode == 0, result.stderr
        data = [p["payload"] for p in collect(client, 3)]
    assert data == [1, "not json", "{bad"]
    assert result.stderr.count("is not JSON") == 1
    assert "flowpy send: warning: stdin line 2 is not JSON" in result.stderr


def test_serve_start_with_a_graph_that_cannot_start_serves_on_and_status_says_why(
    spawn_runtime, tmp_path
):
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "properties": {"name": "broken"},
                "processes": {"w": {"component": "files/WriteLines"}},
            }
        )
    )
    runtime = spawn_runtime("--graph", str(broken), "--start")
    reason = "node 'w': required inport 'conf' is not connected"
    notes = [line for line in runtime.stderr().splitlines() if "did not start" in line]
    assert notes == [
        f"flowpy serve: graph broken did not start: {reason} (serving on; "
        f"'flowpy status {runtime.url}' says why)"
    ]
    status = flowpy_cli("status", runtime.url)
    assert status.returncode == 3
    assert status.stdout.splitlines()[0] == f"broken: not started (cannot start: {reason})"
    with Client(runtime.url).connect() as client:  # other clients are served as ever
        assert client.getruntime()["graph"] == "broken"
