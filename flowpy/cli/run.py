"""``flowpy run GRAPH``: run a graph file to completion, Unix-style.

stdin feeds exported inports and stdout prints exported outports, one IP per line, with
back-pressure to the shell; a failure is one line on stderr; a signal drains, a second one
stops at once and nothing hangs. Options and exit statuses: docs/getting-started.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import signal
import stat
import sys
import threading
import time
from typing import Any, TextIO

from flowpy.engine.failures import Failure
from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.errors import missing_name
from flowpy.graphs.files import read_graph_file, register_directory_components

from .lines import DEFAULT_FORMAT, FORMAT_HELP, FORMATS, LineReader, line_of_ip
from .logs import chosen_level
from .policy import FailureLines, add_policy_options, policy_of

EXIT_OK, EXIT_PROCESS_ERROR, EXIT_INVALID, EXIT_TIMEOUT = 0, 1, 2, 3
#: What the wake pipe carries besides signal numbers: the network finished by itself.
_FINISHED = 0
#: ... and the stop is over (no signal has this number).
_STOPPED = 255
#: Seconds a stop may take, its drain included.
STOP_TIMEOUT = 5.0
#: Seconds a stop may still take after a second signal cut it short.
CUT_GRACE = 1.0


def add_parser(subparsers: Any) -> None:
    """Register ``flowpy run``: a graph file run to completion, fed from stdin."""
    parser = subparsers.add_parser(
        "run",
        help="run a graph file to completion",
        description="Run a .fbp or .json graph until every process has ended. Exported ports "
        "can be fed from stdin and printed to stdout. Exit status: 0 ok, 1 a process failed, "
        "2 the graph cannot be loaded or started, 3 --timeout, 130 Ctrl-C, 143 SIGTERM.",
    )
    parser.add_argument("graph", help="a .json or .fbp graph file")
    parser.add_argument(
        "--graph-format",
        choices=("json", "fbp"),
        help="read the graph file as this format, whatever its extension",
    )
    parser.add_argument(
        "--stdin", metavar="PORT", help="feed stdin lines into exported inport PORT"
    )
    parser.add_argument(
        "--stdout",
        metavar="PORT",
        action="append",
        default=[],
        help="print IPs leaving exported outport PORT, one line each (repeatable)",
    )
    parser.add_argument("--format", choices=FORMATS, default=DEFAULT_FORMAT, help=FORMAT_HELP)
    parser.add_argument(
        "--iip",
        metavar="NODE.PORT=VALUE",
        action="append",
        default=[],
        help="set the initial IP of a port (VALUE is JSON, or else a string)",
    )
    parser.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds (exit 3)")
    parser.add_argument(
        "--no-drain",
        dest="drain",
        action="store_false",
        help="on a signal or the timeout, stop at once instead of letting what is inside the "
        "graph run out first",
    )
    parser.add_argument(
        "--components-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="offer the .fbp/.json graphs in DIR as subgraph components and the "
        "Component classes of its .py files as components (repeatable)",
    )
    add_policy_options(parser, fail_fast=True)
    parser.set_defaults(func=run)


def parse_iip(spec: str) -> tuple[str, str, Any]:
    """``NODE.PORT=VALUE`` in parts (VALUE as JSON if it parses); ValueError if malformed."""
    target, sep, raw = spec.partition("=")
    node, dot, port = target.rpartition(".")
    if not sep or not dot or not node or not port:
        raise ValueError(f"--iip {spec!r}: expected NODE.PORT=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return node, port, value


def apply_iips(graph: Any, specs: list[str]) -> None:
    """Each ``--iip NODE.PORT=VALUE`` as an initial IP of ``graph``; ValueError names a bad one."""
    from flowpy.graphs.model import PortRef

    for spec in specs:
        node, port, value = parse_iip(spec)
        for iip in list(graph.initials):
            if iip.tgt.node == node and iip.tgt.port.lower() == port.lower():
                graph.remove_initial(iip.tgt)
        graph.add_initial(value, PortRef(node, port))


class CliListener(NetworkListener):
    """Console output and chosen outports to stdout; process errors to stderr."""

    def __init__(
        self,
        stdout_ports: list[str],
        out: TextIO,
        err: TextIO,
        fmt: str = DEFAULT_FORMAT,
        tracebacks: bool = False,
    ) -> None:
        self.stdout_ports = {p.lower() for p in stdout_ports}
        self.format = fmt
        self.out, self.err = out, err
        self.failures = FailureLines(err, tracebacks)
        self._lock = threading.Lock()
        self._flush = out.isatty()

    def _write(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            if self._flush:
                self.out.flush()

    def output(self, network: Network, node: str, text: str) -> None:
        """A process's console output goes to stdout as it is."""
        self._write(text)

    def outport_ip(self, network: Network, port: str, ip: IP) -> None:
        """An IP leaving an outport chosen with ``--stdout`` becomes one line on stdout."""
        if port.lower() in self.stdout_ports:
            line = line_of_ip(ip, self.format)
            if line is not None:
                self._write(line)

    def process_failed(self, network: Network, failure: Failure) -> bool:
        """A process failure: one line on stderr now, a summary line per node at the end."""
        self.failures.failed(failure)
        return True

    @property
    def errors(self) -> int:
        """How many process failures the run had (non-zero: exit status 1)."""
        return self.failures.count

    def discarded(self, network: Network, count: int, drained: bool) -> bool:
        """A stop cut IPs off: say how many on stderr, never silently (True: said)."""
        why = "the drain did not finish" if not drained else "stopped at once"
        with self._lock:
            self.err.write(f"flowpy: {count} IP(s) still inside the graph were discarded ({why})\n")
            self.err.flush()
        return True  # said on stderr: the engine's log line would say it twice


def feed_lines(
    network: Network, port: str, fd: int, stop_fd: int, fmt: str = DEFAULT_FORMAT
) -> None:
    """Each line read from ``fd`` becomes an IP on ``port``; end of input closes the port."""
    ip_of_line = LineReader(fmt, _warn)
    pending = b""
    try:
        while True:
            ready, _, _ = select.select([fd, stop_fd], [], [])
            if stop_fd in ready:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                network.send_inport(port, ip_of_line(line.decode("utf-8", "replace")))
        if pending:
            network.send_inport(port, ip_of_line(pending.decode("utf-8", "replace")))
        network.close_inport(port)
    except NetworkError:
        return  # the network ended or was stopped: nothing left to feed


class Progress:
    """IPs/s through the exported ports on stderr, only when stderr is a terminal."""

    def __init__(self, network: Network, err: TextIO) -> None:
        self.network, self.err = network, err
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="flowpy-progress")

    def _loop(self) -> None:
        last = dict(self.network.stats)
        while not self.done.wait(1.0):  # a reporting period, not synchronisation
            now = dict(self.network.stats)
            self.err.write(
                f"\r\x1b[Kin {now['in'] - last['in']}/s  out {now['out'] - last['out']}/s"
                f"  (total in {now['in']}, out {now['out']})"
            )
            self.err.flush()
            last = now
        self.err.write("\r\x1b[K")
        self.err.flush()


def _warn(message: str) -> None:
    sys.stderr.write(f"flowpy run: warning: {message}\n")
    sys.stderr.flush()


def stdin_is_given() -> bool:
    """Whether something was piped or redirected into stdin: a pipe, or a file that is not
    empty (not a terminal, not /dev/null)."""
    try:
        info = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_size > 0)


def _unknown_port(kind: str, port: str, exported: Any) -> str | None:
    """Why ``port`` is not an exported ``kind`` of the graph, or None if it is one."""
    names = list(exported)
    if port.lower() in {name.lower() for name in names}:
        return None
    return f"the graph has no exported {kind} {missing_name(port, names)}"


def run(args: argparse.Namespace) -> int:
    """``flowpy run``: load, wire and run the graph to its end; the exit status says how it went."""
    out, err = sys.stdout, sys.stderr
    try:
        graph = read_graph_file(args.graph, args.graph_format)
        apply_iips(graph, args.iip)
    except (OSError, ValueError) as exc:  # GraphError and FbpSyntaxError are ValueErrors
        err.write(f"flowpy: cannot load {args.graph}: {exc}\n")
        return EXIT_INVALID
    if not graph.nodes:
        err.write(f"flowpy: {args.graph}: graph has no processes: nothing to run\n")
        return EXIT_INVALID
    registry = Registry()
    try:
        register_directory_components(registry, args.components_dir)
    except (OSError, ValueError) as exc:
        err.write(f"flowpy: --components-dir: {exc}\n")
        return EXIT_INVALID
    try:
        policy = policy_of(args)
    except ValueError as exc:
        err.write(f"flowpy: {exc}\n")
        return EXIT_INVALID
    tracebacks = chosen_level(args) <= logging.DEBUG
    listener = CliListener(args.stdout, out, err, args.format, tracebacks)
    network = Network(graph, registry, listener, error_policy=policy)
    problems = [_unknown_port("outport", p, graph.outports) for p in args.stdout]
    if args.stdin:
        problems.append(_unknown_port("inport", args.stdin, graph.inports))
    if any(problems):
        for problem in filter(None, problems):
            err.write(f"flowpy: {args.graph}: {problem}\n")
        return EXIT_INVALID
    if not args.stdin and graph.inports and stdin_is_given():
        _warn(
            f"stdin is not read: pass --stdin PORT to feed its lines into the graph "
            f"(exported inports: {', '.join(graph.inports)})"
        )
    # Signals go to the wake pipe from before the first process starts: a Ctrl-C that came
    # earlier than the wait would otherwise raise in the middle of things, and leave Python
    # waiting at exit for processes nobody stops.
    with _WakePipe() as wake:
        return _run_network(network, listener, args, wake, out, err)


def _run_network(
    network: Network,
    listener: CliListener,
    args: argparse.Namespace,
    wake: _WakePipe,
    out: TextIO,
    err: TextIO,
) -> int:
    try:
        network.start()
    except NetworkError as exc:
        err.write(f"flowpy: cannot start {args.graph}: {exc}\n")
        return EXIT_INVALID
    network.add_listener(_Finished(wake.write_fd))

    stop_r, stop_w = os.pipe()
    feeder = None
    for port in network.exported_inports:
        if args.stdin and port.lower() == args.stdin.lower():
            feeder = threading.Thread(
                target=feed_lines,
                args=(network, port, sys.stdin.fileno(), stop_r, args.format),
                name="flowpy-stdin",
            )
            feeder.start()
        else:
            network.close_inport(port)  # nobody feeds it: end its stream so the graph can finish
    progress = Progress(network, err) if err.isatty() else None
    if progress:
        progress.thread.start()
    try:
        status, clean = _wait_and_stop(network, args, feeder, stop_w, wake)
        if not clean:
            wake.left_behind = True
            _leave_now(status, out, err)
    finally:
        if feeder:
            feeder.join()
        if progress:
            progress.done.set()
            progress.thread.join()
        os.close(stop_r)
        os.close(stop_w)
        out.flush()
    if status == EXIT_TIMEOUT:
        err.write(f"flowpy: stopped {args.graph} after {args.timeout}s timeout\n")
    listener.failures.summary()
    if status == EXIT_OK and listener.errors:
        return EXIT_PROCESS_ERROR
    return status


def _wait_and_stop(
    network: Network,
    args: argparse.Namespace,
    feeder: threading.Thread | None,
    stop_feeder: int,
    wake: _WakePipe,
) -> tuple[int, bool]:
    """Wait (in the main thread) for the graph to finish, the timeout or a signal; then stop
    it, draining unless told not to, while a second signal cuts the drain short.

    Returns the exit status and whether every thread of the network ended. After a second
    signal the stop gets :data:`CUT_GRACE` seconds, and a third signal ends the wait at once:
    a process that ignores its stop must not keep the user waiting.

    Every wait here is on the wake pipe: signals arrive on it through
    ``signal.set_wakeup_fd`` and the listener writes to it when the network finishes, so
    nothing polls and no exception ever lands in the middle of a stop."""
    wake_r, wake_w = wake.read_fd, wake.write_fd
    status = EXIT_OK
    if not network.wait(0):  # it may have finished before the listener was added
        ready, _, _ = select.select([wake_r], [], [], args.timeout)
        if not ready:
            status = EXIT_TIMEOUT
        else:
            byte = os.read(wake_r, 1)[0]
            if byte != _FINISHED:
                status = 130 if byte == signal.SIGINT else 128 + byte
                if args.drain:
                    sys.stderr.write(
                        "flowpy: stopping: what the graph holds runs out first "
                        "(again to stop at once)\n"
                    )
                    sys.stderr.flush()
    os.write(stop_feeder, b"x")  # the stdin feeder hands in what it read, then ends
    if status != EXIT_OK and feeder is not None:
        feeder.join(STOP_TIMEOUT / 2)
    stuck: list[str] = []

    def stop() -> None:
        try:
            stuck.extend(network.stop(STOP_TIMEOUT, drain=args.drain))
        finally:
            os.write(wake_w, bytes([_STOPPED]))

    stopper = threading.Thread(target=stop, name="flowpy-stop")
    stopper.start()
    cut_at: float | None = None
    while True:
        wait = None if cut_at is None else max(0.0, cut_at + CUT_GRACE - time.monotonic())
        ready, _, _ = select.select([wake_r], [], [], wait)
        woke = os.read(wake_r, 1)[0] if ready else None
        if woke == _STOPPED:
            break
        if woke == _FINISHED:
            continue
        status = 130  # a signal during the stop (or the grace is over)
        if cut_at is not None:
            return status, False  # the stopper still writes to wake_w when it ends
        network.cut_drain()
        cut_at = time.monotonic()
    stopper.join()
    return status, not stuck


class _WakePipe:
    """SIGINT and SIGTERM (and the network's end) as bytes on a pipe, while in effect."""

    def __init__(self) -> None:
        self.left_behind = False  # a thread may still write: the fds go with the process

    def __enter__(self) -> _WakePipe:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self._previous_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self._previous = {
            sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if not self.left_behind:
            os.close(self.read_fd)
            os.close(self.write_fd)


def _leave_now(status: int, out: TextIO, err: TextIO) -> None:
    """Exit without waiting for process threads that did not stop: Python would otherwise
    wait for them at exit, for ever if one never looks at its stop."""
    left = sorted(
        t.name
        for t in threading.enumerate()
        if t is not threading.current_thread() and t.is_alive()
    )
    err.write(f"flowpy: stopped without waiting for: {', '.join(left) or 'nothing'}\n")
    for stream in (out, err):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def _ignore(signum: int, frame: Any) -> None:
    """Replaces the default action (exit, KeyboardInterrupt); the wakeup fd does the work."""


class _Finished(NetworkListener):
    """Writes to the wake pipe when every process has ended by itself."""

    def __init__(self, wake: int) -> None:
        self.wake = wake

    def finished(self, network: Network) -> None:
        try:
            os.write(self.wake, bytes([_FINISHED]))
        except OSError:
            pass  # the pipe is full or closed: the waiter is awake or gone already
