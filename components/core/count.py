"""core/Count."""

from flowpy import Component, EndOfStream, InPort, InPorts, OutPort, OutPorts, count_data


class Count(Component):
    """Counts the data IPs arriving on `in` and sends the count on `out` when `in` ends.

    in: anything (brackets are not counted). out: one integer.
    """

    icon = "calculator"
    inports = InPorts(InPort("in", description="IPs to count"))
    outports = OutPorts(
        OutPort("out", datatype="int", description="the number of data IPs received")
    )

    def run(self) -> None:
        """Count whole batches of `in` until it ends, then send the total."""
        inport = self.inports["in"]
        count = 0
        try:
            while True:
                count += count_data(inport.recv_raw())  # whole batches, no object per IP
        except EndOfStream:
            pass
        self.outports["out"].send_data(count)
