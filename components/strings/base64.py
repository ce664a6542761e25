"""strings/Base64Encode and strings/Base64Decode."""

import base64
import binascii
from typing import Any

from flowpy import BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import flag, short


def _urlsafe(component: Component) -> bool:
    options = component.options({"urlsafe": False}, scalar="urlsafe")
    return flag(options["urlsafe"], f"{component.node_id}: urlsafe")


class Base64Encode(Transform):
    """Encodes each string on `in` (as UTF-8) in base64 and sends the base64 text.

    conf: {"urlsafe": false}: true uses the URL- and file-name-safe alphabet (- and _ for
    + and /). A value that is not a string goes to `error` as {message, input}, or fails
    the process when `error` is not connected. Brackets pass through.
    """

    icon = "lock"
    inports = InPorts(
        InPort("in", datatype="string", description="text"),
        InPort("conf", datatype="object", description="{urlsafe}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="base64 text"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a string",
        ),
    )

    def setup(self) -> None:
        """Choose the URL-safe alphabet when conf asks for it."""
        self.encode = base64.urlsafe_b64encode if _urlsafe(self) else base64.b64encode

    def transform(self, value: Any) -> str:
        """The base64 text of the string; BadInput for anything else."""
        if not isinstance(value, str):
            raise BadInput(f"Base64Encode wants a string, not {short(value)}")
        return self.encode(value.encode("utf-8")).decode("ascii")


class Base64Decode(Transform):
    """Decodes each base64 string on `in` and sends the text it holds (UTF-8).

    conf: {"urlsafe": false}: true reads the URL-safe alphabet. Missing padding is
    tolerated. Text that is not base64, or bytes that are not UTF-8, go to `error` as
    {message, input}, or fail the process when `error` is not connected. Brackets pass
    through.
    """

    icon = "unlock"
    inports = InPorts(
        InPort("in", datatype="string", description="base64 text"),
        InPort("conf", datatype="object", description="{urlsafe}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the decoded text"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for text that is not base64 of UTF-8",
        ),
    )

    def setup(self) -> None:
        """Choose the URL-safe alphabet when conf asks for it."""
        self.altchars = b"-_" if _urlsafe(self) else None

    def transform(self, value: Any) -> str:
        """The decoded text (whitespace ignored, padding optional); BadInput if invalid."""
        if not isinstance(value, str):
            raise BadInput(f"Base64Decode wants a string, not {short(value)}")
        text = "".join(value.split())
        text += "=" * (-len(text) % 4)
        try:
            raw = base64.b64decode(text, altchars=self.altchars, validate=True)
            return raw.decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise BadInput(f"cannot decode {short(value)}: {exc}") from None
