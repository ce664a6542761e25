"""exec/Run."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Any

from flowpy import Component, EndOfStream, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import StopHook, render
from flowpy_components._support.select import PortSelect

log = logging.getLogger(__name__)

#: Seconds a child gets to end after SIGTERM on a network stop, before SIGKILL.
TERMINATE_GRACE = 2.0


def parse_argv(value: Any, node: str) -> list[str]:
    """An argv list of strings; a string is refused: flowpy never runs a shell."""
    if isinstance(value, str):
        raise ValueError(
            f'{node}: conf must be an argv list such as ["sort", "-n"], not the string '
            f"{value!r}: exec/Run never passes a command line to a shell (so nothing in graph "
            "data can inject shell syntax); split it into its words"
        )
    if not isinstance(value, list) or not value or not all(isinstance(part, str) for part in value):
        raise ValueError(f"{node}: argv must be a non-empty list of strings, not {value!r}")
    return value


class Run(Component):
    """Runs a program, feeds it the data IPs of `in` as lines on its standard input, and
    sends each line of its standard output on `out`.

    conf: the argv list (["sort", "-n"]) or {"argv": [...], "cwd": ..., "env": {...}};
    the program is started directly, never through a shell, and a string is refused. It
    runs in `cwd`, by default the directory of the graph file (a relative `cwd` is relative
    to that directory; a graph from no file: the runtime's current directory). `env`
    adds to the runtime's environment. Strings are written as they are, other values as
    compact JSON, each followed by a newline; when `in` ends (or is not connected) the
    program's standard input is closed. Lines of standard error go to `error` as strings,
    and a non-zero exit status as {message, status, argv}; when `error` is not connected,
    standard error is logged and a non-zero status fails the process. Brackets on `in` are
    not written. On a network stop the program is terminated (then killed after 2 s).
    """

    icon = "terminal"
    reaches = ("exec",)
    #: Its work is the program's: the thread (and so the program it starts, which inherits
    #: its CPUs) is left on every CPU even when the runtime keeps its networks on one.
    parallel = True
    inports = InPorts(
        InPort(
            "conf", datatype="array", description="argv list, or {argv, cwd, env}", required=True
        ),
        InPort("in", description="lines for the program's standard input"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="lines of its standard output"),
        OutPort(
            "error",
            description="lines of its standard error, then {message, status, "
            "argv} for a non-zero exit status",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.child: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._killer: threading.Timer | None = None
        self.stopping = StopHook(self._terminate)

    def _terminate(self) -> None:
        """On a network stop (from the stopping thread, so quick): ask the child to end now,
        and kill it if it has not ended after the grace period."""
        with self._lock:
            child = self.child
            if child is None or child.poll() is not None:
                return
            child.terminate()
            self._killer = threading.Timer(self.time_to_stop(TERMINATE_GRACE), self._kill)
            self._killer.name = f"{self.node_id}-kill"
            self._killer.start()

    def _kill(self) -> None:
        with self._lock:
            child = self.child
        if child is not None and child.poll() is None:
            child.kill()

    def _working_directory(self, cwd: object) -> str | None:
        """``cwd`` resolved as every path of a graph is (see ``Component.path``); without
        one, the graph file's directory (None, the current one, for a graph from no file)."""
        if cwd is not None and (not isinstance(cwd, str) or not cwd):
            raise ValueError(f"{self.node_id}: cwd must be a non-empty string, not {cwd!r}")
        resolved = self.path(cwd or ".")
        return None if resolved == "." else resolved

    def run(self) -> None:
        """Start the program from conf, feed it `in` and send what it prints, until it exits."""
        options = self.options({"argv": None, "cwd": None, "env": None}, scalar="argv")
        argv = parse_argv(options["argv"], self.node_id)
        env = options["env"]
        if env is not None:
            if not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()
            ):
                raise ValueError(f"{self.node_id}: env must map names to strings, not {env!r}")
            env = {**os.environ, **env}
        feeding = self.inports["in"].is_connected
        try:
            child = subprocess.Popen(
                argv,
                cwd=self._working_directory(options["cwd"]),
                env=env,
                stdin=subprocess.PIPE if feeding else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot run {argv[0]!r}: {exc.strerror or exc}"
            ) from None
        with self._lock:
            self.child = child
        if self.stopping.is_set():  # stopped while starting: the hook found no child
            self._terminate()
        failures: list[BaseException] = []
        feed = PortSelect(self.inports, ["in"])
        threads = [
            threading.Thread(
                target=self._guard,
                args=(self._read_stderr, failures),
                name=f"{self.node_id}-stderr",
            )
        ]
        if feeding:
            threads.append(
                threading.Thread(
                    target=self._guard,
                    args=(lambda: self._feed(feed), failures),
                    name=f"{self.node_id}-stdin",
                )
            )
        for thread in threads:
            thread.start()
        try:
            self._read_stdout()
        finally:
            status = self._reap(child)
            feed.interrupt()  # the program has ended: stop waiting for its input
            for thread in threads:
                thread.join()
            with self._lock:
                killer = self._killer
            if killer is not None:
                killer.cancel()
                killer.join()
        if failures and not self.stopping.is_set():
            raise failures[0]
        if status != 0 and not self.stopping.is_set():
            message = f"{argv[0]} exited with status {status}"
            error = self.outports["error"]
            if error.is_connected:
                error.send_data({"message": message, "status": status, "argv": argv})
            else:
                raise ValueError(f"{self.node_id}: {message}")

    def _guard(self, target: Any, failures: list[BaseException]) -> None:
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported by run(), in the process thread
            failures.append(exc)

    def _read_stdout(self) -> None:
        assert self.child is not None and self.child.stdout is not None
        out = self.outports["out"]
        for line in self.child.stdout:
            out.send_data(line[:-1] if line.endswith("\n") else line)

    def _read_stderr(self) -> None:
        assert self.child is not None and self.child.stderr is not None
        error = self.outports["error"]
        forward = error.is_connected
        for line in self.child.stderr:
            line = line[:-1] if line.endswith("\n") else line
            if forward:
                error.send_data(line)
            else:
                log.warning("%s: %s", self.node_id, line)

    def _feed(self, feed: PortSelect) -> None:
        assert self.child is not None and self.child.stdin is not None
        stdin = self.child.stdin
        try:
            while True:
                _, ip = feed.recv(["in"])
                if ip.is_data:
                    stdin.write(render(ip.data) + "\n")
        except (BrokenPipeError, ValueError):
            pass  # the program closed its input (or ended): it wants no more
        except EndOfStream:
            pass
        finally:
            try:
                stdin.close()
            except (BrokenPipeError, OSError):
                pass

    def _reap(self, child: subprocess.Popen) -> int:
        """Wait for the child; on a stop, terminate it, then kill it after a grace period.
        No zombie: it is always waited for."""
        if self.stopping.is_set() and child.poll() is None:
            child.terminate()
        try:
            return child.wait(
                timeout=self.time_to_stop(TERMINATE_GRACE) if self.stopping.is_set() else None
            )
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
