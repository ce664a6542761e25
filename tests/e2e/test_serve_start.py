"""``flowpy serve --graph FILE --start``: the network runs once the ready line is out, and a
restart on the same state directory starts what was running (until a client stops it)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from processes import ROOT, python_env

from flowpy.link.client import Client

pytestmark = pytest.mark.integration

ECHO = str(ROOT / "examples" / "echo.json")


def _graph_state(runtime) -> str:
    with urllib.request.urlopen(runtime.http_url, timeout=10) as response:
        status = json.load(response)
    [echo] = [g for g in status["graphs"] if g["id"] == "echo"]
    return echo["state"]


def _echo_once(url: str, value) -> object:
    """One value into echo's ``in`` without network:start; what comes out of ``out``."""
    with Client(url).connect() as client:
        client.send_packet("echo", "in", "data", value)
        while True:
            packet = client.recv_packet(timeout=10)
            if packet["event"] == "data":
                return packet["payload"]


def test_start_runs_the_main_network_and_a_restart_remembers_it(spawn_runtime, tmp_path):
    state = tmp_path / "state"
    first = spawn_runtime("--graph", ECHO, "--start", state_dir=state)
    assert _graph_state(first) == "running"  # as soon as the ready line is out
    with Client(first.url).connect() as client:
        assert client.network_status("echo")["running"] is True
    assert _echo_once(first.url, {"n": 1}) == {"n": 1}
    assert json.loads((state / "start.json").read_text()) == {"running": ["echo"]}
    assert first.stop() == 0

    again = spawn_runtime("--graph", ECHO, state_dir=state)  # no --start: the state says so
    assert _graph_state(again) == "running"
    assert _echo_once(again.url, "again") == "again"
    with Client(again.url).connect() as client:
        client.stop_network("echo")  # a client's stop: not meant to run any more
    assert json.loads((state / "start.json").read_text()) == {"running": []}
    assert again.stop() == 0

    third = spawn_runtime("--graph", ECHO, state_dir=state)
    assert _graph_state(third) == "not started"
    with Client(third.url).connect() as client:
        client.start_network("echo")  # a client's start is remembered the same way
    assert third.stop() == 0
    fourth = spawn_runtime("--graph", ECHO, state_dir=state)
    assert _graph_state(fourth) == "running"


def test_start_without_a_main_graph_is_refused(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowpy",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
            "--start",
        ],
        env=python_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "--start: there is no main graph to start" in done.stderr
