"""math/Add, math/Subtract, math/Multiply, math/Divide and math/Compare.

The two-operand rule of the library, with the library's port names: the first operand
streams on `in`; the second comes from `operand`, where the latest value applies to every
first operand that follows (typically an IIP), or, when that port is not connected, from
conf (a number, or {"operand": number}); the result goes to `out`. NoFlo's math names
(augend/addend/sum, ..., value/comparison/pass/fail) were used before: they remain aliases
of these ports (and conf keys) for a release, with a deprecation warning.
"""

import math
import operator
from collections.abc import Callable
from typing import Any

from flowpy import BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform, reject
from flowpy.engine.ports import warn_renamed
from flowpy_components._support.base import number, shared_paragraph
from flowpy_components._support.operand import MISSING, with_operand


def _constant(component: Component, old: str | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """The options with the second operand under ``operand``, a number or MISSING; conf may
    still name it by its former name ``old`` (a warning), when it had one."""
    former = {old: MISSING} if old else {}
    conf = component.options({"operand": MISSING, **former, **defaults}, scalar="operand")
    if old and conf[old] is not MISSING:
        warn_renamed(component.component_name, old, "operand", "conf option")
        if conf["operand"] is MISSING:
            conf["operand"] = conf[old]
    if conf["operand"] is not MISSING:
        try:
            conf["operand"] = number(conf["operand"], "conf operand")
        except BadInput as exc:
            raise ValueError(f"{component.node_id}: {exc}") from None
    return conf


class _Binary:
    """The shared run() of the four arithmetic components."""

    old_second: str | None  # the NoFlo name of the second operand, still accepted in conf
    op: Callable[[Any, Any], Any]

    def run(self) -> None:
        constant = _constant(self, self.old_second, {})["operand"]
        out = self.outports["out"]
        for ip, operand in with_operand(self, "in", "operand", constant):
            if not ip.is_data:
                out.send(ip)
                continue
            try:
                a = number(ip.data, "in")
                b = number(operand, "operand")
                value = self.op(a, b)
            except BadInput as exc:
                reject(self, exc, ip.data)
                continue
            except (ZeroDivisionError, OverflowError) as exc:
                reject(self, f"cannot compute {ip.data!r} and {operand!r}: {exc}", ip.data)
                continue
            out.send_data(value)


def _ports(
    first: str, second: str, result: str, verb: str, aliased: bool = True
) -> tuple[InPorts, OutPorts]:
    """The ports of a two-operand component; ``first``, ``second`` and ``result`` name the
    operands and the result in descriptions and, when ``aliased`` (the NoFlo names the
    component had), are kept as aliases."""

    def former(name: str) -> tuple[str, ...]:
        return (name,) if aliased else ()

    return (
        InPorts(
            InPort(
                "in", datatype="number", description=f"the numbers to {verb}", aliases=former(first)
            ),
            InPort(
                "operand",
                datatype="number",
                description=f"the {second} (latest applies; or give it in conf)",
                aliases=former(second),
            ),
            InPort(
                "conf",
                datatype="number",
                description="the operand, when its port is not connected (a number or {operand})",
            ),
        ),
        OutPorts(
            OutPort("out", datatype="number", description=f"the {result}s", aliases=former(result)),
            OutPort(
                "error",
                datatype="object",
                description="{message, input} for a value "
                "that is not a number (or a division by zero)",
            ),
        ),
    )


_RULE = """The second operand comes from `operand`, where the latest value applies to every
    IP that follows (typically an IIP), or, when that port is not connected, from conf.
    Numbers given as text ("2.5") count. A value that is not a number goes to `error` as
    {message, input}, or fails the process when `error` is not connected. Brackets pass
    through. NoFlo's port names (in parentheses above) still work for a release, with a
    warning."""
_ruled = shared_paragraph(_RULE)


@_ruled
class Add(_Binary, Component):
    """Sends in + operand on `out` (augend + addend = sum) for each IP on `in`."""

    icon = "plus"
    old_second, op = "addend", operator.add
    inports, outports = _ports("augend", "addend", "sum", "add to")


@_ruled
class Subtract(_Binary, Component):
    """Sends in - operand on `out` (minuend - subtrahend = difference) for each IP on
    `in`."""

    icon = "minus"
    old_second, op = "subtrahend", operator.sub
    inports, outports = _ports("minuend", "subtrahend", "difference", "subtract from")


@_ruled
class Multiply(_Binary, Component):
    """Sends in * operand on `out` (multiplicand * multiplier = product) for each IP
    on `in`."""

    icon = "times"
    old_second, op = "multiplier", operator.mul
    inports, outports = _ports("multiplicand", "multiplier", "product", "multiply")


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    result = a / b
    return int(result) if isinstance(a, int) and isinstance(b, int) and a % b == 0 else result


@_ruled
class Divide(_Binary, Component):
    """Sends in / operand on `out` (dividend / divisor = quotient) for each IP on
    `in` (an int when both are ints and it divides evenly; a division by zero is bad input)."""

    icon = "percent"
    old_second, op = "divisor", staticmethod(_divide)
    inports, outports = _ports("dividend", "divisor", "quotient", "divide")


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "eq": operator.eq,
    "!=": operator.ne,
    "ne": operator.ne,
    ">": operator.gt,
    "gt": operator.gt,
    "<": operator.lt,
    "lt": operator.lt,
    ">=": operator.ge,
    "ge": operator.ge,
    "<=": operator.le,
    "le": operator.le,
}


class Compare(Component):
    """Compares each number on `in` with the operand and sends it on `out` when the
    comparison holds, on `rejected` when it does not (as flow/Filter does).

    The operand comes from its port (the latest applies; typically an IIP) or from conf;
    the operator (==, !=, >, <, >=, <= or eq, ne, gt, lt, ge, le; default ==) from conf or
    an IIP on `operator`. conf: {"operand": n, "operator": ">"} or just the operand. Numbers
    given as text count. A value that is not a number goes to `error` as {message, input},
    or fails the process when `error` is not connected. Brackets pass through to `out` and
    `rejected`. NoFlo's names (value, comparison, pass, fail) still work for a release, with
    a warning.
    """

    icon = "check"
    inports = InPorts(
        InPort("in", datatype="number", description="numbers to compare", aliases=("value",)),
        InPort(
            "operand",
            datatype="number",
            description="what to compare with (latest applies; or give it in conf)",
            aliases=("comparison",),
        ),
        InPort("operator", datatype="string", description="==, !=, >, <, >=, <= (IIP; or in conf)"),
        InPort("conf", description="{operand, operator}, or the operand"),
    )
    outports = OutPorts(
        OutPort(
            "out", datatype="number", description="values for which it holds", aliases=("pass",)
        ),
        OutPort(
            "rejected",
            datatype="number",
            description="values for which it does not",
            aliases=("fail",),
        ),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a number",
        ),
    )

    def run(self) -> None:
        """Read the operator, then send each number to `out` or `rejected`; brackets go to both."""
        conf = _constant(self, "comparison", {"operator": "=="})
        symbol = self.conf("operator", conf["operator"])
        test = OPERATORS.get(str(symbol).strip())
        if test is None:
            raise ValueError(
                f"{self.node_id}: unknown operator {symbol!r} (known: {', '.join(OPERATORS)})"
            )
        passed, failed = self.outports["out"], self.outports["rejected"]
        for ip, operand in with_operand(self, "in", "operand", conf["operand"]):
            if not ip.is_data:
                passed.send(ip)
                failed.send(ip)
                continue
            try:
                holds = test(number(ip.data, "in"), number(operand, "operand"))
            except BadInput as exc:
                reject(self, exc, ip.data)
                continue
            (passed if holds else failed).send(ip)


class Round(Transform):
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
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a number",
        ),
    )

    ends_with_out = False  # values that are not numbers still go to `error`

    def setup(self) -> None:
        """Read the decimal places and the rounding mode from conf."""
        options = self.options({"places": 0, "mode": "round"}, scalar="places")
        places = options["places"]
        if isinstance(places, str) and places.strip().lstrip("-").isdigit():
            places = int(places)
        if isinstance(places, bool) or not isinstance(places, int):
            raise ValueError(f"{self.node_id}: places must be a whole number, not {places!r}")
        mode = options["mode"]
        if mode not in ("round", "floor", "ceil"):
            raise ValueError(f"{self.node_id}: mode must be round, floor or ceil, not {mode!r}")
        self.places, self.mode = places, mode

    def transform(self, value: Any) -> int | float:
        """The number rounded; BadInput for infinity, NaN or a non-number."""
        value = number(value, "Round input")
        if math.isinf(value) or math.isnan(value):
            raise BadInput(f"cannot round {value!r}")
        return _round(value, self.places, self.mode)


def _round(value: float, places: int, mode: str) -> int | float:
    if mode == "round":
        result = round(value, places)
    else:
        scale = 10**places
        step = math.floor if mode == "floor" else math.ceil
        result = step(value * scale) / scale if places else step(value)
    return int(result) if places <= 0 else result
