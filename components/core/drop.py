"""core/Drop."""

from flowpy.engine.component import Component, InPort


class Drop(Component):
    """Consumes and discards every IP on `in`. A sink for streams nobody needs.

    in: anything.
    """

    icon = "trash"
    inports = [InPort("in", description="IPs to discard")]

    def run(self) -> None:
        inport = self.inports["in"]
        while True:
            inport.recv_many()
