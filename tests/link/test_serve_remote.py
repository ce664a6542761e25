"""``flowpy serve --remote NAME=URL`` starts while the remote is down, and registers
``remote/NAME`` once it answers (announced to clients), or at once from the ports it had
last time."""

from __future__ import annotations

import time

import pytest
from bridge_fixtures import ECHO
from processes import free_port

from flowpy.link.client import Client, ClientError

pytestmark = pytest.mark.integration

SECRET = "s"


def _remote_names(url: str) -> list[str]:
    with Client(url).connect() as client:
        return sorted(
            c["name"] for c in client.list_components() if c["name"].startswith("remote/")
        )


def _wait_for_announcement(client: Client, name: str, timeout: float = 30.0) -> dict:
    """The component:component for ``name`` that the runtime sends, unasked, to ``client``."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no component:component for {name} within {timeout}s"
        try:
            message = client.recv_message(timeout=remaining)
        except ClientError:
            continue
        if (
            message.get("protocol") == "component"
            and message.get("command") == "component"
            and message["payload"].get("name") == name
        ):
            return message["payload"]


def _through_remote(url: str, value: object) -> object:
    """A graph on A: in -> remote/calc -> out; one value through it (and through B)."""
    with Client(url).connect() as client:
        client.graph("clear", id="usecalc", name="usecalc")
        client.graph("addnode", graph="usecalc", id="c", component="remote/calc")
        client.graph("addinport", graph="usecalc", public="in", node="c", port="in")
        client.graph("addoutport", graph="usecalc", public="out", node="c", port="out")
        client.start_network("usecalc")
        client.send_packet("usecalc", "in", "data", value)
        while True:
            packet = client.recv_packet(timeout=30)
            if packet["event"] == "data":
                return packet["payload"]


def test_serve_starts_while_the_remote_is_down_and_registers_it_once_it_answers(
    spawn_runtime, tmp_path
):
    port = free_port()
    remote = f"calc=ws://127.0.0.1:{port}?secret={SECRET}"
    state = tmp_path / "a-state"
    a = spawn_runtime("--remote", remote, state_dir=state)  # nothing listens on port
    assert "remote/calc: cannot discover" in a.stderr()
    assert _remote_names(a.url) == []
    with Client(a.url).connect() as watcher:
        watcher.getruntime()
        b = spawn_runtime("--graph", ECHO, "--port", str(port), secret=SECRET)
        info = _wait_for_announcement(watcher, "remote/calc")
    assert [p["id"] for p in info["inPorts"]] == ["in"]
    assert [p["id"] for p in info["outPorts"]] == ["out"]
    assert _remote_names(a.url) == ["remote/calc"]
    assert "remote/calc: discovered graph 'echo'" in a.stderr()
    assert _through_remote(a.url, {"x": 1}) == {"x": 1}
    assert a.stop() == 0
    assert b.stop() == 0

    # B is down again: A starts with remote/calc as it was last discovered, and still
    # shuts down promptly while it keeps trying to reach B.
    again = spawn_runtime("--remote", remote, state_dir=state)
    assert _remote_names(again.url) == ["remote/calc"]
    assert "registered with the ports of graph 'echo' it had when last discovered" in again.stderr()
    began = time.monotonic()
    assert again.stop() == 0
    assert time.monotonic() - began < 10


def test_a_remote_that_answers_but_refuses_still_stops_the_start(spawn_runtime, tmp_path):
    import subprocess
    import sys

    from processes import python_env

    b = spawn_runtime("--graph", ECHO, secret=SECRET)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowpy",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "a"),
            "--remote",
            f"calc={b.url}?secret=wrong",
        ],
        env=python_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "--remote calc:" in done.stderr and "wrong or missing secret" in done.stderr
