"""``flowpy participant``: run a graph (or one component) as a MsgFlo participant.

Every exported inport consumes the broker queue ``ROLE.PORT`` and every exported outport
publishes to ``ROLE.PORT`` (port in upper case, as MsgFlo names queues); the participant
announces itself on ``fbp``. See docs/distributed.md.

Exit status: 2 when the graph cannot be loaded or started or the broker cannot be reached
(or its client library is missing), 1 after a process error, 0 when the graph finished by
itself, 130 after SIGINT and 143 after SIGTERM. A signal stops gracefully: no more messages
are taken, what was received goes in, the graph drains, the last outputs reach the broker,
and unacknowledged messages go back to it; a second signal cuts the drain short.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from flowpy.cli.run import apply_iips
from flowpy.engine.failures import Failure
from flowpy.engine.network import NetworkError, NetworkListener
from flowpy.engine.registry import Registry
from flowpy.graphs.files import (
    GRAPH_FILE_SUFFIXES,
    read_graph_file,
    register_directory_components,
)
from flowpy.graphs.model import Graph

EXIT_OK, EXIT_PROCESS_ERROR, EXIT_INVALID = 0, 1, 2
STOP_TIMEOUT = 10.0


def add_parser(subparsers: Any) -> None:
    """Register ``flowpy participant``: a graph or component on a broker as a MsgFlo participant."""
    parser = subparsers.add_parser(
        "participant",
        help="run a graph or component as a MsgFlo participant on a broker",
        description="Run a graph (.json/.fbp) or a single component (LIB/NAME) with its "
        "exported ports bound to queues on an MQTT or AMQP broker, as a MsgFlo participant.",
    )
    parser.add_argument(
        "graph",
        metavar="GRAPH_OR_COMPONENT",
        help="a .json or .fbp graph file, or a component name (core/Repeat)",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        default=os.environ.get("MSGFLO_BROKER"),
        help="mqtt://HOST:PORT or amqp://USER:PASS@HOST:PORT/VHOST (default: $MSGFLO_BROKER)",
    )
    parser.add_argument("--role", required=True, help="the role: names the queues (ROLE.PORT)")
    parser.add_argument(
        "--id",
        default="",
        help="participant id (default: ROLE-<uuid>); on "
        "MQTT a fixed id also keeps the broker session across restarts",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=100,
        metavar="N",
        help="unacknowledged messages the broker may hand over at once (default 100)",
    )
    parser.add_argument(
        "--queue-prefix",
        default="",
        metavar="PREFIX",
        help="put PREFIX in front of every queue name",
    )
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="PORT=QUEUE",
        help="bind exported port PORT to QUEUE instead (repeatable)",
    )
    parser.add_argument(
        "--ack",
        choices=("accepted", "output"),
        default="accepted",
        help="acknowledge a message when the network accepted it (default), "
        "or only once its output was handed to the broker (graphs with one "
        "output per input: nothing is lost if the process is killed)",
    )
    parser.add_argument(
        "--delivery-limit",
        type=int,
        default=5,
        metavar="N",
        help="a message redelivered unsettled N times (it killed the worker?) "
        "goes to the dead-letter queue dead-QUEUE instead of the graph "
        "(default 5; 0: no limit)",
    )
    parser.add_argument(
        "--brackets",
        choices=("envelope", "drop"),
        default="envelope",
        help="send brackets as flowpy envelopes (default) or not at all",
    )
    parser.add_argument(
        "--component",
        metavar="NAME",
        default="",
        help="the component named in the discovery message (default: "
        "flowpy/NAME, NAME the component's name without its library or the "
        "graph file's stem; in a msgflo library.json give --component "
        "#COMPONENT, the library's own key)",
    )
    parser.add_argument(
        "--discovery-period",
        type=float,
        metavar="S",
        default=float(os.environ.get("MSGFLO_DISCOVERY_PERIOD") or 60),
        help="announce on 'fbp' 2.2 times per S seconds, after a few "
        "announcements in the first seconds "
        "(default: $MSGFLO_DISCOVERY_PERIOD or 60)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="give up when the broker cannot be reached in S seconds at start "
        "(default 10; later losses are retried for ever)",
    )
    parser.add_argument(
        "--no-share",
        dest="shared",
        action="store_false",
        help="MQTT: a plain subscription (every participant of the role gets "
        "every message) instead of a shared one",
    )
    parser.add_argument(
        "--iip",
        metavar="NODE.PORT=VALUE",
        action="append",
        default=[],
        help="set an initial IP (for a component: PORT=VALUE; that port is "
        "then not bound to a queue)",
    )
    parser.add_argument(
        "--graph-format",
        choices=("json", "fbp"),
        help="read the graph file as this format, whatever its extension",
    )
    parser.add_argument(
        "--components-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="offer the graphs in DIR as subgraph components and the "
        "Component classes of its .py files as components (repeatable)",
    )
    parser.set_defaults(func=run)


def component_graph(registry: Registry, name: str, role: str, iips: list[str]) -> Graph:
    """A graph of one node running component ``name``, every port exported except those
    given an initial IP (``PORT=VALUE``) and the optional configuration inports (a declared
    default, or a ``conf`` that is not required: bound to a queue, they would hold the
    process until a message configured it; ``--iip`` sets them)."""
    from flowpy.cli.run import parse_iip
    from flowpy.graphs.model import PortRef

    cls = registry.get(name)  # KeyError
    graph = Graph(name=role, properties={"description": cls.summary(), "icon": cls.icon or "cogs"})
    node = role
    graph.add_node(node, name)
    configured = set()
    for given in iips:
        _node, port, value = parse_iip(
            given if "." in given.partition("=")[0] else f"{node}.{given}"
        )
        graph.add_initial(value, PortRef(node, port))
        configured.add(port.lower())
    for port, spec in cls.port_specs("in").items():
        if port not in configured and not spec.optional_config:
            graph.add_inport(port, node, port)
    for port in cls.port_specs("out"):
        graph.add_outport(port, node, port)
    return graph


class _Errors(NetworkListener):
    def __init__(self) -> None:
        self.count = 0

    def process_failed(self, network: Any, failure: Failure) -> bool:
        super().process_failed(network, failure)
        return True  # said on stderr

    def process_error(self, network: Any, node: str, message: str, tb: str) -> None:
        self.count += 1
        sys.stderr.write(f"flowpy: process {node!r} failed: {message}\n{tb}")
        sys.stderr.flush()

    def output(self, network: Any, node: str, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run the participant until a signal or the graph's end; the exit status says how it ended."""
    err = sys.stderr
    # pika logs every frame (INFO) and every failed connection attempt with a traceback
    # (ERROR); the participant reports connection states itself (-v, the shared logging
    # option: one -v also prints each state change).
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        from flowpy.link.broker import (
            BrokerError,
            BrokerURL,
            Participant,
            ParticipantConfig,
            msgflo_component,
            require_client,
        )
    except ImportError as exc:  # pragma: no cover - the package itself is broken
        err.write(f"flowpy: {exc}\n")
        return EXIT_INVALID
    if not args.broker:
        err.write("flowpy: no broker: give --broker URL or set MSGFLO_BROKER\n")
        return EXIT_INVALID
    try:
        url = BrokerURL.parse(args.broker)
        require_client(url.scheme)
        queues = {}
        for spec in args.queue:
            port, sep, queue = spec.partition("=")
            if not sep or not port or not queue:
                raise BrokerError(f"--queue {spec!r}: expected PORT=QUEUE")
            queues[port] = queue
        config = ParticipantConfig(
            role=args.role,
            id=args.id,
            queue_prefix=args.queue_prefix,
            queues=queues,
            prefetch=args.prefetch,
            ack=args.ack,
            brackets=args.brackets,
            discovery_period=args.discovery_period,
            shared=args.shared,
            connect_timeout=args.connect_timeout,
            component=args.component,
            delivery_limit=args.delivery_limit,
        )
    except BrokerError as exc:
        err.write(f"flowpy: {exc}\n")
        return EXIT_INVALID

    registry = Registry()
    try:
        register_directory_components(registry, args.components_dir)
    except (OSError, ValueError) as exc:
        err.write(f"flowpy: --components-dir: {exc}\n")
        return EXIT_INVALID
    path = Path(args.graph)
    try:
        if path.suffix.lower() in GRAPH_FILE_SUFFIXES or path.exists():
            graph = read_graph_file(path, args.graph_format)
            apply_iips(graph, args.iip)
            name = path.stem
        else:
            graph = component_graph(registry, args.graph, args.role, args.iip)
            name = args.graph
        config.component = config.component or msgflo_component(name)
    except KeyError:
        err.write(f"flowpy: {args.graph} is neither a graph file nor a known component\n")
        return EXIT_INVALID
    except (OSError, ValueError) as exc:
        err.write(f"flowpy: cannot load {args.graph}: {exc}\n")
        return EXIT_INVALID
    if not graph.inports and not graph.outports:
        err.write(f"flowpy: {args.graph} exports no port: nothing to bind to a queue\n")
        return EXIT_INVALID

    errors = _Errors()

    def report(info: dict[str, Any]) -> None:
        err.write(f"flowpy: {_describe(info)}\n")

    status = report if args.verbose else None
    participant = Participant(graph, registry, url, config, [errors], on_status=status)
    try:
        participant.start()
    except (BrokerError, NetworkError) as exc:
        err.write(f"flowpy: cannot start participant {args.role}: {exc}\n")
        return EXIT_INVALID
    ins = ", ".join(f"{p}<-{q}" for p, q in participant.inqueues.items()) or "none"
    outs = ", ".join(f"{p}->{q}" for p, q in participant.outqueues.items()) or "none"
    sys.stdout.write(
        f"flowpy participant {participant.id} ({args.role}) connected to "
        f"{url.redacted()}; inports: {ins}; outports: {outs}\n"
    )
    sys.stdout.flush()
    status_code = _wait_and_stop(participant)
    if status_code == EXIT_OK and errors.count:
        return EXIT_PROCESS_ERROR
    return status_code


def _describe(info: dict[str, Any]) -> str:
    if info.get("type") == "state":
        extra = f" ({info['reason']})" if info.get("reason") else ""
        return f"broker {info.get('url')}: {info.get('state')}{extra}"
    return str(info.get("message") or info)


def _wait_and_stop(participant: Any) -> int:
    """Wait in the main thread for a signal or the graph's end, then stop (as ``flowpy run``
    does: signals arrive on a pipe, a second one cuts the drain)."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    finished = threading.Thread(
        target=_on_done, args=(participant, wake_w), name="participant-wait"
    )
    finished.start()
    try:
        byte = os.read(wake_r, 1)[0]
        status = EXIT_OK if byte == 0 else (130 if byte == signal.SIGINT else 128 + byte)
        stopper = threading.Thread(
            target=participant.stop, args=(STOP_TIMEOUT,), name="participant-stop"
        )
        stopper.start()
        while stopper.is_alive():
            ready, _, _ = select.select([wake_r], [], [], 0.2)
            if ready and os.read(wake_r, 1)[0] != 0:
                participant.network.cut_drain()  # a second signal: stop at once
        stopper.join()
        participant.stop()  # idempotent: makes sure the waiter below ends
        finished.join()
        return status
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)


def _on_done(participant: Any, wake: int) -> None:
    participant.wait()
    try:
        os.write(wake, b"\x00")
    except OSError:
        pass


def _ignore(signum: int, frame: Any) -> None:
    """Replaces the default action; the wakeup fd does the work."""
