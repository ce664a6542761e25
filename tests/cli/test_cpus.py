"""``--cpus``: the commands that run networks keep the threads that hand IPs along on one CPU
unless told not to; the rest of the process, and the programs exec/Run starts, are left free
(docs/deployment.md, CPUs)."""

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


def served_threads(runtime) -> dict[int, list[int]]:
    """The CPUs of each thread of ``runtime`` while a client runs a 3-process network."""
    client = ReadingClient(runtime.url)
    try:
        build_chain(client, "g", count=3)
        assert client.request("network", "start", {"graph": "g"})["command"] == "started"
        client.send(
            "runtime", "packet", {"graph": "g", "port": "in", "event": "data", "payload": 1}
        )
        client.wait_for(is_data("out"))  # through every process of the network
        return thread_cpus(runtime.proc.pid)
    finally:
        client.close()


#: Threads that hand IPs along: three processes, g-IN, g-OUT and the client's writer.
CONFINED = 6


def test_serve_keeps_the_threads_that_hand_ips_along_on_one_cpu(spawn_runtime):
    seen = served_threads(spawn_runtime())
    confined = [cpus for cpus in seen.values() if cpus != ALLOWED]
    if len(ALLOWED) == 1:  # nothing to choose between: nothing confined
        assert confined == []
        return
    assert len(confined) == CONFINED, seen
    assert len(set(map(tuple, confined))) == 1
    assert len(confined[0]) == 1 and confined[0][0] in ALLOWED
    assert len(seen) > CONFINED  # main, HTTP server and reader threads are left free


def test_serve_cpus_all_leaves_the_threads_to_the_system(spawn_runtime):
    seen = served_threads(spawn_runtime("--cpus", "all"))
    assert set(map(tuple, seen.values())) == {tuple(ALLOWED)}


def test_serve_cpus_list_is_the_set_those_threads_get(spawn_runtime):
    seen = served_threads(spawn_runtime("--cpus", str(ALLOWED[-1])))
    on_it = list(seen.values()).count([ALLOWED[-1]])
    # With one CPU allowed, every thread is on it whatever was confined.
    assert on_it == (CONFINED if len(ALLOWED) > 1 else len(seen)), seen


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4096", "--cpus: this process may run on CPUs"),
        ("one", "argument --cpus: 'one' is not auto, all or a CPU list"),
    ],
)
def test_serve_refuses_cpus_it_cannot_have(tmp_path, value, message):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowpy",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
            "--cpus",
            value,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "(see: flowpy serve --help)" in done.stderr


PROBE = "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))"


def test_run_confines_its_network_but_not_the_programs_exec_run_starts(tmp_path):
    graph = tmp_path / "probe.json"
    graph.write_text(
        json.dumps(
            {
                "processes": {
                    "probe": {"component": "exec/Run"},
                    "pass": {"component": "core/Repeat"},
                },
                "connections": [
                    {
                        "data": [sys.executable, "-c", PROBE],
                        "tgt": {"process": "probe", "port": "conf"},
                    }
                ],
                "inports": {"in": {"process": "pass", "port": "in"}},
                "outports": {
                    "out": {"process": "pass", "port": "out"},
                    "probe": {"process": "probe", "port": "out"},
                },
            }
        )
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowpy",
            "run",
            str(graph),
            "--stdin",
            "in",
            "--stdout",
            "out",
            "--stdout",
            "probe",
            "--format",
            "lines",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("hello\n")
        proc.stdin.flush()
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # hello, and the probe's
        seen = thread_cpus(proc.pid)  # while the network waits for more on stdin
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "hello\n" in lines
    child = json.loads(next(line for line in lines if line.startswith("[")))
    assert child == ALLOWED  # exec/Run is parallel: the program it starts gets every CPU
    confined = [cpus for cpus in seen.values() if cpus != ALLOWED]
    if len(ALLOWED) > 1:  # core/Repeat, in-IN, in-OUT; not exec/Run's, nor the main thread
        assert len(confined) == 3, seen
        assert len(set(map(tuple, confined))) == 1 and len(confined[0]) == 1
    else:
        assert confined == []
