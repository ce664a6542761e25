"""core/Repeat."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Repeat(Component):
    """Forwards every IP from `in` to `out` unchanged and in order, brackets included.

    in: anything. out: the same IPs.
    """

    icon = "forward"
    inports = InPorts(InPort("in", description="IPs of any kind"))
    outports = OutPorts(OutPort("out", description="the same IPs, in order"))

    def run(self) -> None:
        """Forward whatever `in` has buffered in one hand-off per burst, until it ends."""
        inport, outport = self.inports["in"], self.outports["out"]
        while True:
            # Everything buffered, raw (no object per data IP): one hand-off per burst.
            outport.send_raw(inport.recv_raw())
