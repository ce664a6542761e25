"""``flowpy send`` and ``flowpy listen``: feed and watch a remote graph from the shell.

``send`` turns values (or stdin lines) into packets on an exported inport, keeping a window
of unacknowledged packets so a slow graph slows the sender. ``listen`` prints what exported
outports emit: each packet as the protocol carries it, or (``--format json|lines``) as the
lines ``flowpy run --stdout`` writes, so ``listen`` can feed ``send`` or ``run --stdin``.
"""

from __future__ import annotations

import argparse
import codecs
import io
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from flowpy.engine.ip import IP
from flowpy.link.client import ClientError, ConnectionClosed
from flowpy.wire.events import event_of, ip_of

from .connect import CommandError, add_runtime_options, check_port, connect, fail
from .lines import DEFAULT_FORMAT, FORMAT_HELP, FORMATS, LineReader, ip_of_line, line_of_ip

SEND_DESCRIPTION = (
    "Send values into an exported inport of a graph on a running runtime, as one stream "
    "(connect, a data packet per value, disconnect). Values may come before or after the "
    "options; with none, stdin is read, one value per line. Each value is read as JSON, and "
    "as text when it is not JSON (--format lines: always as text)."
)
LISTEN_DESCRIPTION = (
    "Print what a graph's exported outports emit on a running runtime, one line per packet, "
    "until Ctrl-C, --count data packets, or the runtime closes the connection."
)


def add_parser(subparsers: Any) -> None:
    """Register ``flowpy send`` and ``listen``: values into and out of a remote graph."""
    send = subparsers.add_parser(
        "send",
        help="send values into a remote graph's inport",
        description=SEND_DESCRIPTION,
        intermixed=True,
    )
    add_runtime_options(send)
    send.add_argument("--port", required=True, help="exported inport of the graph")
    send.add_argument(
        "--window", type=int, default=100, help="unacknowledged packets in flight (default: 100)"
    )
    send.add_argument("--format", choices=FORMATS, default=DEFAULT_FORMAT, help=FORMAT_HELP)
    send.add_argument(
        "--raw",
        dest="format",
        action="store_const",
        const="lines",
        help="the same as --format lines",
    )
    send.add_argument(
        "values",
        nargs="*",
        metavar="VALUE",
        help="values to send (JSON, else text); none: read stdin lines",
    )
    send.set_defaults(func=run_send)

    listen = subparsers.add_parser(
        "listen", help="print what a remote graph's outports emit", description=LISTEN_DESCRIPTION
    )
    add_runtime_options(listen)
    listen.add_argument("--port", help="only this exported outport")
    listen.add_argument("--count", type=int, help="exit after this many data packets")
    listen.add_argument(
        "--format",
        choices=("packets", *FORMATS),
        default="packets",
        help="packets (default): each runtime:packet payload as JSON; json or "
        "lines: the IPs alone, as 'flowpy run --stdout' writes them",
    )
    listen.set_defaults(func=run_listen)


def _ip_batches(args: argparse.Namespace) -> Iterator[list[IP]]:
    """The IPs to send, in batches of what is at hand: all the values given, or the stdin
    lines that have arrived (so lines piped in fast go many to a write, and a line typed
    by hand is sent as soon as it is complete)."""
    if args.values:
        yield [ip_of_line(text, args.format) for text in args.values]
        return
    read = LineReader(args.format, _warn)
    for lines in _stdin_lines():
        yield [read(line) for line in lines]


def _stdin_lines() -> Iterator[list[str]]:
    """Complete stdin lines as they arrive, without their line ends (universal newlines,
    stdin's own encoding), each read's worth at once."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (replaced, say): line by line
        for line in sys.stdin:
            yield [line.rstrip("\n")]
        return
    decoder = io.IncrementalNewlineDecoder(
        codecs.getincrementaldecoder(sys.stdin.encoding or "utf-8")(sys.stdin.errors or "strict"),
        translate=True,
    )
    tail = ""
    while True:
        chunk = os.read(fd, 1 << 16)
        text = tail + decoder.decode(chunk, final=not chunk)
        *lines, tail = text.split("\n")
        if lines:
            yield lines
        if not chunk:
            if tail:
                yield [tail]
            return


def _for_people(message: str, url: str) -> str:
    """A refusal as the shell user can act on it: the command that starts the network
    rather than the protocol's name for it."""
    return message.replace("start it first (network:start)", f"start it first: flowpy start {url}")


def _warn(message: str) -> None:
    print(f"flowpy send: warning: {message}", file=sys.stderr, flush=True)


def run_send(args: argparse.Namespace) -> int:
    """``flowpy send``: each value (arguments or stdin lines) into the inport, each acknowledged."""
    try:
        client, graph = connect(args, needs="protocol:runtime", keep_packets=False)
    except CommandError as exc:
        return fail("send", exc)
    try:  # a wrong port is a usage error here, as it is for listen
        check_port(client, graph, "inPorts", args.port, if_reported=True)
    except (CommandError, ClientError) as exc:
        client.close()
        return fail("send", exc)
    count = 0
    began = time.perf_counter()
    try:
        batches = itertools.chain(
            [[("connect", None)]],
            ([event_of(ip) for ip in ips] for ips in _ip_batches(args)),
            [[("disconnect", None)]],
        )
        count = client.send_batches(graph, args.port, batches, args.window)
    except ClientError as exc:
        return fail("send", _for_people(str(exc), args.url))
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()
    took = time.perf_counter() - began
    rate = f", {count / took:,.0f} a second" if took >= 0.5 else ""  # a rate worth reading
    print(f"sent {count} packets to {graph}.{args.port} in {took:.2f} s{rate}", file=sys.stderr)
    return 0


def run_listen(args: argparse.Namespace) -> int:
    """``flowpy listen``: print what the remote graph's outport sends, one line per IP."""
    try:
        client, graph = connect(args, needs="protocol:runtime")
    except CommandError as exc:
        return fail("listen", exc)
    try:
        if args.port:  # refused as send refuses it (exit 2), rather than waiting for ever
            check_port(client, graph, "outPorts", args.port)
    except (CommandError, ClientError) as exc:
        client.close()
        return fail("listen", exc)
    client.on_message = _errors_aside(client, graph)
    client.on_batch = _outputs_in(client)
    where = f"{graph}.{args.port}" if args.port else graph
    print(f"flowpy listen: listening to {where} on {args.url}", file=sys.stderr, flush=True)
    seen = 0
    out = sys.stdout
    try:
        while args.count is None or seen < args.count:
            try:
                packets = client.recv_packets(timeout=3600)  # all that arrived: one lock
            except ConnectionClosed:
                print(
                    f"flowpy listen: the runtime closed the connection "
                    f"({client.close_reason or 'no reason given'})",
                    file=sys.stderr,
                )
                return 0
            except ClientError:
                continue  # an hour of silence: keep listening
            lines = []  # one write for what arrived together (stdout may be unbuffered)
            for packet in packets:
                if args.count is not None and seen >= args.count:
                    break
                if packet.get("graph") != graph:
                    continue
                if args.port and str(packet.get("port", "")).lower() != args.port.lower():
                    continue
                line = _line(packet, args.format)
                if line is not None:
                    lines.append(line + "\n")
                seen += packet.get("event") == "data"
            out.write("".join(lines))
            if client.packets.empty():  # nothing else waiting: let it be seen now
                out.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        out.flush()
        client.close()
    return 0


def _errors_aside(client: Any, graph: str) -> Any:
    """The client's message handler for ``listen``: the graph's process errors go to stderr
    as one line each (stdout keeps only packets, for a pipe); packets go to the inbox."""

    def route(message: dict[str, Any]) -> None:
        payload = message.get("payload")
        if not isinstance(payload, dict) or payload.get("graph") != graph:
            return
        if message.get("command") == "processerror":
            print(
                f"flowpy listen: process {payload.get('id')!r} failed: {payload.get('error')}",
                file=sys.stderr,
                flush=True,
            )
        elif message.get("protocol") == "runtime" and message.get("command") == "packet":
            client.packets.put(message)  # blocks while full: TCP slows the sender

    return route


def _outputs_in(client: Any) -> Any:
    """The client's batch handler for ``listen``: the outputs of one read go to the inbox at
    once (blocking while it is full: TCP slows the runtime); other replies are not ours."""

    def take(messages: list[dict[str, Any]]) -> None:
        outputs = [m for m in messages if m.get("command") == "packet"]
        if outputs:
            client.packets.put_many(outputs, client.closed)

    return take


def _line(packet: dict[str, Any], fmt: str) -> str | None:
    if fmt == "packets":
        return json.dumps(packet, separators=(",", ":"))
    try:
        ip = ip_of(str(packet.get("event")), packet.get("payload"))
    except KeyError:
        return None
    return None if ip is None else line_of_ip(ip, fmt)
