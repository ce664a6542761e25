"""``flowpy serve``: run the FBP Network Protocol runtime on a WebSocket.

    python -m flowpy serve [--host 127.0.0.1] [--port 3569] [--secret-file FILE]
                           [--permissions FILE] [--graph FILE [--start]] [--label TEXT]
                           [--state-dir DIR] [--allow-origin ORIGIN ...]
                           [--handshake-timeout SECONDS]

Prints one line, ``flowpy runtime listening on ws://HOST:PORT``, once it accepts
connections (``--port 0`` picks a free port), and stops cleanly on SIGINT or SIGTERM.
Without a secret (``--secret``, ``--secret-file`` or ``FLOWPY_SECRET``) or ``--permissions``
every client may do everything, so it binds to 127.0.0.1 unless ``--host`` says otherwise,
and refuses any address but a loopback one unless ``--insecure-open`` says that is meant
(protected mode, as Redis has it: a careless ``--host 0.0.0.0`` must not open a shell to
the network). See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowpy.engine import cpus
from flowpy.runtime.runtime import DEFAULT_MAX_INFLIGHT
from flowpy.server import DEFAULT_PORT
from flowpy.server.connection import DEFAULT_DEBUG_RATE
from flowpy.server.handshakes import DEFAULT_HANDSHAKE_TIMEOUT
from flowpy.server.origins import OriginError, parse_allowed

from .policy import add_policy_options, policy_of
from .secret_options import ENV_VAR, add_secret_options, settle_secret

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Serve the FBP Network Protocol runtime on a WebSocket, for noflo-ui, fbp-client, "
    "flowpy send/listen/start/stop/status and other runtimes. Prints 'flowpy runtime "
    "listening on ws://HOST:PORT' once it accepts connections (--port 0 picks a free port) "
    "and stops cleanly on SIGINT or SIGTERM. Without a secret or --permissions every client "
    "may do everything, so it binds to 127.0.0.1 unless --host says otherwise, and refuses "
    "any other address unless --insecure-open is given."
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``flowpy serve``; the parser is returned to check option combinations."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve the FBP Network Protocol runtime over WebSocket",
        description=DESCRIPTION,
    )
    _add_arguments(parser)
    add_policy_options(parser)
    parser.set_defaults(func=run, log_level="info")  # a served runtime reports its life
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port, 0 for any free port (default: {DEFAULT_PORT})",
    )
    add_secret_options(
        parser, "clients presenting this secret get every capability; others only getruntime"
    )
    parser.add_argument(
        "--insecure-open",
        action="store_true",
        help="serve on a non-loopback --host with neither a secret nor --permissions: every "
        "client that reaches the port may do everything, run commands included",
    )
    parser.add_argument(
        "--permissions",
        metavar="FILE",
        default=None,
        help="JSON file of capabilities and graph ports per secret (see docs/deployment.md)",
    )
    parser.add_argument("--graph", metavar="FILE", default=None, help="load this graph as main")
    parser.add_argument(
        "--start",
        action="store_true",
        help="start the main graph's network once the server listens; remembered in the "
        "state directory, so a restart on it starts the network again (as does a network "
        "a client started, until a client stops it)",
    )
    parser.add_argument("--label", default="flowpy", help="runtime label shown to clients")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=None,
        help="where the runtime keeps its id and state (default: "
        "$XDG_DATA_HOME/flowpy/LABEL-PORT, PORT being the port it listens on)",
    )
    parser.add_argument(
        "--components-dir",
        metavar="DIR",
        default=None,
        help="serve the .fbp/.json graphs in DIR as subgraph components and the Component "
        "classes of its .py files as components (read again when they change)",
    )
    parser.add_argument(
        "--stall-timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="disconnect a client that reads nothing for this long while messages wait for "
        "it; 0 = never (default: 60)",
    )
    parser.add_argument(
        "--compression",
        action="store_true",
        help="accept permessage-deflate when a client offers it (costs much CPU per message; "
        "for links where bandwidth matters more, see docs/deployment.md)",
    )
    parser.add_argument(
        "--debug-rate",
        metavar="N",
        type=int,
        default=DEFAULT_DEBUG_RATE,
        help="debug messages (network:data...) a second, at most, to one client; the rest are "
        f"dropped and counted (default: {DEFAULT_DEBUG_RATE}; 0 = no limit)",
    )
    parser.add_argument(
        "--max-inflight",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_INFLIGHT,
        help="runtime:packet requests a client may have unanswered before the server stops "
        f"reading it (default: {DEFAULT_MAX_INFLIGHT})",
    )
    parser.add_argument(
        "--no-drain",
        dest="drain",
        action="store_false",
        help="on SIGTERM/SIGINT stop the networks at once instead of letting what is inside "
        "them run out first",
    )
    parser.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        type=_origin,
        help="let web pages of ORIGIN (scheme://host[:port], 'null', 'file://', or '*' for "
        "any) open the WebSocket; pages of other origins get 403 (repeatable; clients that "
        "send no Origin, as CLI tools and other runtimes, are not affected)",
    )
    parser.add_argument(
        "--handshake-timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_HANDSHAKE_TIMEOUT,
        help="close a connection that has not finished its WebSocket handshake this long "
        f"after it was accepted; 0 = never (default: {DEFAULT_HANDSHAKE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--remote",
        metavar="NAME=URL",
        action="append",
        default=[],
        help="register remote/NAME: the main graph of the runtime at URL (?secret=S in the URL)",
    )


#: Host names that mean this machine alone (addresses are checked with ipaddress).
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine alone: 127.0.0.0/8, ::1 (also as
    ::ffff:127.x.y.z) or ``localhost``. Any other name, and the empty host (every
    interface), is not: a name may resolve anywhere."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def protected_mode_refusal(args: argparse.Namespace) -> str | None:
    """Why ``serve`` must not start as asked (None if it may): an open runtime on an
    address other machines reach, without ``--insecure-open``."""
    if args.secret or args.permissions or args.insecure_open or is_loopback(args.host):
        return None
    return (
        f"refusing to serve on {args.host or 'every address'} open to everybody: every "
        f"client that reaches it could edit graphs and run commands; give a secret "
        f"(--secret-file FILE, ${ENV_VAR} or --secret) or --permissions FILE, or pass "
        f"--insecure-open if every host that can reach this port is trusted"
    )


def _origin(value: str) -> str:
    try:
        return parse_allowed(value)
    except OriginError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fail(message: str) -> int:
    print(f"flowpy serve: {message}", file=sys.stderr, flush=True)
    return 2


def load_permissions(path: str) -> dict[str, Any]:
    """The parsed permissions file; raises ValueError with a readable message."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read permissions file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"permissions file {path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"permissions file {path} must hold a JSON object")
    return document


def run(args: argparse.Namespace) -> int:
    """``flowpy serve``: lock the state directory, serve until a signal, drain and exit."""
    from flowpy.runtime.persistence import StateDirInUse, StateLock, default_state_dir
    from flowpy.server.service import listen

    refusal = protected_mode_refusal(args)
    if refusal is not None:
        return _fail(refusal)
    if args.insecure_open and not (args.secret or args.permissions or is_loopback(args.host)):
        log.warning(
            "serving on %s with no secret (--insecure-open): every client that "
            "reaches the port may do everything",
            args.host,
        )
    permissions = None
    if args.permissions:
        try:
            permissions = load_permissions(args.permissions)
        except ValueError as exc:
            return _fail(str(exc))
    if args.components_dir and not Path(args.components_dir).is_dir():
        return _fail(f"--components-dir {args.components_dir}: not a directory")
    # Bind first: the default state directory is named after the port really listened on.
    try:
        listener = listen(args.host, args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    port = listener.getsockname()[1]
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir(args.label, port)
    lock = StateLock(state_dir)
    try:
        lock.acquire()
    except (StateDirInUse, OSError) as exc:
        listener.close()
        if isinstance(exc, StateDirInUse):
            return _fail(str(exc))
        return _fail(f"cannot lock state directory {state_dir}: {exc.strerror or exc}")
    try:
        return _serve(args, listener, port, state_dir, permissions)
    finally:
        listener.close()  # the service serves on its own duplicate of it
        lock.release()


def _serve(
    args: argparse.Namespace,
    listener: Any,
    port: int,
    state_dir: Path,
    permissions: dict[str, Any] | None,
) -> int:
    from flowpy.runtime.runtime import Runtime

    try:
        runtime = Runtime(
            registry=None,
            state_dir=state_dir,
            label=args.label,
            secret=args.secret,
            permissions=permissions,
            components_dir=args.components_dir,
            max_inflight=args.max_inflight,
            drain=args.drain,
            error_policy=policy_of(args),
        )
    except (ValueError, OSError) as exc:  # e.g. an invalid permissions document
        return _fail(str(exc))
    log.info(
        "runtime %s (label %r): state directory %s; networks run on %s",
        runtime.id,
        args.label,
        state_dir,
        cpus.describe(),
    )
    remotes = None
    if args.remote:
        from flowpy.link.remote import RemoteDirectory, RemoteError

        try:
            remotes = RemoteDirectory(
                runtime.registry,
                args.remote,
                cache=state_dir / "remotes.json",
                announce=runtime.announce_component,
            )
            remotes.start()  # a remote that is down is discovered in the background
        except RemoteError as exc:
            runtime.shutdown()
            return _fail(str(exc))
    try:
        return _serve_runtime(args, listener, port, runtime)
    finally:
        if remotes is not None:
            remotes.close()


def _serve_runtime(args: argparse.Namespace, listener: Any, port: int, runtime: Any) -> int:
    from flowpy.server import serve

    try:
        if args.graph:
            runtime.load_graph_file(args.graph, main=True)
    except Exception as exc:  # noqa: BLE001 - any load error is the user's file, say so
        runtime.shutdown()
        return _fail(f"cannot load graph {args.graph}: {exc}")
    to_start = runtime.meant_to_run  # what ran when the runtime last stopped
    if args.start:
        if runtime.main_graph is None:
            runtime.shutdown()
            return _fail("--start: there is no main graph to start (pass --graph FILE)")
        if runtime.main_graph not in to_start:
            to_start.append(runtime.main_graph)
    runtime.keep_start_intent = True

    def ready(url: str) -> None:
        # A graph that does not start is said before the ready line (whoever waits for that
        # line has it then); the runtime serves on: other graphs and clients are fine.
        for graph_id, reason in _start_networks(runtime, to_start):
            print(
                f"flowpy serve: graph {graph_id} did not start: {reason} (serving on; "
                f"'flowpy status {url}' says why)",
                file=sys.stderr,
                flush=True,
            )
        print(f"flowpy runtime listening on {url}", flush=True)

    try:
        return serve(
            args.host,
            port,
            runtime,
            ready_callback=ready,
            stall_timeout=args.stall_timeout or None,
            compression=args.compression,
            debug_rate=args.debug_rate,
            listener=listener,
            allow_origins=args.allow_origin,
            handshake_timeout=args.handshake_timeout or None,
        )
    except OSError as exc:
        runtime.shutdown()
        return _fail(f"cannot serve on {args.host}:{port}: {exc.strerror or exc}")


def _start_networks(runtime: Any, graphs: list[str]) -> list[tuple[str, str]]:
    """Start these graphs' networks (the server accepts connections already, and the
    ready line follows, so a client that read it finds them running). A graph that is not
    loaded is logged; one that does not start (logged by the runtime, kept for ``GET /``)
    is returned with why: the runtime serves on."""
    failed: list[tuple[str, str]] = []
    for graph_id in graphs:
        hosted = runtime.get_graph(graph_id)
        if hosted is None:
            log.warning("graph %s was meant to run but is not loaded; not starting it", graph_id)
            continue
        try:
            hosted.start()
        except Exception as exc:  # noqa: BLE001 - NetworkError or a component's failure
            failed.append((graph_id, str(exc)))
        else:
            log.info("started the network of graph %s", graph_id)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flowpy.cli.serve ...``: the same as ``python -m flowpy serve ...``."""
    from .logs import add_logging_options, configure_logging

    parser = argparse.ArgumentParser(prog="flowpy serve", description=DESCRIPTION)
    _add_arguments(parser)
    add_policy_options(parser)
    add_logging_options(parser, default="info")
    args = parser.parse_args(argv)
    configure_logging(args)
    settle_secret(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
