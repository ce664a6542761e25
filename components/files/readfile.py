"""files/ReadFile."""

from flowpy import BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import file_path, opened_as


class ReadFile(Transform):
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
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a file that cannot be read",
        ),
    )

    ends_with_out = False  # what cannot be read still goes to `error`

    def transform(self, value: object) -> str:
        """The file's whole text (UTF-8, undecodable bytes replaced); BadInput if unreadable."""
        path = file_path(value)
        try:
            with open(self.path(path), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError as exc:
            raise BadInput(f"cannot read {opened_as(self, path)}: {exc.strerror or exc}") from None
