"""flowpy on a message broker: MsgFlo participants over MQTT and AMQP (docs/distributed.md).

* :mod:`~flowpy.link.broker.base`: the one small :class:`BrokerTransport` interface, broker URLs,
  errors (a missing client library is :class:`MissingBrokerLibrary`, naming the pip extra);
* :mod:`~flowpy.link.broker.mqtt` (paho-mqtt) and :mod:`~flowpy.link.broker.amqp` (pika):
  the two transports, imported only when used, through the scheme table of
  :mod:`~flowpy.link.broker.transports` (``open_transport``);
* :mod:`~flowpy.link.broker.codec`: IPs as broker messages (JSON; the bracket envelope);
* :mod:`~flowpy.link.broker.discovery`: MsgFlo's conventions: queue names, the announced
  component, when a participant announces itself;
* :mod:`~flowpy.link.broker.participant`: a graph whose exported ports are queues, announced
  on ``fbp`` as MsgFlo participants announce themselves.

Like the rest of :mod:`flowpy.link` this sits on the engine, the graphs and the wire layer
only.
"""

from __future__ import annotations

from .base import (
    BROKER_ENV,
    BrokerError,
    BrokerTransport,
    BrokerURL,
    Delivery,
    MissingBrokerLibrary,
    TransportOptions,
    default_broker_url,
    require_client,
)
from .codec import CodecError, decode_ip, encode_ip
from .discovery import msgflo_component, queue_name
from .participant import Participant, ParticipantConfig
from .transports import open_transport

__all__ = [
    "BROKER_ENV",
    "BrokerError",
    "BrokerURL",
    "CodecError",
    "Delivery",
    "MissingBrokerLibrary",
    "Participant",
    "ParticipantConfig",
    "BrokerTransport",
    "TransportOptions",
    "decode_ip",
    "default_broker_url",
    "encode_ip",
    "msgflo_component",
    "open_transport",
    "queue_name",
    "require_client",
]
