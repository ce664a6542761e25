"""core/Output."""

import json
from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


def render(value: Any) -> str:
    """Strings as they are, everything else as compact JSON (repr if not JSON-serialisable)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class Output(Component):
    """Prints each data IP from `in` on its own line and forwards every IP to `out`.

    in: anything; strings are printed as they are, other values as compact JSON.
    out: the same IPs, brackets included (only if connected).
    Printing goes to stdout under `flowpy run` and to `network:output` over the protocol.
    """

    icon = "terminal"
    inports = InPorts(InPort("in", description="IPs to print"))
    outports = OutPorts(OutPort("out", description="the same IPs, after printing"))

    def run(self) -> None:
        """Print each data IP; forward every IP only when `out` is connected."""
        outport = self.outports["out"]
        forward = outport.is_connected
        for ip in self.inports["in"]:
            if ip.is_data:
                self.console(render(ip.data))
            if forward:
                outport.send(ip)
