"""What the broker components share: mqtt/Publish, mqtt/Subscribe, amqp/Publish, amqp/Consume.

A component process owns one :class:`~flowpy.link.broker.base.BrokerTransport`, which connects in
the background and reconnects with backoff, so a graph starts whether the broker is up or
not. Publishing blocks once ``buffer`` messages are held (also while the broker is away):
bounded buffering, and back-pressure to the graph. Consuming acknowledges a message once its
IP has been sent on ``out`` (accepted by the downstream connection): at-least-once; the
broker hands over at most ``prefetch`` unacknowledged messages.

Reports, like the Bridge's: every connection state change and retry is a dict on ``status``;
what went wrong is a dict ``{type, message, ...}`` on ``error`` (``config`` for a bad
``conf``, ``refused`` for a received message that is not an IP). When a report port is not
connected the report goes to the log (logger ``flowpy.link.broker.endpoint``).
"""

from __future__ import annotations

import json
import logging
import queue as queues
import threading
from collections.abc import Mapping
from typing import Any

from flowpy.engine.ip import DATA
from flowpy.engine.ports import next_data

from .base import BrokerError, BrokerTransport, Delivery, TransportOptions, default_broker_url
from .codec import CodecError, decode_ip, encode_ip
from .transports import open_transport

log = logging.getLogger(__name__)

#: How often a waiting process re-checks the network's stop (it cannot wake a condition).
STOP_POLL = 0.05
CLOSE_TIMEOUT = 2.0


def parse_conf(conf: Any, kind: str, target: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` as options: an object (or its JSON text) ``{url, <target>, ...}``, or
    ``URL TARGET`` as one string. ``url`` defaults to ``$MSGFLO_BROKER``. BrokerError says
    what is wrong."""
    defaults: dict[str, Any] = {
        "url": None,
        target: None,
        "reconnect": {"initial": 0.2, "max": 5.0},
        **extra,
    }
    if isinstance(conf, str) and conf.lstrip().startswith("{"):
        try:
            conf = json.loads(conf)
        except ValueError as exc:
            raise BrokerError(f"conf is not valid JSON: {exc}") from None
    if isinstance(conf, str):
        url, _, name = conf.strip().partition(" ")
        conf = {"url": url, target: name.strip() or None}
    if not isinstance(conf, Mapping):
        raise BrokerError(
            f"conf must be an object {{url, {target}, ...}} or 'URL {target.upper()}', not {conf!r}"
        )
    unknown = sorted(set(conf) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults))
        raise BrokerError(f"unknown conf option(s) {unknown} (known: {known})")
    options = {**defaults, **conf}
    options["url"] = options["url"] or default_broker_url()
    if not options["url"]:
        raise BrokerError("conf needs 'url' (or set MSGFLO_BROKER)")
    if not isinstance(options[target], str) or not options[target]:
        raise BrokerError(f"conf needs '{target}': the {kind} to use")
    reconnect = options["reconnect"]
    if not isinstance(reconnect, Mapping) or not all(
        isinstance(reconnect.get(k, 1), (int, float)) for k in ("initial", "max")
    ):
        raise BrokerError("conf 'reconnect' must be {initial: seconds, max: seconds}")
    for key in ("prefetch", "buffer"):
        if key in options and (not isinstance(options[key], int) or options[key] < 1):
            raise BrokerError(f"conf '{key}' must be a positive integer")
    return options


class Reports:
    """Sends status and error dicts from any thread through one thread of its own
    (``<node>-reports``), so the transport's I/O thread never waits for the graph."""

    def __init__(self, component: Any) -> None:
        self.component = component
        self._queue: queues.SimpleQueue[tuple[str, dict[str, Any]] | None] = queues.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"{component.node_id}-reports")
        self._thread.start()

    def status(self, info: dict[str, Any]) -> None:
        """Queue a status report for the reports thread (never blocks the caller)."""
        self._queue.put(("status", info))

    def error(self, info: dict[str, Any]) -> None:
        """Queue an error report for the reports thread (never blocks the caller)."""
        self._queue.put(("error", info))

    def transport_status(self, info: dict[str, Any]) -> None:
        """The transport's connection news, reported as status."""
        self.status(info)

    def close(self, timeout: float = 1.0) -> None:
        """End the reports thread once what is queued is sent, waiting up to ``timeout``."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            port_name, info = item
            port = self.component.outports[port_name]
            try:
                if port.is_connected and not self.component.stopping.is_set():
                    port.send_data(info)
                    continue
            except Exception:  # noqa: BLE001 - the network stopped meanwhile
                pass
            level = logging.WARNING if port_name == "error" else logging.INFO
            log.log(level, "%s: %s", self.component.node_id, info.get("message") or info)


def _transport(
    component: Any, options: dict[str, Any], reports: Reports, **extra: Any
) -> BrokerTransport:
    reconnect = options["reconnect"]
    transport_options = TransportOptions(
        client_id=options.get("client_id") or "",
        reconnect_initial=float(reconnect.get("initial", 0.2)),
        reconnect_max=float(reconnect.get("max", 5.0)),
        on_status=reports.transport_status,
        **extra,
    )
    return open_transport(options["url"], transport_options, name=component.node_id)


def _config_error(component: Any, reports: Reports, exc: BrokerError) -> None:
    reports.error({"type": "config", "message": str(exc)})
    reports.close()


def run_publisher(component: Any, kind: str, target: str) -> None:
    """mqtt/Publish and amqp/Publish: every IP of ``in`` to the topic or queue."""
    reports = Reports(component)
    try:
        options = parse_conf(
            next_data(component.inports["conf"]),
            kind,
            target,
            {
                "buffer": 1000,
                "brackets": "envelope",
                "client_id": "",
                **({"declare": "queue"} if target == "queue" else {}),
            },
        )
        if options["brackets"] not in ("envelope", "drop"):
            raise BrokerError("conf 'brackets' must be 'envelope' or 'drop'")
        if options.get("declare", "queue") not in ("queue", "exchange"):
            raise BrokerError("conf 'declare' must be 'queue' or 'exchange'")
        transport = _transport(component, options, reports, outbox=options["buffer"], confirm=True)
    except BrokerError as exc:
        _config_error(component, reports, exc)
        raise
    name = options[target]
    if options.get("declare") == "exchange":
        transport.declare_outqueue(name)
    else:
        transport.declare_inqueue(name)
    drop = options["brackets"] == "drop"
    component.transport = transport  # for inspection (state, stats), as the Bridge's link
    transport.start(wait=False)
    try:
        for ip in component.inports["in"]:
            if drop and ip.kind != DATA:
                continue
            body, headers = encode_ip(ip)
            while not transport.publish(name, body, headers, timeout=0.25):
                if component.stopping.is_set():
                    return
        while not transport.flush(0.25):  # the input ended: deliver what is held
            if component.stopping.is_set():
                return
    finally:
        transport.close(component.time_to_stop(CLOSE_TIMEOUT))
        reports.close(component.time_to_stop(1.0))


def run_consumer(component: Any, kind: str, target: str) -> None:
    """mqtt/Subscribe and amqp/Consume: every message of the topic or queue to ``out``."""
    reports = Reports(component)
    try:
        options = parse_conf(
            next_data(component.inports["conf"]),
            kind,
            target,
            {
                "prefetch": 100,
                "client_id": "",
                **({"share": None, "session_expiry": 0} if target == "topic" else {}),
            },
        )
        transport = _transport(
            component,
            options,
            reports,
            prefetch=options["prefetch"],
            share_group=options.get("share"),
            session_expiry=int(options.get("session_expiry") or 0),
        )
    except BrokerError as exc:
        _config_error(component, reports, exc)
        raise
    inbox: queues.SimpleQueue[Delivery] = queues.SimpleQueue()
    transport.subscribe(options[target], inbox.put)
    out = component.outports["out"]
    component.transport = transport
    transport.start(wait=False)
    try:
        while not component.stopping.is_set():
            try:
                delivery = inbox.get(timeout=STOP_POLL)
            except queues.Empty:
                continue
            try:
                ip = decode_ip(delivery.body, delivery.headers)
            except CodecError as exc:
                reports.error({"type": "refused", "message": str(exc), "queue": delivery.queue})
                transport.reject(delivery, requeue=False)
                if transport.scheme == "mqtt":
                    transport.ack(delivery)
                continue
            out.send(ip)
            transport.ack(delivery)
    finally:
        transport.close(component.time_to_stop(CLOSE_TIMEOUT))
        reports.close(component.time_to_stop(1.0))
