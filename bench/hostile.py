"""What hostile or careless clients cost a real ``flowpy serve``: connects, open sockets, memory.

Three figures, each against a fresh ``flowpy serve --port 0`` subprocess on 127.0.0.1:

* **connects**: N (default 1,000) non-blocking TCP connects started at once; the median and
  the slowest time from each one's start until it is established. A listen backlog smaller
  than N makes the kernel drop SYNs, and the clients wait for retransmits (1 s, 3 s, 7 s...).
* **sigterm**: S (default 200) sockets that each send half an HTTP request; once the server
  holds them all, SIGTERM, and the time until the process has exited.
* **rss**: on a ``--secret`` runtime, C (default 12) WebSocket clients that present no secret
  each announce a 63 MiB frame and send 62 MiB of it (or as much as the server takes); the
  server's VmRSS before, once they have sent, and after they have closed.

    python bench/hostile.py [--connects 1000] [--sockets 200] [--clients 12]

The figures are this machine's, on this run: compare them with a baseline run of the same
script on another commit, never across machines.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"listening on ws://[^:]+:(\d+)")
MIB = 1024 * 1024


class Server:
    """``flowpy serve`` in a subprocess; ``port``, ``pid``, ``rss()``, ``threads()``."""

    def __init__(self, *args: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="flowpy-bench-hostile-")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowpy",
                "serve",
                "--port",
                "0",
                "--state-dir",
                self.dir.name,
                "--log-level",
                "warning",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = READY.search(line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            raise RuntimeError("flowpy serve exited before it listened")
        self.pid = self.proc.pid

    def status(self, field: str) -> int:
        text = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]

    def rss_mb(self) -> float:
        return self.status("VmRSS") / 1024

    def threads(self) -> int:
        return self.status("Threads")

    def wait_threads(self, at_least: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.threads() >= at_least:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> float:
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return float("inf")
        finally:
            self.dir.cleanup()
        return time.monotonic() - began


def connects(count: int) -> None:
    server = Server()
    selector = selectors.DefaultSelector()
    socks = []
    started: dict[socket.socket, float] = {}
    times: list[float] = []

    def collect(timeout: float) -> None:
        for key, _ in selector.select(timeout):
            selector.unregister(key.fileobj)
            times.append(time.monotonic() - started[key.fileobj])  # type: ignore[index]

    began = time.monotonic()
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        started[sock] = time.monotonic()
        sock.connect_ex(("127.0.0.1", server.port))
        selector.register(sock, selectors.EVENT_WRITE)
        socks.append(sock)
        collect(0)
    while len(times) < count and time.monotonic() - began < 60:
        collect(1.0)
    for sock in socks:
        sock.close()
    took = server.stop()
    times.sort()
    print(
        f"connects: {count} at once, {len(times)} established: median "
        f"{statistics.median(times) * 1000:.0f} ms, slowest {times[-1] * 1000:.0f} ms "
        f"(server stop {took:.2f} s)"
    )


def sigterm(count: int) -> None:
    server = Server()
    baseline = server.threads()
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")  # and nothing more
        socks.append(sock)
    held = server.wait_threads(baseline + count)
    threads = server.threads()
    took = server.stop()
    for sock in socks:
        sock.close()
    print(
        f"sigterm: {count} half-open sockets ({threads} server threads, all held: {held}): "
        f"exited {took:.2f} s after SIGTERM"
    )


def _handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: noflo\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("no handshake answer")
        answer += chunk
    if not answer.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(answer.split(b"\r\n")[0].decode())
    return sock


def _send_most_of_a_frame(sock: socket.socket, announced: int, sent: int) -> int:
    """A masked text frame header announcing ``announced`` bytes, then ``sent`` of them;
    how many the server took before it closed."""
    chunk = b"x" * MIB
    try:
        sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, announced) + b"\0\0\0\0")
        done = 0
        while done < sent:
            sock.sendall(chunk[: min(MIB, sent - done)])
            done += min(MIB, sent - done)
    except OSError:
        return done
    return done


def rss(clients: int) -> None:
    server = Server("--secret", "bench-secret")
    before = server.rss_mb()
    socks = [_handshake(server.port) for _ in range(clients)]
    taken = [0] * clients

    def send(index: int) -> None:
        taken[index] = _send_most_of_a_frame(socks[index], 63 * MIB, 62 * MIB)

    senders = [
        threading.Thread(target=send, args=(i,), name=f"bench-sender-{i}") for i in range(clients)
    ]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    time.sleep(1.0)  # let the server read what the kernel buffered
    during = server.rss_mb()
    threads_during = server.threads()
    for sock in socks:
        sock.close()
    time.sleep(2.0)  # the server notices the closes
    after = server.rss_mb()
    threads_after = server.threads()
    server.stop()
    print(
        f"rss: {clients} clients without the secret, 62 of 63 MiB each "
        f"(server took {sum(taken) / MIB:.0f} MiB): VmRSS {before:.0f} MB before, "
        f"{during:.0f} MB while they wait ({threads_during} threads), {after:.0f} MB after "
        f"they closed ({threads_after} threads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connects", type=int, default=1000)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--clients", type=int, default=12)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    connects(args.connects)
    sigterm(args.sockets)
    rss(args.clients)


if __name__ == "__main__":
    main()
