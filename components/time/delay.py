"""time/Delay, time/Interval, time/Throttle and time/Debounce.

Every wait here is on the process's ``stopping`` event (or on a port with a timeout), never
``time.sleep``, so a network stop ends them at once.
"""

import time
from typing import Any

from flowpy import IP, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import number, positive_int, seconds
from flowpy_components._support.select import PortSelect


class Delay(Component):
    """Forwards each data IP of `in` to `out` after a delay: each one waits that long after
    the previous one was sent, so order is kept and memory stays bounded (upstream waits).

    conf: milliseconds, or {"ms": ...}. Brackets pass through at once, in order. A network
    stop ends the wait at once, and the IP waiting goes on to be counted by the stop.
    """

    icon = "clock-o"
    inports = InPorts(
        InPort("in", description="IPs to delay"),
        InPort("conf", datatype="number", description="milliseconds, or {ms}", required=True),
    )
    outports = OutPorts(OutPort("out", description="the same IPs, delayed"))

    def run(self) -> None:
        """Forward each IP, data IPs after the delay (a stop cuts the wait short)."""
        delay = seconds(self.options({"ms": None}, scalar="ms")["ms"], f"{self.node_id}: ms")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if ip.is_data and delay > 0:
                self.stopping.wait(delay)  # a stop ends the wait; the stop counts the IP
            if not out.send(ip):
                return  # nobody reads `out` any more


class Interval(Component):
    """Sends a counter (0, 1, 2, ...) on `out` every interval, until the network stops, an
    IP arrives on `stop`, `count` values have been sent, or nobody reads `out` any more.

    conf: milliseconds, or {"ms": ..., "count": n, "start": 0}. The first value comes one
    interval after the start; the schedule does not drift (a slow reader delays a tick,
    and the next ones catch up to the schedule, without bursts of more than one).
    """

    icon = "clock-o"
    inports = InPorts(
        InPort(
            "conf",
            datatype="number",
            description="milliseconds, or {ms, count, start}",
            required=True,
        ),
        InPort("stop", datatype="bang", description="any IP stops the interval"),
    )
    outports = OutPorts(OutPort("out", datatype="int", description="0, 1, 2, ..."))

    def run(self) -> None:
        """Send the counter every period until the count is met, an IP on `stop`, or a stop."""
        options = self.options({"ms": None, "count": None, "start": 0}, scalar="ms")
        period = seconds(options["ms"], f"{self.node_id}: ms")
        if period <= 0:
            raise ValueError(f"{self.node_id}: ms must be more than 0")
        count = options["count"]
        count = (
            None
            if count is None
            else positive_int(count, f"{self.node_id}: count", allow_zero=True)
        )
        value = options["start"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.node_id}: start must be a whole number, not {value!r}")
        stop = self.inports["stop"]
        select = PortSelect(self.inports, ["stop"]) if stop.is_connected else None
        out = self.outports["out"]
        sent = 0
        due = time.monotonic() + period
        while count is None or sent < count:
            wait = max(0.0, due - time.monotonic())
            if select is not None and not select.ended("stop"):
                try:
                    select.recv(["stop"], timeout=wait)
                    return  # an IP on `stop`
                except TimeoutError:
                    pass
                except EndOfStream:
                    if self.stopping.wait(max(0.0, due - time.monotonic())):
                        return
            elif self.stopping.wait(wait):
                return
            if self.stopping.is_set():
                return
            if not out.send(IP.make_data(value)):
                return  # the reader has ended: nobody will ever see another tick
            value += 1
            sent += 1
            due = max(due + period, time.monotonic())


class Throttle(Component):
    """Forwards data IPs from `in` to `out` at most N per second, evenly spaced: when they
    come faster, Throttle waits (and so does upstream: back-pressure), it never drops.

    conf: N (per second, may be a fraction), or {"rate": N}. Brackets pass at once, in
    order. A network stop ends the wait at once, and the IP waiting goes on to be counted
    by the stop.
    """

    icon = "tachometer"
    inports = InPorts(
        InPort("in", description="IPs to pace"),
        InPort("conf", datatype="number", description="IPs per second, or {rate}", required=True),
    )
    outports = OutPorts(OutPort("out", description="the same IPs, paced"))

    def run(self) -> None:
        """Forward data IPs at least 1/rate seconds apart; brackets pass at once."""
        rate = self.options({"rate": None}, scalar="rate")["rate"]
        try:
            rate = number(rate, f"{self.node_id}: rate")
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if rate <= 0:
            raise ValueError(f"{self.node_id}: rate must be more than 0, not {rate!r}")
        gap = 1.0 / rate
        out = self.outports["out"]
        next_at = 0.0
        for ip in self.inports["in"]:
            if ip.is_data:
                wait = next_at - time.monotonic()
                if wait > 0:
                    self.stopping.wait(wait)  # a stop ends the wait; the stop counts the IP
                next_at = time.monotonic() + gap  # never faster than N/s, whatever waits
            if not out.send(ip):
                return  # nobody reads `out` any more


class Debounce(Component):
    """Sends a data IP only once `in` has been quiet for a while: of a burst of IPs closer
    together than that, only the last one goes on, when the quiet time has passed.

    conf: milliseconds, or {"ms": ...}. When `in` ends, the pending IP goes on at once. A
    bracket sends the pending IP first, then passes, so order and structure are kept.
    """

    icon = "hourglass-half"
    inports = InPorts(
        InPort("in", description="IPs"),
        InPort(
            "conf", datatype="number", description="milliseconds of quiet, or {ms}", required=True
        ),
    )
    outports = OutPorts(OutPort("out", description="the last IP of each burst"))

    def run(self) -> None:
        """Hold the latest data IP and send it once `in` has been quiet for the interval."""
        quiet = seconds(self.options({"ms": None}, scalar="ms")["ms"], f"{self.node_id}: ms")
        inport, out = self.inports["in"], self.outports["out"]
        pending: Any = None
        while True:
            try:
                ip = inport.recv(timeout=quiet if pending is not None else None)
            except TimeoutError:
                out.send(pending)
                pending = None
                continue
            except EndOfStream:
                break
            if ip.is_data:
                pending = ip
            else:
                if pending is not None:
                    out.send(pending)
                    pending = None
                out.send(ip)
        if pending is not None and not self.stopping.is_set():
            out.send(pending)
