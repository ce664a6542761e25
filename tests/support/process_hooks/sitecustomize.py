"""Test hooks a flowpy process (``serve``, ``run``) loads at start-up, only when a test asks.

A test puts this folder on ``PYTHONPATH`` of the process it spawns (see
``tests/e2e/test_stop_drain.py``); Python imports ``sitecustomize`` before anything else, so
a hook is in place before the first network starts. Without its environment variable no hook
is loaded, and the process is the one users run.
"""

import os

if os.environ.get("FLOWPY_TEST_DRAIN_GATE"):
    import drain_gate

    drain_gate.install(os.environ["FLOWPY_TEST_DRAIN_GATE"])
