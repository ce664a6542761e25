"""objects/Get."""

from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import BadInput, reject, text_options
from flowpy_components._support.expressions import compile_expression, evaluate


class Get(Component):
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
        InPort("conf", datatype="string", description="JMESPath expression, or {expression}",
               required=True),
    )
    outports = OutPorts(
        OutPort("out", description="the expression's results"),
        OutPort("missed", description="inputs for which the result is null (if connected)"),
        OutPort("error", datatype="object", description="{message, input} when the "
                "expression fails on a value"),
    )

    def run(self) -> None:
        text = text_options(self, {"expression": None}, "expression")["expression"]
        expression = compile_expression(text, self.node_id)
        out, missed = self.outports["out"], self.outports["missed"]
        divert = missed.is_connected
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                if divert:
                    missed.send(ip)
                continue
            try:
                result: Any = evaluate(expression, ip.data)
            except BadInput as exc:
                reject(self, exc, ip.data)
                continue
            if result is None and divert:
                missed.send_data(ip.data)
            else:
                out.send_data(result)
