"""files/ReadLines."""

from flowpy import IP, BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy_components._support.base import file_path, opened_as

BATCH = 256


class ReadLines(Transform):
    """Reads each file named on `in` and sends its lines, without the newline, one data IP
    each, wrapped in a bracket named by the path.

    The file is streamed, never read whole: memory stays bounded however large it is, and a
    slow reader downstream slows the reading (back-pressure). Text is UTF-8 (bytes that are
    not become U+FFFD); `\\r\\n` and `\\r` line ends count as newlines. A file that cannot
    be opened goes to `error` as {message, input} (or fails the process when `error` is not
    connected). Brackets on `in` pass through.
    """

    icon = "file-text-o"
    reaches = ("files",)
    inports = InPorts(InPort("in", datatype="string", description="paths of files to read"))
    outports = OutPorts(
        OutPort(
            "out",
            datatype="string",
            description="the lines of each file, in a bracket named by its path",
        ),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a file that cannot be read",
        ),
    )

    ends_with_out = False  # what cannot be read still goes to `error`

    def handle(self, value: object) -> None:
        """Send the file's lines inside a bracket named by the path; BadInput if unreadable."""
        path = file_path(value)
        try:
            handle = open(self.path(path), encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            raise BadInput(f"cannot read {opened_as(self, path)}: {exc.strerror or exc}") from None
        out = self.outports["out"]
        with handle:
            out.send(IP.open(path))
            batch: list[IP] = []
            for line in handle:
                batch.append(IP.make_data(line[:-1] if line.endswith("\n") else line))
                if len(batch) >= BATCH:
                    out.send_many(batch)
                    batch = []
            batch.append(IP.close(path))
            out.send_many(batch)
