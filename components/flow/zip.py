"""flow/Zip, flow/Kick and flow/RemoveBrackets."""

from flowpy import IP, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy_components._support.select import PortSelect


class Zip(Component):
    """Makes one list from one data IP of each connected slot of the addressable `in`, in
    slot order: in[0], in[1], ... -> [a, b, ...].

    The slots are read in lockstep (one list per round, back-pressure on every slot), and
    Zip ends when any slot ends; what the other slots still hold is discarded. Brackets on
    in[first slot] pass through; brackets on the other slots are skipped.
    """

    icon = "th-list"
    inports = InPorts(InPort("in", addressable=True, description="streams to zip"))
    outports = OutPorts(OutPort("out", datatype="array", description="one list per round"))

    def run(self) -> None:
        """Per data IP of the first slot, one of each other slot makes a list; until one ends."""
        port = self.inports["in"]
        slots = port.connected_slots()
        if not slots:
            return
        first, rest = port[slots[0]], [port[s] for s in slots[1:]]
        out = self.outports["out"]
        try:
            while True:
                ip = first.recv()
                if not ip.is_data:
                    out.send(ip)
                    continue
                out.send_data([ip.data] + [next_data(other) for other in rest])
        except EndOfStream:
            pass


class Kick(Component):
    """Sends a packet on `out` for every data IP (a "bang") on `in`: the latest value on
    `data`, else conf's value, else null. Ends when `in` ends.

    `data` is usually an IIP; when it is connected, the first bang waits for its first
    value, and each later value replaces it. Brackets on `in` pass through.
    """

    icon = "share"
    inports = InPorts(
        InPort("in", datatype="bang", description="a packet is sent for each IP"),
        InPort("data", description="the packet to send (latest applies)"),
        InPort("conf", description="the packet to send when `data` is not connected"),
    )
    outports = OutPorts(OutPort("out", description="the packet, once per bang"))

    def run(self) -> None:
        """Send the latest `data` (or conf's value) for each data IP of `in`; brackets pass."""
        value = self.conf()
        out = self.outports["out"]
        data_port = self.inports["data"]
        if not data_port.is_connected:
            for ip in self.inports["in"]:
                out.send(ip if not ip.is_data else IP.make_data(value))
            return
        select = PortSelect(self.inports, ["data", "in"])
        have = False
        while True:
            names = ["data", "in"] if have or select.ended("data") else ["data"]
            try:
                name, ip = select.recv(names)
            except EndOfStream:
                if not have and not select.ended("in"):
                    have = True  # `data` ended empty: the bangs get conf's value
                    continue
                return
            if name == "data":
                if ip.is_data:
                    value, have = ip.data, True
            elif ip.is_data:
                out.send_data(value)
            else:
                out.send(ip)


class RemoveBrackets(Component):
    """Forwards the data IPs of `in` and drops every bracket, so per-substream components
    downstream work over the whole stream (NoFlo's groups/RemoveGroups)."""

    icon = "eraser"
    inports = InPorts(InPort("in", description="IPs"))
    outports = OutPorts(OutPort("out", description="the data IPs only"))

    def run(self) -> None:
        """Forward the data IPs of each batch of `in`, leaving out the brackets."""
        out = self.outports["out"]
        inport = self.inports["in"]
        while True:
            try:
                batch = inport.recv_many()
            except EndOfStream:
                return
            data = [ip for ip in batch if ip.is_data]
            if data:
                out.send_many(data)
