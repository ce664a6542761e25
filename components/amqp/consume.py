"""amqp/Consume."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.link.broker.endpoint import run_consumer


class Consume(Component):
    """Sends every message of an AMQP queue on `out`, JSON decoded, flowpy envelopes as
    brackets. The queue is declared as MsgFlo declares an inqueue (durable, dead-lettered to
    `dead-QUEUE`, bound to the fanout exchange of its name). A message is acknowledged once
    `out` took it; at most `prefetch` are unacknowledged; the rest go back to the queue when
    the process stops. Reconnects by itself.

    conf: {url, queue, prefetch: 100, client_id, reconnect: {initial, max}} or "URL QUEUE";
    url defaults to $MSGFLO_BROKER.
    status: connection state changes, as dicts. error: what went wrong, as dicts.
    """

    icon = "download"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            description="{url, queue, prefetch, client_id, reconnect} or 'URL QUEUE'",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="the messages, as IPs"),
        OutPort("status", datatype="object", description="connection state changes"),
        OutPort("error", datatype="object", description="what went wrong {type, message}"),
    )

    def run(self) -> None:
        """Hand the queue to the shared broker consumer until a stop or the broker ends it."""
        run_consumer(self, "AMQP queue", "queue")
