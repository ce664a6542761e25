"""Fixtures shared by the whole suite: served runtimes, the npm tools, the protocol harness.

Helpers live in tests/support (on the import path, see pyproject.toml): ``processes`` spawns
``flowpy serve``; ``protocol_fixtures`` (a plugin that pyproject.toml loads for every test
with ``-p``) drives a runtime without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import NODE_BIN, NODE_MODULES, SECRET, RuntimeProcess, SpawnRuntime, _runtime_spawner


@pytest.fixture
def spawn_runtime(tmp_path: Path) -> Iterator[SpawnRuntime]:
    """Start ``flowpy serve`` processes for one test; all are stopped at its end."""
    with _runtime_spawner(tmp_path) as spawn:
        yield spawn


@pytest.fixture(scope="session")
def session_spawn_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpawnRuntime]:
    """Like ``spawn_runtime``, for runtimes shared by the whole session."""
    with _runtime_spawner(tmp_path_factory.mktemp("runtimes")) as spawn:
        yield spawn


@pytest.fixture(scope="session")
def runtime_server(session_spawn_runtime: SpawnRuntime) -> RuntimeProcess:
    """An open runtime (no secret), shared by the session."""
    return session_spawn_runtime()


@pytest.fixture(scope="session")
def secret_runtime_server(session_spawn_runtime: SpawnRuntime) -> RuntimeProcess:
    """A runtime started with ``--secret`` (``proc.secret``), shared by the session."""
    return session_spawn_runtime(secret=SECRET)


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tests/js/node_modules/.bin, or FAIL: the npm tools are part of the test suite."""
    if not (NODE_BIN / "fbp-test").exists():
        pytest.fail(
            f"{NODE_MODULES} is missing or incomplete: run `npm ci --prefix tests/js` "
            "(installs fbp-protocol, fbp-client and fbp-spec from tests/package-lock.json)",
            pytrace=False,
        )
    return NODE_BIN
