"""objects/Get."""

from typing import Any

from flowpy import InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.expressions import compile_expression, evaluate


class Get(Transform):
    """Evaluates a JMESPath expression on each value on `in` and sends the result on `out`.

    conf: the expression ("user.name", "items[?price > `10`].name", "length(tags)"), or
    {"expression": ...}. JMESPath (https://jmespath.org) only reads data, so expressions
    from protocol clients are safe. A null result (nothing there) goes to `missed` as the
    input value when `missed` is connected, else it is sent on `out` as null. An expression
    that fails on a value (a function given the wrong type) sends {message, input} to
    `error`, or fails the process when `error` is not connected. Brackets pass through.
    """

    icon = "search"
    inports = InPorts(
        InPort("in", description="values to query"),
        InPort(
            "conf",
            datatype="string",
            description="JMESPath expression, or {expression}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="the expression's results"),
        OutPort("missed", description="inputs for which the result is null (if connected)"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the expression fails on a value",
        ),
    )

    ends_with_out = False  # `missed` and `error` may still be read

    def setup(self) -> None:
        """Compile the expression; misses go to `missed` when it is connected."""
        text = self.options({"expression": None}, "expression", text=True)["expression"]
        self.expression = compile_expression(text, self.node_id)
        self.missed = self.outports["missed"]
        self.divert = self.missed.is_connected
        if self.divert:
            self.bracket_targets.append(self.missed)

    def handle(self, value: Any) -> None:
        """Send the result, or the value to `missed` when the expression finds nothing."""
        result: Any = evaluate(self.expression, value)
        if result is None and self.divert:
            self.missed.send_data(value)
        else:
            self.outports["out"].send_data(result)
