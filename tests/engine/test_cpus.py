"""flowpy.engine.cpus: the choice of CPUs, and what confining does to a network's threads.

Confining is process-wide state, so the network that is confined runs in a child Python
process; the test process itself never confines anything.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from processes import python_env

from flowpy.engine import cpus

pytestmark = pytest.mark.skipif(not cpus.supported(), reason="needs sched_setaffinity (Linux)")

ALLOWED = sorted(os.sched_getaffinity(0)) if cpus.supported() else []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("ALL", "all"),
        ("0", {0}),
        ("0,2", {0, 2}),
        ("1-3", {1, 2, 3}),
        (" 0-1,4 ", {0, 1, 4}),
    ],
)
def test_parse_takes_the_words_and_taskset_lists(text, expected):
    got = cpus.parse(text)
    assert got == (expected if isinstance(expected, str) else frozenset(expected))


@pytest.mark.parametrize("text", ["", "x", "1-", "-1", "3-1", "0,,1", "one", "0-99999999999"])
def test_parse_refuses_what_is_not_a_cpu_list(text):
    with pytest.raises(cpus.CpuError):
        cpus.parse(text)


def test_format_joins_runs_of_cpus():
    assert cpus.format_cpus({0, 1, 2, 3, 6}) == "0-3,6"
    assert cpus.format_cpus({5}) == "5"
    assert cpus.format_cpus({0, 2, 3}) == "0,2-3"


def test_auto_picks_one_allowed_cpu_spread_by_process_id():
    allowed = sorted(cpus.available())
    picks = [cpus.choose("auto", pid=pid) for pid in range(len(allowed))]
    if len(allowed) == 1:
        assert picks == [None]  # nothing to choose between: not pinned
        return
    assert [set(p) for p in picks if p is not None] == [{cpu} for cpu in allowed]


def test_all_does_not_pin_and_a_list_must_be_allowed():
    assert cpus.choose("all") is None
    assert cpus.choose(frozenset(ALLOWED[:1])) == frozenset(ALLOWED[:1])
    with pytest.raises(cpus.CpuError, match=r"may run on CPUs .* only, not on 4096"):
        cpus.choose(frozenset({4096}))


NETWORK_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from flowpy.engine import cpus
    from flowpy.engine.component import Component
    from flowpy.engine.network import Network
    from flowpy.engine.registry import Registry
    from flowpy.graphs.model import Graph

    seen = {}

    class Plain(Component):
        def run(self):
            seen[self.node_id] = sorted(os.sched_getaffinity(0))

    class Heavy(Plain):
        parallel = True

    cpus.confine(frozenset({int(sys.argv[1])}))
    registry = Registry()
    registry.register("t/Plain", Plain)
    registry.register("t/Heavy", Heavy)
    graph = Graph("g")
    graph.add_node("plain", "t/Plain")
    graph.add_node("heavy", "t/Heavy")
    network = Network(graph, registry)
    network.start()
    assert network.wait(10)
    network.stop()
    print(json.dumps({"seen": seen, "main": sorted(os.sched_getaffinity(0))}))
""")


def test_a_confined_network_runs_its_processes_there_and_parallel_ones_anywhere():
    target = ALLOWED[-1]
    done = subprocess.run(
        [sys.executable, "-c", NETWORK_SCRIPT, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["seen"]["plain"] == [target]
    assert result["seen"]["heavy"] == ALLOWED  # left where the system puts it
    assert result["main"] == ALLOWED  # only the network's threads are confined
