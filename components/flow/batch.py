"""flow/Batch, flow/Collect, flow/Sort and flow/Distinct."""

import json
from typing import Any

from flowpy import Aggregate, BadInput, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import flag, positive_int, short
from flowpy_components._support.expressions import compile_expression, evaluate


class Batch(Aggregate):
    """Collects the data IPs of `in` into lists of N, sent as each fills up; the last list
    of each bracketed substream (or of the whole stream, without brackets) may be shorter.

    Aggregates per innermost substream: a list never spans two substreams, and the lists
    are sent inside their substream's brackets, which pass through unchanged. Memory holds
    at most one list per open substream. (core/Group puts brackets, not lists, around
    every N IPs.) conf: N, or {"size": N}.
    """

    icon = "th-large"
    inports = InPorts(
        InPort("in", description="IPs to batch"),
        InPort("conf", datatype="int", description="N, or {size}", required=True),
    )
    outports = OutPorts(OutPort("out", datatype="array", description="lists of up to N"))

    def setup(self) -> None:
        """Read the batch size N from conf."""
        self.size = positive_int(
            self.options({"size": None}, scalar="size")["size"], f"{self.node_id}: size"
        )

    def new_state(self) -> list:
        """An empty batch."""
        return []

    def add(self, state: list, value: Any) -> list | None:
        """Add the value; a batch that reaches N is sent and a new one started."""
        state.append(value)
        if len(state) >= self.size:
            batch = state[:]
            state.clear()
            return [batch]
        return None

    def finish(self, state: list, empty: bool) -> list:
        """The last, partly filled batch, if it holds anything."""
        return [state] if state else []


class Collect(Aggregate):
    """Collects the data IPs of each bracketed substream on `in` into one list; without
    brackets, the whole stream when it ends (the inverse of objects/SplitArray).

    Aggregates per innermost substream: the list is sent inside that substream's
    brackets, which pass through unchanged; an empty substream gives []. The list is held
    in memory until its substream ends.
    """

    icon = "archive"
    inports = InPorts(InPort("in", description="IPs to collect"))
    outports = OutPorts(OutPort("out", datatype="array", description="one list per substream"))

    def new_state(self) -> list:
        """An empty list."""
        return []

    def add(self, state: list, value: Any) -> None:
        """Add the value to the substream's list."""
        state.append(value)

    def finish(self, state: list, empty: bool) -> list:
        """The substream's list, empty or not."""
        return [state]


class _Key:
    """Orders values of mixed kinds: numbers before strings before everything else (by
    their JSON text), so a sort never fails on a mix; null sorts first."""

    __slots__ = ("rank", "value")

    def __init__(self, value: Any) -> None:
        if value is None:
            self.rank, self.value = 0, 0
        elif isinstance(value, bool):
            self.rank, self.value = 1, int(value)
        elif isinstance(value, (int, float)):
            self.rank, self.value = 2, value
        elif isinstance(value, str):
            self.rank, self.value = 3, value
        else:
            self.rank, self.value = 4, json.dumps(value, sort_keys=True, default=repr)

    def __lt__(self, other: "_Key") -> bool:
        if self.rank != other.rank:
            return self.rank < other.rank
        return self.value < other.value


class Sort(Aggregate):
    """Sorts the data IPs of each bracketed substream on `in` (or of the whole stream, when
    it has no brackets) and sends them in order.

    conf: a JMESPath key expression ("age", "name.last"), or {"key": ..., "reverse":
    false}; without a key the values themselves are compared. The sort is stable; nulls
    come first, then booleans, numbers, strings, and other values by their JSON text, so
    a mix of kinds never fails. Aggregates per innermost substream: its values are held
    until it ends and sent inside its brackets, which pass through unchanged. A key
    expression that fails on a value sends {message, input} to `error`, or fails the
    process when `error` is not connected.
    """

    icon = "sort-amount-asc"
    inports = InPorts(
        InPort("in", description="values to sort"),
        InPort("conf", description="JMESPath key expression, or {key, reverse}"),
    )
    outports = OutPorts(
        OutPort("out", description="the values, sorted per substream"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the key expression fails on a value",
        ),
    )

    def setup(self) -> None:
        """Read the sort key expression and the direction from conf."""
        conf = self.options({"key": None, "reverse": False}, "key", text=True)
        self.key = (
            None if conf["key"] is None else compile_expression(conf["key"], self.node_id, "key")
        )
        self.reverse = flag(conf["reverse"], "reverse")

    def new_state(self) -> list:
        """An empty list of (key, value) pairs."""
        return []

    def add(self, state: list, value: Any) -> None:
        """Keep the value with its sort key."""
        key = value if self.key is None else evaluate(self.key, value)
        state.append((_Key(key), value))

    def finish(self, state: list, empty: bool) -> list:
        """The values sorted by key (stable: equal keys keep their order)."""
        state.sort(key=lambda pair: pair[0], reverse=self.reverse)
        return [value for _, value in state]


class Distinct(Aggregate):
    """Forwards each data IP of `in` whose value (or JMESPath key) has not been seen before
    in its bracketed substream (or in the whole stream, when it has no brackets).

    conf: a JMESPath key expression ("id"), or {"key": ...}; without one, the values
    themselves are compared (objects and lists by content). Works per innermost substream:
    the memory of seen keys starts afresh in each, and brackets pass through unchanged.
    Memory holds one key per distinct value. A key expression that fails on a value sends
    {message, input} to `error`, or fails the process when `error` is not connected.
    """

    icon = "star-half-o"
    inports = InPorts(
        InPort("in", description="values"),
        InPort("conf", datatype="string", description="JMESPath key expression, or {key}"),
    )
    outports = OutPorts(
        OutPort("out", description="the first value of each key"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} when the key expression fails on a value",
        ),
    )

    def setup(self) -> None:
        """Read the optional key expression from conf."""
        key = self.options({"key": None}, "key", text=True)["key"]
        self.key = None if key is None else compile_expression(key, self.node_id, "key")

    def new_state(self) -> set:
        """The keys seen so far in this substream."""
        return set()

    def add(self, state: set, value: Any) -> list | None:
        """The value if its key is new (unhashable keys compare as JSON)."""
        key = value if self.key is None else evaluate(self.key, value)
        try:
            marker: Any = (
                ("h", key)
                if not isinstance(key, (dict, list))
                else ("j", json.dumps(key, sort_keys=True, default=repr))
            )
            hash(marker)
        except TypeError:
            raise BadInput(f"cannot compare {short(key)}") from None
        if marker in state:
            return None
        state.add(marker)
        return [value]

    def finish(self, state: set, empty: bool) -> list:
        """Nothing: each value went on as it first came."""
        return []
