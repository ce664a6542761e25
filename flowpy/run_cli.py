"""``flowpy run GRAPH``: run a graph file to completion, Unix-style.

Exported inports can be fed from stdin (``--stdin PORT``, one data IP per line) and exported
outports printed to stdout (``--stdout PORT``, one JSON line per IP). Back-pressure reaches
the shell: a slow reader of stdout slows the graph, and stdin is read only as fast as the
graph accepts it, so memory stays bounded by the connection capacities.

Exit status: 0 when every process ended cleanly, 1 after a process error, 2 when the graph
cannot be loaded or started, 3 when ``--timeout`` stopped it.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from .graph_files import read_graph_file
from .ip import IP
from .network import Network, NetworkError, NetworkListener
from .registry import Registry

EXIT_OK, EXIT_PROCESS_ERROR, EXIT_INVALID, EXIT_TIMEOUT = 0, 1, 2, 3


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
    from .graph_files import file_component_name, graph_files
    from .subgraph import subgraph_class

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
    from .graph import PortRef

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
    interrupted = False
    try:
        finished = network.wait(args.timeout)
    except KeyboardInterrupt:
        finished, interrupted = False, True
    os.write(stop_w, b"x")  # the stdin feeder returns at once, even mid-wait
    network.stop()  # also releases a feeder blocked on a full inport
    if feeder:
        feeder.join()
    if progress:
        progress.done.set()
        progress.thread.join()
    os.close(stop_r)
    os.close(stop_w)
    out.flush()
    if interrupted:
        return 130
    if not finished:
        err.write(f"flowpy: stopped {args.graph} after {args.timeout}s timeout\n")
        return EXIT_TIMEOUT
    return EXIT_PROCESS_ERROR if listener.errors else EXIT_OK
