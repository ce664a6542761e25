"""http/Request."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from flowpy import IP, BadInput, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts, reject
from flowpy_components._support.base import StopHook, number, positive_int, short
from flowpy_components._support.select import PortSelect

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
REQUEST_KEYS = {"method", "url", "headers", "params", "json", "body"}


def parse_request(value: Any, default_method: str) -> dict[str, Any]:
    """A URL string, or {method, url, headers, params, json | body}, as httpx arguments."""
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, Mapping):
        raise BadInput(
            f"a request is a URL or an object {{method, url, headers, json|body}}, "
            f"not {short(value)}"
        )
    unknown = sorted(set(value) - REQUEST_KEYS)
    if unknown:
        raise BadInput(
            f"unknown request field(s) {unknown} (known: {', '.join(sorted(REQUEST_KEYS))})"
        )
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BadInput(f"url must be an http:// or https:// URL, not {short(url)}")
    method = str(value.get("method") or default_method).upper()
    if method not in METHODS:
        raise BadInput(f"unknown method {method!r} (known: {', '.join(sorted(METHODS))})")
    if "json" in value and "body" in value:
        raise BadInput("give json or body, not both")
    request: dict[str, Any] = {"method": method, "url": url}
    for key in ("headers", "params"):
        if value.get(key) is not None:
            if not isinstance(value[key], Mapping):
                raise BadInput(f"{key} must be an object, not {short(value[key])}")
            request[key] = {str(k): str(v) for k, v in value[key].items()}
    if "json" in value:
        request["json"] = value["json"]
    elif value.get("body") is not None:
        body = value["body"]
        request["content"] = body if isinstance(body, str) else json.dumps(body)
    return request


def describe_response(response: httpx.Response) -> dict[str, Any]:
    """{status, headers, json} when the body is JSON (by content type), else {status,
    headers, body} with the text."""
    result: dict[str, Any] = {
        "status": response.status_code,
        "headers": dict(response.headers.items()),
    }
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            result["json"] = response.json()
            return result
        except ValueError:
            pass  # says JSON, is not: give the text
    result["body"] = response.text
    return result


class Request(Component):
    """Makes an HTTP request for each data IP on `in` (a URL, or {method, url, headers,
    params, json | body}) and sends the response on `out` as {status, headers, json} for a
    JSON body or {status, headers, body} for text.

    Built on httpx: one connection pool per process (connections are reused), a timeout
    on every request, and at most `concurrency` requests in flight at once; responses come
    out in the order of their requests. conf: {"timeout": seconds (10), "concurrency": 4,
    "method": "GET", "headers": {...} sent with every request, "status_errors": false}.
    A response of any status goes to `out`, unless "status_errors" is true: then 4xx and
    5xx go to `error`. Bad requests, connection failures and timeouts go to `error` as
    {message, input}, or fail the process when `error` is not connected. Brackets pass
    through, in order. On a network stop, requests in flight are abandoned.
    """

    icon = "cloud-download"
    reaches = ("network",)
    inports = InPorts(
        InPort("in", description="URL, or {method, url, headers, params, json|body}"),
        InPort("conf", description="{timeout, concurrency, method, headers, status_errors}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="{status, headers, json|body}"),
        OutPort(
            "error", datatype="object", description="{message, input} for a request that failed"
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client: httpx.Client | None = None
        #: Done when the network stops: run() waits on it beside the oldest request.
        self._stopped: Future = Future()
        self.stopping = StopHook(self._abandon)

    def _abandon(self) -> None:
        self._stopped.set_result(None)
        client = self.client
        if client is not None:
            client.close()  # pooled connections go; requests in flight end by their timeout

    def run(self) -> None:
        """Read the options, then request per data IP, `concurrency` at once, replies in order."""
        options = self.options(
            {
                "timeout": 10,
                "concurrency": 4,
                "method": "GET",
                "headers": None,
                "status_errors": False,
            }
        )
        try:
            timeout = float(number(options["timeout"], "timeout"))
        except BadInput as exc:
            raise ValueError(f"{self.node_id}: {exc}") from None
        if timeout <= 0:
            raise ValueError(f"{self.node_id}: timeout must be more than 0")
        concurrency = positive_int(options["concurrency"], f"{self.node_id}: concurrency")
        headers = options["headers"] or {}
        if not isinstance(headers, Mapping):
            raise ValueError(f"{self.node_id}: headers must be an object, not {headers!r}")
        method = str(options["method"]).upper()
        if method not in METHODS:
            raise ValueError(f"{self.node_id}: unknown method {method!r}")
        self.status_errors = options["status_errors"] in (True, "true")
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.Client(
            timeout=timeout, limits=limits, headers=dict(headers), follow_redirects=True
        )
        pending: deque[tuple[IP, Future | None]] = deque()
        executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"{self.node_id}-http")
        select = PortSelect(self.inports, ["in"])
        try:
            while True:
                self._drain(pending, concurrency - 1)  # room for one more request
                try:
                    _, ip = select.recv(["in"])
                except EndOfStream:
                    break
                if ip is None:
                    continue  # a request finished: send what is ready, in order
                if not ip.is_data:
                    if pending:
                        pending.append((ip, None))
                    else:
                        self.outports["out"].send(ip)
                    continue
                try:
                    request = parse_request(ip.data, method)
                except BadInput as exc:
                    self._drain(pending, 0)  # errors keep their place in the order
                    reject(self, exc, ip.data)
                    continue
                future = executor.submit(self.client.request, **request)
                future.add_done_callback(lambda _: select.wake())
                pending.append((ip, future))
            self._drain(pending, 0)
        finally:
            # On a stop, requests still in flight are abandoned: their threads end by the
            # timeout, and nothing waits for them.
            executor.shutdown(wait=not self.stopping.is_set(), cancel_futures=True)
            self.client.close()

    def _drain(self, pending: deque, keep: int) -> None:
        """Send the results that are ready, in request order, and wait for the oldest until
        at most ``keep`` requests are in flight."""
        out = self.outports["out"]
        while pending and (len(pending) > keep or pending[0][1] is None or pending[0][1].done()):
            ip, future = pending.popleft()
            if future is None:
                out.send(ip)
                continue
            wait([future, self._stopped], return_when=FIRST_COMPLETED)
            if self.stopping.is_set():
                return
            try:
                response = future.result()
            except httpx.HTTPError as exc:
                if self.stopping.is_set():
                    return
                reject(
                    self,
                    f"{type(exc).__name__}: {exc or 'request failed'}",
                    ip.data,
                    url=str(exc.request.url) if _has_request(exc) else None,
                )
                continue
            except RuntimeError as exc:  # the client was closed by a stop
                if self.stopping.is_set():
                    return
                raise ValueError(f"{self.node_id}: {exc}") from None
            result = describe_response(response)
            if self.status_errors and response.status_code >= 400:
                reject(
                    self,
                    f"HTTP {response.status_code} from {response.request.url}",
                    ip.data,
                    status=response.status_code,
                    response=result,
                )
                continue
            out.send_data(result)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True
