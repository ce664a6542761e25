"""``flowpy start``, ``flowpy stop`` and ``flowpy status``: a served network from the shell.

``start`` and ``stop`` are a protocol client's ``network:start`` and ``network:stop`` for one
graph (the runtime's main graph unless ``--graph``), so nobody has to write Python to start
the network ``flowpy serve --graph FILE`` loaded. ``status`` is the live view's content as
text: every graph (or the ``--graph``) with its state, last error and per-process and per-edge
counts, from one ``flowpy:stats`` snapshot; a runtime that does not know that extension is
asked ``network:getstatus`` instead.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from typing import Any

from flowpy.link.client import ClientError, RequestError

from .connect import CommandError, add_runtime_options, connect, fail

#: ``flowpy status`` exits with this when the network is not running (as ``systemctl status``).
EXIT_NOT_RUNNING = 3

COMMANDS = {
    "start": (
        "start a served graph's network",
        "network:control",
        "Start the network of a graph on a running runtime (network:start) and wait "
        "until it has started.",
    ),
    "stop": (
        "stop a served graph's network",
        "network:control",
        "Stop the network of a graph on a running runtime (network:stop); what is inside "
        "it runs out first unless the runtime was started with --no-drain.",
    ),
    "status": (
        "show the served graphs, their processes and counts",
        "network:status",
        f"Print every graph of a running runtime (or the one --graph names) with its "
        f"state, last error, and per-process and per-edge counts. Exit status 0 when "
        f"the main graph (or --graph) is running, {EXIT_NOT_RUNNING} when it is not.",
    ),
}


def add_parser(subparsers: Any) -> None:
    """Register ``start``, ``stop`` and ``status``, one subparser per entry of ``COMMANDS``."""
    for name, (summary, _needs, description) in COMMANDS.items():
        parser = subparsers.add_parser(name, help=summary, description=description)
        add_runtime_options(parser)
        if name == "status":
            parser.add_argument(
                "--json", action="store_true", help="print the flowpy:stats payload as JSON"
            )
        parser.set_defaults(func=run, control=name)


def describe(status: dict[str, Any]) -> str:
    """One line a person reads for a ``network:status`` payload: state, uptime, debug."""
    state = (
        "running"
        if status.get("running")
        else ("started, not running" if status.get("started") else "not running")
    )
    uptime = status.get("uptime")
    extra = (
        f", up {uptime:g}s" if status.get("running") and isinstance(uptime, (int, float)) else ""
    )
    return f"{status.get('graph')}: {state}{extra}"


def describe_graph(entry: dict[str, Any]) -> list[str]:
    """One graph of a ``flowpy:stats`` payload as lines of text."""
    state = entry.get("state", "?")
    if entry.get("running") and isinstance(entry.get("uptime"), (int, float)):
        state += f", up {entry['uptime']:g}s"
    why = None if entry.get("running") else _why(entry)
    lines = [f"{entry.get('graph')}: {state}" + (f" ({why})" if why else "")]
    error = entry.get("lastError")
    if error:
        kind = f"{error['type']}: " if error.get("type") else ""
        what = f" on {_short(error.get('input'))}" if error.get("input") is not None else ""
        lines.append(
            f"  last error: {error.get('node')} ({error.get('component')}) "
            f"{kind}{error.get('message')}{what}, at {error.get('time')}"
        )
    processes = entry.get("processes") or {}
    if processes:
        width = max(len(name) for name in processes)
        lines.append(f"  {'process':<{width}}  {'state':<8}  errors  restarts")
        for name, process in processes.items():
            lines.append(
                f"  {name:<{width}}  {process['state']:<8}  {process['errors']:>6}  "
                f"{process['restarts']:>8}"
            )
    for edge in entry.get("edges") or []:
        lines.append(f"  {_edge(edge)}: {edge['ips']} IPs, {edge['queued']} queued")
    for direction in ("inports", "outports"):
        for port, count in (entry.get(direction) or {}).items():
            lines.append(f"  {direction[:-1]} {port}: {count} packets")
    return lines


def _edge(edge: dict[str, Any]) -> str:
    def end(e: dict[str, Any]) -> str:
        index = f"[{e['index']}]" if "index" in e else ""
        return f"{e['node']}.{str(e['port']).upper()}{index}"

    return f"{end(edge['src'])} -> {end(edge['tgt'])}"


def status_document(
    client: Any, args: argparse.Namespace, graph: str
) -> tuple[dict[str, Any], bool]:
    """(what to print as JSON, whether ``graph`` runs), from flowpy:stats when the runtime
    has it, else from network:getstatus."""
    try:
        ask = {"subscribe": False, **({"graph": args.graph} if args.graph else {})}
        stats = client.request("flowpy", "stats", ask, expect=("stats",))
    except RequestError:  # a runtime without the extension (another runtime, an older flowpy)
        plain = client.network_status(graph)
        return plain, bool(plain.get("running"))
    entries = stats.get("graphs") or []
    running = any(e.get("graph") == graph and e.get("running") for e in entries)
    return stats, running


def _why(entry: dict[str, Any]) -> str | None:
    """Why a graph entry (of ``GET /`` or ``flowpy:stats``) does not run: its failed start,
    else how its last run ended; None when it does not say."""
    for key, field in (("startError", "message"), ("ended", "reason")):
        value = entry.get(key)
        if isinstance(value, dict) and value.get(field):
            return ("cannot start: " if key == "startError" else "") + str(value[field])
    return None


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
    return _why(entry)


def run(args: argparse.Namespace) -> int:
    """Run one control command against a runtime; the exit status says whether it was done."""
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
            document, running = status_document(client, args, graph)
    except ClientError as exc:
        return fail(command, exc)
    finally:
        client.close()
    if command != "status":
        print(
            json.dumps(status, separators=(",", ":"))
            if getattr(args, "json", False)
            else describe(status)
        )
        return 0
    if args.json:
        print(json.dumps(document, separators=(",", ":")))
    elif "graphs" in document:
        for entry in document["graphs"]:
            print("\n".join(describe_graph(entry)))
    elif not running:
        why = why_not_running(args.url, graph, args.timeout)
        print(describe(document) + (f" ({why})" if why else ""))
    else:
        print(describe(document))
    return 0 if running else EXIT_NOT_RUNNING


def _short(value: Any, limit: int = 60) -> str:
    """An IP's data as JSON, cut to ``limit`` characters (for one line)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
