"""net/TcpClient and net/TcpServer against real sockets: lines both ways, half-close,
events, and back-pressure reaching the peer (TCP flow control), not an unbounded buffer."""

from __future__ import annotations

import socket
import socketserver
import threading

import pytest
from engine_helpers import build, first_sent, start_network

from flowpy.testing import ProcessFailed, run_component


class _Upper(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:  # until the client half-closes
            self.wfile.write(line.upper())


@pytest.fixture
def upper_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Upper)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="upper-server")
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_tcp_client_writes_lines_and_reads_until_the_server_closes(upper_server):
    result = run_component(
        "net/TcpClient", {"conf": [upper_server], "in": ["one", "two", {"n": 3}]}
    )
    assert result["out"] == ["ONE", "TWO", '{"N":3}']


def test_tcp_client_names_a_connection_it_cannot_make():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(ProcessFailed, match=f"cannot connect to 127.0.0.1:{port}"):
        run_component("net/TcpClient", {"conf": [port], "in": ["x"]})


def start(nodes, edges, iips, capacity=None):
    outports = {"listening": "s.listening"}
    graph = build({"s": "net/TcpServer", **nodes}, edges, iips=iips, outports=outports)
    network, recorder = start_network(graph, ready="listening", capacity=capacity)
    return network, recorder, first_sent(recorder, "listening")["port"]


def test_tcp_server_sends_events_and_lines_and_writes_back_and_closes():
    # Every line comes back upper-cased on its own connection, which is then closed.
    network, recorder, port = start(
        {"said": "flow/Filter", "echo": "objects/Get"},
        ["s.out -> said.in", "said.out -> echo.in", "echo.out -> s.in"],
        {
            "s.conf": {"port": 0, "connections": 1},
            "said.conf": "data",
            "echo.conf": "{connection: connection, data: join(',', [data, data]), close: `true`}",
        },
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"ping\n")
        client.shutdown(socket.SHUT_WR)
        reply = client.makefile("rb").read()
    assert reply == b"ping,ping\n"
    assert recorder.wait_for(lambda: ("finished",) in recorder.events)  # connections: 1
    assert recorder.errors == []
    assert network.stop(10.0, drain=False) == []  # a finished network is stopped by its owner


def test_a_tcp_server_graph_that_does_not_read_makes_the_client_wait():
    # test/Block never reads: the server's reader stops, the socket buffers fill, and the
    # client's send blocks (here: times out) instead of the server buffering without bound.
    network, recorder, port = start(
        {"b": "test/Block"}, ["s.out -> b.in"], {"s.conf": {"port": 0}}, capacity=1
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.settimeout(2)
            line = b"x" * 1023 + b"\n"
            sent = 0
            with pytest.raises(TimeoutError):
                for _ in range(200_000):  # 200 MB, far more than any socket buffer
                    client.sendall(line)
                    sent += len(line)
            assert sent < 50_000_000
    finally:
        assert network.stop(10.0, drain=False) == []
    assert recorder.errors == []
