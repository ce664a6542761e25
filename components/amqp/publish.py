"""amqp/Publish."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.link.broker.endpoint import run_publisher


class Publish(Component):
    """Publishes every IP of `in` to an AMQP queue as MsgFlo names them (the fanout exchange
    of that name), persistent and confirmed by the broker, as JSON; brackets as flowpy
    envelopes. By default the queue itself is declared and bound as MsgFlo declares an
    inqueue, so messages wait there until a participant consumes them (`declare:
    "exchange"` only declares the exchange: an outqueue). Reconnects by itself; holds at most
    `buffer` messages while the broker is away, then makes the graph wait.

    conf: {url, queue, declare: "queue"|"exchange", buffer: 1000, brackets, client_id,
    reconnect: {initial, max}} or "URL QUEUE"; url defaults to $MSGFLO_BROKER.
    status: connection state changes, as dicts. error: what went wrong, as dicts.
    """

    icon = "upload"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            description="{url, queue, declare, buffer, brackets, client_id, "
            "reconnect} or 'URL QUEUE'",
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
        run_publisher(self, "AMQP queue", "queue")
