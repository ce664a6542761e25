"""strings/Upper, strings/Lower, strings/Trim and strings/Length."""

from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import short


def _text(value: Any, component: str) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{component} wants a string, not {short(value)}")
    return value


def _ports(out_type: str, out_description: str) -> tuple[InPorts, OutPorts]:
    return (
        InPorts(InPort("in", datatype="string", description="strings")),
        OutPorts(
            OutPort("out", datatype=out_type, description=out_description),
            OutPort(
                "error",
                datatype="object",
                description="{message, input} for a value that is not a string",
            ),
        ),
    )


class Upper(Transform):
    """Upper-cases each string on `in` and sends it on `out`.

    A value that is not a string goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "font"
    inports, outports = _ports("string", "the strings, upper-cased")

    def transform(self, value: Any) -> str:
        """The string upper-cased; BadInput for anything else."""
        return _text(value, "Upper").upper()


class Lower(Transform):
    """Lower-cases each string on `in` and sends it on `out`.

    A value that is not a string goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "font"
    inports, outports = _ports("string", "the strings, lower-cased")

    def transform(self, value: Any) -> str:
        """The string lower-cased; BadInput for anything else."""
        return _text(value, "Lower").lower()


class Trim(Transform):
    """Strips whitespace from both ends of each string on `in` and sends it on `out`.

    A value that is not a string goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "scissors"
    inports, outports = _ports("string", "the strings, without surrounding whitespace")

    def transform(self, value: Any) -> str:
        """The string without leading and trailing whitespace; BadInput for anything else."""
        return _text(value, "Trim").strip()


class Length(Transform):
    """Sends the length (in characters) of each string on `in`.

    A value that is not a string goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "text-width"
    inports, outports = _ports("int", "the number of characters of each string")

    def transform(self, value: Any) -> int:
        """The string's length in characters; BadInput for anything else."""
        return len(_text(value, "Length"))
