"""objects/Keys, objects/Values, objects/Size and objects/SplitArray."""

from collections.abc import Mapping
from typing import Any

from flowpy import IP, BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform, reject
from flowpy_components._support.base import short


def _object(value: Any, component: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise BadInput(f"{component} wants an object, not {short(value)}")
    return value


class Keys(Transform):
    """Sends the keys of each object on `in`, as a list, in the object's order.

    A value that is not an object goes to `error` as {message, input}, or fails the
    process when `error` is not connected. Brackets pass through. (objects/SplitArray
    turns the list into a stream.)
    """

    icon = "key"
    inports = InPorts(InPort("in", datatype="object", description="objects"))
    outports = OutPorts(
        OutPort("out", datatype="array", description="the keys of each object"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object",
        ),
    )

    def transform(self, value: Any) -> list:
        """The object's keys; BadInput for anything else."""
        return list(_object(value, "Keys"))


class Values(Transform):
    """Sends the values of each object on `in`, as a list, in the object's order.

    A value that is not an object goes to `error` as {message, input}, or fails the
    process when `error` is not connected. Brackets pass through.
    """

    icon = "list"
    inports = InPorts(InPort("in", datatype="object", description="objects"))
    outports = OutPorts(
        OutPort("out", datatype="array", description="the values of each object"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object",
        ),
    )

    def transform(self, value: Any) -> list:
        """The object's values; BadInput for anything else."""
        return list(_object(value, "Values").values())


class Size(Transform):
    """Sends the size of each value on `in`: the number of keys of an object, of items of
    an array, of characters of a string.

    Any other value goes to `error` as {message, input}, or fails the process when `error`
    is not connected. Brackets pass through.
    """

    icon = "expand"
    inports = InPorts(InPort("in", description="objects, arrays or strings"))
    outports = OutPorts(
        OutPort("out", datatype="int", description="their sizes"),
        OutPort(
            "error", datatype="object", description="{message, input} for a value that has no size"
        ),
    )

    def transform(self, value: Any) -> int:
        """The value's size; BadInput for a value that has none."""
        if isinstance(value, (Mapping, list, tuple, str)):
            return len(value)
        raise BadInput(f"Size wants an object, array or string, not {short(value)}")


class SplitArray(Component):
    """Sends the items of each array on `in` one by one, wrapped in a bracket (named
    "array", or conf's "group"), so per-substream components (math/Sum, flow/Sort,
    strings/Join, ...) handle each array on its own.

    conf: the bracket name, or {"group": ...}. A value that is not an array goes to `error`
    as {message, input}, or fails the process when `error` is not connected. Brackets on
    `in` pass through.
    """

    icon = "list-ul"
    inports = InPorts(
        InPort("in", datatype="array", description="arrays"),
        InPort("conf", datatype="string", description="bracket name, or {group}"),
    )
    outports = OutPorts(
        OutPort("out", description="the items, in a bracket per array"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an array",
        ),
    )

    def run(self) -> None:
        """Split each array into a bracketed stream; brackets pass, other values are rejected."""
        group = self.options({"group": "array"}, "group", text=True)["group"]
        if not isinstance(group, str):
            raise ValueError(f"{self.node_id}: group must be a string, not {group!r}")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
            elif not isinstance(ip.data, (list, tuple)):
                reject(self, f"SplitArray wants an array, not {short(ip.data)}", ip.data)
            else:
                out.send_many([IP.open(group), *map(IP.make_data, ip.data), IP.close(group)])
