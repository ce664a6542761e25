"""time/Timestamp."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flowpy import InPort, InPorts, OutPort, OutPorts, Transform


class Timestamp(Transform):
    """Adds the current time, ISO 8601 in UTC ("2024-05-01T12:00:00.123456+00:00"), to
    each data IP on `in`: objects get it under a key (a new object; the input is not
    changed), other values are wrapped as {"value": v, key: time}.

    conf: the key (default "timestamp"), or {"key": ..., "local": false}; with "local":
    true the time is in the machine's time zone. Brackets pass through.
    """

    icon = "calendar"
    inports = InPorts(
        InPort("in", description="values to stamp"),
        InPort("conf", datatype="string", description="key, or {key, local}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="the values with the time added")
    )

    def setup(self) -> None:
        """Read the key to set and whether the time is local from conf."""
        conf = self.options({"key": "timestamp", "local": False}, "key", text=True)
        key = conf["key"]
        if not isinstance(key, str) or not key:
            raise ValueError(f"{self.node_id}: key must be a non-empty string, not {key!r}")
        self.key, self.local = key, conf["local"] in (True, "true")

    def transform(self, value: Any) -> dict:
        """The object with the current time under the key (a non-object is wrapped)."""
        now = datetime.now().astimezone() if self.local else datetime.now(UTC)
        stamp = now.isoformat()
        if isinstance(value, Mapping):
            return {**value, self.key: stamp}
        return {"value": value, self.key: stamp}
