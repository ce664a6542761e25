"""time/Trigger: send at once, then send again (or just re-arm) after a delay."""

import time
from typing import Any

from flowpy import IP, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import flag, seconds
from flowpy_components._support.select import PortSelect

_NOTHING = object()


class Trigger(Component):
    """Sends the first data IP of `in` at once, then waits: after the delay it sends the
    "then" value (if conf gives one) and is ready again. Data arriving while it waits is
    dropped, or with "extend" restarts the wait (a watchdog: "then" comes once `in` has
    been quiet that long). Any IP on `reset` ends the wait without sending "then".

    conf: milliseconds, or {"ms": ..., "then": value, "extend": false}. When `in` ends
    during a wait, "then" still comes when the wait is over. Brackets pass through. A
    network stop ends the wait at once.
    """

    icon = "bell"
    inports = InPorts(
        InPort("in", description="IPs that trigger"),
        InPort("reset", datatype="bang", description="any IP ends the wait, sending nothing"),
        InPort(
            "conf",
            datatype="object",
            description="milliseconds, or {ms, then, extend}",
            required=True,
        ),
    )
    outports = OutPorts(OutPort("out", description="the triggering IP, then the then value"))

    def run(self) -> None:
        """Send a data IP, drop the next until the delay ends, then send `then`; `reset` cancels."""
        options = self.options({"ms": None, "then": _NOTHING, "extend": False}, scalar="ms")
        delay = seconds(options["ms"], f"{self.node_id}: ms")
        extend = flag(options["extend"], f"{self.node_id}: extend")
        then: Any = options["then"]
        out = self.outports["out"]
        select = PortSelect(self.inports, ["reset", "in"])
        deadline: float | None = None
        while not (select.ended("in") and deadline is None):
            timeout = None if deadline is None else deadline - time.monotonic()
            try:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError  # the wait is over before what came after it
                name, ip = select.recv(["reset", "in"], timeout)
            except TimeoutError:
                deadline = None
                if then is not _NOTHING and not out.send(IP.make_data(then)):
                    return
                continue
            except EndOfStream:
                break  # both ended
            if ip is None:
                continue
            if name == "reset":
                deadline = None
            elif not ip.is_data:
                if not out.send(ip):
                    return
            elif deadline is None:
                if not out.send(ip):
                    return
                deadline = time.monotonic() + delay
            elif extend:
                deadline = time.monotonic() + delay
        if deadline is not None and then is not _NOTHING:  # `in` ended during a wait
            if self.stopping.wait(max(0.0, deadline - time.monotonic())):
                return
            out.send_data(then)
