"""strings/ParseJson and strings/Stringify."""

import json
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import flag, short


class ParseJson(Transform):
    """Parses each string on `in` as JSON and sends the value on `out`.

    Text that is not JSON (or a value that is not a string) goes to `error` as
    {message, input}, or fails the process when `error` is not connected. Brackets pass
    through.
    """

    icon = "code"
    inports = InPorts(InPort("in", datatype="string", description="JSON text"))
    outports = OutPorts(
        OutPort("out", description="the parsed values"),
        OutPort(
            "error", datatype="object", description="{message, input} for text that is not JSON"
        ),
    )

    def transform(self, value: Any) -> Any:
        """The value the JSON text holds; BadInput for anything that is not JSON text."""
        if not isinstance(value, (str, bytes)):
            raise BadInput(f"ParseJson wants JSON text, not {short(value)}")
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BadInput(f"not JSON ({exc}): {short(value)}") from None


class Stringify(Transform):
    """Serialises each value on `in` as JSON text (compact by default) and sends it on `out`.

    conf: {"indent": n, "sort_keys": false}, or just the indent. A value JSON cannot hold
    goes to `error` as {message, input}, or fails the process when `error` is not
    connected. Brackets pass through.
    """

    icon = "file-code-o"
    inports = InPorts(
        InPort("in", description="values to serialise"),
        InPort("conf", description="{indent, sort_keys}, or the indent"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="JSON text"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not JSON-serialisable",
        ),
    )

    def setup(self) -> None:
        """Read the indent and sort_keys options; compact separators without an indent."""
        options = self.options({"indent": None, "sort_keys": False}, scalar="indent")
        indent = options["indent"]
        if indent is not None and (isinstance(indent, bool) or not isinstance(indent, int)):
            if isinstance(indent, str) and indent.isdigit():
                indent = int(indent)
            else:
                raise ValueError(f"{self.node_id}: indent must be a whole number, not {indent!r}")
        self.indent = indent
        self.sort_keys = flag(options["sort_keys"], "sort_keys")
        self.separators = (",", ":") if indent is None else None

    def transform(self, value: Any) -> str:
        """The value as JSON text; BadInput for what JSON cannot hold (NaN, objects)."""
        try:
            return json.dumps(
                value,
                indent=self.indent,
                sort_keys=self.sort_keys,
                separators=self.separators,
                ensure_ascii=False,
                allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            raise BadInput(f"cannot serialise {short(value)} as JSON: {exc}") from None
