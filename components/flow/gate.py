"""flow/Gate."""

from flowpy import Component, EndOfStream, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.select import PortSelect


class Gate(Component):
    """Forwards IPs from `in` to `out` while the gate is open; an IP on `open` opens it and
    an IP on `close` closes it. It starts closed (an IIP on `open` starts it open).

    Unlike NoFlo's Gate, which drops what arrives while closed, this one holds it: nothing
    is read from `in` while the gate is closed, so upstream waits (back-pressure) and
    nothing is lost. When `in` ends, the gate ends. If the gate is closed and both `open`
    and `close` have ended, it can never open again, so it ends too (what waits on `in` is
    discarded). Brackets pass like data.
    """

    icon = "pause"
    inports = InPorts(
        InPort("in", description="IPs to let through"),
        InPort("open", datatype="bang", description="any IP opens the gate"),
        InPort("close", datatype="bang", description="any IP closes the gate"),
    )
    outports = OutPorts(OutPort("out", description="the IPs that passed while open"))

    def run(self) -> None:
        """Read the controls before `in`, so a change sent before an IP applies to it."""
        select = PortSelect(self.inports, ["open", "close", "in"])
        out = self.outports["out"]
        is_open = False
        while True:
            # Controls first, so an open/close sent before an IP takes effect before it.
            names = ["open", "close", "in"] if is_open else ["open", "close"]
            try:
                name, ip = select.recv(names)
            except EndOfStream:
                return  # open: `in` has ended; closed: nothing can open the gate any more
            if name == "open":
                is_open = True
            elif name == "close":
                is_open = False
            else:
                out.send(ip)
