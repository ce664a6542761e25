"""mqtt/Publish."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.link.broker.endpoint import run_publisher


class Publish(Component):
    """Publishes every IP of `in` to an MQTT topic (QoS 1), as JSON; brackets as flowpy
    envelopes (docs/distributed.md). Reconnects by itself; holds at most `buffer` messages
    while the broker is away, then makes the graph wait.

    conf: {url, topic, buffer: 1000, brackets: "envelope"|"drop", client_id, reconnect:
    {initial, max}} or "URL TOPIC"; url defaults to $MSGFLO_BROKER.
    status: connection state changes, as dicts. error: what went wrong, as dicts.
    """

    icon = "upload"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            description="{url, topic, buffer, brackets, client_id, reconnect} or 'URL TOPIC'",
            required=True,
        ),
        InPort("in", description="IPs to publish"),
    )
    outports = OutPorts(
        OutPort("status", datatype="object", description="connection state changes"),
        OutPort("error", datatype="object", description="what went wrong {type, message}"),
    )

    def run(self) -> None:
        """Hand `in` to the shared broker publisher, which publishes until `in` ends."""
        run_publisher(self, "MQTT topic", "topic")
