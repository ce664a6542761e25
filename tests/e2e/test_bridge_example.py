"""docs/bridge.md's example, run as the page says: ``flowpy run bridge.fbp`` against a served B.

It must end by itself: the numbers run out, B gives everything back, and the run exits 0.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from processes import ROOT, python_env

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
        [sys.executable, "-m", "flowpy", "run", str(path)], cwd=str(path.parent),
        env=python_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout)


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
