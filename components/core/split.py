"""core/Split."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Split(Component):
    """Sends every IP from `in` to each connected slot of the addressable `out`.

    in: anything. out[i]: a copy of the stream (the same objects) on every connected slot.
    """

    icon = "expand"
    inports = InPorts(InPort("in", description="IPs to copy"))
    outports = OutPorts(OutPort("out", description="the same IPs on every slot", addressable=True))

    def run(self) -> None:
        """Copy each IP of `in` to every slot of `out` connected at the start."""
        out = self.outports["out"]
        slots = [out[index] for index in out.connected_slots()]
        for ip in self.inports["in"]:
            for slot in slots:
                slot.send(ip)
