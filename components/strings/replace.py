"""strings/Replace."""

import re
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import short


class Replace(Transform):
    """Replaces every match of a regular expression in each string on `in`.

    conf: {"pattern": regex, "replacement": text, "count": 0, "ignorecase": false}; the
    replacement may use \\1 or \\g<name> for groups; count 0 replaces all. Python's `re`
    syntax. A value that is not a string goes to `error` as {message, input}, or fails the
    process when `error` is not connected. Brackets pass through.
    """

    icon = "exchange"
    inports = InPorts(
        InPort("in", datatype="string", description="strings"),
        InPort("conf", description="{pattern, replacement, count, ignorecase}", required=True),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the strings, with matches replaced"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a string",
        ),
    )

    def setup(self) -> None:
        """Compile the pattern and read replacement, count and case from conf."""
        options = self.options(
            {"pattern": None, "replacement": "", "count": 0, "ignorecase": False}
        )
        pattern, replacement = options["pattern"], options["replacement"]
        if not isinstance(pattern, str):
            raise ValueError(
                f"{self.node_id}: conf needs a pattern (a regular expression "
                f"string), got {pattern!r}"
            )
        if not isinstance(replacement, str):
            raise ValueError(f"{self.node_id}: replacement must be a string")
        try:
            self.regex = re.compile(pattern, re.IGNORECASE if options["ignorecase"] is True else 0)
        except re.error as exc:
            raise ValueError(f"{self.node_id}: bad pattern {pattern!r}: {exc}") from None
        try:
            self.regex.sub(replacement, "")  # a bad group reference fails now, not per IP
        except (re.error, IndexError) as exc:
            raise ValueError(f"{self.node_id}: bad replacement {replacement!r}: {exc}") from None
        self.replacement = replacement
        self.count = options["count"]

    def transform(self, value: Any) -> str:
        """The string with its matches replaced; BadInput for a non-string or bad group."""
        if not isinstance(value, str):
            raise BadInput(f"Replace wants a string, not {short(value)}")
        try:
            return self.regex.sub(self.replacement, value, count=self.count)
        except (re.error, IndexError) as exc:
            raise BadInput(f"cannot replace in {short(value)}: {exc}") from None
