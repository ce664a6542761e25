"""flow/Take, flow/Skip and flow/Last."""

from typing import Any

from flowpy import Aggregate, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import positive_int


class Take(Component):
    """Forwards the first N data IPs of `in` (the whole stream) and then ends, so
    everything downstream can finish; what upstream sends later is discarded.

    conf: N (a whole number >= 0), or {"count": N}. Brackets pass through; the brackets
    still open when the N-th data IP has passed are closed (their close brackets are
    forwarded as they come), so the output stays balanced.
    """

    icon = "step-forward"
    inports = InPorts(
        InPort("in", description="IPs"),
        InPort("conf", datatype="int", description="N, or {count}", required=True),
    )
    outports = OutPorts(OutPort("out", description="the first N data IPs"))

    def run(self) -> None:
        """Forward IPs until N data IPs went, then only the closes of brackets still open."""
        count = positive_int(
            self.options({"count": None}, scalar="count")["count"],
            f"{self.node_id}: count",
            allow_zero=True,
        )
        if count == 0:
            return
        out = self.outports["out"]
        taken = depth = skipped = 0  # skipped: brackets opened after the N-th data IP
        for ip in self.inports["in"]:
            if taken < count:
                out.send(ip)
                if ip.is_data:
                    taken += 1
                elif ip.is_open:
                    depth += 1
                elif depth:
                    depth -= 1
                if taken == count and depth == 0:
                    return
            elif ip.is_open:
                skipped += 1
            elif ip.is_close:
                if skipped:
                    skipped -= 1
                    continue
                out.send(ip)
                depth -= 1
                if depth == 0:
                    return


class Skip(Component):
    """Drops the first N data IPs of `in` (the whole stream) and forwards the rest.

    conf: N (a whole number >= 0), or {"count": N}. Brackets pass through.
    """

    icon = "fast-forward"
    inports = InPorts(
        InPort("in", description="IPs"),
        InPort("conf", datatype="int", description="N, or {count}", required=True),
    )
    outports = OutPorts(OutPort("out", description="the data IPs after the first N"))

    def run(self) -> None:
        """Drop data IPs until N are gone, then forward everything; brackets always pass."""
        count = positive_int(
            self.options({"count": None}, scalar="count")["count"],
            f"{self.node_id}: count",
            allow_zero=True,
        )
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if ip.is_data and count > 0:
                count -= 1
                continue
            out.send(ip)


class Last(Aggregate):
    """Sends the last data IP of each bracketed substream on `in`; without brackets, of the
    whole stream when it ends.

    Aggregates per innermost substream: the last value is sent inside that substream's
    brackets, which pass through unchanged; an empty substream gives nothing.
    """

    icon = "step-backward"
    inports = InPorts(InPort("in", description="IPs"))
    outports = OutPorts(OutPort("out", description="the last value of each substream"))

    def new_state(self) -> list:
        """No value yet."""
        return []

    def add(self, state: list, value: Any) -> None:
        """Keep only the latest value."""
        state[:] = [value]

    def finish(self, state: list, empty: bool) -> list:
        """The latest value, if the substream had one."""
        return state
