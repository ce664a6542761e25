"""Test hooks a served runtime loads at start-up, only when a test asks for one.

A test puts this folder on ``PYTHONPATH`` of the ``flowpy serve`` it spawns (see
``tests/e2e/test_stop_drain.py``); Python imports ``sitecustomize`` before anything else, so
a hook is in place before the first network starts. Without its environment variable no hook
is loaded, and the runtime is the one users run.
"""

import os

if os.environ.get("FLOWPY_TEST_DRAIN_GATE"):
    import drain_gate

    drain_gate.install(os.environ["FLOWPY_TEST_DRAIN_GATE"])
