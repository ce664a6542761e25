"""Conformance with the real FBP protocol clients, against real ``flowpy serve`` processes.

* ``fbp-test`` (npm fbp-protocol 0.9.8), against a runtime without a secret and one with;
* a strict fbp-client 0.4.3 session (tests/strict_session.js), which validates every
  message both ways and checks capabilities, with and without a secret;
* fbp-spec 0.8.0 suites for the core components (tests/specs/*.yaml);
* and every message those runtimes sent during all of the above, validated against the
  fbp-protocol JSON schemas (the servers record them through ``FLOWPY_VALIDATE_OUTPUT``).
  That check is the last test of this module, so it sees the whole run.

The npm tools live in tests/js/node_modules (``npm ci --prefix tests/js``); without them these
tests fail rather than skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import websocket
from processes import JS, SECRET, TESTS, RuntimeProcess

pytestmark = [pytest.mark.integration, pytest.mark.npm]

NODE_TIMEOUT = 180  # seconds for one npm tool run
SPEC_TIMEOUT = 60  # one fbp-spec file (about 3 s when it passes)
SPECS = TESTS / "specs"
FBP_TEST_MINIMUM = 22  # tests in fbp-protocol 0.9.8's suite for the features we advertise


@pytest.fixture(scope="module")
def open_runtime(session_spawn_runtime: Any) -> RuntimeProcess:
    return session_spawn_runtime(record=True)


@pytest.fixture(scope="module")
def secret_runtime(session_spawn_runtime: Any) -> RuntimeProcess:
    return session_spawn_runtime(secret=SECRET, record=True)


def run_node(
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path = JS,
    timeout: float = NODE_TIMEOUT,
) -> subprocess.CompletedProcess:
    """Run an npm tool from tests/js/ (fbp-test finds mocha through ./node_modules/.bin)."""
    full_env = dict(os.environ)
    full_env.pop("FBP_PROTOCOL_SECRET", None)
    full_env.update(env or {})
    try:
        return subprocess.run(
            command,
            cwd=str(cwd),
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{' '.join(command)} did not finish in {timeout}s\n"
            f"stdout:\n{_text(exc.stdout)}\nstderr:\n{_text(exc.stderr)}"
        )


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


def _report(result: subprocess.CompletedProcess, runtime: RuntimeProcess) -> str:
    return (
        f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
        f"runtime stderr:\n{runtime.stderr()[-4000:]}"
    )


# ---------------------------------------------------------------------------------------------
# fbp-test
# ---------------------------------------------------------------------------------------------


def _fbp_test(runtime: RuntimeProcess, node_tools: Path, tmp_path: Path, secret: str | None):
    config = {
        "name": "flowpy",
        "command": None,  # we started the runtime ourselves
        "host": runtime.host,
        "port": runtime.port,
        "collection": "core",
        "version": "0.7",
    }
    (tmp_path / "fbp-config.json").write_text(json.dumps(config), encoding="utf-8")
    env = {"PROJECT_HOME": str(tmp_path)}
    if secret:
        env["FBP_PROTOCOL_SECRET"] = secret
    result = run_node([str(node_tools / "fbp-test"), "--no-colors"], env)
    passing = re.search(r"(\d+) passing", result.stdout)
    failing = re.search(r"(\d+) failing", result.stdout)
    assert result.returncode == 0 and not failing, _report(result, runtime)
    assert passing and int(passing.group(1)) >= FBP_TEST_MINIMUM, _report(result, runtime)
    print(f"fbp-test ({'with' if secret else 'without'} secret): {passing.group(0)}")


def test_fbp_test_without_secret(open_runtime, node_tools, tmp_path) -> None:
    _fbp_test(open_runtime, node_tools, tmp_path, secret=None)


def test_fbp_test_with_secret(secret_runtime, node_tools, tmp_path) -> None:
    _fbp_test(secret_runtime, node_tools, tmp_path, secret=SECRET)


def test_secret_runtime_gives_nothing_without_the_secret(secret_runtime) -> None:
    ws = websocket.create_connection(secret_runtime.url, subprotocols=["noflo"], timeout=30)
    try:
        ws.send(json.dumps({"protocol": "runtime", "command": "getruntime", "payload": {}}))
        runtime = json.loads(ws.recv())
        assert runtime["command"] == "runtime"
        assert runtime["payload"]["capabilities"] == []
        ws.send(json.dumps({"protocol": "graph", "command": "clear", "payload": {"id": "x"}}))
        refused = json.loads(ws.recv())
        assert refused["protocol"] == "graph" and refused["command"] == "error"
        assert refused["payload"]["message"] == "graph:clear is not permitted"
        wrong = {"protocol": "graph", "command": "clear", "payload": {"id": "x"}, "secret": "no"}
        ws.send(json.dumps(wrong))
        assert json.loads(ws.recv())["payload"]["message"] == "graph:clear is not permitted"
    finally:
        ws.close()


# ---------------------------------------------------------------------------------------------
# A strict fbp-client session
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_secret", [False, True], ids=["open", "secret"])
def test_strict_fbp_client_session(open_runtime, secret_runtime, node_tools, use_secret) -> None:
    runtime = secret_runtime if use_secret else open_runtime
    command = ["node", str(JS / "strict_session.js"), runtime.url]
    if use_secret:
        command.append(SECRET)
    result = run_node(command)
    assert result.returncode == 0, _report(result, runtime)
    assert "ok - no protocol errors" in result.stdout, _report(result, runtime)


# ---------------------------------------------------------------------------------------------
# fbp-spec
# ---------------------------------------------------------------------------------------------


def _spec_cases(path: Path) -> int:
    """How many cases a spec file holds (each case has exactly one ``assertion:``)."""
    return len(re.findall(r"^\s*assertion:", path.read_text(encoding="utf-8"), re.M))


SPEC_FILES = sorted(SPECS.glob("*.yaml"))


@pytest.mark.parametrize("spec", SPEC_FILES, ids=[path.stem for path in SPEC_FILES])
def test_fbp_spec_core_components(secret_runtime, node_tools, spec: Path) -> None:
    """One fbp-spec run per file, so a case that never gets its output names its file.

    (fbp-spec waits without a timeout for a case's output, so a lost packet shows up as
    run_node's timeout.)"""
    expected = _spec_cases(spec)
    assert expected >= 1
    command = [str(node_tools / "fbp-spec"), "--address", secret_runtime.url]
    command += ["--secret", SECRET, "--command-timeout", "10", str(spec)]
    result = run_node(command, timeout=SPEC_TIMEOUT)
    passed = result.stdout.count("✓")
    failed = result.stdout.count("✗")
    assert result.returncode == 0 and failed == 0, _report(result, secret_runtime)
    assert passed == expected, _report(result, secret_runtime)
    print(f"fbp-spec {spec.name}: {passed} of {expected} cases passed")


def test_fbp_spec_covers_the_core_components() -> None:
    topics = set()
    for path in SPEC_FILES:
        topics.update(re.findall(r'^topic:\s*"([^"]+)"', path.read_text(encoding="utf-8"), re.M))
    wanted = {"core/Repeat", "core/Drop", "core/Count", "core/Range", "core/Merge",
              "core/Split", "core/Output"}  # fmt: skip
    assert wanted <= topics
    assert sum(_spec_cases(path) for path in SPEC_FILES) >= 20


# ---------------------------------------------------------------------------------------------
# Every message sent during this module: schema-valid (keep this test last in the module)
# ---------------------------------------------------------------------------------------------


def _secret_anywhere(message: dict) -> bool:
    payload = message.get("payload")
    return "secret" in message or (isinstance(payload, dict) and "secret" in payload)


def test_every_message_sent_during_the_conformance_run_is_schema_valid(
    open_runtime, secret_runtime
) -> None:
    from protocol_schemas import errors

    problems: list[str] = []
    counts = {}
    for name, runtime in (("open", open_runtime), ("secret", secret_runtime)):
        lines = runtime.sent_messages()
        counts[name] = len(lines)
        for number, line in enumerate(lines, 1):
            try:
                message = json.loads(line)
            except ValueError as exc:
                problems.append(f"{name} runtime, message {number}: not JSON ({exc}): {line[:200]}")
                continue
            found = errors(message, "output")
            if _secret_anywhere(message):
                found.append("carries a secret")
            if found:
                label = f"{message.get('protocol')}:{message.get('command')}"
                problems.append(
                    f"{name} runtime, message {number} ({label}): {'; '.join(found)}\n"
                    f"    {line[:300]}"
                )
    # Both runtimes served the whole run above (fbp-test alone sends about ninety messages).
    assert counts["open"] > 50 and counts["secret"] > 50, counts
    assert not problems, f"{len(problems)} invalid messages:\n" + "\n".join(problems[:50])
    print(f"schema-valid messages sent: {counts}")
