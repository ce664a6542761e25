"""flow/CountBy and flow/GroupBy: the word count and the group-by that JMESPath cannot do."""

from typing import Any

from flowpy import Aggregate, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import positive_int, render
from flowpy_components._support.expressions import compile_expression, evaluate


class _KeyedMixin:
    """For an Aggregate: reads conf (a JMESPath key expression, or an object) and keys each
    value: the key is the expression's result, or the value itself, as text (strings as they
    are, other values as compact JSON), since object keys are text."""

    extra_options: dict[str, Any] = {}

    def setup(self) -> None:
        conf = self.options({"key": None, **self.extra_options}, "key", text=True)
        self.conf = conf
        self.key = (
            None if conf["key"] is None else compile_expression(conf["key"], self.node_id, "key")
        )

    def key_of(self, value: Any) -> str:
        return render(value if self.key is None else evaluate(self.key, value))

    def new_state(self) -> dict:
        return {}


def _keyed_ports(verb: str, options: str, result: str) -> tuple[InPorts, OutPorts]:
    """The ports both keyed aggregates have: values in, a key expression as conf, one
    object per substream out, and the values a key expression fails on."""
    inports = InPorts(
        InPort("in", description=f"values to {verb}"),
        InPort("conf", datatype="string", description=f"JMESPath key expression, or {options}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description=f"{result} per substream"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the key expression fails on a value",
        ),
    )
    return inports, outports


class CountBy(_KeyedMixin, Aggregate):
    """Counts the data IPs of each bracketed substream on `in` (or of the whole stream, when
    it has no brackets) per key, and sends one object {key: count} when it ends:
    a, b, a, c, a gives {"a": 3, "b": 1, "c": 1}.

    conf: a JMESPath key expression ("city", "length(@)"), or {"key": ..., "top": N};
    without a key the values themselves are counted (other than strings by their JSON
    text). The object lists the keys by count, most first (ties in the order first seen);
    "top" keeps only the N most. An empty substream gives {}. Brackets pass through, and
    the object comes just before its substream's close. Memory holds one count per
    distinct key. A key expression that fails on a value sends {message, input} to
    `error`, or fails the process when `error` is not connected.
    """

    icon = "sort-numeric-desc"
    extra_options = {"top": None}
    inports, outports = _keyed_ports("count", "{key, top}", "{key: count}")

    def setup(self) -> None:
        """Read the key and the optional `top` limit from conf."""
        super().setup()
        top = self.conf["top"]
        self.top = None if top is None else positive_int(top, f"{self.node_id}: top")

    def add(self, state: dict, value: Any) -> None:
        """Count one more value under its key."""
        key = self.key_of(value)
        state[key] = state.get(key, 0) + 1

    def finish(self, state: dict, empty: bool) -> list:
        """The counts by key, largest first, cut to `top` when it is set."""
        ranked = sorted(state.items(), key=lambda item: -item[1])  # stable: ties keep order
        return [dict(ranked[: self.top] if self.top else ranked)]


class GroupBy(_KeyedMixin, Aggregate):
    """Groups the data IPs of each bracketed substream on `in` (or of the whole stream, when
    it has no brackets) by key, and sends one object {key: [values]} when it ends.

    conf: a JMESPath key expression ("city"), or {"key": ...}; without a key the values
    themselves are the keys (other than strings by their JSON text). Keys come in the order
    first seen, values in arrival order. An empty substream gives {}. Brackets pass
    through. The values are held in memory until their substream ends. A key expression
    that fails on a value sends {message, input} to `error`, or fails the process when
    `error` is not connected.
    """

    icon = "object-group"
    inports, outports = _keyed_ports("group", "{key}", "{key: [values]}")

    def add(self, state: dict, value: Any) -> None:
        """File the value under its key."""
        state.setdefault(self.key_of(value), []).append(value)

    def finish(self, state: dict, empty: bool) -> list:
        """The values by key, in the order keys first came."""
        return [state]
