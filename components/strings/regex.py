"""strings/Regex: test, extract or filter strings by a regular expression."""

import re
from typing import Any

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts, reject
from flowpy_components._support.base import flag, short


def _extract(match: re.Match) -> Any:
    """Named groups as an object; else the one group; else every group; else the match."""
    named = match.groupdict()
    if named:
        return named
    groups = match.groups()
    if len(groups) == 1:
        return groups[0]
    return list(groups) if groups else match.group(0)


#: What each mode sends for a string: (to `out`?, the value) from the match (None: no match).
MODES = {
    "test": lambda text, match: (True, match is not None),
    "filter": lambda text, match: (match is not None, text),
    "extract": lambda text, match: (match is not None, None if match is None else _extract(match)),
    "all": lambda text, match: (True, None),  # every match: handled in run()
}


class Regex(Component):
    """Tests, extracts or filters each string on `in` by a regular expression (searched
    anywhere in the string; anchor it with ^ and $ for a whole match).

    conf: the pattern, or {"pattern": ..., "mode": "extract", "ignorecase": false}. Modes:
    "extract" sends, for a string that matches, the named groups as an object, else the
    one group, else the list of groups, else the matched text; "all" sends the list of
    every match (each as "extract" gives it); "filter" sends the strings that match;
    "test" sends true or false for every string. A string that does not match goes to
    `rejected` (if connected) in "extract" and "filter" modes. Python's `re` syntax. A
    value that is not a string goes to `error` as {message, input}, or fails the process
    when `error` is not connected. Brackets pass through.
    """

    icon = "code"
    inports = InPorts(
        InPort("in", datatype="string", description="strings"),
        InPort(
            "conf",
            datatype="string",
            description="pattern, or {pattern, mode, ignorecase}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort(
            "out", description="per mode: groups, matching strings, all matches, or true/false"
        ),
        OutPort(
            "rejected",
            datatype="string",
            description="strings that do not match (extract and filter)",
        ),
        OutPort(
            "error",
            datatype="object",
            description="{message, input} for a value that is not a string",
        ),
    )

    def run(self) -> None:
        """Compile the pattern and pick the mode from conf, then apply it to each string."""
        options = self.options(
            {"pattern": None, "mode": "extract", "ignorecase": False}, "pattern", text=True
        )
        pattern, mode = options["pattern"], options["mode"]
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(
                f"{self.node_id}: conf needs a pattern (a regular expression), got {pattern!r}"
            )
        if mode not in MODES:
            raise ValueError(
                f"{self.node_id}: unknown mode {mode!r} (known: {', '.join(sorted(MODES))})"
            )
        try:
            regex = re.compile(
                pattern, re.IGNORECASE if flag(options["ignorecase"], "ignorecase") else 0
            )
        except re.error as exc:
            raise ValueError(f"{self.node_id}: bad pattern {pattern!r}: {exc}") from None
        decide = MODES[mode]
        out, rejected = self.outports["out"], self.outports["rejected"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                if not out.send(ip):
                    return
                if rejected.is_connected:
                    rejected.send(ip)
                continue
            text = ip.data
            if not isinstance(text, str):
                reject(self, f"Regex wants a string, not {short(text)}", text)
                continue
            if mode == "all":
                sent = out.send(IP.make_data([_extract(m) for m in regex.finditer(text)]))
            else:
                passes, value = decide(text, regex.search(text))
                if not passes:
                    if rejected.is_connected:
                        rejected.send_data(text)
                    continue
                sent = out.send(IP.make_data(value))
            if not sent:
                return
