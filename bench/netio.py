"""What the socket components take in, on loopback.

* TCP: a server writes N lines to ``net/TcpClient`` as fast as it can; the lines go through
  the reader thread's bounded hand-over (components/_support/pump.py) to ``core/Count``.
  The figure is lines per second; TCP's flow control means none is lost.
* UDP: a sender blasts N datagrams at ``net/UdpReceive`` (default kernel buffer), which hands
  each to ``core/Drop``; the figures are datagrams per second received and how many the
  kernel dropped (counted by SO_RXQ_OVFL on Linux), which is what a sender faster than the
  graph costs.

    python bench/netio.py [--lines 200000] [--datagrams 200000]
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowpy.engine.network import Network, NetworkListener  # noqa: E402
from flowpy.engine.registry import Registry  # noqa: E402
from flowpy.graphs.model import Graph, PortRef  # noqa: E402


class Listener(NetworkListener):
    def __init__(self) -> None:
        self.outputs: list[tuple[str, object]] = []
        self.cond = threading.Condition()

    def outport_ip(self, network: object, port: str, ip: object) -> None:
        with self.cond:
            self.outputs.append((port, getattr(ip, "data", None)))
            self.cond.notify_all()

    def finished(self, network: object) -> None:
        with self.cond:
            self.outputs.append(("finished", None))
            self.cond.notify_all()

    def wait(self, port: str) -> object:
        with self.cond:
            self.cond.wait_for(lambda: any(p == port for p, _ in self.outputs), 120)
            return next(d for p, d in self.outputs if p == port)


def tcp(lines: int) -> float:
    payload = b"".join(b"line %d\n" % n for n in range(lines))

    class Writer(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(payload)

    server = socketserver.TCPServer(("127.0.0.1", 0), Writer)
    thread = threading.Thread(target=server.handle_request, name="bench-tcp-server")
    thread.start()
    graph = Graph("bench")
    graph.add_node("c", "net/TcpClient")
    graph.add_node("n", "core/Count")
    graph.add_edge(PortRef("c", "out"), PortRef("n", "in"))
    graph.add_initial(server.server_address[1], PortRef("c", "conf"))
    graph.add_outport("count", "n", "out")
    listener = Listener()
    network = Network(graph, Registry(), listener)
    started = time.perf_counter()
    network.start()
    count = listener.wait("count")
    elapsed = time.perf_counter() - started
    network.stop(10.0)
    thread.join()
    server.server_close()
    assert count == lines, count
    return lines / elapsed


def udp(datagrams: int) -> tuple[float, int, int]:
    graph = Graph("bench")
    graph.add_node("r", "net/UdpReceive")
    graph.add_node("d", "core/Drop")
    graph.add_edge(PortRef("r", "out"), PortRef("d", "in"))
    graph.add_initial({"port": 0}, PortRef("r", "conf"))
    graph.add_outport("listening", "r", "listening")
    graph.add_outport("drops", "r", "drops")
    listener = Listener()
    network = Network(graph, Registry(), listener)
    network.start()
    port = listener.wait("listening")["port"]  # type: ignore[index]
    payload = b"x" * 100
    started = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(datagrams):
            sender.sendto(payload, ("127.0.0.1", port))
        sender.sendto(b"last", ("127.0.0.1", port))  # carries the final drop count
    elapsed = time.perf_counter() - started
    network.stop(10.0)
    with listener.cond:
        drops = [d for p, d in listener.outputs if p == "drops"]
    dropped = drops[-1]["total"] if drops else 0  # type: ignore[index]
    return (datagrams - dropped) / elapsed, dropped, datagrams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--datagrams", type=int, default=200_000)
    args = parser.parse_args()
    print(f"TCP lines through the pump: {tcp(args.lines):,.0f}/s")
    rate, dropped, sent = udp(args.datagrams)
    print(f"UDP datagrams received: {rate:,.0f}/s; kernel dropped {dropped:,} of {sent:,}")


if __name__ == "__main__":
    main()
