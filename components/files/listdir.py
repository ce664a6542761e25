"""files/ListDir."""

import os

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import flag, opened_as, reject


class ListDir(Component):
    """Lists each folder named on `in`: the paths of its entries (the folder joined with each
    name), sorted by name, wrapped in a bracket named by the folder.

    Hidden entries (names starting with '.') are left out unless conf is {"hidden": true}.
    A folder that cannot be listed goes to `error` as {message, input} (or fails the process
    when `error` is not connected). Brackets on `in` pass through.
    """

    icon = "folder-open-o"
    reaches = ("files",)
    inports = InPorts(
        InPort("in", datatype="string", description="paths of folders to list"),
        InPort("conf", description="{hidden: false}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string",
                description="entry paths, in a bracket named by the folder"),
        OutPort("error", datatype="object", description="{message, input} for a folder that "
                "cannot be listed"),
    )

    def run(self) -> None:
        hidden = flag(self.options({"hidden": False}, scalar="hidden")["hidden"], "hidden")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                continue
            path = ip.data
            if not isinstance(path, str) or not path:
                reject(self, f"a path must be a non-empty string, not {path!r}", path)
                continue
            try:
                names = sorted(os.listdir(self.path(path)))
            except OSError as exc:
                reject(self, f"cannot list {opened_as(self, path)}: {exc.strerror or exc}",
                       path)
                continue
            batch = [IP.open(path)]
            batch += [IP.make_data(os.path.join(path, name)) for name in names
                      if hidden or not name.startswith(".")]
            batch.append(IP.close(path))
            out.send_many(batch)
