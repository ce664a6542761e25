"""Where secrets come from and when ``serve`` refuses to start (issue 21): a secret from
``FLOWPY_SECRET`` or ``--secret-file`` as well as ``--secret``, empty secrets refused as
usage errors, and protected mode (no open runtime on a non-loopback address unless
``--insecure-open``), against real ``flowpy`` processes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from processes import ROOT, python_env

from flowpy.cli.serve import is_loopback, protected_mode_refusal
from flowpy.link.client import Client

ECHO = str(ROOT / "examples" / "echo.json")
SECRET = "from-the-environment"

pytestmark = pytest.mark.integration


def flowpy_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "flowpy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=python_env(env),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def env_runtime(spawn_runtime):
    """A runtime whose secret came from FLOWPY_SECRET alone (no --secret on its command
    line, where ps would show it)."""
    proc = spawn_runtime("--graph", ECHO, env={"FLOWPY_SECRET": SECRET})
    assert SECRET not in " ".join(proc.command)
    return proc


def test_serve_takes_its_secret_from_the_environment(env_runtime):
    with Client(env_runtime.url, secret=SECRET).connect() as client:
        assert "network:control" in client.getruntime()["capabilities"]
    with Client(env_runtime.url).connect() as anonymous:
        assert anonymous.getruntime()["capabilities"] == []


def test_client_commands_take_the_secret_from_a_file_or_the_environment(env_runtime, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")  # as `echo S > file` writes it
    started = flowpy_cli("start", env_runtime.url, "--secret-file", str(secret_file))
    assert (started.returncode, started.stderr) == (0, "")
    assert started.stdout.startswith("echo: running")
    status = flowpy_cli("status", env_runtime.url, env={"FLOWPY_SECRET": SECRET})
    assert status.returncode == 0 and status.stdout.startswith("echo: running")
    # --secret-file comes before the environment; the refusal says which source to check
    secret_file.write_text("wrong\n")
    wrong = flowpy_cli(
        "stop",
        env_runtime.url,
        "--secret-file",
        str(secret_file),
        "--timeout",
        "10",
        env={"FLOWPY_SECRET": SECRET},
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        f"flowpy stop: the runtime refused this secret (check --secret-file {secret_file})"
    )
    wrong = flowpy_cli("stop", env_runtime.url, "--timeout", "10", env={"FLOWPY_SECRET": "wrong"})
    assert wrong.stderr.strip() == (
        "flowpy stop: the runtime refused this secret (check $FLOWPY_SECRET)"
    )
    with Client(env_runtime.url, secret=SECRET).connect() as client:
        assert client.network_status("echo")["running"] is True


@pytest.mark.parametrize("command", ["serve", "send", "listen", "start", "stop", "status"])
def test_an_empty_secret_from_any_source_is_a_usage_error(command, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    url = [] if command == "serve" else ["ws://127.0.0.1:9"]
    extra = ["--port", "in"] if command == "send" else []
    empty_secret = ": an empty secret is no secret (leave it out to use none)"
    cases = [
        (["--secret", ""], {}, "--secret is empty" + empty_secret),
        (["--secret-file", str(empty)], {}, f"--secret-file {empty} is empty" + empty_secret),
        ([], {"FLOWPY_SECRET": ""}, "$FLOWPY_SECRET is empty" + empty_secret),
        (
            ["--secret", "s", "--secret-file", str(empty)],
            {},
            "give the secret once: --secret or --secret-file, not both",
        ),
        (
            ["--secret-file", str(tmp_path / "missing")],
            {},
            f"--secret-file {tmp_path / 'missing'}: cannot read it: No such file or directory",
        ),
    ]
    limit = ["--port", "0"] if command == "serve" else ["--timeout", "5"]
    for flags, env, error in cases:
        result = flowpy_cli(command, *url, *extra, *flags, *limit, env=env)
        assert result.returncode == 2, (flags, env, result.stderr)
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"flowpy {command}: error: {error} (see: flowpy {command} --help)"
        ]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org", ""])
def test_serve_refuses_an_open_runtime_on_an_address_others_reach(host, tmp_path):
    result = flowpy_cli(
        "serve", "--host", host, "--port", "0", "--state-dir", str(tmp_path / "state"), timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""  # never listened: no ready line
    [line] = result.stderr.splitlines()
    assert line.startswith(f"flowpy serve: refusing to serve on {host or 'every address'} ")
    for flag in ("--secret", "--permissions", "--insecure-open"):
        assert flag in line
    assert not (tmp_path / "state").exists()


def test_serve_without_a_secret_still_opens_on_loopback(spawn_runtime):
    open_runtime = spawn_runtime()  # --host 127.0.0.1, no secret: today's default
    with Client(open_runtime.url).connect() as client:
        assert "protocol:graph" in client.getruntime()["capabilities"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({}, True),
        ({"secret": "s"}, False),
        ({"permissions": "perms.json"}, False),
        ({"insecure_open": True}, False),
    ],
)
def test_protected_mode_needs_a_secret_permissions_or_the_opt_out(options, refused):
    args = argparse.Namespace(
        **{
            "host": "0.0.0.0",
            "secret": None,
            "permissions": None,
            "insecure_open": False,
            **options,
        }
    )
    assert (protected_mode_refusal(args) is not None) is refused
