"""files/WriteLines."""

import os

from flowpy import Component, EndOfStream, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import flag, opened_as, render


class WriteLines(Component):
    """Writes every data IP on `in` to the file named by `conf`, one per line, replacing
    what the file held (running a graph twice gives the same file), and sends the path on
    `out` when `in` ends.

    conf: the path (a string), or {"path": ..., "append": true} to add to the end of the
    file instead of replacing it. Missing parent folders are created. Strings are written as they
    are, other values as compact JSON; brackets are not written. Lines are flushed as they
    come in batches, so memory stays bounded. A file that cannot be written fails the
    process with a clear message.
    """

    icon = "pencil-square-o"
    reaches = ("files",)
    inports = InPorts(
        InPort(
            "conf", description="path, or {path, append} (append: false by default)", required=True
        ),
        InPort("in", description="lines to write"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the path, once `in` has ended")
    )

    def run(self) -> None:
        """Write each data IP of `in` as a line of the file from conf, then send its path."""
        conf = self.options({"path": None, "append": False}, "path", text=True)
        path = conf["path"]
        if not isinstance(path, str) or not path:
            raise ValueError(
                f"{self.node_id}: conf needs a path (a non-empty string), got {path!r}"
            )
        target = self.path(path)
        folder = os.path.dirname(target)
        mode = "a" if flag(conf["append"], "append") else "w"
        try:
            if folder:
                os.makedirs(folder, exist_ok=True)
            handle = open(target, mode, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot write {opened_as(self, path)}: {exc.strerror or exc}"
            ) from None
        inport = self.inports["in"]
        with handle:
            if inport.is_connected:
                while True:
                    try:
                        batch = inport.recv_many()
                    except EndOfStream:  # (a stop ends the stream too): what came is written
                        break
                    handle.write("".join(render(ip.data) + "\n" for ip in batch if ip.is_data))
                    handle.flush()
        self.outports["out"].send_data(path)
