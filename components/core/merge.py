"""core/Merge."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Merge(Component):
    """Forwards IPs from every slot of the addressable `in` to `out`, in arrival order.

    in[i]: anything; each slot is read as IPs arrive. out: every IP of every slot.
    Brackets pass through as they come, so streams from different slots may interleave.
    """

    icon = "compress"
    inports = InPorts(InPort("in", description="streams to merge", addressable=True))
    outports = OutPorts(OutPort("out", description="all IPs of all slots"))

    def run(self) -> None:
        """Forward IPs of every `in` slot as they come, until all slots end."""
        out = self.outports["out"]
        for ip in self.inports["in"]:
            out.send(ip)
