"""docs/bridge.md's example, run as the page says: ``flowpy run bridge.fbp`` against a served B.

It must end by itself: the numbers run out, B gives everything back, and the run exits 0.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading

import pytest
from processes import ROOT, free_port, python_env

pytestmark = pytest.mark.integration

ECHO = str(ROOT / "examples" / "echo.json")


def _example(url: str) -> str:
    text = (ROOT / "docs" / "bridge.md").read_text(encoding="utf-8")
    match = re.search(r"```fbp\n(.*?)```", text, re.S)
    assert match, "docs/bridge.md has no fbp example"
    assert "ws://127.0.0.1:3570" in match.group(1)
    return match.group(1).replace("ws://127.0.0.1:3570", url)


def _run(path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flowpy", "run", str(path)],
        cwd=str(path.parent),
        env=python_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_bridge_example_ends_by_itself(spawn_runtime, tmp_path):
    b = spawn_runtime("--graph", ECHO, secret="s3cret")
    source = tmp_path / "bridge.fbp"
    source.write_text(_example(b.url), encoding="utf-8")
    for run in (1, 2):  # B's network, stopped at the end of a run, is started by the next
        done = _run(source)
        assert done.returncode == 0, f"run {run}: {done.stdout}\n{done.stderr}"
        lines = done.stdout.splitlines()
        assert [line for line in lines if line.isdigit()] == ["0", "1", "2", "3", "4"], lines
        statuses = [json.loads(line) for line in lines if line.startswith("{")]
        states = [s["state"] for s in statuses if s.get("type") == "state"]
        assert states == ["connecting", "connected", "closed"], statuses
        assert {"type": "port", "port": "out", "event": "disconnect"} in statuses
    assert b.running


def test_a_bridge_run_ends_after_its_remote_was_killed_and_came_back(spawn_runtime, tmp_path):
    """Issue 24 case 5: B is killed (SIGKILL) while a ``flowpy run`` Bridge uses the network
    it started, and restarted on the same port and state directory, where it resumes that
    network (start.json). The Bridge still owns it: once stdin ends, it stops B's network
    and the run ends by itself."""
    port = str(free_port())
    b = spawn_runtime("--graph", ECHO, "--port", port, secret="s3cret")
    conf = {
        "url": b.url,
        "secret": "s3cret",
        "start": True,
        "map": {"in": {"0": "in"}, "out": {"0": "out"}},
        "reconnect": {"initial": 0.05, "max": 0.3},
    }
    source = tmp_path / "bridge.fbp"
    source.write_text(
        "INPORT=pass.IN:IN\n"
        "pass(core/Repeat) OUT -> IN[0] bridge(core/Bridge)\n"
        f"'{json.dumps(conf)}' -> CONF bridge\n"
        "bridge OUT[0] -> IN print(core/Output)\n"
        "bridge STATUS -> IN log(core/Output)\n",
        encoding="utf-8",
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "flowpy", "run", str(source), "--stdin", "in"],
        cwd=str(tmp_path),
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line.strip()) for line in run.stdout], name="test-run-stdout"
    )
    reader.start()

    def wait_line(wanted) -> list[str]:
        seen = []
        while True:
            line = lines.get(timeout=60)
            seen.append(line)
            if wanted(line):
                return seen

    try:
        run.stdin.write("1\n")
        run.stdin.flush()
        wait_line(lambda line: line == "1")
        b.kill()
        back = spawn_runtime(
            "--graph", ECHO, "--port", port, secret="s3cret", state_dir=b.state_dir
        )
        assert back.url == b.url
        run.stdin.write("2\n")
        run.stdin.flush()
        seen = wait_line(lambda line: line == "2")
        assert any('"remote-restart"' in line for line in seen), seen
        run.stdin.close()
        assert run.wait(60) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        reader.join(10)
