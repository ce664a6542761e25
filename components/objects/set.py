"""objects/Set and objects/RemoveProperty."""

from collections.abc import Mapping
from typing import Any

from flowpy import BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform, reject
from flowpy_components._support.base import short
from flowpy_components._support.operand import MISSING, with_operand


class Set(Component):
    """Sets a key on each object on `in` and sends the new object (the input is not changed).

    conf: {"key": k, "value": v}; or the key alone (as text or {"key": k}) with the value on
    `value`, where the latest value applies to every object that follows (an IIP, or a
    stream). A value on `value` wins over conf's. A value on `in` that is not an object
    goes to `error` as {message, input}, or fails the process when `error` is not
    connected. Brackets pass through.
    """

    icon = "pencil"
    inports = InPorts(
        InPort("in", datatype="object", description="objects"),
        InPort("value", description="the value to set (latest applies)"),
        InPort("conf", description="{key, value}, or the key", required=True),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="the objects with the key set"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object",
        ),
    )

    def run(self) -> None:
        """Read the key from conf, then set it on each object to the latest `value` (or conf's)."""
        conf = self.options({"key": None, "value": MISSING}, "key", text=True)
        key = conf["key"]
        if not isinstance(key, str) or not key:
            raise ValueError(f"{self.node_id}: conf needs a key (a non-empty string), got {key!r}")
        out = self.outports["out"]
        for ip, value in with_operand(self, "in", "value", conf["value"]):
            if not ip.is_data:
                out.send(ip)
            elif not isinstance(ip.data, Mapping):
                reject(self, f"Set wants an object, not {short(ip.data)}", ip.data)
            else:
                out.send_data({**ip.data, key: value})


class RemoveProperty(Transform):
    """Removes keys from each object on `in` and sends the new object (the input is not
    changed); keys that are not there are ignored.

    conf: a key, a list of keys, or {"keys": [...]}. A value that is not an object goes to
    `error` as {message, input}, or fails the process when `error` is not connected.
    Brackets pass through.
    """

    icon = "eraser"
    inports = InPorts(
        InPort("in", datatype="object", description="objects"),
        InPort("conf", description="key, list of keys, or {keys}", required=True),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="the objects without those keys"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object",
        ),
    )

    ends_with_out = False  # values that are not objects still go to `error`

    def setup(self) -> None:
        """Read the key or keys to remove from conf."""
        keys: Any = self.options({"keys": None}, scalar="keys")["keys"]
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{self.node_id}: conf needs a key or a list of keys, got {keys!r}")
        self.drop = set(keys)

    def transform(self, value: Any) -> dict:
        """A copy of the object without those keys; BadInput for anything else."""
        if not isinstance(value, Mapping):
            raise BadInput(f"RemoveProperty wants an object, not {short(value)}")
        return {k: v for k, v in value.items() if k not in self.drop}
