"""core/Group."""

from typing import Any

from flowpy import IP, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts


def parse_size(value: Any) -> int:
    """A positive integer (a numeric string as from the command line counts too)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Group size must be a positive integer, not {value!r}")
    return value


class Group(Component):
    """Wraps the stream of `in` in brackets: every `size` data IPs (or, without `size`, the
    whole stream) between an open and a close bracket named `group`.

    Brackets already in the stream pass through inside the new ones, whole: a bracket of
    ours closes only between them, so it may hold more than `size` data IPs. The last one
    closes when `in` ends, however many it holds; an empty stream gives no brackets.
    """

    icon = "object-group"
    inports = InPorts(
        InPort("in", description="IPs to group"),
        InPort(
            "group",
            datatype="string",
            description="bracket name (IIP; default 'group')",
            default="group",
        ),
        InPort(
            "size",
            datatype="int",
            description="data IPs per bracket (IIP; default: all)",
            default=None,
        ),
    )
    outports = OutPorts(OutPort("out", description="the same IPs, in brackets"))

    def run(self) -> None:
        """Read group name and size from conf, then bracket `in` as it streams by."""
        name = self.conf("group")
        size = self.conf("size")
        size = None if size is None else parse_size(size)
        out = self.outports["out"]
        inside = -1  # data IPs in our open bracket; -1: none open
        depth = 0  # brackets of the stream itself open inside ours
        try:
            while True:
                ips: list[IP] = []
                for ip in self.inports["in"].recv_many():
                    if inside < 0:
                        ips.append(IP.open(name))
                        inside = 0
                    ips.append(ip)
                    if ip.is_data:
                        inside += 1
                    elif ip.is_open:
                        depth += 1
                    elif depth > 0:
                        depth -= 1
                    if size is not None and inside >= size and depth == 0:
                        ips.append(IP.close(name))
                        inside = -1
                out.send_many(ips)
        except EndOfStream:
            pass
        if inside >= 0:
            out.send(IP.close(name))
