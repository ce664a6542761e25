"""``flowpy start``, ``flowpy stop`` and ``flowpy status``: a served network from the shell.

The same as a protocol client's ``network:start``, ``network:stop`` and ``network:getstatus``
for one graph (the runtime's main graph unless ``--graph``), so nobody has to write Python to
start the network ``flowpy serve --graph FILE`` loaded.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from typing import Any

from flowpy.link.client import ClientError

from .connect import CommandError, add_runtime_options, connect, fail

#: ``flowpy status`` exits with this when the network is not running (as ``systemctl status``).
EXIT_NOT_RUNNING = 3

COMMANDS = {
    "start": ("start a served graph's network", "network:control",
              "Start the network of a graph on a running runtime (network:start) and wait "
              "until it has started."),
    "stop": ("stop a served graph's network", "network:control",
             "Stop the network of a graph on a running runtime (network:stop); what is inside "
             "it runs out first unless the runtime was started with --no-drain."),
    "status": ("show whether a served graph's network runs", "network:status",
               f"Print the state of a graph's network on a running runtime. Exit status 0 when "
               f"it is running, {EXIT_NOT_RUNNING} when it is not."),
}


def add_parser(subparsers: Any) -> None:
    for name, (summary, _needs, description) in COMMANDS.items():
        parser = subparsers.add_parser(name, help=summary, description=description)
        add_runtime_options(parser)
        if name == "status":
            parser.add_argument("--json", action="store_true",
                                help="print the network:status payload as JSON")
        parser.set_defaults(func=run, control=name)


def describe(status: dict[str, Any]) -> str:
    state = "running" if status.get("running") else (
        "started, not running" if status.get("started") else "not running")
    uptime = status.get("uptime")
    extra = f", up {uptime:g}s" if status.get("running") and isinstance(uptime, (int, float)) \
        else ""
    return f"{status.get('graph')}: {state}{extra}"


def why_not_running(url: str, graph: str, timeout: float) -> str | None:
    """Why ``graph`` does not run, from the runtime's ``GET /`` document (the protocol's
    network:status has no field for it): its failed start, else how its last run ended.
    None when the runtime does not say (or is not a flowpy runtime)."""
    http_url = "http" + url[2:]  # ws:// -> http://, wss:// -> https://
    try:
        with urllib.request.urlopen(http_url, timeout=timeout) as response:
            document = json.load(response)
        [entry] = [g for g in document.get("graphs", []) if g.get("id") == graph]
    except (OSError, ValueError, AttributeError):
        return None
    for key, field in (("startError", "message"), ("ended", "reason")):
        value = entry.get(key)
        if isinstance(value, dict) and value.get(field):
            return ("cannot start: " if key == "startError" else "") + str(value[field])
    return None


def run(args: argparse.Namespace) -> int:
    command = args.control
    try:
        client, graph = connect(args, needs=COMMANDS[command][1])
    except CommandError as exc:
        return fail(command, exc)
    try:
        if command == "start":
            client.start_network(graph)
            status = client.network_status(graph)
        elif command == "stop":
            status = client.stop_network(graph)
        else:
            status = client.network_status(graph)
    except ClientError as exc:
        return fail(command, exc)
    finally:
        client.close()
    if getattr(args, "json", False):
        print(json.dumps(status, separators=(",", ":")))
    elif command == "status" and not status.get("running"):
        why = why_not_running(args.url, graph, args.timeout)
        print(describe(status) + (f" ({why})" if why else ""))
    else:
        print(describe(status))
    if command == "status" and not status.get("running"):
        return EXIT_NOT_RUNNING
    return 0
