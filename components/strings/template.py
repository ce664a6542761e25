"""strings/Template."""

import re
import string
from collections.abc import Mapping
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import short

#: Widths and precisions above this are refused: a template from a client must not make
#: the runtime build gigabyte strings.
MAX_WIDTH = 10000


class _Formatter(string.Formatter):
    """str.format without attribute access or indexing into objects' internals: a field is
    a key of the object (``{name}``), optionally with dotted keys into nested objects
    (``{user.name}``) and a format spec (``{price:.2f}``). Graph data comes from protocol
    clients, so nothing here reaches Python attributes."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        value: Any = kwargs
        for part in field_name.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.lstrip("-").isdigit():
                try:
                    value = value[int(part)]
                except IndexError:
                    raise KeyError(field_name) from None
            else:
                raise KeyError(field_name)
        return value, field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        widths = [int(d) for d in re.findall(r"\d+", format_spec)]
        if widths and max(widths) > MAX_WIDTH:
            raise ValueError(f"format width or precision over {MAX_WIDTH} in {format_spec!r}")
        return super().format_field(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion not in (None, "s", "r"):
            raise ValueError(f"unknown conversion !{conversion}")
        return super().convert_field(value, conversion)


class Template(Transform):
    """Fills a Python str.format-style template from each object on `in` and sends the text.

    conf: the template, e.g. "Hello {name}, you owe {amount:.2f}" (or {"template": ...}).
    Fields name keys of the object; dots reach into nested objects and lists
    ("{address.city}", "{tags.0}"); format specs work as in str.format. Only keys are looked
    up, never attributes, so templates from protocol clients are safe. A value that is not
    an object, or lacks a field, goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "file-text"
    inports = InPorts(
        InPort("in", datatype="object", description="objects to fill the template from"),
        InPort("conf", datatype="string", description="the template, or {template}", required=True),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the filled-in text"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for an object the template cannot be filled from",
        ),
    )

    def setup(self) -> None:
        """Read and check the template from conf; a malformed one fails at once."""
        template = self.options({"template": None}, "template", text=True)["template"]
        if not isinstance(template, str):
            raise ValueError(f"{self.node_id}: conf needs a template string, got {template!r}")
        self.formatter = _Formatter()
        try:
            list(self.formatter.parse(template))
        except ValueError as exc:
            raise ValueError(f"{self.node_id}: bad template {template!r}: {exc}") from None
        self.template = template

    def transform(self, value: Any) -> str:
        """The template filled from the object; BadInput for a missing field or non-object."""
        if not isinstance(value, Mapping):
            raise BadInput(f"Template wants an object, not {short(value)}")
        try:
            return self.formatter.vformat(self.template, (), value)
        except KeyError as exc:
            raise BadInput(f"no field {exc.args[0]!r} in {short(value)}") from None
        except (ValueError, TypeError, IndexError) as exc:
            raise BadInput(f"cannot fill the template from {short(value)}: {exc}") from None
