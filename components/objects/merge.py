"""objects/Merge and objects/Create."""

from collections.abc import Mapping
from typing import Any

from flowpy import (
    Aggregate,
    BadInput,
    Component,
    EndOfStream,
    InPort,
    InPorts,
    OutPort,
    OutPorts,
    next_data,
)
from flowpy_components._support.base import flag, short


def deep_merge(into: dict, other: Mapping) -> dict:
    """``other``'s keys into ``into``; where both hold objects they merge, else other wins."""
    for key, value in other.items():
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            into[key] = deep_merge(dict(mine), value)
        else:
            into[key] = value
    return into


class Merge(Aggregate):
    """Merges the objects of each bracketed substream on `in` into one object (later keys
    win; nested objects merge too, unless conf is {"deep": false}); without brackets, the
    whole stream when it ends.

    Aggregates per innermost substream: the merged object is sent inside that substream's
    brackets, which pass through unchanged; an empty substream gives {}. A value that is
    not an object goes to `error` as {message, input}, or fails the process when `error` is
    not connected.
    """

    icon = "compress"
    inports = InPorts(
        InPort("in", datatype="object", description="objects to merge"),
        InPort("conf", description="{deep: true}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="one merged object per substream"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object",
        ),
    )

    def setup(self) -> None:
        """Read the `deep` option: whether nested objects merge too."""
        self.deep = flag(self.options({"deep": True}, scalar="deep")["deep"], "deep")

    def new_state(self) -> dict:
        """An empty object."""
        return {}

    def add(self, state: dict, value: Any) -> None:
        """Merge the object into the result; BadInput for anything else."""
        if not isinstance(value, Mapping):
            raise BadInput(f"Merge wants objects, not {short(value)}")
        if self.deep:
            deep_merge(state, value)
        else:
            state.update(value)

    def finish(self, state: dict, empty: bool) -> list:
        """The merged object."""
        return [state]


class Create(Component):
    """Makes one object from one data IP of each connected slot of the addressable `in`:
    the value of in[i] under the i-th name of conf.

    conf: the list of names (["name", "age"]: in[0] gives "name", in[1] "age"); a slot
    without a name, or every slot without conf, is keyed by its index as text. The slots
    are read in lockstep (one object per round, back-pressure on every slot), and the
    component ends when any slot ends. Brackets on in[first slot] pass through; brackets
    on the others are skipped.
    """

    icon = "cube"
    inports = InPorts(
        InPort("in", addressable=True, description="the values, one slot per key"),
        InPort("conf", datatype="array", description="the keys, in slot order"),
    )
    outports = OutPorts(OutPort("out", datatype="object", description="the objects"))

    def run(self) -> None:
        """Per data IP of the first slot, one of each other slot makes an object; until one ends."""
        names = self.conf(default=None)
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"{self.node_id}: conf must be a list of key names, not {names!r}")
        port = self.inports["in"]
        slots = port.connected_slots()
        if not slots:
            return
        keys = [
            names[s] if names and isinstance(s, int) and s < len(names) else str(s) for s in slots
        ]
        first, rest = port[slots[0]], [port[s] for s in slots[1:]]
        out = self.outports["out"]
        try:
            while True:
                ip = first.recv()
                if not ip.is_data:
                    out.send(ip)
                    continue
                values = [ip.data] + [next_data(other) for other in rest]
                out.send_data(dict(zip(keys, values, strict=True)))
        except EndOfStream:
            pass
