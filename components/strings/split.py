"""strings/SplitStr and strings/Join."""

from typing import Any

from flowpy import IP, Aggregate, Component, InPort, InPorts, OutPort, OutPorts, reject
from flowpy_components._support.base import render, short


class SplitStr(Component):
    """Splits each string on `in` at a separator and sends the parts, wrapped in a bracket
    (named "split", or conf's "group").

    conf: the separator (default a newline), or {"separator": ..., "group": ...}. An empty
    string gives one empty part. A value that is not a string goes to `error` as
    {message, input}, or fails the process when `error` is not connected. Brackets on `in`
    pass through, so parts of one string sit inside the brackets of the stream.
    """

    icon = "cut"
    inports = InPorts(
        InPort("in", datatype="string", description="strings to split"),
        InPort("conf", description="separator, or {separator, group}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the parts, in a bracket per string"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a string",
        ),
    )

    def run(self) -> None:
        """Read separator and bracket group from conf, then send each string's parts."""
        conf = self.options({"separator": "\n", "group": "split"}, "separator", text=True)
        separator, group = conf["separator"], conf["group"]
        if not isinstance(separator, str) or not separator:
            raise ValueError(
                f"{self.node_id}: separator must be a non-empty string, not {separator!r}"
            )
        if not isinstance(group, str):
            raise ValueError(f"{self.node_id}: group must be a string, not {group!r}")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                continue
            if not isinstance(ip.data, str):
                reject(self, f"SplitStr wants a string, not {short(ip.data)}", ip.data)
                continue
            parts = [IP.make_data(part) for part in ip.data.split(separator)]
            out.send_many([IP.open(group), *parts, IP.close(group)])


class Join(Aggregate):
    """Joins the data IPs of each bracketed substream on `in` into one string with a
    separator; without brackets, the whole stream when it ends.

    Aggregates per innermost substream: the joined string is sent inside that substream's
    brackets, which pass through unchanged; an empty substream gives "". conf: the
    separator (default ","), or {"separator": ...}. Strings are joined as they are, other
    values as compact JSON.
    """

    icon = "link"
    inports = InPorts(
        InPort("in", description="parts to join"),
        InPort("conf", description="separator, or {separator}"),
    )
    outports = OutPorts(OutPort("out", datatype="string", description="one string per substream"))

    def setup(self) -> None:
        """Read the separator from conf."""
        self.separator = self.options({"separator": ","}, "separator", text=True)["separator"]
        if not isinstance(self.separator, str):
            raise ValueError(f"{self.node_id}: separator must be a string, not {self.separator!r}")

    def new_state(self) -> list[str]:
        """An empty list of parts."""
        return []

    def add(self, state: list[str], value: Any) -> None:
        """Add the value, as text, to the parts."""
        state.append(render(value))

    def finish(self, state: list[str], empty: bool) -> list[str]:
        """The parts joined by the separator."""
        return [self.separator.join(state)]
