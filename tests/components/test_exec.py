"""exec/Run: argv only (never a shell), stdin fed in its own thread, stdout lines out,
stderr and the exit status to error, the child killed on a network stop, no zombie."""

import os
import sys
import threading
import time

import pytest
from engine_helpers import build

from flowpy import IP, Network, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.testing import ProcessFailed, run_component, run_graph

PY = sys.executable


def children_of_this_process(besides: frozenset[int] = frozenset()):
    """``(pid, state)`` of our child processes that still exist (zombies included), but
    those in ``besides`` (children other tests started and still keep, such as servers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and int(entry) not in besides:
            found.append((int(entry), fields[0]))
    return found


def test_stdin_lines_in_stdout_lines_out():
    result = run_component(
        "exec/Run", {"conf": [["sort", "-n"]], "in": ["10", 2, IP.open("g"), "1", IP.close("g")]}
    )
    assert result["out"] == ["1", "2", "10"] and result["error"] == []


def test_conf_as_json_text_from_an_fbp_iip_and_options():
    conf = '{"argv": ["sh", "-c", "pwd; echo $GREETING"], "cwd": "/", "env": {"GREETING": "hi"}}'
    assert run_component("exec/Run", {"conf": [conf]})["out"] == ["/", "hi"]
    assert run_component("exec/Run", {"conf": ['["echo", "a b"]']})["out"] == ["a b"]


def test_a_string_is_refused_never_run_by_a_shell(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ProcessFailed, match="never passes a command line to a shell"):
        run_component("exec/Run", {"conf": [f"touch {marker}"]})
    assert not marker.exists()
    with pytest.raises(ProcessFailed, match="argv must be a non-empty list of strings"):
        run_component("exec/Run", {"conf": [["echo", 1]]})


def test_shell_syntax_in_data_stays_data():
    out = run_component("exec/Run", {"conf": [["cat"]], "in": ["$(echo pwned); rm -rf /"]})
    assert out["out"] == ["$(echo pwned); rm -rf /"]


def test_stderr_lines_and_the_exit_status_go_to_error():
    argv = [PY, "-c", "import sys; print('out'); print('bad', file=sys.stderr); sys.exit(3)"]
    result = run_component("exec/Run", {"conf": [argv]})
    assert result["out"] == ["out"]
    assert result["error"][0] == "bad"
    assert result["error"][1] == {
        "message": f"{PY} exited with status 3",
        "status": 3,
        "argv": argv,
    }


def test_a_failing_program_without_error_port_is_a_process_error():
    graph = build({"r": "exec/Run"}, iips={"r.conf": ["false"]}, outports={"out": "r.out"})
    with pytest.raises(ProcessFailed, match="false exited with status 1"):
        run_graph(graph)


def test_a_missing_program_is_a_clear_process_error():
    with pytest.raises(ProcessFailed, match="cannot run 'no-such-program-here'"):
        run_component("exec/Run", {"conf": [["no-such-program-here"]]})


def test_a_program_that_stops_reading_early_does_not_hang_the_feeder():
    lines = [str(n) for n in range(50_000)]
    result = run_component("exec/Run", {"conf": [["head", "-n", "2"]], "in": lines}, timeout=20)
    assert result["out"] == ["0", "1"]


def test_a_program_that_ends_while_input_is_still_open_ends_the_process():
    graph = build(
        {"i": "time/Interval", "r": "exec/Run"},
        ["i.out -> r.in"],
        iips={"i.conf": 50, "r.conf": ["true"]},
        outports={"out": "r.out"},
    )
    assert run_graph(graph, timeout=10)["out"] == []


def test_the_child_is_killed_on_a_network_stop_and_no_zombie_is_left():
    graph = build({"r": "exec/Run"}, iips={"r.conf": ["sleep", "60"]}, outports={"out": "r.out"})
    others = frozenset(pid for pid, _ in children_of_this_process())
    network = Network(graph, Registry())
    network.start()
    deadline = time.monotonic() + 5
    while not any(name == "S" or name == "R" for _, name in children_of_this_process(others)):
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    start = time.monotonic()
    assert network.stop(5.0, drain=False) == []
    assert time.monotonic() - start < 3.0
    assert children_of_this_process(others) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("r-")]


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period():
    argv = [
        PY,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)",
    ]
    graph = build({"r": "exec/Run"}, iips={"r.conf": argv}, outports={"out": "r.out"})
    seen = threading.Event()

    class Ready(NetworkListener):
        def outport_ips(self, network, port, ips):
            seen.set()

    others = frozenset(pid for pid, _ in children_of_this_process())
    network = Network(graph, Registry(), Ready())
    network.start()
    assert seen.wait(10)
    start = time.monotonic()
    network.stop(5.0, drain=False)
    assert time.monotonic() - start < 4.5
    assert children_of_this_process(others) == []


def test_a_graph_from_a_file_runs_programs_in_its_folder_and_a_relative_cwd_is_below_it(tmp_path):
    (tmp_path / "sub").mkdir()
    where = [PY, "-c", "import os; print(os.getcwd())"]
    for conf, expected in (
        (where, tmp_path),
        ({"argv": where, "cwd": "sub"}, tmp_path / "sub"),
        ({"argv": where, "cwd": str(tmp_path)}, tmp_path),
    ):
        graph = build({"run": "exec/Run"}, iips={"run.conf": conf}, outports={"out": "run.out"})
        graph.properties["baseDir"] = str(tmp_path)
        assert run_graph(graph)["out"] == [str(expected)]
