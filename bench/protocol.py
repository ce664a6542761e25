"""Protocol throughput: runtime:packet into a graph inport and out of a graph outport.

Measured against a real ``flowpy serve`` process, beside a baseline measured in the same run
through the same server stack (werkzeug + Flask + flask-sock + flowpy.server's writer) with
a trivial echo "runtime" in place of flowpy's: every frame is decoded as JSON and the same
message is sent back through the client's sink. The baseline is what the transport costs;
the ratio is what the protocol layer, the runtime and the network add to it.

* **in**: runtime:packet data into exported inport -> core/Drop, with a window of W packets
  sent but not yet acknowledged by runtime:packetsent (baseline: echo with the same window).
* **out**: core/Range(N) -> exported outport; runtime:packet data received per second
  (baseline: the echo server streams N messages of the same shape to the client).
* **through**: exported inport -> core/Repeat -> exported outport with a window of W,
  counting the runtime:packet outputs (baseline: the in-baseline, which also echoes).

Debug data is switched off (network:debug false) so only runtime:packet traffic is measured.
The client is websocket-client in this process (a sender and a receiver thread); it is the
same client for both sides of every ratio. Machines here are noisy: compare ratios.

    python bench/protocol.py [--count 20000] [--window 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websocket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRAPH = "bench"


# -- the baseline "runtime": JSON echo through the real transport ----------------------------
class EchoRuntime:
    """Echoes every message; ``{"command": "stream", "payload": {"count": n}}`` streams n."""

    def connect(self, sink: Any) -> Any:
        return sink

    def disconnect(self, client: Any) -> None:
        pass

    def receive_binary(self, client: Any, data: bytes) -> None:
        pass

    def receive_text(self, client: Any, text: str) -> None:
        message = json.loads(text)
        if message.get("command") == "stream":
            count = int(message["payload"]["count"])
            threading.Thread(target=self._stream, args=(client, count), name="echo-stream").start()
            return
        client.send(message)

    def _stream(self, client: Any, count: int) -> None:
        for n in range(count):
            payload = {"graph": GRAPH, "port": "out", "event": "data", "payload": n}
            client.send({"protocol": "runtime", "command": "packet", "payload": payload})

    def shutdown(self, timeout: float = 5.0) -> None:
        pass

    def status(self) -> dict:
        return {"label": "echo"}


def serve_echo() -> int:
    from flowpy.server import serve

    return serve("127.0.0.1", 0, EchoRuntime())


# -- processes -----------------------------------------------------------------------------------
def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split()[-1]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


# -- client helpers ------------------------------------------------------------------------------
def connect(url: str) -> websocket.WebSocket:
    # websocket-client validates UTF-8 in pure Python unless told not to: that alone would
    # make the client, not the server, the bottleneck.
    return websocket.create_connection(url, subprotocols=["noflo"], skip_utf8_validation=True)


def message(protocol: str, command: str, payload: Any) -> str:
    return json.dumps({"protocol": protocol, "command": command, "payload": payload})


def request(
    ws: websocket.WebSocket, protocol: str, command: str, payload: Any, expect: str | None = None
) -> dict:
    ws.send(message(protocol, command, payload))
    while True:
        reply = json.loads(ws.recv())
        if reply["protocol"] == protocol and reply["command"] == "error":
            raise SystemExit(f"{protocol}:{command} failed: {reply['payload']}")
        if reply["protocol"] == protocol and reply["command"] == (expect or command):
            return reply


def build(
    ws: websocket.WebSocket,
    nodes: dict[str, str],
    edges: list[tuple[str, str]],
    inport: str | None,
    outport: str | None,
    iips: dict[str, Any] | None = None,
) -> None:
    request(ws, "graph", "clear", {"id": GRAPH, "name": GRAPH})
    for node, component in nodes.items():
        request(ws, "graph", "addnode", {"graph": GRAPH, "id": node, "component": component})
    for src, tgt in edges:
        (sn, sp), (tn, tp) = src.split("."), tgt.split(".")
        request(
            ws,
            "graph",
            "addedge",
            {"graph": GRAPH, "src": {"node": sn, "port": sp}, "tgt": {"node": tn, "port": tp}},
        )
    for target, data in (iips or {}).items():
        node, port = target.split(".")
        request(
            ws,
            "graph",
            "addinitial",
            {"graph": GRAPH, "src": {"data": data}, "tgt": {"node": node, "port": port}},
        )
    if inport:
        node, port = inport.split(".")
        request(
            ws, "graph", "addinport", {"graph": GRAPH, "public": "in", "node": node, "port": port}
        )
    if outport:
        node, port = outport.split(".")
        request(
            ws, "graph", "addoutport", {"graph": GRAPH, "public": "out", "node": node, "port": port}
        )
    request(ws, "network", "debug", {"graph": GRAPH, "enable": False}, expect="status")


def windowed(ws: websocket.WebSocket, count: int, window: int, frame: Any, done_when: Any) -> float:
    """Send ``count`` frames keeping at most ``window`` unanswered; seconds until all answered.

    ``frame(n)`` makes frame n; ``done_when(msg)`` is True for a message that answers one.
    """
    credit = threading.Semaphore(window)
    finished = threading.Event()
    errors: list[str] = []

    def receiver() -> None:
        answered = 0
        while answered < count:
            msg = json.loads(ws.recv())
            if done_when(msg):
                answered += 1
                credit.release()
            elif msg.get("command") == "error":
                errors.append(str(msg["payload"]))
                finished.set()
                return
        finished.set()

    thread = threading.Thread(target=receiver, name="bench-receiver")
    started = time.perf_counter()
    thread.start()
    for n in range(count):
        credit.acquire()
        if finished.is_set():
            break
        ws.send(frame(n))
    thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"errors: {errors[:3]}")
    return elapsed


def packet_frame(n: int) -> str:
    return message(
        "runtime", "packet", {"graph": GRAPH, "port": "in", "event": "data", "payload": n}
    )


def is_packetsent(msg: dict) -> bool:
    return msg["command"] == "packetsent"


def is_output_data(msg: dict) -> bool:
    return msg["command"] == "packet" and msg["payload"].get("event") == "data"


# -- measurements --------------------------------------------------------------------------------
def flowpy_in(url: str, count: int, window: int) -> float:
    ws = connect(url)
    build(ws, {"drop": "core/Drop"}, [], "drop.in", None)
    request(ws, "network", "start", {"graph": GRAPH}, expect="started")
    elapsed = windowed(ws, count, window, packet_frame, is_packetsent)
    request(ws, "network", "stop", {"graph": GRAPH}, expect="stopped")
    ws.close()
    return count / elapsed


def flowpy_out(url: str, count: int) -> float:
    ws = connect(url)
    build(ws, {"range": "core/Range"}, [], None, "range.out", {"range.conf": count})
    started = time.perf_counter()
    ws.send(message("network", "start", {"graph": GRAPH}))
    received = 0
    while received < count:
        if is_output_data(json.loads(ws.recv())):
            received += 1
    elapsed = time.perf_counter() - started
    request(ws, "network", "stop", {"graph": GRAPH}, expect="stopped")
    ws.close()
    return count / elapsed


def flowpy_through(url: str, count: int, window: int) -> float:
    ws = connect(url)
    build(ws, {"repeat": "core/Repeat"}, [], "repeat.in", "repeat.out")
    request(ws, "network", "start", {"graph": GRAPH}, expect="started")
    elapsed = windowed(ws, count, window, packet_frame, is_output_data)
    request(ws, "network", "stop", {"graph": GRAPH}, expect="stopped")
    ws.close()
    return count / elapsed


def echo_in(url: str, count: int, window: int) -> float:
    ws = connect(url)
    elapsed = windowed(ws, count, window, packet_frame, lambda msg: msg["command"] == "packet")
    ws.close()
    return count / elapsed


def echo_out(url: str, count: int) -> float:
    ws = connect(url)
    started = time.perf_counter()
    ws.send(message("test", "stream", {"count": count}))
    for _ in range(count):
        ws.recv()
    elapsed = time.perf_counter() - started
    ws.close()
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000, help="packets per measurement")
    parser.add_argument("--window", type=int, default=64, help="unacknowledged packets")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        return serve_echo()

    with tempfile.TemporaryDirectory(prefix="flowpy-bench-") as state:
        runtime, runtime_url = start(
            [sys.executable, "-m", "flowpy", "serve", "--port", "0", "--state-dir", state]
        )
        echo, echo_url = start([sys.executable, str(Path(__file__).resolve()), "--echo-server"])
        try:
            best: dict[str, float] = {}

            def record(name: str, value: float) -> None:
                best[name] = max(best.get(name, 0.0), value)

            for _ in range(args.repeat):
                record("echo in", echo_in(echo_url, args.count, args.window))
                record("flowpy in", flowpy_in(runtime_url, args.count, args.window))
                record("echo out", echo_out(echo_url, args.count))
                record("flowpy out", flowpy_out(runtime_url, args.count))
                record("flowpy through", flowpy_through(runtime_url, args.count, args.window))
        finally:
            stop(runtime)
            stop(echo)

    print(
        f"protocol throughput, {args.count} packets, window {args.window}, "
        f"best of {args.repeat} (packets/s)"
    )
    rows = [
        ("in    (runtime:packet -> inport -> Drop, acked)", "flowpy in", "echo in"),
        ("out   (Range -> outport -> runtime:packet)", "flowpy out", "echo out"),
        ("through (inport -> Repeat -> outport)", "flowpy through", "echo in"),
    ]
    for label, ours, base in rows:
        print(
            f"  {label:<48} {best[ours]:>9.0f}   baseline {best[base]:>9.0f}   "
            f"ratio {best[ours] / best[base]:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
