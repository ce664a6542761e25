"""The line formats of the shell side: how a line of text becomes an IP and an IP a line.

One rule for every command that reads or writes lines (``run --stdin/--stdout``, ``send``,
``listen``), so one command's output is another's input. ``json`` (the default) keeps every
IP whole: a line of compact JSON each, brackets as ``{"begingroup": NAME}`` and
``{"endgroup": NAME}``, and a line that is not JSON read as its text. ``lines`` is plain
text: a line is a string, a string goes out as it is, other values as JSON, brackets left
out. docs/getting-started.md shows both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowpy.engine.ip import IP
from flowpy.wire import jsonpolicy

FORMATS = ("json", "lines")
DEFAULT_FORMAT = "json"
FORMAT_HELP = (
    "how lines are read and written: json (default; a line that is not JSON is "
    'read as text; brackets as {"begingroup": NAME} lines) or lines (plain text, '
    "brackets left out)"
)

_BRACKETS = {"begingroup": IP.open, "endgroup": IP.close}


def parse_line(line: str, fmt: str = DEFAULT_FORMAT) -> tuple[Any, bool]:
    """The value a line stands for, and whether it was taken as text because it is not JSON
    (under ``json``; under ``lines`` every line is text by design)."""
    if fmt == "lines":
        return line, False
    try:
        value, problem = jsonpolicy.parse(line)
    except jsonpolicy.JsonPolicyError:
        return line, True
    return (line, True) if problem else (value, False)


def value_of_line(line: str, fmt: str = DEFAULT_FORMAT) -> Any:
    """The value a line stands for: its JSON value, or the text itself."""
    return parse_line(line, fmt)[0]


def ip_of_line(line: str, fmt: str = DEFAULT_FORMAT) -> IP:
    """The IP one input line stands for under ``fmt`` (JSON value, or the text itself)."""
    return _ip_of_value(value_of_line(line, fmt), fmt)


class LineReader:
    """``ip_of_line`` for a stream of input lines that says once, through ``warn``, when a line
    under ``json`` is not JSON and so became a string: a typo in a JSON line would otherwise
    pass silently as text (and come out as ``null`` from a component expecting an object)."""

    def __init__(self, fmt: str, warn: Callable[[str], Any], source: str = "stdin") -> None:
        self.format, self.warn, self.source = fmt, warn, source
        self.count = 0
        self.warned = False

    def __call__(self, line: str) -> IP:
        """The IP of one line; warns once when a ``json`` line was not JSON and became text."""
        self.count += 1
        value, as_text = parse_line(line, self.format)
        if as_text and not self.warned:
            self.warned = True
            self.warn(
                f"{self.source} line {self.count} is not JSON, so it is read as a string: "
                f"{line[:60]!r} (--format lines reads every line as text; said once)"
            )
        return _ip_of_value(value, self.format)


def _ip_of_value(value: Any, fmt: str) -> IP:
    if fmt == "json" and isinstance(value, dict) and len(value) == 1:
        ((key, name),) = value.items()
        make = _BRACKETS.get(key)
        if make is not None:
            return make(name)
    return IP.make_data(value)


def line_of_ip(ip: IP, fmt: str = DEFAULT_FORMAT) -> str | None:
    """The line for ``ip``, or None when the format leaves it out."""
    if ip.is_data:
        if fmt == "lines" and isinstance(ip.data, str):
            return ip.data
        return jsonpolicy.encode(ip.data)
    if fmt == "lines":
        return None
    return jsonpolicy.encode({"begingroup" if ip.is_open else "endgroup": ip.data})
