"""Which :class:`~flowpy.link.broker.base.BrokerTransport` serves a broker URL: the scheme table.

Kept out of :mod:`~flowpy.link.broker.base` so that the base knows no transport (the
transports import the base, never the other way round: no import circle). Each transport
module is imported only when a URL of its scheme is opened, so a missing client library
costs nothing until it is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import BrokerTransport, BrokerURL, TransportOptions, require_client


def _mqtt() -> type[BrokerTransport]:
    from .mqtt import MqttTransport

    return MqttTransport


def _amqp() -> type[BrokerTransport]:
    from .amqp import AmqpTransport

    return AmqpTransport


#: ``BrokerURL.transport`` -> the transport class, imported on first use.
TRANSPORTS: dict[str, Callable[[], type[BrokerTransport]]] = {"mqtt": _mqtt, "amqp": _amqp}


def open_transport(
    url: str | BrokerURL, options: TransportOptions | None = None, name: str = "broker"
) -> BrokerTransport:
    """A transport for ``url`` (not started). Raises :class:`MissingBrokerLibrary` when the client
    library of its scheme is not installed, :class:`BrokerError` for a bad URL."""
    parsed = url if isinstance(url, BrokerURL) else BrokerURL.parse(url)
    require_client(parsed.scheme)
    return TRANSPORTS[parsed.transport]()(parsed, options, name)
