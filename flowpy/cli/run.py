"""``flowpy run GRAPH``: run a graph file to completion, Unix-style.

Exported inports can be fed from stdin (``--stdin PORT``, one data IP per line) and exported
outports printed to stdout (``--stdout PORT``, one JSON line per IP). Back-pressure reaches
the shell: a slow reader of stdout slows the graph, and stdin is read only as fast as the
graph accepts it, so memory stays bounded by the connection capacities.

Exit status: 0 when every process ended cleanly, 1 after a process error, 2 when the graph
cannot be loaded or started, 3 when ``--timeout`` stopped it, 130 after SIGINT (Ctrl-C) and
143 after SIGTERM.

A signal stops the graph the way ``network:stop`` does: what stdin already handed in runs out
to stdout first (the drain), unless ``--no-drain``; a second signal stops at once.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from flowpy.engine.ip import IP
from flowpy.engine.network import Network, NetworkError, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.graphs.files import read_graph_file

EXIT_OK, EXIT_PROCESS_ERROR, EXIT_INVALID, EXIT_TIMEOUT = 0, 1, 2, 3
#: What the wake pipe carries besides signal numbers: the network finished by itself.
_FINISHED = 0
#: ... and the stop is over (no signal has this number).
_STOPPED = 255
#: Seconds a stop may take, its drain included.
STOP_TIMEOUT = 5.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run a graph file to completion")
    parser.add_argument("graph", help="a .json or .fbp graph file")
    parser.add_argument("--format", choices=("json", "fbp"), help="override the file extension")
    parser.add_argument(
        "--stdin", metavar="PORT", help="feed stdin lines into exported inport PORT"
    )
    parser.add_argument(
        "--stdout",
        metavar="PORT",
        action="append",
        default=[],
        help="print IPs leaving exported outport PORT as JSON lines (repeatable)",
    )
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
        help="offer the .fbp/.json graphs in DIR as subgraph components (repeatable)",
    )
    parser.set_defaults(func=run)


def register_graph_components(registry: Registry, directories: list[str]) -> None:
    """Every graph file under each directory as a subgraph component, named as ``flowpy
    serve --components-dir`` names it. ValueError/OSError name the file that is wrong."""
    from flowpy.engine.subgraph import subgraph_class
    from flowpy.graphs.files import file_component_name, graph_files

    for directory in map(Path, directories):
        for path in graph_files(directory):
            try:
                graph = read_graph_file(path)
            except (OSError, ValueError) as exc:
                raise ValueError(f"component graph {path}: {exc}") from None
            name = file_component_name(directory, path, graph)
            if name in registry:
                raise ValueError(f"component graph {path}: a component {name!r} exists already")
            registry.register(name, subgraph_class(name, graph))


def parse_iip(spec: str) -> tuple[str, str, Any]:
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
    from flowpy.graphs.model import PortRef

    for spec in specs:
        node, port, value = parse_iip(spec)
        for iip in list(graph.initials):
            if iip.tgt.node == node and iip.tgt.port.lower() == port.lower():
                graph.remove_initial(iip.tgt)
        graph.add_initial(value, PortRef(node, port))


def ip_line(ip: IP) -> str:
    """One JSON line per IP: the value for data, {"begingroup"/"endgroup": name} for brackets."""
    if ip.is_open:
        value: Any = {"begingroup": ip.data}
    elif ip.is_close:
        value = {"endgroup": ip.data}
    else:
        value = ip.data
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


class CliListener(NetworkListener):
    """Console output and chosen outports to stdout; process errors to stderr."""

    def __init__(self, stdout_ports: list[str], out: TextIO, err: TextIO) -> None:
        self.stdout_ports = {p.lower() for p in stdout_ports}
        self.out, self.err = out, err
        self.errors = 0
        self._lock = threading.Lock()
        self._flush = out.isatty()

    def _write(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            if self._flush:
                self.out.flush()

    def output(self, network: Network, node: str, text: str) -> None:
        self._write(text)

    def outport_ip(self, network: Network, port: str, ip: IP) -> None:
        if port.lower() in self.stdout_ports:
            self._write(ip_line(ip))

    def process_error(self, network: Network, node: str, message: str, tb: str) -> None:
        self.errors += 1
        with self._lock:
            self.err.write(f"flowpy: process {node!r} failed: {message}\n{tb}")
            self.err.flush()

    def discarded(self, network: Network, count: int, drained: bool) -> None:
        why = "the drain did not finish" if not drained else "stopped at once"
        with self._lock:
            self.err.write(f"flowpy: {count} IP(s) still inside the graph were discarded "
                           f"({why})\n")
            self.err.flush()


def feed_lines(network: Network, port: str, fd: int, stop_fd: int) -> None:
    """Each line read from ``fd`` becomes a data IP on ``port``; end of input closes the port."""
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
                network.send_inport(port, IP.make_data(line.decode("utf-8", "replace")))
        if pending:
            network.send_inport(port, IP.make_data(pending.decode("utf-8", "replace")))
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


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        graph = read_graph_file(args.graph, args.format)
        apply_iips(graph, args.iip)
    except (OSError, ValueError) as exc:  # GraphError and FbpSyntaxError are ValueErrors
        err.write(f"flowpy: cannot load {args.graph}: {exc}\n")
        return EXIT_INVALID
    registry = Registry()
    try:
        register_graph_components(registry, args.components_dir)
    except (OSError, ValueError) as exc:
        err.write(f"flowpy: --components-dir: {exc}\n")
        return EXIT_INVALID
    listener = CliListener(args.stdout, out, err)
    network = Network(graph, registry, listener)
    unknown = [p for p in args.stdout if p.lower() not in {o.lower() for o in graph.outports}]
    if args.stdin and args.stdin.lower() not in {i.lower() for i in graph.inports}:
        unknown.append(args.stdin)
    if unknown:
        err.write(f"flowpy: graph has no exported port {', '.join(map(repr, unknown))}\n")
        return EXIT_INVALID
    try:
        network.start()
    except NetworkError as exc:
        err.write(f"flowpy: cannot start {args.graph}: {exc}\n")
        return EXIT_INVALID

    stop_r, stop_w = os.pipe()
    feeder = None
    for port in network.exported_inports:
        if args.stdin and port.lower() == args.stdin.lower():
            feeder = threading.Thread(
                target=feed_lines,
                args=(network, port, sys.stdin.fileno(), stop_r),
                name="flowpy-stdin",
            )
            feeder.start()
        else:
            network.close_inport(port)  # nobody feeds it: end its stream so the graph can finish
    progress = Progress(network, err) if err.isatty() else None
    if progress:
        progress.thread.start()
    try:
        status = _wait_and_stop(network, listener, args, feeder, stop_w)
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
    if status == EXIT_OK and listener.errors:
        return EXIT_PROCESS_ERROR
    return status


def _wait_and_stop(network: Network, listener: CliListener, args: argparse.Namespace,
                   feeder: threading.Thread | None, stop_feeder: int) -> int:
    """Wait (in the main thread) for the graph to finish, the timeout or a signal; then stop
    it, draining unless told not to, while a second signal cuts the drain short.

    Every wait here is on one pipe: signals arrive on it through ``signal.set_wakeup_fd`` and
    the listener writes to it when the network finishes, so nothing polls and no exception
    ever lands in the middle of a stop."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    network.add_listener(_Finished(wake_w))
    try:
        status = EXIT_OK
        if not network.wait(0):  # it may have finished before the listener was added
            ready, _, _ = select.select([wake_r], [], [], args.timeout)
            if not ready:
                status = EXIT_TIMEOUT
            else:
                byte = os.read(wake_r, 1)[0]
                if byte != _FINISHED:
                    status = 130 if byte == signal.SIGINT else 128 + byte
        os.write(stop_feeder, b"x")  # the stdin feeder hands in what it read, then ends
        if status != EXIT_OK and feeder is not None:
            feeder.join(STOP_TIMEOUT / 2)

        def stop() -> None:
            try:
                network.stop(STOP_TIMEOUT, drain=args.drain)
            finally:
                os.write(wake_w, bytes([_STOPPED]))

        stopper = threading.Thread(target=stop, name="flowpy-stop")
        stopper.start()
        while (byte := os.read(wake_r, 1)[0]) != _STOPPED:
            if byte != _FINISHED:  # a signal during the stop: stop at once
                network.cut_drain()
                status = 130
        stopper.join()
        return status
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)


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
