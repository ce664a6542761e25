"""``flowpy send`` and ``flowpy listen``: feed and watch a remote graph from the shell.

``send`` turns values (or stdin lines) into data packets on an exported inport, keeping a
window of unacknowledged packets so a slow graph slows the sender. ``listen`` prints what an
exported outport emits, one JSON line per packet.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from flowpy.link.client import Client, ClientError, ConnectionClosed


def add_parser(subparsers: Any) -> None:
    send = subparsers.add_parser("send", help="send values into a remote graph's inport")
    _common(send)
    send.add_argument("--port", required=True, help="exported inport of the graph")
    send.add_argument("--window", type=int, default=100, help="unacknowledged packets in flight")
    send.add_argument("--raw", action="store_true", help="send values as strings, not JSON")
    send.add_argument("values", nargs="*", help="values (JSON, else strings); stdin lines if none")
    send.set_defaults(func=run_send)

    listen = subparsers.add_parser("listen", help="print what a remote graph's outports emit")
    _common(listen)
    listen.add_argument("--port", help="only this exported outport")
    listen.add_argument("--count", type=int, help="exit after this many data packets")
    listen.set_defaults(func=run_listen)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the runtime, e.g. ws://127.0.0.1:3569")
    parser.add_argument("--graph", help="graph id (default: the runtime's main graph)")
    parser.add_argument("--secret", help="the runtime's secret or your token")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a reply")


def _value(text: str, raw: bool) -> Any:
    if raw:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(args: argparse.Namespace) -> Iterator[Any]:
    if args.values:
        for text in args.values:
            yield _value(text, args.raw)
    else:
        for line in sys.stdin:
            yield _value(line.rstrip("\n"), args.raw)


def _connect(args: argparse.Namespace) -> tuple[Client, str]:
    client = Client(args.url, secret=args.secret, timeout=args.timeout).connect()
    graph = args.graph or client.getruntime().get("graph")
    if not graph:
        client.close()
        raise ClientError(f"{args.url} has no main graph: pass --graph")
    return client, graph


def run_send(args: argparse.Namespace) -> int:
    try:
        client, graph = _connect(args)
    except ClientError as exc:
        print(f"flowpy send: {exc}", file=sys.stderr)
        return 1
    try:
        count = client.send_stream(graph, args.port, _values(args), window=max(1, args.window))
    except ClientError as exc:
        print(f"flowpy send: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"sent {count} packets to {graph}.{args.port}", file=sys.stderr)
    return 0


def run_listen(args: argparse.Namespace) -> int:
    try:
        client, graph = _connect(args)
    except ClientError as exc:
        print(f"flowpy listen: {exc}", file=sys.stderr)
        return 1
    where = f"{graph}.{args.port}" if args.port else graph
    print(f"flowpy listen: listening to {where} on {args.url}", file=sys.stderr, flush=True)
    seen = 0
    try:
        while args.count is None or seen < args.count:
            try:
                packet = client.recv_packet(timeout=3600)
            except ConnectionClosed:
                return 0
            except ClientError:
                continue  # an hour of silence: keep listening
            if packet.get("graph") != graph:
                continue
            if args.port and str(packet.get("port", "")).lower() != args.port.lower():
                continue
            print(json.dumps(packet, separators=(",", ":")), flush=True)
            seen += packet.get("event") == "data"
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()
    return 0
