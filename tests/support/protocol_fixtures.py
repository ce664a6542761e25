"""Fixtures for the protocol tests: a pytest plugin, loaded for every test (``-p`` in pyproject).

``make_runtime(**options)`` builds runtimes with the test components, a private state dir and
small connections; ``runtime`` and ``client`` are the common case. At teardown every runtime
is shut down and every message any :class:`RecordingSink` received must be schema-valid.
"""

from __future__ import annotations

from typing import Any

import pytest
from protocol_harness import SINKS, Gate, ProtocolClient, make_registry

from flowpy.runtime.runtime import Runtime


@pytest.fixture
def make_runtime(tmp_path):
    """Runtimes with the test components, a private state dir and small connections.

    At teardown every runtime is shut down and every message any sink received must have
    been schema-valid.
    """
    made: list[Runtime] = []
    SINKS.clear()
    Gate.go.clear()

    def factory(**kwargs: Any) -> Runtime:
        kwargs.setdefault("registry", make_registry())
        kwargs.setdefault("state_dir", tmp_path / f"state-{len(made)}")
        kwargs.setdefault("network_capacity", 4)
        rt = Runtime(**kwargs)
        made.append(rt)
        return rt

    yield factory
    Gate.go.set()
    for rt in made:
        rt.shutdown(timeout=5.0)
    problems = [problem for sink in SINKS for problem in sink.invalid]
    SINKS.clear()
    assert not problems, "schema-invalid messages were sent:\n" + "\n".join(problems)


@pytest.fixture
def runtime(make_runtime) -> Runtime:
    return make_runtime()


@pytest.fixture
def client(runtime) -> ProtocolClient:
    return ProtocolClient(runtime, "client")


#: Seconds threads a test left behind get to end once the session is over.
LEFTOVER_GRACE = 5.0


def pytest_unconfigure(config: pytest.Config) -> None:
    """A thread a test started and never stopped (a network nobody stopped, a server nobody
    closed) would keep the interpreter from exiting: the run would hang instead of ending. Name
    such threads and end the run as failed, so the leak is a visible failure, not a hang."""
    import os
    import sys
    import threading
    import time

    deadline = time.monotonic() + LEFTOVER_GRACE
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    left = [
        t.name
        for t in threading.enumerate()
        if t is not threading.current_thread() and not t.daemon and t.is_alive()
    ]
    if left:
        print(
            f"\nthreads left running by the tests (a test did not stop them): {left}",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(3)
