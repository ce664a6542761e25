"""``flowpy run`` starts lazily: it loads what the graph uses, not the server, Flask, every
component library or the broker clients (issue 28: a newcomer's first run took seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from processes import ROOT, python_env

pytestmark = pytest.mark.integration

#: Five components from two libraries.
GRAPH = """
'3' -> CONF r(core/Range) OUT -> IN s(strings/Stringify) OUT -> IN u(strings/Upper)
u OUT -> IN c(core/Count) OUT -> IN o(core/Output)
"""

#: Runs ``flowpy run`` in this interpreter, then prints the modules it imported.
SCRIPT = """
import json, sys
from flowpy.cli.main import main
status = main(["run", sys.argv[1]])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

NEVER = (
    "flask",
    "werkzeug",
    "flask_sock",
    "simple_websocket",
    "flowpy.server",
    "flowpy.protocol",
    "flowpy.runtime",
    "flowpy.link.broker",
    "paho",
    "pika",
    "httpx",
    "jmespath",
)


def test_a_run_imports_only_the_libraries_its_graph_uses_and_no_server(tmp_path):
    graph = tmp_path / "five.fbp"
    graph.write_text(GRAPH)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(graph)],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
        cwd=ROOT,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    assert (report["status"], done.stdout) == (0, "3\n"), done.stderr
    modules = report["modules"]
    assert [m for m in modules if m.split(".")[0] in NEVER or m.startswith(NEVER)] == []
    libraries = {
        m.split(".")[1]
        for m in modules
        if m.startswith("flowpy_components.") and not m.startswith("flowpy_components._")
    }
    assert libraries == {"core", "strings"}
    assert not [
        m
        for m in modules
        if m.startswith("flowpy.cli.")
        and m
        not in (
            "flowpy.cli.main",
            "flowpy.cli.run",
            "flowpy.cli.lines",
            "flowpy.cli.logs",
            "flowpy.cli.tuning",
            "flowpy.cli.secret_options",  # main settles the secret of every command
            "flowpy.cli.policy",  # a run's error policy and its failure lines
        )
    ]
