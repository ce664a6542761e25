"""flow/Filter and flow/Route."""

from typing import Any

from flowpy import InPort, InPorts, OutPort, OutPorts, Transform
from flowpy.engine.ports import normalize_index
from flowpy_components._support.base import short
from flowpy_components._support.expressions import compile_expression, evaluate, truthy


class Filter(Transform):
    """Passes on `out` the data IPs for which a JMESPath expression is truthy; the others
    go to `rejected` when it is connected (and are dropped when it is not).

    conf: the expression ("age >= `18`", "contains(tags, 'urgent')", "@ != ''"), or
    {"expression": ...}. JMESPath truth: false, null, "", [] and {} are false; everything
    else, 0 included, is true. JMESPath only reads data, so expressions from protocol
    clients are safe. An expression that fails on a value sends {message, input} to
    `error`, or fails the process when `error` is not connected. Brackets pass through to
    `out` (and to `rejected` when connected).
    """

    icon = "filter"
    inports = InPorts(
        InPort("in", description="values to test"),
        InPort(
            "conf",
            datatype="string",
            description="JMESPath expression, or {expression}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="values for which the expression is truthy"),
        OutPort("rejected", description="the other values (if connected)"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the expression fails on a value",
        ),
    )

    ends_with_out = False  # `rejected` and `error` may still be read

    def setup(self) -> None:
        """Compile the expression; brackets also go to `rejected` when it is connected."""
        text = self.options({"expression": None}, "expression", text=True)["expression"]
        self.expression = compile_expression(text, self.node_id)
        self.rejected = self.outports["rejected"]
        self.keep_rejected = self.rejected.is_connected
        if self.keep_rejected:
            self.bracket_targets.append(self.rejected)

    def handle(self, value: Any) -> None:
        """Send the value on `out` if the expression holds, else on `rejected` if connected."""
        if truthy(evaluate(self.expression, value)):
            self.outports["out"].send_data(value)
        elif self.keep_rejected:
            self.rejected.send_data(value)


def route_key(value: Any) -> Any:
    """The slot a route value names: strings and whole numbers as they are; true/false as
    "true"/"false"; anything else (null, objects, fractions) has no slot."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, str)):
        return normalize_index(str(value)) if isinstance(value, str) else value
    return None


class Route(Transform):
    """Sends each data IP to the slot of the addressable `out` named by a JMESPath
    expression's result on it, or to `unmatched` when no connected slot has that name.

    conf: the expression, or {"expression": ..., "routes": ...}. Without routes the result
    is the slot: out[paris] for "paris", out[2] for 2, out[true] for true (string slots work
    in JSON graphs; .fbp writes only numeric indexes). With routes, a list (["paris",
    "london"]: "paris" goes to out[0]) or an object ({"paris": 0, "london": 1}) maps results
    to slots. Unmatched values are dropped when `unmatched` is not connected. An expression
    that fails on a value sends {message, input} to `error`, or fails the process when
    `error` is not connected. Brackets go to every connected slot and to `unmatched`, so
    each branch keeps the structure of the stream.
    """

    icon = "random"
    inports = InPorts(
        InPort("in", description="values to route"),
        InPort("conf", description="JMESPath expression, or {expression, routes}", required=True),
    )
    outports = OutPorts(
        OutPort(
            "out",
            addressable=True,
            description="index: the expression's result (or its slot in conf.routes)",
        ),
        OutPort("unmatched", description="values whose result names no connected slot"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the expression fails on a value",
        ),
    )

    ends_with_out = False  # other slots, `unmatched` and `error` may still be read

    def setup(self) -> None:
        """Compile the expression and routes; brackets go to every connected slot of `out`."""
        conf = self.options({"expression": None, "routes": None}, "expression", text=True)
        self.expression = compile_expression(conf["expression"], self.node_id)
        self.routes = self._routes(conf["routes"])
        out, self.unmatched = self.outports["out"], self.outports["unmatched"]
        self.slots = {slot: out[slot] for slot in out.connected_slots()}
        self.bracket_targets = list(self.slots.values())
        if self.unmatched.is_connected:
            self.bracket_targets.append(self.unmatched)

    def handle(self, value: Any) -> None:
        """Send the value to the slot its key names, else on `unmatched` if connected."""
        key = route_key(evaluate(self.expression, value))
        if self.routes is not None:
            key = self.routes.get(key) if key is not None else None
        target = self.slots.get(key) if key is not None else None
        if target is not None:
            target.send_data(value)
        elif self.unmatched.is_connected:
            self.unmatched.send_data(value)

    def _routes(self, routes: Any) -> dict | None:
        if routes is None:
            return None
        if isinstance(routes, list):
            pairs = [(route_key(value), slot) for slot, value in enumerate(routes)]
        elif isinstance(routes, dict):
            pairs = []
            for value, slot in routes.items():
                if isinstance(slot, bool) or not isinstance(slot, (int, str)):
                    raise ValueError(
                        f"{self.node_id}: routes map values to slots (whole "
                        f"numbers or names), not {slot!r}"
                    )
                pairs.append((route_key(value), normalize_index(slot)))
        else:
            raise ValueError(
                f"{self.node_id}: routes must be a list or an object, not {short(routes)}"
            )
        mapping = {}
        for value, slot in pairs:
            if value is None:
                raise ValueError(f"{self.node_id}: routes hold a value that names no slot")
            mapping[value] = slot
        return mapping
