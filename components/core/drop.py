"""core/Drop."""

from flowpy import Component, InPort, InPorts


class Drop(Component):
    """Consumes and discards every IP on `in`. A sink for streams nobody needs.

    in: anything.
    """

    icon = "trash"
    inports = InPorts(InPort("in", description="IPs to discard"))

    def run(self) -> None:
        """Take batches of `in` and throw them away until it ends."""
        inport = self.inports["in"]
        while True:
            inport.recv_many()
