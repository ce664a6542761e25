"""core/Range."""

from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts

BATCH = 256


def parse_range(conf: Any) -> range:
    """``n`` means 0..n-1; ``{"start": a, "stop": b, "step": c}`` means range(a, b, c)."""
    if isinstance(conf, bool):
        raise ValueError(f"Range conf must be an integer or an object, not {conf!r}")
    if isinstance(conf, int):
        return range(conf)
    if isinstance(conf, dict):
        unknown = set(conf) - {"start", "stop", "step"}
        if unknown:
            raise ValueError(f"Range conf has unknown keys: {sorted(unknown)}")
        if "stop" not in conf:
            raise ValueError("Range conf needs 'stop'")
        values = [conf.get("start", 0), conf["stop"], conf.get("step", 1)]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"Range conf values must be integers: {conf!r}")
        if values[2] == 0:
            raise ValueError("Range step must not be zero")
        return range(*values)
    raise ValueError(f"Range conf must be an integer or an object, not {conf!r}")


class Range(Component):
    """Sends a sequence of integers on `out`, configured by the IIP on `conf`.

    conf: an integer n (sends 0..n-1) or {"start": a, "stop": b, "step": c}, as a value or as
    JSON text (a .fbp IIP: '{"stop": 10}' -> CONF r(core/Range)).
    out: the integers, one data IP each.
    """

    icon = "list-ol"
    inports = InPorts(
        InPort(
            "conf",
            datatype="all",
            description="n, or {start, stop, step} (or that as JSON text)",
            required=True,
        )
    )
    outports = OutPorts(OutPort("out", datatype="int", description="the integers of the range"))

    def run(self) -> None:
        """Send the configured integers in batches, raw, so a big range stays cheap."""
        numbers = parse_range(self.conf())
        out = self.outports["out"]
        for start in range(0, len(numbers), BATCH):
            # Integers are never IPs, so the list of them is the raw form of their data IPs.
            out.send_raw(list(numbers[start : start + BATCH]))
