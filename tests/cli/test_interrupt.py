"""Ctrl-C during ``flowpy run``: the first drains, a second stops at once, quietly, with exit
status 130, even when a process never looks at its stop; nothing hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from processes import python_env

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
    proc = subprocess.Popen([sys.executable, str(script), "run", str(graph)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=python_env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


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
