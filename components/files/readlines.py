"""files/ReadLines."""

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import opened_as, reject

BATCH = 256


class ReadLines(Component):
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
        OutPort("out", datatype="string",
                description="the lines of each file, in a bracket named by its path"),
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
                handle = open(self.path(path), encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError as exc:
                reject(self, f"cannot read {opened_as(self, path)}: {exc.strerror or exc}",
                       path)
                continue
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
