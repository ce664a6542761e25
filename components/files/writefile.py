"""files/WriteFile."""

import os
from typing import Any

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import opened_as, render


class WriteFile(Transform):
    """Writes each data IP on `in` as the whole content of the file named by `conf`,
    replacing what was there, and sends the path on `out` after each write.

    conf: the path (a string), or {"path": ...}. Strings are written as they are, other
    values as compact JSON. The file is written to a temporary file beside it and renamed
    into place, so a reader never sees half of it. Missing parent folders are created. A
    write that fails goes to `error` as {message, input} (or fails the process when `error`
    is not connected). Brackets on `in` pass through to `out`.
    """

    icon = "floppy-o"
    reaches = ("files",)
    inports = InPorts(
        InPort("conf", description="path, or {path}", required=True),
        InPort("in", description="the text to write"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="the path, after each write"),
        OutPort("error", datatype="object", description="{message, input} for a failed write"),
    )

    ends_with_out = False  # `out` only tells of writes: the writing goes on without a reader

    def setup(self) -> None:
        """Read the target file's path from conf; without one the process fails at once."""
        path = self.options({"path": None}, "path", text=True)["path"]
        if not isinstance(path, str) or not path:
            raise ValueError(
                f"{self.node_id}: conf needs a path (a non-empty string), got {path!r}"
            )
        self.file = path

    def transform(self, value: Any) -> str:
        """Replace the file's content through a temporary file; the path goes on."""
        path = self.file
        target = self.path(path)
        temporary = f"{target}.{os.getpid()}.tmp"
        try:
            folder = os.path.dirname(target)
            if folder:
                os.makedirs(folder, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(render(value))
            os.replace(temporary, target)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise BadInput(f"cannot write {opened_as(self, path)}: {exc.strerror or exc}") from None
        return path
