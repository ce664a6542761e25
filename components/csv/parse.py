"""csv/Parse and csv/Format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from flowpy import BadInput, Component, InPort, InPorts, OutPort, OutPorts, reject
from flowpy_components._support.base import flag, number, short


def _one_char(value: Any, what: str, node: str) -> str:
    if value == "\\t":
        value = "\t"
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"{node}: {what} must be one character, not {value!r}")
    return value


class _Sheet:
    """The parsing state of one substream: its header and a record split across lines."""

    __slots__ = ("header", "pending", "row")

    def __init__(self, header: list[str] | None) -> None:
        self.header = header
        self.pending = ""
        self.row = 0


class Parse(Component):
    """Parses CSV from `in`, given as lines (one data IP per line, as files/ReadLines sends)
    or as whole texts, and sends one object per row, keyed by the header.

    conf: {"delimiter": ",", "quote": "\\"", "header": true, "numbers": false}, or just the
    delimiter. header true: the first row of each bracketed substream (each file from
    files/ReadLines), or of the whole stream, is the header; false: rows are sent as lists;
    a list of names: those are the keys and every row is data. numbers: true turns fields
    that look like numbers into numbers. Quoted fields may span lines. Empty lines are
    skipped. A row shorter than the header gets null for the missing fields; a longer one,
    a record still open when its substream ends, or a value that is not text goes to `error`
    as {message, input}, or fails the process when `error` is not connected. Brackets pass
    through.
    """

    icon = "table"
    inports = InPorts(
        InPort("in", datatype="string", description="CSV lines or texts"),
        InPort("conf", description="{delimiter, quote, header, numbers}, or the delimiter"),
    )
    outports = OutPorts(
        OutPort("out", description="one object per row (a list with header false)"),
        OutPort("error", datatype="object", description="{message, input} for a bad row"),
    )

    def run(self) -> None:
        """Read the options, then parse the lines of `in`, one table per bracket level."""
        options = self.options(
            {"delimiter": ",", "quote": '"', "header": True, "numbers": False}, scalar="delimiter"
        )
        self.delimiter = _one_char(options["delimiter"], "delimiter", self.node_id)
        self.quote = _one_char(options["quote"], "quote", self.node_id)
        header = options["header"]
        if isinstance(header, list):
            if not all(isinstance(name, str) for name in header):
                raise ValueError(f"{self.node_id}: header names must be strings")
            self.names: list[str] | None = header
            self.use_header = False
        else:
            self.names = None
            self.use_header = flag(header, "header")
        self.numbers = flag(options["numbers"], "numbers")
        out = self.outports["out"]
        sheets = [_Sheet(self.names)]
        for ip in self.inports["in"]:
            if ip.is_data:
                self._text(sheets[-1], ip.data)
            elif ip.is_open:
                sheets.append(_Sheet(self.names))
                out.send(ip)
            else:
                if len(sheets) > 1:
                    self._end(sheets.pop())
                out.send(ip)
        while sheets:
            self._end(sheets.pop())

    def _text(self, sheet: _Sheet, value: Any) -> None:
        if not isinstance(value, str):
            reject(self, f"csv/Parse wants text, not {short(value)}", value)
            return
        sheet.pending += value if value.endswith("\n") else value + "\n"
        if sheet.pending.count(self.quote) % 2:
            return  # a quoted field goes on on the next line
        text, sheet.pending = sheet.pending, ""
        try:
            rows = list(
                csv.reader(
                    io.StringIO(text), delimiter=self.delimiter, quotechar=self.quote, strict=True
                )
            )
        except csv.Error as exc:
            reject(self, f"bad CSV ({exc}): {short(text)}", text)
            return
        for row in rows:
            if row:
                self._row(sheet, row, text)

    def _row(self, sheet: _Sheet, row: list[str], text: str) -> None:
        sheet.row += 1
        if sheet.header is None and self.use_header:
            sheet.header = row
            return
        values: list[Any] = [self._field(v) for v in row] if self.numbers else row
        if sheet.header is None:
            self.outports["out"].send_data(values)
            return
        if len(values) > len(sheet.header):
            reject(
                self,
                f"row {sheet.row} has {len(values)} fields, the header "
                f"{len(sheet.header)}: {short(text)}",
                text,
            )
            return
        values += [None] * (len(sheet.header) - len(values))
        self.outports["out"].send_data(dict(zip(sheet.header, values, strict=True)))

    def _field(self, value: str) -> Any:
        try:
            return number(value)
        except BadInput:
            return value

    def _end(self, sheet: _Sheet) -> None:
        if sheet.pending:
            text, sheet.pending = sheet.pending, ""
            reject(self, f"a quoted field is not closed: {short(text)}", text)


class Format(Component):
    """Formats each object (or list) on `in` as one CSV line, without the newline, ready for
    files/WriteLines; a header line comes first in each bracketed substream (or the whole
    stream).

    conf: {"delimiter": ",", "header": true, "columns": [...]}, or just the delimiter.
    The columns are conf's, else the keys of the first object of the substream; a missing
    key gives an empty field and keys beyond the columns are left out. Lists are written as
    they are (no header for them). Null is an empty field; other non-string values are
    written as their JSON text. A value that is neither an object nor a list goes to
    `error` as {message, input}, or fails the process when `error` is not connected.
    Brackets pass through.
    """

    icon = "table"
    inports = InPorts(
        InPort("in", description="objects or lists"),
        InPort("conf", description="{delimiter, header, columns}, or the delimiter"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="CSV lines"),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not an object or a list",
        ),
    )

    def run(self) -> None:
        """Read the options, then send one CSV line per value (a header line first)."""
        options = self.options(
            {"delimiter": ",", "header": True, "columns": None}, scalar="delimiter"
        )
        delimiter = _one_char(options["delimiter"], "delimiter", self.node_id)
        header = flag(options["header"], "header")
        columns = options["columns"]
        if columns is not None and (
            not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
        ):
            raise ValueError(f"{self.node_id}: columns must be a list of names")
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="")

        def line(fields: list[Any]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(
                ["" if f is None else f if isinstance(f, str) else _json(f) for f in fields]
            )
            return buffer.getvalue()

        out = self.outports["out"]
        levels = [_Columns(columns)]
        for ip in self.inports["in"]:
            if ip.is_open:
                levels.append(_Columns(columns))
                out.send(ip)
            elif ip.is_close:
                if len(levels) > 1:
                    levels.pop()
                out.send(ip)
            elif isinstance(ip.data, Mapping):
                level = levels[-1]
                if level.names is None:
                    level.names = list(ip.data)
                if header and not level.headed:
                    level.headed = True
                    out.send_data(line(level.names))
                out.send_data(line([ip.data.get(name) for name in level.names]))
            elif isinstance(ip.data, (list, tuple)):
                out.send_data(line(list(ip.data)))
            else:
                reject(self, f"csv/Format wants an object or a list, not {short(ip.data)}", ip.data)


class _Columns:
    """The columns of one substream and whether its header line has been sent."""

    __slots__ = ("names", "headed")

    def __init__(self, names: list[str] | None) -> None:
        self.names = names
        self.headed = False


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
