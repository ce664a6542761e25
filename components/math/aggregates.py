"""math/Sum, math/Average, math/Min and math/Max: aggregators (see _support.base)."""

from typing import Any

from flowpy import Aggregate, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import number

_SCOPE = """Aggregates per innermost bracketed substream, or over the whole stream when it has
    no brackets: the result is sent inside its substream's brackets, which pass through
    unchanged. Numbers given as text count; a value that is not a number goes to `error`
    as {message, input} and is left out, or fails the process when `error` is not
    connected."""


def _ports(result: str) -> tuple[InPorts, OutPorts]:
    return (
        InPorts(InPort("in", datatype="number", description="numbers")),
        OutPorts(
            OutPort("out", datatype="number", description=f"the {result} of each substream"),
            OutPort("error", datatype="object", description="{message, input} for a value "
                    "that is not a number"),
        ),
    )


class Sum(Aggregate):
    __doc__ = f"""Sends the sum of the numbers of each substream on `in` (0 for an empty one).

    {_SCOPE}
    """

    icon = "plus-circle"
    inports, outports = _ports("sum")

    def new_state(self) -> list:
        return [0]

    def add(self, state: list, value: Any) -> None:
        state[0] += number(value)

    def finish(self, state: list, empty: bool) -> list:
        return [state[0]]


class Average(Aggregate):
    __doc__ = f"""Sends the mean of the numbers of each substream on `in` (nothing for an
    empty one).

    {_SCOPE}
    """

    icon = "balance-scale"
    inports, outports = _ports("mean")

    def new_state(self) -> list:
        return [0, 0]

    def add(self, state: list, value: Any) -> None:
        state[0] += number(value)
        state[1] += 1

    def finish(self, state: list, empty: bool) -> list:
        return [state[0] / state[1]] if state[1] else []


class Min(Aggregate):
    __doc__ = f"""Sends the smallest number of each substream on `in` (nothing for an empty
    one).

    {_SCOPE}
    """

    icon = "arrow-down"
    inports, outports = _ports("minimum")

    def new_state(self) -> list:
        return []

    def add(self, state: list, value: Any) -> None:
        value = number(value)
        if not state or value < state[0]:
            state[:] = [value]

    def finish(self, state: list, empty: bool) -> list:
        return state


class Max(Aggregate):
    __doc__ = f"""Sends the largest number of each substream on `in` (nothing for an empty
    one).

    {_SCOPE}
    """

    icon = "arrow-up"
    inports, outports = _ports("maximum")

    def new_state(self) -> list:
        return []

    def add(self, state: list, value: Any) -> None:
        value = number(value)
        if not state or value > state[0]:
            state[:] = [value]

    def finish(self, state: list, empty: bool) -> list:
        return state
