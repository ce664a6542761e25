"""A local HTTP server for the http/ tests and the HTTP example: 127.0.0.1, a free port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be seen

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: LocalServer = self.server.owner  # type: ignore[attr-defined]
        server.record(self)
        path = self.path.split("?", 1)[0]
        if path == "/people.json":
            body = json.dumps(
                {
                    "people": [
                        {"name": "ann", "age": 30, "city": "Oslo"},
                        {"name": "bob", "age": 40, "city": "Rome"},
                        {"name": "cy", "age": 9, "city": "Lima"},
                    ]
                }
            ).encode()
            self._reply(200, body, "application/json")
        elif path == "/text":
            self._reply(200, b"plain text", "text/plain; charset=utf-8")
        elif path.startswith("/slow/"):
            with server.lock:  # how many are in flight at once: parallelism, not timing
                server.active += 1
                server.most_active = max(server.most_active, server.active)
            try:
                time.sleep(float(path.rsplit("/", 1)[1]))  # the server's work, not a wait
            finally:
                with server.lock:
                    server.active -= 1
            self._reply(200, json.dumps({"slept": path}).encode(), "application/json")
        elif path == "/echo-headers":
            self._reply(200, json.dumps(dict(self.headers.items())).encode(), "application/json")
        else:
            self._reply(404, b'{"error": "not found"}', "application/json")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        server: LocalServer = self.server.owner  # type: ignore[attr-defined]
        server.record(self)
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        reply = {"method": "POST", "body": body, "content_type": self.headers.get("Content-Type")}
        self._reply(201, json.dumps(reply).encode(), "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up (timeouts, stops) are what some tests are about


class LocalServer:
    """The server and what it saw: requests as (method, path, client port)."""

    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.requests: list[tuple[str, str, int]] = []
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="test-http", daemon=True
        )

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((handler.command, handler.path, handler.client_address[1]))

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(5)
