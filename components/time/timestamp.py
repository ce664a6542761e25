"""time/Timestamp."""

from collections.abc import Mapping
from datetime import UTC, datetime

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import text_options


class Timestamp(Component):
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
        OutPort("out", datatype="object", description="the values with the time added"))

    def run(self) -> None:
        conf = text_options(self, {"key": "timestamp", "local": False}, "key")
        key = conf["key"]
        if not isinstance(key, str) or not key:
            raise ValueError(f"{self.node_id}: key must be a non-empty string, not {key!r}")
        local = conf["local"] in (True, "true")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                continue
            now = datetime.now().astimezone() if local else datetime.now(UTC)
            stamp = now.isoformat()
            value = ip.data
            if isinstance(value, Mapping):
                out.send_data({**value, key: stamp})
            else:
                out.send_data({"value": value, key: stamp})
