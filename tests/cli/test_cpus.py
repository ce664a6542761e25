"""``--cpus``: the commands that run networks pin every thread to one CPU unless told not to,
and programs that exec/Run starts get every CPU back (docs/deployment.md, CPUs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import python_env
from ws_clients import ReadingClient, build_chain, is_data

from flowpy.engine import cpus

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not cpus.supported(), reason="needs sched_setaffinity (Linux)"),
]

ALLOWED = sorted(os.sched_getaffinity(0)) if cpus.supported() else []


def thread_cpus(pid: int) -> dict[int, list[int]]:
    """The CPUs each thread of process ``pid`` may run on."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(tid)] = sorted(os.sched_getaffinity(int(tid)))
        except ProcessLookupError:  # ended meanwhile
            pass
    return found


def test_serve_pins_every_thread_to_one_cpu_by_default(spawn_runtime):
    runtime = spawn_runtime()
    client = ReadingClient(runtime.url)
    try:  # threads started later (a client's reader and writer, a network's) inherit it
        build_chain(client, "g", count=3)
        assert client.request("network", "start", {"graph": "g"})["command"] == "started"
        client.send("runtime", "packet", {"graph": "g", "port": "in", "event": "data",
                                          "payload": 1})
        client.wait_for(is_data("out"))  # through every process of the network
        seen = thread_cpus(runtime.proc.pid)
    finally:
        client.close()
    assert len(seen) >= 8  # main, reader, writer, g-IN, g-OUT, three processes, ...
    chosen = set(map(tuple, seen.values()))
    assert len(chosen) == 1, seen
    (only,) = chosen
    assert len(only) == 1 and only[0] in ALLOWED


def test_serve_cpus_all_leaves_the_threads_to_the_system(spawn_runtime):
    runtime = spawn_runtime("--cpus", "all")
    assert set(map(tuple, thread_cpus(runtime.proc.pid).values())) == {tuple(ALLOWED)}


def test_serve_cpus_list_is_the_set_the_threads_get(spawn_runtime):
    runtime = spawn_runtime("--cpus", str(ALLOWED[-1]))
    assert set(map(tuple, thread_cpus(runtime.proc.pid).values())) == {(ALLOWED[-1],)}


@pytest.mark.parametrize(("value", "message"), [
    ("4096", "--cpus: this process may run on CPUs"),
    ("one", "argument --cpus: 'one' is not auto, all or a CPU list"),
])
def test_serve_refuses_cpus_it_cannot_have(tmp_path, value, message):
    done = subprocess.run(
        [sys.executable, "-m", "flowpy", "serve", "--port", "0", "--state-dir", str(tmp_path),
         "--cpus", value],
        capture_output=True, text=True, timeout=60, env=python_env(), cwd=ROOT,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "(see: flowpy serve --help)" in done.stderr


PROBE = ("import json, os; print(json.dumps({'child': sorted(os.sched_getaffinity(0)), "
         "'runtime': sorted(os.sched_getaffinity(os.getppid()))}))")


def test_run_pins_the_runtime_but_not_the_programs_exec_run_starts(tmp_path):
    graph = tmp_path / "probe.json"
    graph.write_text(json.dumps({
        "processes": {"probe": {"component": "exec/Run"}},
        "connections": [{"data": [sys.executable, "-c", PROBE],
                         "tgt": {"process": "probe", "port": "conf"}}],
        "outports": {"out": {"process": "probe", "port": "out"}},
    }))
    done = subprocess.run(
        [sys.executable, "-m", "flowpy", "run", str(graph), "--stdout", "out",
         "--format", "lines", "--log-level", "info"],
        capture_output=True, text=True, timeout=60, env=python_env(), cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["child"] == ALLOWED  # exec/Run is parallel: its program gets every CPU
    if len(ALLOWED) > 1:
        assert len(seen["runtime"]) == 1 and seen["runtime"][0] in ALLOWED
        assert f"running on CPU {seen['runtime'][0]} (--cpus auto" in done.stderr
    else:  # one CPU: nothing to choose, nothing pinned
        assert seen["runtime"] == ALLOWED
