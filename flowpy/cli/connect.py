"""What every command that talks to a running runtime shares: its URL, ``--graph``,
the secret (:mod:`.secret_options`) and ``--timeout``, and a connection that has already
checked the secret.

A runtime answers a wrong or missing secret with an empty capability list rather than an
error (the protocol's way), so the commands ask ``runtime:getruntime`` first and say "the
runtime refused this secret" at once instead of waiting for answers that never come.

Exit statuses: 1 when the runtime cannot be reached or says no; 2 (a usage error, as for a
wrong option) when the command line names something that is not there: a URL where no
runtime answers, a port the graph does not have.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

from flowpy.errors import FlowpyError, missing_name
from flowpy.link.client import Client, ClientError, NoRuntimeThere

from .secret_options import ENV_VAR, add_secret_options

EXAMPLE_URL = "ws://127.0.0.1:3569"
EXIT_FAILED, EXIT_USAGE = 1, 2


class CommandError(FlowpyError):
    """What the user should know and do, in one line; the command exits with ``status``."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def runtime_url(text: str) -> str:
    """argparse type: a ``ws://`` or ``wss://`` URL with a host, or a usage error saying how
    to write it."""
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = parts.hostname
    if parts.scheme in ("ws", "wss") and host:
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the port is not a number from 0 to 65535"
            ) from None
        return text
    if parts.scheme in ("http", "https") and host:
        fixed = ("wss" if parts.scheme == "https" else "ws") + text[len(parts.scheme) :]
        raise argparse.ArgumentTypeError(
            f"{text!r}: a runtime is reached over WebSocket: use {fixed}"
        )
    if not parts.scheme and host:
        raise argparse.ArgumentTypeError(f"{text!r}: say how to reach it: ws://{text}")
    raise argparse.ArgumentTypeError(f"{text!r} is not a runtime URL (like {EXAMPLE_URL})")


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that talks to a runtime: its URL, graph and secret."""
    parser.add_argument("url", type=runtime_url, help=f"the runtime, e.g. {EXAMPLE_URL}")
    parser.add_argument("--graph", help="graph id (default: the runtime's main graph)")
    add_secret_options(parser, "the runtime's secret or your token")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the runtime to answer (default: 30)",
    )


def connect(args: argparse.Namespace, needs: str, keep_packets: bool = True) -> tuple[Client, str]:
    """A connected client and the graph to act on. ``needs`` is the capability the command
    cannot work without (``protocol:runtime``, ``network:control``...); ``keep_packets``
    False for a command that never reads the graph's outputs. CommandError if the
    runtime cannot be reached, refuses the secret or has no such graph."""
    try:
        client = Client(
            args.url, secret=args.secret, timeout=args.timeout, keep_packets=keep_packets
        ).connect()
    except NoRuntimeThere as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    try:
        info = client.getruntime()
        capabilities = info.get("capabilities") or []
        if needs not in capabilities:
            if not capabilities and args.secret:
                raise CommandError(
                    f"the runtime refused this secret (check "
                    f"{getattr(args, 'secret_source', None) or '--secret'})"
                )
            if not capabilities:
                raise CommandError(
                    f"the runtime needs a secret: pass --secret (or "
                    f"--secret-file FILE, or set {ENV_VAR})"
                )
            raise CommandError(
                f"this secret does not allow {needs} on the runtime "
                f"(it allows: {', '.join(capabilities)})"
            )
        graph = args.graph or info.get("graph")
        if not graph:
            raise CommandError(f"{args.url} has no main graph: pass --graph")
        return client, str(graph)
    except ClientError as exc:
        client.close()
        raise CommandError(str(exc)) from None
    except CommandError:
        client.close()
        raise


def exported_ports(client: Client, graph: str, kind: str) -> list[str]:
    """The names of the graph's exported ``kind`` ports (``inPorts`` or ``outPorts``), as the
    runtime told this client in ``runtime:ports`` after ``getruntime``.

    Those come right after the ``runtime:runtime`` reply ``connect`` waited for, so one more
    ``getruntime`` round trip makes sure they have arrived (a graph without exported ports
    gets none)."""
    client.getruntime()
    ports = client.ports.get(graph, {}).get(kind) or []
    return [str(port.get("id")) for port in ports if isinstance(port, dict)]


def check_port(client: Client, graph: str, kind: str, port: str, if_reported: bool = False) -> None:
    """CommandError (usage, exit 2) when ``port`` is not one of the graph's exported ``kind``
    ports: the same words the runtime uses when a packet goes to a port that is not there.
    ``if_reported``: check only a graph the runtime reported ports for, and leave any other
    to the runtime's refusal (which says whether the graph is there at all, and which name
    was meant)."""
    names = exported_ports(client, graph, kind)
    if if_reported and graph not in client.ports:
        return
    if port.lower() not in {name.lower() for name in names}:
        what = "inport" if kind == "inPorts" else "outport"
        raise CommandError(
            f"graph {graph!r} has no exported {what} {missing_name(port, names)}", EXIT_USAGE
        )


def fail(command: str, error: Any) -> int:
    """Print ``flowpy COMMAND: error`` to stderr; the status of a failed command (a
    CommandError's own, else 1)."""
    print(f"flowpy {command}: {error}", file=sys.stderr, flush=True)
    return getattr(error, "status", EXIT_FAILED)
