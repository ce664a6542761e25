"""Drive a real :class:`flowpy.runtime.Runtime` without a server, and check all it sends.

``RecordingSink`` stands in for a connection: it validates every message against the
fbp-protocol schemas (problems are collected and fail the test at teardown), keeps a JSON
copy, and lets a test wait for a message with a condition variable — never a sleep.
Messages of the ``flowpy`` link extension are checked against its own schema
(docs/schema/flowpy.json), and only a sink made with ``extension=True`` (a Bridge) may
receive them at all: for a standard client one is a failure.
``ProtocolClient`` pairs a sink with its runtime client and offers ``send`` / ``expect``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import protocol_schemas

from flowpy import Component, InPort, InPorts, OutPort, OutPorts, wire
from flowpy.engine.registry import Registry
from flowpy.protocol import Endpoint
from flowpy.runtime import ClientHandle, Runtime

WAIT = 10.0

#: Every sink made during the current test; the fixture checks them all at teardown.
SINKS: list[RecordingSink] = []


class RecordingSink:
    """A transport stand-in that records (and schema-checks) everything the runtime sends.

    ``extension``: this client speaks the flowpy link extension (a Bridge). A standard
    client (the default) must never receive a ``flowpy:*`` message.
    """

    def __init__(self, name: str = "client", extension: bool = False) -> None:
        self.name = name
        self.extension = extension
        self.messages: list[dict] = []
        self.lanes: list[wire.Lane] = []
        self.invalid: list[str] = []
        self.cond = threading.Condition()
        #: While cleared, the client reads nothing: debug data is dropped, STREAM sends wait
        #: (until it is set again or their ``cancelled()`` says so when woken), and URGENT
        #: and NEWS ones are taken, as the real connection takes them, without waiting.
        self.open = threading.Event()
        self.open.set()
        self.dropped = 0
        SINKS.append(self)

    def send(
        self,
        message: dict,
        lane: wire.Lane = wire.NEWS,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        assert isinstance(lane, wire.Lane), f"not a lane: {lane!r}"
        try:
            problems = protocol_schemas.errors(message)
        except protocol_schemas.SchemaMissing as exc:  # fail the test, loudly, at teardown
            problems = [str(exc)]
        if message.get("protocol") == "flowpy" and not self.extension:
            problems.append(f"standard client {self.name!r} received a flowpy message")
        if problems:
            self.invalid.append(f"{json.dumps(message, default=repr)[:300]}: {problems}")
        if not self.open.is_set():
            if lane.droppable:
                with self.cond:
                    self.dropped += 1
                return False
            if lane.waits:
                with self.cond:
                    if not self.cond.wait_for(
                        lambda: self.open.is_set() or (cancelled is not None and cancelled())
                    ):
                        return False
                    if not self.open.is_set():
                        return False
        copy = json.loads(json.dumps(message, default=repr))
        with self.cond:
            self.messages.append(copy)
            self.lanes.append(lane)
            self.cond.notify_all()
        return True

    def wake(self) -> None:
        """A network is stopping: waiting STREAM sends check their ``cancelled``."""
        with self.cond:
            self.cond.notify_all()

    def reopen(self) -> None:
        with self.cond:
            self.open.set()
            self.cond.notify_all()

    def wait_for(
        self, predicate: Callable[[dict], bool], start: int = 0, timeout: float = WAIT
    ) -> tuple[int, dict]:
        """The first message at or after ``start`` matching ``predicate`` (waits for it)."""
        with self.cond:
            found: list[tuple[int, dict]] = []

            def ready() -> bool:
                for i in range(start, len(self.messages)):
                    if predicate(self.messages[i]):
                        found.append((i, self.messages[i]))
                        return True
                return False

            if not self.cond.wait_for(ready, timeout):
                seen = "\n  ".join(json.dumps(m)[:200] for m in self.messages[start:])
                raise AssertionError(
                    f"{self.name}: no matching message within {timeout}s; "
                    f"got since #{start}:\n  {seen}"
                )
            return found[0]


def matches(protocol: str, command: str, **payload: Any) -> Callable[[dict], bool]:
    """A predicate: this protocol:command, and these payload fields with these values."""

    def check(message: dict) -> bool:
        if message.get("protocol") != protocol or message.get("command") != command:
            return False
        body = message.get("payload")
        return all(isinstance(body, dict) and body.get(k) == v for k, v in payload.items())

    return check


class ProtocolClient:
    """One client of the runtime under test."""

    def __init__(
        self,
        runtime: Runtime,
        name: str = "client",
        secret: str | None = None,
        extension: bool = False,
    ):
        self.runtime = runtime
        self.endpoint = Endpoint(runtime)
        self.sink = RecordingSink(name, extension)
        self.client: ClientHandle = runtime.connect(self.sink)
        self.secret = secret
        self.cursor = 0

    @property
    def messages(self) -> list[dict]:
        return self.sink.messages

    def send(
        self, protocol: str, command: str, payload: dict | None = None, **envelope: Any
    ) -> None:
        message: dict[str, Any] = {
            "protocol": protocol,
            "command": command,
            "payload": dict(payload or {}),
        }
        if self.secret is not None and "secret" not in envelope:
            message["secret"] = self.secret
        message.update(envelope)
        self.endpoint.receive_text(self.client, json.dumps(message))

    def expect(self, protocol: str, command: str, **payload: Any) -> dict:
        """Wait for the next matching message after the cursor; move the cursor past it."""
        index, message = self.sink.wait_for(matches(protocol, command, **payload), self.cursor)
        self.cursor = index + 1
        return message

    def request(
        self,
        protocol: str,
        command: str,
        payload: dict | None = None,
        reply: str | None = None,
        **envelope: Any,
    ) -> dict:
        """Send and wait for the reply (``reply`` command, default the same) or an error."""
        start = len(self.messages)
        self.send(protocol, command, payload, **envelope)
        wanted = {reply or command, "error"}
        index, message = self.sink.wait_for(
            lambda m: m.get("protocol") == protocol and m.get("command") in wanted, start
        )
        self.cursor = index + 1
        return message

    def error(
        self, protocol: str, command: str, payload: dict | None = None, **envelope: Any
    ) -> str:
        """Send a request that must fail; the error text."""
        start = len(self.messages)
        self.send(protocol, command, payload, **envelope)
        index, message = self.sink.wait_for(lambda m: m.get("command") == "error", start)
        self.cursor = index + 1
        return message["payload"]["message"]

    def since(self, start: int) -> list[dict]:
        return self.messages[start:]

    def commands(self, start: int = 0) -> list[str]:
        return [f"{m['protocol']}:{m['command']}" for m in self.messages[start:]]

    def close(self) -> None:
        self.runtime.disconnect(self.client)


# -- components the tests need beside the core library ------------------------------------------


class Gate(Component):
    """Forwards `in` to `out`, but only once the class-level event `go` is set (back-pressure)."""

    go = threading.Event()
    inports = InPorts(InPort("in", description="anything"))
    outports = OutPorts(OutPort("out", description="the same IPs, once released"))

    def run(self) -> None:
        Gate.go.wait()
        for ip in self.inports["in"]:
            self.outports["out"].send(ip)


class Fail(Component):
    """Raises on the first IP it receives."""

    inports = InPorts(InPort("in"))

    def run(self) -> None:
        ip = self.inports["in"].recv()
        raise ValueError(f"cannot handle {ip.data!r}")


class Say(Component):
    """Writes every data IP to the console (network:output)."""

    inports = InPorts(InPort("in"))

    def run(self) -> None:
        for ip in self.inports["in"]:
            if ip.is_data:
                self.console(f"said {ip.data}")


class Wait(Component):
    """Never ends by itself: waits until the network stops."""

    inports = InPorts(InPort("in"))

    def run(self) -> None:
        self.stopping.wait()


def make_registry() -> Registry:
    registry = Registry()
    for cls in (Gate, Fail, Say, Wait):
        registry.register(f"test/{cls.__name__}", cls)
    return registry


def build(
    client: ProtocolClient,
    graph: str,
    nodes: dict[str, str],
    edges: list[tuple[str, str, str, str]] = (),
    initials: list[tuple[Any, str, str]] = (),
    inports: dict[str, tuple[str, str]] | None = None,
    outports: dict[str, tuple[str, str]] | None = None,
    main: bool = False,
) -> None:
    """Create a graph over the protocol and wait for every ack."""
    client.request("graph", "clear", {"id": graph, "main": main})
    for node, component in nodes.items():
        client.request("graph", "addnode", {"graph": graph, "id": node, "component": component})
    for src, sport, tgt, tport in edges:
        client.request(
            "graph",
            "addedge",
            {
                "graph": graph,
                "src": {"node": src, "port": sport},
                "tgt": {"node": tgt, "port": tport},
            },
        )
    for data, tgt, tport in initials:
        client.request(
            "graph",
            "addinitial",
            {"graph": graph, "src": {"data": data}, "tgt": {"node": tgt, "port": tport}},
        )
    for public, (node, port) in (inports or {}).items():
        client.request(
            "graph", "addinport", {"graph": graph, "public": public, "node": node, "port": port}
        )
    for public, (node, port) in (outports or {}).items():
        client.request(
            "graph", "addoutport", {"graph": graph, "public": public, "node": node, "port": port}
        )
