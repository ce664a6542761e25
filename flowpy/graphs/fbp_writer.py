"""Writing noflo JSON graph dicts as .fbp text that reads back as the same dict.

The writer is the inverse of fbp_parser, so it writes the language as that parser (and the
reference) reads it: only names, ports and metadata the grammar can express, a bare
``true`` / ``false`` / ``null`` IIP behind a tab so it is not a process name, anonymous
processes as ``(Component)`` where their generated names cannot be written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

__all__ = ["serialize"]


_NODE_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_\-]*")
_PORT_NAME = re.compile(r"[a-zA-Z_][a-zA-Z.0-9_]*")
_COMPONENT_NAME = re.compile(r"[a-zA-Z/\-0-9_]+")
_META_WORD = re.compile(r"[a-zA-Z/_0-9]*")
_ANNOTATION_KEY = re.compile(r"[a-zA-Z0-9\-_]+")
_ANNOTATION_VALUE = re.compile(r"[a-zA-Z0-9\-_.][a-zA-Z0-9\-_ .]*")


def serialize(graph: Mapping[str, Any], *, strict: bool = False) -> str:
    """Write a noflo JSON graph dict as .fbp source.

    ``parse(serialize(d), case_sensitive=d["caseSensitive"])`` gives back ``d`` for any
    dict ``parse`` produces. Port names are written upper-case unless the graph is case
    sensitive. The structure of the graph (processes, components, connections and their
    order, IIP data, exported ports) must be expressible in the language or ValueError is
    raised. Descriptive extras the language cannot carry (edge and export metadata,
    groups, node metadata values other than plain words and non-negative whole ``x`` /
    ``y``, properties other than one-line words) are left out, or raise ValueError when
    ``strict`` is true.
    """
    return _Writer(graph, strict).write()


class _Writer:
    """Builds the .fbp text: annotations, exports, then one line per connection in order,
    each process declared with its component where it is first mentioned.

    Anonymous processes whose generated names cannot be written back as names
    (``(noflo-core/Repeat)`` becomes ``_noflo_core/Repeat_1``) are written anonymously
    again, which only works where they are mentioned once: such a process is declared as
    the target of its one incoming connection and its one outgoing connection continues
    that line as a chain (``'x' -> IN (a-b/C) OUT -> IN d``).
    """

    def __init__(self, graph: Mapping[str, Any], strict: bool) -> None:
        self.graph = graph
        self.strict = strict
        self.case_sensitive = bool(graph.get("caseSensitive", False))
        self.processes: Mapping[str, Mapping[str, Any]] = graph.get("processes") or {}
        self.declared: set[str] = set()
        self.anonymous_counts: dict[str, int] = {}

    def write(self) -> str:
        lines = self.annotation_lines()
        for keyword, key in (("INPORT", "inports"), ("OUTPORT", "outports")):
            for public, export in (self.graph.get(key) or {}).items():
                lines.append(self.export_line(keyword, public, export))
        if self.graph.get("groups"):
            self.drop("groups")
        if lines:
            lines.append("")
        open_chain: str | None = None  # anonymous process ending the last line
        for connection in self.graph.get("connections") or []:
            if connection.get("metadata"):
                self.drop("connection metadata")
            source = connection.get("src")
            target = connection.get("tgt")
            if not isinstance(target, Mapping) or not (
                "data" in connection or isinstance(source, Mapping)
            ):
                raise ValueError(f"not a connection or IIP: {connection!r}")
            if "data" in connection:
                line = self.iip(connection["data"])
            elif self.writable(source.get("process")) or source["process"] != open_chain:
                line = f"{self.mention(source.get('process'))} {self.port(source)}"
            else:
                line = lines.pop() + f" {self.port(source)}"
            lines.append(f"{line} -> {self.port(target)} {self.mention(target.get('process'))}")
            open_chain = None if self.writable(target["process"]) else target["process"]
        for name in self.processes:
            if name not in self.declared:
                lines.append(self.mention(name))
        return "".join(line + "\n" for line in lines)

    def drop(self, what: str) -> None:
        """Something descriptive that .fbp cannot express: leave it out unless strict."""
        if self.strict:
            raise ValueError(f".fbp cannot express {what}")

    def annotation_lines(self) -> list[str]:
        lines = []
        for key, value in (self.graph.get("properties") or {}).items():
            if key == "environment" and isinstance(value, Mapping):
                runtime = value.get("type")
                if isinstance(runtime, str) and _ANNOTATION_VALUE.fullmatch(runtime):
                    lines.append(f"# @runtime {runtime}")
                    if set(value) != {"type"}:
                        self.drop("environment properties other than type")
                    continue
            elif (
                key != "runtime"
                and _ANNOTATION_KEY.fullmatch(key)
                and isinstance(value, str)
                and _ANNOTATION_VALUE.fullmatch(value)
            ):
                lines.append(f"# @{key} {value}")
                continue
            self.drop(f"property {key!r} = {value!r}")
        return lines

    def export_line(self, keyword: str, public: str, export: Mapping[str, Any]) -> str:
        node = export.get("process")
        self.known(node)
        if not self.writable(node):
            raise ValueError(
                f"{keyword} {public!r}: process name {node!r} cannot be "
                "written in .fbp ([a-zA-Z_][a-zA-Z0-9_-]*)"
            )
        if export.get("index") is not None:
            raise ValueError(f"{keyword} {public!r}: .fbp cannot export an indexed port")
        if export.get("metadata"):
            self.drop(f"metadata of {keyword} {public!r}")
        return f"{keyword}={node}.{self.port_name(export.get('port'))}:{self.port_name(public)}"

    @staticmethod
    def writable(name: Any) -> TypeGuard[str]:
        return isinstance(name, str) and _NODE_NAME.fullmatch(name) is not None

    def known(self, name: Any) -> None:
        if name not in self.processes:
            raise ValueError(f"unknown process {name!r}")

    def mention(self, name: Any) -> str:
        """A process as written in a connection: with its component the first time."""
        self.known(name)
        if name in self.declared:
            if self.writable(name):
                return name
            raise ValueError(
                f"process {name!r} cannot be written as a name in .fbp and "
                "is mentioned more than once (once in and once out at most)"
            )
        process = self.processes[name]
        component = process.get("component")
        if not isinstance(component, str) or not _COMPONENT_NAME.fullmatch(component):
            raise ValueError(
                f"process {name!r}: component {component!r} is not a "
                ".fbp component name ([a-zA-Z0-9/_-]+)"
            )
        if not self.writable(name):
            self.check_anonymous_name(name, component)
        self.declared.add(name)
        items = [
            self.metadata_item(name, key, value)
            for key, value in (process.get("metadata") or {}).items()
        ]
        meta = ",".join(item for item in items if item is not None)
        written = name if self.writable(name) else ""
        return f"{written}({component}{':' + meta if meta else ''})"

    def check_anonymous_name(self, name: str, component: str) -> None:
        """``(Component)`` here must produce exactly ``name`` when parsed."""
        base = re.sub(r"[^a-zA-Z0-9]+", "_", component, count=1)
        count = self.anonymous_counts.get(base, 0) + 1
        if name != f"_{base}_{count}":
            raise ValueError(
                f"process name {name!r} cannot be written in .fbp ([a-zA-Z_][a-zA-Z0-9_-]*)"
            )
        self.anonymous_counts[base] = count

    def metadata_item(self, name: str, key: Any, value: Any) -> str | None:
        if isinstance(key, str) and _META_WORD.fullmatch(key):
            if key in ("x", "y"):
                if value is None:
                    return f"{key}="  # parses as NaN, which JSON writes as null
                if (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                    and value >= 0
                    and value == int(value)
                ):
                    return f"{key}={int(value)}"
            elif isinstance(value, str) and _META_WORD.fullmatch(value):
                return f"{key}={value}"
        self.drop(f"metadata {key!r}={value!r} of process {name!r}")
        return None

    def port_name(self, name: Any) -> str:
        if not isinstance(name, str) or not _PORT_NAME.fullmatch(name):
            raise ValueError(f".fbp port names are [a-zA-Z_][a-zA-Z0-9._]*, not {name!r}")
        return name if self.case_sensitive else name.upper()

    def port(self, ref: Mapping[str, Any]) -> str:
        """``PORT`` or ``PORT[index]``."""
        name = self.port_name(ref.get("port"))
        index = ref.get("index")
        if index is None:
            return name
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"port {name}: .fbp port indexes are whole numbers, not {index!r}")
        return f"{name}[{index}]"

    def iip(self, data: Any) -> str:
        """An IIP literal: ``'text'`` where it can be, JSON otherwise.

        A quoted string cannot end in a backslash (``\\'`` is an escaped quote) nor hold
        lone surrogates in a file, so those use a JSON string. A bare ``true`` would read
        as a process name; a tab before it (allowed only before JSON) keeps it a value.
        """
        if isinstance(data, str):
            if not data.endswith("\\") and _encodable(data):
                return "'" + data.replace("'", "\\'") + "'"
            return json.dumps(data, ensure_ascii=not _encodable(data))
        if data is None or isinstance(data, bool):
            return "\t" + json.dumps(data)
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"IIP {data!r} cannot be written as JSON: {err}") from None
        return text if _encodable(text) else json.dumps(data, allow_nan=False)


def _encodable(text: str) -> bool:
    """Whether text can be saved as UTF-8 (lone surrogates cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
