"""strings/ParseNumber."""

from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import number, short


class ParseNumber(Transform):
    """Parses each string on `in` as a number: an int when it is a whole number written
    without a point or exponent ("42"), else a float ("4.2", "1e3").

    conf: {"int": true} truncates to ints; numbers pass through unchanged. Text that is not
    a number goes to `error` as {message, input}, or fails the process when `error` is not
    connected. Brackets pass through.
    """

    icon = "calculator"
    inports = InPorts(
        InPort("in", datatype="string", description="numbers as text"),
        InPort("conf", description="{int: false}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="number", description="the numbers"),
        OutPort(
            "error", datatype="object", description="{message, input} for text that is not a number"
        ),
    )

    def setup(self) -> None:
        """Read the `int` option: whether every number is cut to an int."""
        self.as_int = self.options({"int": False}, scalar="int")["int"] in (True, "true")

    def transform(self, value: Any) -> int | float:
        """The number the value holds; BadInput for anything else."""
        result = number(value, "ParseNumber input")
        if isinstance(result, float) and result != result:  # NaN: not a number after all
            raise BadInput(f"not a number: {short(value)}")
        if self.as_int:
            try:
                return int(result)
            except (OverflowError, ValueError):
                raise BadInput(f"{short(value)} has no whole-number value") from None
        return result
