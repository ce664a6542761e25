"""files/Path: path arithmetic on strings, without touching the file system."""

import os
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import short


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadInput(f"a path must be a string, not {short(value)}")
    return value


def _join(value: Any) -> str:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise BadInput(f"join wants a list of strings, not {short(value)}")
    return os.path.join(*value)


def _parts(value: Any) -> dict[str, str]:
    path = _text(value)
    name = os.path.basename(path)
    stem, suffix = os.path.splitext(name)
    return {"dir": os.path.dirname(path), "name": name, "stem": stem, "suffix": suffix}


#: Each operation: the input it takes -> what it sends.
OPERATIONS = {
    "parts": _parts,
    "dirname": lambda v: os.path.dirname(_text(v)),
    "basename": lambda v: os.path.basename(_text(v)),
    "stem": lambda v: _parts(v)["stem"],
    "suffix": lambda v: _parts(v)["suffix"],
    "normalize": lambda v: os.path.normpath(_text(v)),
    "absolute": lambda v: os.path.abspath(_text(v)),
    "join": _join,
}


class Path(Transform):
    """Takes paths apart or puts them together, for each value on `in`; the file system is
    not touched.

    conf: the operation: "parts" (the default: {dir, name, stem, suffix}), "dirname",
    "basename", "stem", "suffix" ("a/b.tar.gz" has the suffix ".gz"), "normalize"
    ("a/./b/../c" is "a/c"), "absolute" (from the working folder) or "join" (a list of
    parts in, one path out). A value of the wrong kind goes to `error` as {message,
    input}, or fails the process when `error` is not connected. Brackets pass through.
    """

    icon = "road"
    inports = InPorts(
        InPort("in", description="paths (a list of parts for join)"),
        InPort("conf", datatype="string", description="the operation, or {operation}"),
    )
    outports = OutPorts(
        OutPort("out", description="what the operation gives"),
        OutPort("error", datatype="object", description="{message, input}"),
    )

    def setup(self) -> None:
        """Pick the path operation named in conf; an unknown one fails the process at once."""
        name = self.options({"operation": "parts"}, scalar="operation")["operation"]
        if name not in OPERATIONS:
            raise ValueError(
                f"{self.node_id}: unknown operation {name!r} (known: "
                f"{', '.join(sorted(OPERATIONS))})"
            )
        self.transform = OPERATIONS[name]  # type: ignore[method-assign]
