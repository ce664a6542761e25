"""files/Stat."""

import os
import stat
from datetime import UTC, datetime

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import opened_as, reject


class Stat(Component):
    """Sends facts about each path on `in`: {path, exists, is_file, is_dir, size, modified}.

    A path that does not exist is not an error: it gives {"path": ..., "exists": false}.
    `modified` is ISO 8601 in UTC. A path that cannot be examined (permissions) goes to
    `error` as {message, input}. Brackets on `in` pass through.
    """

    icon = "info-circle"
    reaches = ("files",)
    inports = InPorts(InPort("in", datatype="string", description="paths"))
    outports = OutPorts(
        OutPort("out", datatype="object",
                description="{path, exists, is_file, is_dir, size, modified}"),
        OutPort("error", datatype="object", description="{message, input}"),
    )

    def run(self) -> None:
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
                info = os.stat(self.path(path))
            except FileNotFoundError:
                out.send_data({"path": path, "exists": False})
                continue
            except OSError as exc:
                reject(self, f"cannot stat {opened_as(self, path)}: {exc.strerror or exc}",
                       path)
                continue
            modified = datetime.fromtimestamp(info.st_mtime, UTC).isoformat()
            out.send_data({
                "path": path, "exists": True, "is_file": stat.S_ISREG(info.st_mode),
                "is_dir": stat.S_ISDIR(info.st_mode), "size": info.st_size,
                "modified": modified,
            })
