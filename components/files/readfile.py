"""files/ReadFile."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import opened_as, reject


class ReadFile(Component):
    """Reads each file named on `in` and sends its whole text as one data IP.

    Text is UTF-8 (bytes that are not become U+FFFD). For large files use files/ReadLines,
    which streams. A file that cannot be read goes to `error` as {message, input} (or fails
    the process when `error` is not connected). Brackets on `in` pass through.
    """

    icon = "file-o"
    reaches = ("files",)
    inports = InPorts(InPort("in", datatype="string", description="paths of files to read"))
    outports = OutPorts(
        OutPort("out", datatype="string", description="the text of each file"),
        OutPort("error", datatype="object", description="{message, input} for a file that "
                "cannot be read"),
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
                with open(self.path(path), encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                reject(self, f"cannot read {opened_as(self, path)}: {exc.strerror or exc}",
                       path)
                continue
            out.send_data(text)
