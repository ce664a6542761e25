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
