"""flowpy on a message broker: MsgFlo participants over MQTT and AMQP (docs/distributed.md).

:mod:`.base` is the one small :class:`BrokerTransport` interface (URLs, errors; a missing
client library names its pip extra); :mod:`.mqtt` (paho-mqtt) and :mod:`.amqp` (pika) are
imported only when used, through the scheme table of :mod:`.transports`; :mod:`.codec` makes
IPs messages; :mod:`.discovery` holds MsgFlo's conventions; :mod:`.participant` runs a graph
whose exported ports are queues. Like the rest of :mod:`flowpy.link` this sits on the engine,
the graphs and the wire layer only.
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
