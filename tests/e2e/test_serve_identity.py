"""Runtimes know who they are: one state directory (and so one id) per runtime instance,
and a lock that keeps a second runtime out of a directory in use."""

from __future__ import annotations

import subprocess
import sys

import pytest
from processes import free_port, python_env

from flowpy.link.client import Client

pytestmark = pytest.mark.integration

IN_USE = "is in use by flowpy runtime pid {pid}; pass --state-dir to use another"


def _runtime_id(url: str) -> str:
    with Client(url).connect() as client:
        return client.getruntime()["id"]


def _pid_of_a_dead_process() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_two_runtimes_on_the_default_state_directory_are_two_runtimes(spawn_runtime, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    first = spawn_runtime(env=env, default_state_dir=True)
    second = spawn_runtime(env=env, default_state_dir=True)
    labelled = spawn_runtime("--label", "my calc/2", env=env, default_state_dir=True)
    ids = [_runtime_id(r.url) for r in (first, second, labelled)]
    assert len(set(ids)) == 3
    base = tmp_path / "xdg" / "flowpy"
    dirs = {
        first: base / f"flowpy-{first.port}",
        second: base / f"flowpy-{second.port}",
        labelled: base / f"my_calc_2-{labelled.port}",
    }
    for (runtime, directory), runtime_id in zip(dirs.items(), ids, strict=True):
        assert (directory / "runtime-id").read_text().strip() == runtime_id
        assert (directory / "lock").read_text().strip() == str(runtime.proc.pid)
    assert first.stop() == 0
    assert not (dirs[first] / "lock").exists()  # released at shutdown


def test_a_restart_on_the_same_label_and_port_is_the_same_runtime(spawn_runtime, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    port = str(free_port())
    first = spawn_runtime("--port", port, env=env, default_state_dir=True)
    runtime_id = _runtime_id(first.url)
    assert first.stop() == 0
    again = spawn_runtime("--port", port, env=env, default_state_dir=True)
    assert _runtime_id(again.url) == runtime_id


def test_a_state_directory_in_use_is_refused_with_one_line_and_status_2(spawn_runtime, tmp_path):
    state = tmp_path / "shared"
    first = spawn_runtime(state_dir=state)
    second = subprocess.run(
        [sys.executable, "-m", "flowpy", "serve", "--port", "0", "--state-dir", str(state)],
        env=python_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second
    assert second.stdout == ""  # it never listened
    assert second.stderr.splitlines() == [
        f"flowpy serve: state directory {state} " + IN_USE.format(pid=first.proc.pid)
    ]
    assert first.running
    assert (state / "lock").read_text().strip() == str(first.proc.pid)
    _runtime_id(first.url)  # still serving


def test_a_stale_lock_is_taken_over_with_a_warning(spawn_runtime, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    dead = _pid_of_a_dead_process()
    (state / "lock").write_text(f"{dead}\n")
    runtime = spawn_runtime(state_dir=state)
    assert (state / "lock").read_text().strip() == str(runtime.proc.pid)
    warnings = [line for line in runtime.stderr().splitlines() if "WARNING" in line]
    assert any(f"taking over the lock of flowpy runtime pid {dead}" in line for line in warnings), (
        runtime.stderr()
    )
    assert runtime.stop() == 0
    assert not (state / "lock").exists()


def test_a_killed_runtime_leaves_a_lock_that_the_next_one_takes_over(spawn_runtime, tmp_path):
    state = tmp_path / "state"
    first = spawn_runtime(state_dir=state)
    runtime_id = _runtime_id(first.url)
    first.kill()
    assert (state / "lock").read_text().strip() == str(first.proc.pid)
    again = spawn_runtime(state_dir=state)
    assert _runtime_id(again.url) == runtime_id
    assert f"pid {first.proc.pid}" in again.stderr()
