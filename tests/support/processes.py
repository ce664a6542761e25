"""Real ``flowpy serve`` processes on free ports, and where the repository's pieces are.

``spawn_runtime(*args, secret=None, record=False, env=None)`` starts
``python -m flowpy serve --host 127.0.0.1 --port 0 --state-dir <tmp> *args`` and returns a
:class:`RuntimeProcess` once its ready line has been printed (the port is read from it).
Every process started through a fixture is stopped (SIGTERM, then SIGKILL) and reaped at
teardown. ``record=True`` makes the server append every message it sends to
``proc.record_path`` (``FLOWPY_VALIDATE_OUTPUT``), for schema validation.

Several runtimes can run at once (the Bridge suite starts two); ``runtime_server`` and
``secret_runtime_server`` are one open and one secret-protected runtime shared by a session.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
JS = TESTS / "js"  # the npm tools the tests use as oracles (npm ci --prefix tests/js)
NODE_MODULES = JS / "node_modules"
NODE_BIN = NODE_MODULES / ".bin"
READY = re.compile(r"flowpy runtime listening on (ws://(\S+):(\d+))")
START_TIMEOUT = 30.0
SECRET = "flowpy-test-secret"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS may hand it out again later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps every thread's stack to stderr
    env.pop("FLOWPY_VALIDATE_OUTPUT", None)
    env.pop("FLOWPY_SECRET", None)  # a runtime or command under test gets only the secret given
    env.update(extra or {})
    return env


class RuntimeProcess:
    """A ``flowpy serve`` subprocess. ``url`` (ws://), ``http_url``, ``port``, ``stop()``."""

    def __init__(
        self,
        args: list[str],
        workdir: Path,
        secret: str | None = None,
        record: bool = False,
        env: dict[str, str] | None = None,
        state_dir: Path | None = None,
        default_state_dir: bool = False,
    ) -> None:
        """``state_dir``: default ``workdir/state``; ``default_state_dir``: pass no
        ``--state-dir`` at all (the runtime picks its per-user directory)."""
        self.workdir = workdir
        self.secret = secret
        self.state_dir = state_dir or workdir / "state"
        if not default_state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = workdir / "stderr.txt"
        self.record_path: Path | None = workdir / "sent.jsonl" if record else None
        extra = dict(env or {})
        if self.record_path is not None:
            extra["FLOWPY_VALIDATE_OUTPUT"] = str(self.record_path)
        command = [
            sys.executable, "-m", "flowpy", "serve", "--host", "127.0.0.1", "--port", "0",
        ]  # fmt: skip
        if not default_state_dir:
            command += ["--state-dir", str(self.state_dir)]
        if secret:
            command += ["--secret", secret]
        command += list(args)
        self.command = command
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=str(workdir),
            env=python_env(extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(
            target=self._read_stdout, name=f"runtime-stdout-{self.proc.pid}"
        )
        self._reader.start()
        self.url, self.host, self.port = self._wait_ready()
        self.http_url = f"http://{self.host}:{self.port}/"

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_ready(self) -> tuple[str, str, int]:
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                self.kill()
                pytest.fail(f"flowpy serve printed no ready line in {START_TIMEOUT}s\n{self}")
            if line is None:
                self.proc.wait()
                self._close_files()
                pytest.fail(f"flowpy serve exited with {self.proc.returncode}\n{self}")
            match = READY.search(line)
            if match:
                return match.group(1), match.group(2), int(match.group(3))

    def stderr(self) -> str:
        with contextlib.suppress(OSError, ValueError):  # ValueError: already closed
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def __str__(self) -> str:
        return (
            f"command: {' '.join(self.command)}\nstdout:\n{''.join(self.stdout)}"
            f"stderr:\n{self.stderr()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit status (SIGKILL after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)  # stacks into stderr.txt, for the report
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill()
        self._close_files()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_files()

    def _close_files(self) -> None:
        self._reader.join()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def sent_messages(self) -> list[str]:
        """Lines of the record file (one JSON message each); needs ``record=True``."""
        assert self.record_path is not None, "start the runtime with record=True"
        if not self.record_path.exists():
            return []
        return self.record_path.read_text(encoding="utf-8").splitlines()


SpawnRuntime = Callable[..., RuntimeProcess]


@contextlib.contextmanager
def _runtime_spawner(base: Path) -> Iterator[SpawnRuntime]:
    started: list[RuntimeProcess] = []
    counter = itertools.count(1)

    def spawn(
        *args: str,
        secret: str | None = None,
        record: bool = False,
        env: dict[str, str] | None = None,
        state_dir: Path | None = None,
        default_state_dir: bool = False,
    ) -> RuntimeProcess:
        workdir = base / f"runtime-{next(counter)}"
        workdir.mkdir(parents=True)
        proc = RuntimeProcess(
            list(args),
            workdir,
            secret=secret,
            record=record,
            env=env,
            state_dir=state_dir,
            default_state_dir=default_state_dir,
        )
        started.append(proc)
        return proc

    try:
        yield spawn
    finally:
        for proc in started:
            proc.stop(timeout=10.0)


_python_env = python_env  # the name the older tests use
