"""Ctrl-C during ``flowpy run``: the first drains (a total made at the end of the input still
comes out), a second stops at once, quietly, with exit status 130, even when a process never
looks at its stop; nothing hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from processes import ROOT, TESTS, python_env

pytestmark = pytest.mark.integration

#: A flowpy entry point with one more component: test/Stubborn says "ready" once it holds an
#: IP, then waits on an event nobody sets and never looks at its stop.
SCRIPT = textwrap.dedent("""
    import sys, threading
    from flowpy import Component, InPort, InPorts
    from flowpy.cli.main import main
    from flowpy.engine.registry import Registry

    class Stubborn(Component):
        inports = InPorts(InPort("in"))

        def run(self):
            for _ip in self.inports["in"]:
                print("ready", flush=True)
                threading.Event().wait()

    discover = Registry.discover

    def with_stubborn(self):
        discover(self)
        self.register("test/Stubborn", Stubborn)

    Registry.discover = with_stubborn
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture
def stubborn_run(tmp_path):
    script = tmp_path / "flowpy_with_stubborn.py"
    script.write_text(SCRIPT)
    graph = tmp_path / "stubborn.fbp"
    graph.write_text("'go' -> IN s(test/Stubborn)\n")
    proc = subprocess.Popen(
        [sys.executable, str(script), "run", str(graph)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


#: Every line goes to stdout as it passes (echo) and into count, whose total leaves at the end.
TALLY = """\
INPORT=pass.IN:IN
OUTPORT=count.OUT:OUT
pass(core/Repeat) OUT -> IN echo(core/Output)
pass OUT -> IN count(core/Count)
"""


def test_a_first_ctrl_c_ends_the_input_and_the_count_still_comes_out(tmp_path):
    """Issue 24: Ctrl-C to run drains as network:stop does. The run loads the drain gate
    (tests/support/process_hooks), which holds count woken by the end of its input but not
    run, the interleaving a drain must not take for idle."""
    graph = tmp_path / "tally.fbp"
    graph.write_text(TALLY)
    hooks = TESTS / "support" / "process_hooks"
    env = python_env(
        {"PYTHONPATH": os.pathsep.join([str(ROOT), str(hooks)]), "FLOWPY_TEST_DRAIN_GATE": "count"}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowpy", "run", str(graph), "--stdin", "in", "--stdout", "out"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        proc.stdin.write("".join(f"{n}\n" for n in range(5)))
        proc.stdin.flush()
        echoed = [proc.stdout.readline().strip() for _ in range(5)]
        assert echoed == ["0", "1", "2", "3", "4"]  # all five are inside
        proc.send_signal(signal.SIGINT)
        # stdin stays open until the run has ended (communicate() would close it at once, and
        # an end of input that beats the interrupt ends the stream before any drain, so the
        # gate never sees the interleaving): only the stop ends the input. What the run
        # writes is a few lines, well within the pipes' buffers.
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.stdin.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out.splitlines()) == (130, ["5"]), err
    assert "drain gate: holding count at its end of stream" in err


def test_a_second_ctrl_c_stops_at_once_quietly_with_130(stubborn_run):
    proc = stubborn_run
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    first = proc.stderr.readline()  # the drain has begun (s never lets it finish)
    assert first.startswith("flowpy: stopping: what the graph holds runs out first")
    proc.send_signal(signal.SIGINT)
    # Generous: it must end by itself, not be killed (the fixture kills only on failure).
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    left = err.strip().splitlines()[-1]
    assert left.startswith("flowpy: stopped without waiting for: ")
    assert "s" in left.rpartition(": ")[2].split(", ")


def test_a_third_ctrl_c_leaves_without_waiting_for_the_grace(stubborn_run):
    proc = stubborn_run
    assert proc.stdout.readline().strip() == "ready"
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
