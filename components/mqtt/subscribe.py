"""mqtt/Subscribe."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.link.broker.endpoint import run_consumer


class Subscribe(Component):
    """Sends every message of an MQTT topic (wildcards allowed; QoS 1) on `out`, JSON
    decoded, flowpy envelopes as brackets. A message is acknowledged once `out` took it; at
    most `prefetch` are unacknowledged. Reconnects and subscribes again by itself.

    conf: {url, topic, prefetch: 100, share: GROUP (a shared subscription), client_id,
    session_expiry: seconds (keep the session; with a fixed client_id), reconnect} or
    "URL TOPIC"; url defaults to $MSGFLO_BROKER.
    status: connection state changes, as dicts. error: what went wrong, as dicts.
    """

    icon = "download"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            description="{url, topic, prefetch, share, client_id, session_expiry, "
            "reconnect} or 'URL TOPIC'",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="the messages, as IPs"),
        OutPort("status", datatype="object", description="connection state changes"),
        OutPort("error", datatype="object", description="what went wrong {type, message}"),
    )

    def run(self) -> None:
        """Hand the topic to the shared broker consumer until a stop or the broker ends it."""
        run_consumer(self, "MQTT topic", "topic")
