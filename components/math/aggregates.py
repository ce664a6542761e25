"""math/Sum, math/Average, math/Min and math/Max: aggregators (see _support.base)."""

from typing import Any

from flowpy import Aggregate, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import number, shared_paragraph

_SCOPE = """Aggregates per innermost bracketed substream, or over the whole stream when it has
    no brackets: the result is sent inside its substream's brackets, which pass through
    unchanged. Numbers given as text count; a value that is not a number goes to `error`
    as {message, input} and is left out, or fails the process when `error` is not
    connected."""
_scoped = shared_paragraph(_SCOPE)


def _ports(result: str) -> tuple[InPorts, OutPorts]:
    return (
        InPorts(InPort("in", datatype="number", description="numbers")),
        OutPorts(
            OutPort("out", datatype="number", description=f"the {result} of each substream"),
            OutPort(
                "error",
                datatype="object",
                description="{message, input} for a value that is not a number",
            ),
        ),
    )


@_scoped
class Sum(Aggregate):
    """Sends the sum of the numbers of each substream on `in` (0 for an empty one)."""

    icon = "plus-circle"
    inports, outports = _ports("sum")

    def new_state(self) -> list:
        """A running sum starting at 0."""
        return [0]

    def add(self, state: list, value: Any) -> None:
        """Add the number to the sum."""
        state[0] += number(value)

    def finish(self, state: list, empty: bool) -> list:
        """The sum."""
        return [state[0]]


@_scoped
class Average(Aggregate):
    """Sends the mean of the numbers of each substream on `in` (nothing for an
    empty one)."""

    icon = "balance-scale"
    inports, outports = _ports("mean")

    def new_state(self) -> list:
        """A running sum and count, both 0."""
        return [0, 0]

    def add(self, state: list, value: Any) -> None:
        """Add the number to the sum and count it."""
        state[0] += number(value)
        state[1] += 1

    def finish(self, state: list, empty: bool) -> list:
        """The mean, or nothing if no number came."""
        return [state[0] / state[1]] if state[1] else []


@_scoped
class Min(Aggregate):
    """Sends the smallest number of each substream on `in` (nothing for an empty
    one)."""

    icon = "arrow-down"
    inports, outports = _ports("minimum")

    def new_state(self) -> list:
        """No minimum yet."""
        return []

    def add(self, state: list, value: Any) -> None:
        """Keep the number if it is the smallest so far."""
        value = number(value)
        if not state or value < state[0]:
            state[:] = [value]

    def finish(self, state: list, empty: bool) -> list:
        """The smallest number, if any came."""
        return state


@_scoped
class Max(Aggregate):
    """Sends the largest number of each substream on `in` (nothing for an empty
    one)."""

    icon = "arrow-up"
    inports, outports = _ports("maximum")

    def new_state(self) -> list:
        """No maximum yet."""
        return []

    def add(self, state: list, value: Any) -> None:
        """Keep the number if it is the largest so far."""
        value = number(value)
        if not state or value > state[0]:
            state[:] = [value]

    def finish(self, state: list, empty: bool) -> list:
        """The largest number, if any came."""
        return state
