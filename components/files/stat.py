"""files/Stat."""

import os
import stat
from datetime import UTC, datetime

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import file_path, opened_as


class Stat(Transform):
    """Sends facts about each path on `in`: {path, exists, is_file, is_dir, size, modified}.

    A path that does not exist is not an error: it gives {"path": ..., "exists": false}.
    `modified` is ISO 8601 in UTC. A path that cannot be examined (permissions) goes to
    `error` as {message, input}. Brackets on `in` pass through.
    """

    icon = "info-circle"
    reaches = ("files",)
    inports = InPorts(InPort("in", datatype="string", description="paths"))
    outports = OutPorts(
        OutPort(
            "out", datatype="object", description="{path, exists, is_file, is_dir, size, modified}"
        ),
        OutPort("error", datatype="object", description="{message, input}"),
    )

    ends_with_out = False  # what cannot be examined still goes to `error`

    def transform(self, value: object) -> dict:
        """The path's facts; a missing path is {path, exists: false}, not an error."""
        path = file_path(value)
        try:
            info = os.stat(self.path(path))
        except FileNotFoundError:
            return {"path": path, "exists": False}
        except OSError as exc:
            raise BadInput(f"cannot stat {opened_as(self, path)}: {exc.strerror or exc}") from None
        modified = datetime.fromtimestamp(info.st_mtime, UTC).isoformat()
        return {
            "path": path,
            "exists": True,
            "is_file": stat.S_ISREG(info.st_mode),
            "is_dir": stat.S_ISDIR(info.st_mode),
            "size": info.st_size,
            "modified": modified,
        }
