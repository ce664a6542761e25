"""A tiny stand-in for flowpy.runtime.Runtime, to test the transport on its own.

It speaks just enough of the boundary (connect / receive_text / receive_binary / disconnect /
shutdown / status) to drive ``flowpy.server`` through behaviours the real runtime only shows
under load: many threads sending to one client at once, floods of droppable messages,
back-pressured streams. Commands (protocol ``test``):

* ``echo`` → ``test:echo`` with the same payload.
* ``concurrent {threads, count, size}`` → that many threads each send ``count`` messages
  ``test:item {thread, seq, pad}`` to this client at once, then ``test:done``.
* ``produce {count, size, to: {name: lane}}`` → a producer thread sends ``count``
  messages ``test:item {seq, pad}`` to each client named in ``to``, on the lane named
  (``debug``, ``news``, ``urgent``, ``stream``), then sends ``test:produced {count}`` to this
  client; ``results`` holds what each ``sink.send`` returned.
* ``name {name}`` → names this client (for ``produce``), answered by ``test:named``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flowpy import wire

LANES = {lane.name: lane for lane in (wire.DEBUG, wire.NEWS, wire.URGENT, wire.STREAM, wire.REPORT)}


class FakeClient:
    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.name: str | None = None


class FakeRuntime:
    def __init__(self) -> None:
        self.clients: list[FakeClient] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.produced = threading.Event()
        self.results: list[bool] = []  # return values of sink.send in the last produce
        self.disconnected = threading.Event()
        self.shut_down = False

    # -- the boundary ---------------------------------------------------------------------

    def connect(self, sink: Any) -> FakeClient:
        client = FakeClient(sink)
        with self.lock:
            self.clients.append(client)
        return client

    def disconnect(self, client: FakeClient) -> None:
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)
        self.disconnected.set()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.shut_down = True
        for thread in list(self.threads):
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {"label": "fake", "graphs": {}, "clients": len(self.clients)}

    def receive_binary(self, client: FakeClient, data: bytes) -> None:
        self._error(client, f"binary frames are not supported ({len(data)} bytes)")

    def receive_text(self, client: FakeClient, text: str) -> None:
        try:
            message = json.loads(text)
            command, payload = message["command"], message.get("payload", {})
        except (ValueError, KeyError, TypeError) as exc:
            self._error(client, f"bad message: {exc}")
            return
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            self._error(client, f"unknown command {command!r}")
            return
        handler(client, payload)

    # -- commands ----------------------------------------------------------------------------

    def _error(self, client: FakeClient, text: str) -> None:
        client.sink.send(
            {"protocol": "runtime", "command": "error", "payload": {"message": text}}, wire.URGENT
        )

    def _cmd_echo(self, client: FakeClient, payload: Any) -> None:
        client.sink.send({"protocol": "test", "command": "echo", "payload": payload})

    def _cmd_name(self, client: FakeClient, payload: Any) -> None:
        client.name = payload["name"]
        client.sink.send({"protocol": "test", "command": "named", "payload": payload})

    def _cmd_concurrent(self, client: FakeClient, payload: Any) -> None:
        pad = "x" * int(payload.get("size", 0))
        count = int(payload["count"])

        def sender(number: int) -> None:
            for seq in range(count):
                client.sink.send(
                    {
                        "protocol": "test",
                        "command": "item",
                        "payload": {"thread": number, "seq": seq, "pad": pad},
                    }
                )

        threads = [
            threading.Thread(target=sender, args=(n,), name=f"fake-sender-{n}")
            for n in range(int(payload["threads"]))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.sink.send({"protocol": "test", "command": "done", "payload": {}})

    def _cmd_produce(self, client: FakeClient, payload: Any) -> None:
        pad = "x" * int(payload.get("size", 0))
        count = int(payload["count"])
        to = payload["to"]
        with self.lock:
            targets = [(c, LANES[to[c.name]]) for c in self.clients if c.name in to]
        self.produced.clear()

        def producer() -> None:
            results = []
            for seq in range(count):
                message = {
                    "protocol": "test",
                    "command": "item",
                    "payload": {"seq": seq, "pad": pad},
                }
                for target, lane in targets:
                    results.append(target.sink.send(message, lane))
            self.results = results
            self.produced.set()
            client.sink.send(
                {"protocol": "test", "command": "produced", "payload": {"count": count}}
            )

        thread = threading.Thread(target=producer, name="fake-producer")
        self.threads.append(thread)
        thread.start()
