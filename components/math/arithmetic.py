"""math/Add, math/Subtract, math/Multiply, math/Divide and math/Compare.

The two-operand rule of the library (NoFlo's math port names): the first operand streams on
its port (augend, minuend, multiplicand, dividend); the second comes from its own port, where
the latest value applies to every first operand that follows (typically an IIP), or, when
that port is not connected, from conf (a number, or {"<port name>": number}).
"""

import math
import operator
from collections.abc import Callable
from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import BadInput, number, reject
from flowpy_components._support.operand import MISSING, with_operand


class _Binary:
    """The shared run() of the four arithmetic components."""

    first: str
    second: str
    result: str
    op: Callable[[Any, Any], Any]

    def run(self) -> None:
        conf = self.options({self.second: MISSING}, scalar=self.second)
        constant = conf[self.second]
        if constant is not MISSING:
            try:
                constant = number(constant, f"conf {self.second}")
            except BadInput as exc:
                raise ValueError(f"{self.node_id}: {exc}") from None
        out = self.outports[self.result]
        for ip, operand in with_operand(self, self.first, self.second, constant):
            if not ip.is_data:
                out.send(ip)
                continue
            try:
                a = number(ip.data, self.first)
                b = number(operand, self.second)
                value = self.op(a, b)
            except BadInput as exc:
                reject(self, str(exc), ip.data)
                continue
            except (ZeroDivisionError, OverflowError) as exc:
                reject(self, f"cannot compute {ip.data!r} and {operand!r}: {exc}", ip.data)
                continue
            out.send_data(value)


def _ports(first: str, second: str, result: str, verb: str) -> tuple[InPorts, OutPorts]:
    return (
        InPorts(
            InPort(first, datatype="number", description=f"the numbers to {verb}"),
            InPort(second, datatype="number", description="the second operand (latest "
                   "applies; or give it in conf)"),
            InPort("conf", datatype="number", description=f"the {second}, when its port is "
                   f"not connected (a number or {{{second}}})"),
        ),
        OutPorts(
            OutPort(result, datatype="number", description=f"the {result}s"),
            OutPort("error", datatype="object", description="{message, input} for a value "
                    "that is not a number (or a division by zero)"),
        ),
    )


_RULE = """Ports follow NoFlo's math library. The second operand comes from its port, where
    the latest value applies to every IP that follows (typically an IIP), or, when that port
    is not connected, from conf. Numbers given as text ("2.5") count. A value that is not a
    number goes to `error` as {message, input}, or fails the process when `error` is not
    connected. Brackets pass through."""


class Add(_Binary, Component):
    __doc__ = f"""Sends augend + addend on `sum` for each augend.

    {_RULE}
    """

    icon = "plus"
    first, second, result, op = "augend", "addend", "sum", operator.add
    inports, outports = _ports(first, second, result, "add to")


class Subtract(_Binary, Component):
    __doc__ = f"""Sends minuend - subtrahend on `difference` for each minuend.

    {_RULE}
    """

    icon = "minus"
    first, second, result, op = "minuend", "subtrahend", "difference", operator.sub
    inports, outports = _ports(first, second, result, "subtract from")


class Multiply(_Binary, Component):
    __doc__ = f"""Sends multiplicand * multiplier on `product` for each multiplicand.

    {_RULE}
    """

    icon = "times"
    first, second, result, op = "multiplicand", "multiplier", "product", operator.mul
    inports, outports = _ports(first, second, result, "multiply")


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    result = a / b
    return int(result) if isinstance(a, int) and isinstance(b, int) and a % b == 0 else result


class Divide(_Binary, Component):
    __doc__ = f"""Sends dividend / divisor on `quotient` for each dividend (an int when both
    are ints and it divides evenly; a division by zero is bad input).

    {_RULE}
    """

    icon = "percent"
    first, second, result = "dividend", "divisor", "quotient"
    op = staticmethod(_divide)
    inports, outports = _ports(first, second, result, "divide")


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "eq": operator.eq, "!=": operator.ne, "ne": operator.ne,
    ">": operator.gt, "gt": operator.gt, "<": operator.lt, "lt": operator.lt,
    ">=": operator.ge, "ge": operator.ge, "<=": operator.le, "le": operator.le,
}


class Compare(Component):
    """Compares each number on `value` with the comparison and sends it on `pass` when the
    comparison holds, on `fail` when it does not.

    Ports follow NoFlo's math/Compare. The comparison comes from its port (the latest
    applies; typically an IIP) or from conf; the operator (==, !=, >, <, >=, <= or eq, ne,
    gt, lt, ge, le; default ==) from conf or an IIP on `operator`. conf: {"comparison": n,
    "operator": ">"} or just the comparison. Numbers given as text count. A value that is
    not a number goes to `error` as {message, input}, or fails the process when `error` is
    not connected. Brackets pass through to `pass` and `fail`.
    """

    icon = "check"
    inports = InPorts(
        InPort("value", datatype="number", description="numbers to compare"),
        InPort("comparison", datatype="number", description="what to compare with (latest "
               "applies; or give it in conf)"),
        InPort("operator", datatype="string", description="==, !=, >, <, >=, <= (IIP; or "
               "in conf)"),
        InPort("conf", description="{comparison, operator}, or the comparison"),
    )
    outports = OutPorts(
        OutPort("pass", datatype="number", description="values for which it holds"),
        OutPort("fail", datatype="number", description="values for which it does not"),
        OutPort("error", datatype="object", description="{message, input} for a value that "
                "is not a number"),
    )

    def run(self) -> None:
        conf = self.options({"comparison": MISSING, "operator": "=="}, scalar="comparison")
        symbol = self.conf("operator", conf["operator"])
        test = OPERATORS.get(str(symbol).strip())
        if test is None:
            raise ValueError(f"{self.node_id}: unknown operator {symbol!r} (known: "
                             f"{', '.join(OPERATORS)})")
        constant = conf["comparison"]
        if constant is not MISSING:
            try:
                constant = number(constant, "conf comparison")
            except BadInput as exc:
                raise ValueError(f"{self.node_id}: {exc}") from None
        passed, failed = self.outports["pass"], self.outports["fail"]
        for ip, comparison in with_operand(self, "value", "comparison", constant):
            if not ip.is_data:
                passed.send(ip)
                failed.send(ip)
                continue
            try:
                holds = test(number(ip.data, "value"), number(comparison, "comparison"))
            except BadInput as exc:
                reject(self, str(exc), ip.data)
                continue
            (passed if holds else failed).send(ip)


class Round(Component):
    """Rounds each number on `in` to a number of decimal places (0: to an int), half to
    even as Python does; or down/up with conf {"mode": "floor"|"ceil"}.

    conf: the places, or {"places": n, "mode": "round"}. Numbers given as text count. A
    value that is not a number goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "circle-o"
    inports = InPorts(
        InPort("in", datatype="number", description="numbers"),
        InPort("conf", description="places, or {places, mode}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="number", description="the rounded numbers"),
        OutPort("error", datatype="object", description="{message, input} for a value that "
                "is not a number"),
    )

    def run(self) -> None:
        options = self.options({"places": 0, "mode": "round"}, scalar="places")
        places = options["places"]
        if isinstance(places, str) and places.strip().lstrip("-").isdigit():
            places = int(places)
        if isinstance(places, bool) or not isinstance(places, int):
            raise ValueError(f"{self.node_id}: places must be a whole number, not {places!r}")
        mode = options["mode"]
        if mode not in ("round", "floor", "ceil"):
            raise ValueError(f"{self.node_id}: mode must be round, floor or ceil, not {mode!r}")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                continue
            try:
                value = number(ip.data, "Round input")
                if math.isinf(value) or math.isnan(value):
                    raise BadInput(f"cannot round {value!r}")
            except BadInput as exc:
                reject(self, str(exc), ip.data)
                continue
            out.send_data(_round(value, places, mode))


def _round(value: float, places: int, mode: str) -> int | float:
    if mode == "round":
        result = round(value, places)
    else:
        scale = 10 ** places
        step = math.floor if mode == "floor" else math.ceil
        result = step(value * scale) / scale if places else step(value)
    return int(result) if places <= 0 else result
