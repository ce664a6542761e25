"""files/ListDir."""

import os

from flowpy import IP, BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import file_path, flag, opened_as


class ListDir(Transform):
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
        OutPort(
            "out", datatype="string", description="entry paths, in a bracket named by the folder"
        ),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a folder that cannot be listed",
        ),
    )

    ends_with_out = False  # what cannot be listed still goes to `error`

    def setup(self) -> None:
        """Read the `hidden` option: whether names starting with a dot are listed."""
        self.hidden = flag(self.options({"hidden": False}, scalar="hidden")["hidden"], "hidden")

    def handle(self, value: object) -> None:
        """Send the folder's entries, sorted, inside a bracket named by the folder."""
        path = file_path(value)
        try:
            names = sorted(os.listdir(self.path(path)))
        except OSError as exc:
            raise BadInput(f"cannot list {opened_as(self, path)}: {exc.strerror or exc}") from None
        batch = [IP.open(path)]
        batch += [
            IP.make_data(os.path.join(path, name))
            for name in names
            if self.hidden or not name.startswith(".")
        ]
        batch.append(IP.close(path))
        self.outports["out"].send_many(batch)
