"""A Python client of the FBP Network Protocol: the Bridge, tests and ``send``/``listen`` use it.

:class:`Client` is the protocol's commands as methods, on the connection, reader and writer
of :class:`flowpy.link.client_core.ClientCore` (docs there); windowed sending is
:mod:`flowpy.link.streams`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, cast

from flowpy.wire import jsonpolicy
from flowpy.wire.events import PACKET_EVENTS

from . import streams
from .client_core import DEFAULT_TIMEOUT, ClientCore
from .errors import ClientError, ConnectionClosed, NoRuntimeThere, RequestError
from .pending import Pending

__all__ = [
    "DEFAULT_TIMEOUT",
    "Client",
    "ClientError",
    "ConnectionClosed",
    "NoRuntimeThere",
    "RequestError",
]


class Client(ClientCore):
    """A connection to one runtime, with the protocol's commands. Thread-safe: any thread may
    send; one thread reads."""

    # -- the protocol, command by command ------------------------------------------------
    def getruntime(self) -> dict[str, Any]:
        """The runtime's ``runtime:runtime`` payload (id, capabilities, graph)."""
        return self.request("runtime", "getruntime", {}, expect=("runtime",))

    def list_components(self) -> list[dict[str, Any]]:
        """Every component payload the runtime lists, up to ``componentsready``."""
        pending = self.start_request(
            "component", "list", {}, expect=("component",), until="componentsready"
        )
        return [m["payload"] for m in self.wait(pending) if m["command"] == "component"]

    def graph(self, command: str, **payload: Any) -> dict[str, Any]:
        """Any graph:* command; ``graph`` names the graph (``id`` for ``clear``)."""
        return self.request("graph", command, payload)

    def start_network(self, graph: str) -> dict[str, Any]:
        """Start ``graph``; the ``network:started`` payload."""
        return self.request("network", "start", {"graph": graph}, expect=("started",))

    def stop_network(self, graph: str) -> dict[str, Any]:
        """Stop ``graph``; the ``network:stopped`` payload."""
        return self.request("network", "stop", {"graph": graph}, expect=("stopped",))

    def network_status(self, graph: str) -> dict[str, Any]:
        """Whether ``graph`` runs: the ``network:status`` payload."""
        return self.request("network", "getstatus", {"graph": graph}, expect=("status",))

    def send_packet_nowait(
        self, graph: str, port: str, event: str, payload: Any = None, **extra: Any
    ) -> Pending:
        """Send a runtime:packet; the returned pending completes on its runtime:packetsent."""
        return self.send_packets_nowait(graph, port, [(event, payload)], **extra)[0]

    def send_packets_nowait(
        self, graph: str, port: str, packets: Iterable[tuple[str, Any]], **extra: Any
    ) -> list[Pending]:
        """Send a runtime:packet per ``(event, payload)``, written at once; the pendings
        complete on their runtime:packetsent."""
        return self._flushed(*self.queue_packets(graph, port, packets, **extra))

    def queue_packets(
        self, graph: str, port: str, packets: Iterable[tuple[str, Any]], **extra: Any
    ) -> tuple[list[Pending], int]:
        """As :meth:`send_packets_nowait`, queued but not written: the pendings and their
        place in line for :meth:`flush` or :meth:`flush_nowait`."""
        packets = list(packets)
        pendings = self._new_pendings([("runtime", "packet", _PACKETSENT, None)] * len(packets))
        ids = [pending.request_id for pending in pendings]
        return pendings, self._queue_texts(
            pendings, self._packet_texts(graph, port, packets, ids, extra)
        )

    def queue_routed_packets(
        self, graph: str, port: str, packets: Sequence[tuple[str, Any]], tag: str, first: int
    ) -> int:
        """runtime:packets with the ids ``<tag>:<first>``, ``<tag>:<first + 1>``... of a reply
        route (:meth:`add_reply_route`), queued but not written: their place in line."""
        ids = [f"{tag}:{n}" for n in range(first, first + len(packets))]
        return self._queue(self._codec.texts(self._packet_texts(graph, port, packets, ids)))

    def queue_named_packets(
        self, graph: str, packets: Sequence[tuple[str, str, Any]], ids: Sequence[str]
    ) -> int:
        """A runtime:packet per ``(port, event, payload)`` with the request ``ids`` the
        caller keeps its own book of (its replies reach ``on_batch`` or ``on_message``, as
        no request waits for them), queued but not written: their place in line."""
        texts: list[str] = []
        at = 0
        for port, run in itertools.groupby(packets, key=lambda packet: packet[0]):
            events = [(event, payload) for _, event, payload in run]
            texts += self._packet_texts(graph, port, events, ids[at : at + len(events)])
            at += len(events)
        return self._queue(self._codec.texts(texts))

    def _packet_texts(
        self,
        graph: str,
        port: str,
        packets: Sequence[tuple[str, Any]],
        ids: Sequence[str],
        extra: dict[str, Any] | None = None,
    ) -> list[str]:
        """The text of a runtime:packet per ``(event, payload)``, with request ``ids``."""
        for event, _ in packets:
            if event not in PACKET_EVENTS:
                raise ValueError(f"unknown packet event {event!r}")
        if extra:
            texts = []
            for (event, payload), request_id in zip(packets, ids, strict=True):
                body: dict[str, Any] = {"graph": graph, "port": port, "event": event, **extra}
                if payload is not None or event == "data":
                    body["payload"] = payload
                texts.append(self._encode("runtime", "packet", body, request_id))
            return texts
        # The hot path of every windowed sender: a scalar value's message made from a
        # template, only the value and the id encoded (by the JSON policy, as _encode
        # would); anything else the whole message (the policy then cuts what nests too deep).
        encode = jsonpolicy.encode_scalar
        secret = f',"secret":{jsonpolicy.encode(self.secret)}' if self.secret else ""
        head = (
            '{"protocol":"runtime","command":"packet","payload":'
            f'{{"graph":{encode(graph)},"port":{encode(port)}{secret},"event":"'
        )
        texts = []
        for (event, payload), request_id in zip(packets, ids, strict=True):
            rid = encode(request_id)
            if payload is None and event != "data":
                texts.append(f'{head}{event}"}}{secret},"requestId":{rid}}}')
            elif type(payload) in _SCALARS:
                value = encode(payload)
                texts.append(f'{head}{event}","payload":{value}}}{secret},"requestId":{rid}}}')
            else:
                body = {"graph": graph, "port": port, "event": event, "payload": payload}
                texts.append(self._encode("runtime", "packet", body, request_id))
        return texts

    def send_packet(
        self, graph: str, port: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a runtime:packet and wait for its runtime:packetsent."""
        pending = self.send_packet_nowait(graph, port, event, payload)
        return cast("dict[str, Any]", self.wait(pending, timeout)[-1]["payload"])

    def send_stream(
        self,
        graph: str,
        port: str,
        values: Iterable[Any],
        window: int = 100,
        timeout: float | None = None,
    ) -> int:
        """connect, a data packet per value, disconnect; at most ``window`` unacknowledged.
        Values are taken ``window`` at a time, and written together when the window has room."""
        return streams.send_stream(self, graph, port, values, window, timeout)

    def send_batches(
        self,
        graph: str,
        port: str,
        batches: Iterable[Sequence[tuple[str, Any]]],
        window: int = 100,
        timeout: float | None = None,
    ) -> int:
        """A runtime:packet per ``(event, payload)`` of each batch, in order, at most
        ``window`` unacknowledged; the number of data packets sent (see
        :func:`flowpy.link.streams.send_batches`)."""
        return streams.send_batches(self, graph, port, batches, window, timeout)

    def recv_packet(self, timeout: float | None = None) -> dict[str, Any]:
        """The next runtime:packet payload from a graph outport."""
        (packet,) = self._take(self.packets, "runtime:packet", 1, timeout)
        return cast("dict[str, Any]", packet["payload"])

    def recv_packets(self, limit: int = 1024, timeout: float | None = None) -> list[dict[str, Any]]:
        """The runtime:packet payloads that arrived (at most ``limit``; one lock for all)."""
        return [
            cast("dict[str, Any]", packet["payload"])
            for packet in self._take(self.packets, "runtime:packet", limit, timeout)
        ]

    def recv_message(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message that was neither a reply nor a packet."""
        return self._take(self.messages, "message", 1, timeout)[0]


_PACKETSENT = ("packetsent",)
#: Values a packet's template takes (encoded alone they cannot nest too deep).
_SCALARS = frozenset((int, float, str, bool, type(None)))
