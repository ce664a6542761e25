"""math/Modulo, math/Scale and math/Random."""

import operator
import random
from typing import Any

from flowpy import IP, BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import flag, number, short

from .arithmetic import _Binary, _ports, _ruled


@_ruled
class Modulo(_Binary, Component):
    """Sends in mod operand on `out` (the remainder of dividing by the operand) for
    each IP on `in` (Python's %: the result has the sign of the divisor, so -7 mod 3 is 2, as a
    clock counts)."""

    old_second, op = None, operator.mod
    icon = "percent"
    inports, outports = _ports("dividend", "divisor", "remainder", "divide", aliased=False)


def _pair(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{what} must be a list of two numbers [low, high], not {value!r}")
    try:
        low, high = (number(v, what) for v in value)
    except BadInput as exc:
        raise ValueError(str(exc)) from None
    return low, high


class Scale(Transform):
    """Maps each number on `in` from one range to another, linearly: with {"from": [0, 1023],
    "to": [0, 100]}, 511.5 gives 50.

    conf: {"from": [low, high], "to": [low, high], "clamp": false}; a range may run
    downwards ([100, 0]); with "clamp" the result is kept inside the "to" range. Numbers
    given as text count. A value that is not a number goes to `error` as {message,
    input}, or fails the process when `error` is not connected. Brackets pass through.
    """

    icon = "arrows-h"
    inports = InPorts(
        InPort("in", datatype="number", description="numbers"),
        InPort(
            "conf",
            datatype="object",
            description="{from: [low, high], to: [low, high], clamp}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", datatype="number", description="the numbers, scaled"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a number",
        ),
    )

    def setup(self) -> None:
        """Read the from and to ranges (and clamp) from conf; an empty from range fails."""
        options = self.options({"from": None, "to": None, "clamp": False})
        self.low, high = _pair(options["from"], f"{self.node_id}: from")
        self.to_low, self.to_high = _pair(options["to"], f"{self.node_id}: to")
        if high == self.low:
            raise ValueError(f"{self.node_id}: the from range is empty ({self.low} to {high})")
        self.factor = (self.to_high - self.to_low) / (high - self.low)
        self.clamp = flag(options["clamp"], f"{self.node_id}: clamp")

    def transform(self, value: Any) -> float:
        """The number mapped linearly to the to range, clamped when asked."""
        result = self.to_low + (number(value) - self.low) * self.factor
        if self.clamp:
            low, high = sorted((self.to_low, self.to_high))
            result = min(max(result, low), high)
        return result


class Random(Component):
    """Sends a random number on `out` for each data IP on `in` (whatever it holds).

    conf: {"min": 0, "max": 1, "integer": false, "seed": null}: a float in [min, max), or
    with "integer" a whole number from min to max inclusive; a "seed" makes the sequence
    repeat from run to run (for tests and simulations; not for secrets). Brackets pass
    through.
    """

    icon = "random"
    inports = InPorts(
        InPort("in", datatype="bang", description="one number per data IP"),
        InPort("conf", datatype="object", description="{min, max, integer, seed}"),
    )
    outports = OutPorts(OutPort("out", datatype="number", description="random numbers"))

    def run(self) -> None:
        """Read min, max, integer and seed, then send a random number per data IP."""
        options = self.options({"min": 0, "max": 1, "integer": False, "seed": None})
        try:
            low = number(options["min"], f"{self.node_id}: min")
            high = number(options["max"], f"{self.node_id}: max")
        except BadInput as exc:
            raise ValueError(str(exc)) from None
        integer = flag(options["integer"], f"{self.node_id}: integer")
        if high < low or (integer and not (float(low).is_integer() and float(high).is_integer())):
            raise ValueError(
                f"{self.node_id}: min and max must be in order (and whole numbers "
                f"with integer), not {short(low)} and {short(high)}"
            )
        rng = random.Random(options["seed"])
        draw = (
            (lambda: rng.randint(int(low), int(high)))
            if integer
            else (lambda: rng.uniform(low, high) if high > low else low)
        )
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not out.send(IP.make_data(draw()) if ip.is_data else ip):
                return
