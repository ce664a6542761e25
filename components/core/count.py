"""core/Count."""

from flowpy import Component, EndOfStream, InPort, InPorts, OutPort, OutPorts


class Count(Component):
    """Counts the data IPs arriving on `in` and sends the count on `out` when `in` ends.

    in: anything (brackets are not counted). out: one integer.
    """

    icon = "calculator"
    inports = InPorts(InPort("in", description="IPs to count"))
    outports = OutPorts(
        OutPort("out", datatype="int", description="the number of data IPs received"))

    def run(self) -> None:
        inport = self.inports["in"]
        count = 0
        try:
            while True:
                count += sum(1 for ip in inport.recv_many() if ip.is_data)
        except EndOfStream:
            pass
        self.outports["out"].send_data(count)
