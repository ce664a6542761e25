"""http/Server and http/Respond: an HTTP endpoint inside a graph.

``Server`` turns each request into an object on `out`; whatever the graph makes of it reaches
``Respond``, which answers the request with that id. The two meet in :data:`WAITING`, a
table of the requests waiting for their answer (ids are random, so several servers and
networks in one process never mix them up).

Back-pressure: a request thread hands its request to the process through a bounded queue;
when the graph does not take it within ``wait`` ms (the queue stays full because `out` is
full), the request is answered 503 "busy". At most ``max_requests`` requests are in flight
(waiting to be taken, or for their answer); more are answered 503 at once. Nothing grows
without bound.
"""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import (
    BadInput,
    StopHook,
    number,
    positive_int,
    reject,
    seconds,
    short,
)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RESPONSE_KEYS = {"id", "status", "headers", "body"}
#: Seconds a stop gives request threads to write their 503 before connections are cut.
WRITE_TIMEOUT = 5.0
REQUEST_KEYS = {"id", "method", "path", "query", "headers", "body"}


class Answer:
    """One request waiting for its answer: set once, by Respond, a timeout or a stop."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.status = 500
        self.headers: dict[str, str] = {}
        self.body = b""

    def set(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Give the request its answer and wake the thread that waits to write it."""
        self.status, self.headers, self.body = status, dict(headers), body
        self.done.set()


class Waiting:
    """Requests waiting for their answer, by id. Thread-safe."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._answers: dict[str, Answer] = {}

    def add(self) -> tuple[str, Answer]:
        """Register a new request; its id (for Respond) and the answer to wait on."""
        answer = Answer()
        request_id = uuid.uuid4().hex
        with self._changed:
            self._answers[request_id] = answer
            self._changed.notify_all()
        return request_id, answer

    def pop(self, request_id: Any) -> Answer | None:
        """Take the request ``request_id`` out of waiting; None if unknown or answered."""
        if not isinstance(request_id, str):
            return None
        with self._changed:
            answer = self._answers.pop(request_id, None)
            self._changed.notify_all()
        return answer

    def wait_until(self, count: int, timeout: float) -> bool:
        """Wait until exactly ``count`` requests wait for their answer (for tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._answers) == count, timeout)


WAITING = Waiting()


def encode_body(body: Any, headers: dict[str, str]) -> bytes:
    """Text as UTF-8 (text/plain unless a content type is given), anything else as JSON."""
    given = {key.lower() for key in headers}
    if body is None:
        return b""
    if isinstance(body, str):
        if "content-type" not in given:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return body.encode("utf-8")
    if "content-type" not in given:
        headers["Content-Type"] = "application/json"
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_response(value: Any) -> tuple[Answer, int, dict[str, str], bytes]:
    """The waiting answer and what to answer for a value on Respond's `in`; BadInput if it
    is not a response (or a request) with the id of a waiting request."""
    if not isinstance(value, Mapping) or "id" not in value:
        raise BadInput(f"a response is an object {{id, status, headers, body}}, not {short(value)}")
    is_request = "method" in value
    unknown = sorted(set(value) - (REQUEST_KEYS if is_request else RESPONSE_KEYS))
    if unknown:
        raise BadInput(f"unknown response field(s) {unknown} (known: id, status, headers, body)")
    status = value.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise BadInput(f"status must be a whole number from 100 to 599, not {short(status)}")
    headers = {} if is_request else value.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise BadInput(f"headers must be an object, not {short(headers)}")
    headers = {str(k): str(v) for k, v in headers.items()}
    body = encode_body(value.get("body"), headers)
    answer = WAITING.pop(value["id"])
    if answer is None:
        raise BadInput(
            f"no request waits for id {short(value['id'])} (answered already, timed out, or "
            "never made)"
        )
    return answer, status, headers, body


class _Handler(BaseHTTPRequestHandler):
    """One request: hand it to the process, wait for its answer, write it."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the graph sees every request; nothing for stderr

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.send_response(status, reason)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, text: str) -> None:
        self._reply(status, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})

    def _handle(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        if not owner.matches(url.path):
            return self._error(HTTPStatus.NOT_FOUND, "not found\n")
        if self.command not in owner.methods:
            return self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length > owner.max_body:
            self.close_connection = True
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large\n")
        raw = self.rfile.read(length) if length else b""
        try:
            body = owner.decode(raw, self.headers.get("Content-Type", ""))
        except ValueError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, f"bad request body: {exc}\n")
        if not owner.slots.acquire(blocking=False):
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        try:
            self._through_graph(owner, url.path, url.query, body)
        finally:
            owner.slots.release()

    def _through_graph(self, owner: Server, path: str, query: str, body: Any) -> None:
        request_id, answer = WAITING.add()
        with owner.lock:
            if owner.closed:
                WAITING.pop(request_id)
                return self._error(HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            owner.outstanding.add(request_id)
        try:
            self._wait_for_answer(owner, request_id, answer, path, query, body)
        finally:
            with owner.lock:
                owner.outstanding.discard(request_id)  # its answer is written
                owner.lock.notify_all()

    def _wait_for_answer(
        self, owner: Server, request_id: str, answer: Answer, path: str, query: str, body: Any
    ) -> None:
        query_values = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(query).items()}
        request = {
            "id": request_id,
            "method": self.command,
            "path": path,
            "query": query_values,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        try:
            owner.inbox.put(request, timeout=owner.wait)
        except queue.Full:
            WAITING.pop(request_id)
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        if not answer.done.wait(owner.timeout) and WAITING.pop(request_id) is answer:
            return self._error(HTTPStatus.GATEWAY_TIMEOUT, "no answer in time\n")
        answer.done.wait()  # answered meanwhile (Respond took it just as the time ran out)
        self._reply(answer.status, answer.body, answer.headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    """A thread per connection, named after the node; at close, open connections are cut
    (an idle keep-alive connection would otherwise hold its thread) and the threads joined."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: Server, address: tuple[str, int]) -> None:
        self.owner = owner
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self.owner.node_id}-request-{next(self._numbers)}",
        )
        if self._threads is not None:  # type: ignore[attr-defined]
            self._threads.append(thread)  # type: ignore[attr-defined]
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile


class Server(Component):
    """An HTTP endpoint: sends one object on `out` for each request, {id, method, path,
    query, headers, body}, and answers it with what http/Respond is given for that id.

    conf: {"port": 8080, "host": "127.0.0.1", "path": "/", "methods": [...],
    "timeout": ms (30000), "wait": ms (1000), "max_requests": 64, "max_body": bytes
    (1048576)}. Only requests under `path` are taken (others get 404), with one of
    `methods` (default: all; others get 405). `query` holds each parameter's value (a list
    when repeated), `headers` has lower-case names, and `body` is the JSON value for a JSON
    content type, else the text ("" for none). A request waits for its answer up to
    `timeout` (then 504). Back-pressure: when the graph does not take a request within
    `wait` (its `out` is full), or `max_requests` are already in flight, the request is
    answered 503 "busy": nothing is buffered without bound. Port 0 picks a free port;
    `listening` says which ({host, port, url}) once the server listens. Runs until the
    network stops (requests still waiting then get 503), or, with "requests": N, until N
    requests have been taken and answered (later ones get 503).
    """

    icon = "server"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            datatype="object",
            description="{port, host, path, methods, timeout, wait, max_requests, max_body, "
            "requests}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="{id, method, path, query, headers, body}"),
        OutPort("listening", datatype="object", description="{host, port, url} once listening"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.httpd: _Server | None = None
        self.lock = threading.Condition()
        #: Ids of this server's requests still waiting for their answer.
        self.outstanding: set[str] = set()
        self.closed = False
        #: The hand-over from request threads to this one (None: wake up, the network stops).
        self.inbox: queue.Queue = queue.Queue(maxsize=1)
        self.stopping = StopHook(self._wake)

    def _wake(self) -> None:
        with self.lock:
            self.lock.notify_all()  # a wait for answers after the last request ends too
        try:
            self.inbox.put_nowait(None)
        except queue.Full:
            pass  # the loop takes the request there and then sees the stop

    def _configure(self) -> tuple[str, int]:
        options = self.options(
            {
                "port": None,
                "host": "127.0.0.1",
                "path": "/",
                "methods": None,
                "timeout": 30000,
                "wait": 1000,
                "max_requests": 64,
                "max_body": 1 << 20,
                "requests": None,
            },
            scalar="port",
        )
        where = self.node_id
        try:
            port = int(number(options["port"], f"{where}: port"))
        except BadInput as exc:
            raise ValueError(str(exc)) from None
        if not 0 <= port <= 65535:
            raise ValueError(f"{where}: port must be from 0 to 65535, not {port}")
        path = options["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{where}: path must start with '/', not {path!r}")
        self.prefix = path.rstrip("/")
        methods = options["methods"] or list(METHODS)
        if not isinstance(methods, list) or not set(map(str, methods)) <= set(METHODS):
            raise ValueError(f"{where}: methods must be a list of {', '.join(METHODS)}")
        self.methods = {str(m).upper() for m in methods}
        self.timeout = seconds(options["timeout"], f"{where}: timeout")
        self.wait = seconds(options["wait"], f"{where}: wait")
        self.max_body = positive_int(options["max_body"], f"{where}: max_body")
        limit = positive_int(options["max_requests"], f"{where}: max_requests")
        self.slots = threading.BoundedSemaphore(limit)
        count = options["requests"]
        self.count = None if count is None else positive_int(count, f"{where}: requests")
        return str(options["host"]), port

    def matches(self, path: str) -> bool:
        """Whether a request path falls under this server's path prefix."""
        return path == self.prefix or path.startswith(self.prefix + "/") or not self.prefix

    @staticmethod
    def decode(raw: bytes, content_type: str) -> Any:
        """A request body as a value: JSON when the content type says so, else text."""
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        media = content_type.split(";", 1)[0].strip().lower()
        if text and (media == "application/json" or media.endswith("+json")):
            return json.loads(text)
        return text

    def run(self) -> None:
        """Send one object per request until the count or a stop; then refuse what still waits."""
        host, port = self._configure()
        try:
            self.httpd = _Server(self, (host, port))
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        bound = self.httpd.server_address[1]
        serving = threading.Thread(
            target=self.httpd.serve_forever, args=(0.2,), name=f"{self.node_id}-http"
        )
        serving.start()
        try:
            self.outports["listening"].send_data(
                {"host": host, "port": bound, "url": f"http://{host}:{bound}{self.prefix}/"}
            )
            out = self.outports["out"]
            taken = 0
            while not self.stopping.is_set() and taken != self.count:
                request = self.inbox.get()
                if request is None or self.stopping.is_set():
                    break  # the finally answers what waits
                if not out.send(IP.make_data(request)):
                    break  # nobody reads `out` any more: the finally answers 503
                taken += 1
            if taken == self.count:
                self._let_answers_come()
        finally:
            self.httpd.shutdown()
            serving.join()
            self._refuse_waiting()
            self.httpd.cut_connections()
            self.httpd.server_close()  # joins the request threads

    def _let_answers_come(self) -> None:
        """After the last of ``requests``: refuse new ones, and give the ones taken until
        their timeout to be answered (a stop cuts that short)."""
        with self.lock:
            self.closed = True
            self.lock.wait_for(
                lambda: not self.outstanding or self.stopping.is_set(), self.timeout + WRITE_TIMEOUT
            )

    def _refuse_waiting(self) -> None:
        """Answer 503 what is still queued or waiting, so the request threads end at once."""
        with self.lock:
            self.closed = True  # requests that come now are refused at once
            waiting = list(self.outstanding)
        for request_id in waiting:
            answer = WAITING.pop(request_id)
            if answer is not None:
                answer.set(503, {"Content-Type": "text/plain; charset=utf-8"}, b"stopping\n")
        with self.lock:  # let their threads write the answers before connections are cut
            self.lock.wait_for(lambda: not self.outstanding, WRITE_TIMEOUT)


class Respond(Component):
    """Answers the HTTP request that http/Server sent with the same id: each data IP on
    `in` is {id, status (200), headers, body}; a body that is text is sent as
    text/plain, anything else as JSON (unless headers give a content type). Given the
    request object itself, it answers 200 with the request's body (an echo).

    An object without the id of a waiting request (answered already, timed out, never
    made), or with bad fields, goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets are ignored.
    """

    icon = "reply"
    reaches = ("network",)
    inports = InPorts(InPort("in", datatype="object", description="{id, status, headers, body}"))
    outports = OutPorts(
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a response no request waits for",
        ),
    )

    def run(self) -> None:
        """Answer each request a data IP of `in` names; a malformed response is rejected."""
        for ip in self.inports["in"]:
            if not ip.is_data:
                continue
            try:
                answer, status, headers, body = make_response(ip.data)
            except BadInput as exc:
                reject(self, str(exc), ip.data)
                continue
            answer.set(status, headers, body)
