"""Parsing the .fbp flow language into noflo's JSON graph format, as the npm ``fbp`` parser does.

Hand-written recursive descent that makes the reference PEG's choices in the same order, so
real files parse the same; errors at the furthest position any alternative reached. The
behaviours that follow and the deliberate differences: docs/architecture.md ("Graph formats").
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from .fbp_json import JsonValues, js_number
from .fbp_peg import FAIL, NEWLINES, Fail, FbpSyntaxError, NotIn, location

__all__ = ["FbpSyntaxError", "parse"]


def parse(text: str, filename: str = "<string>", case_sensitive: bool = False) -> dict[str, Any]:
    """Parse .fbp source into the noflo JSON graph dict the reference parser produces.

    With ``case_sensitive`` false (the default, like the reference's option) port names
    and exported port names are lower-cased; process names always keep their case.
    Raises FbpSyntaxError for invalid syntax and for graphs the reference rejects
    (a process without a component, a connection or export to an undeclared process).
    """
    return _Parser(text, filename, case_sensitive).parse()


# --------------------------------------------------------------------------- lexemes

_LETTERS = string.ascii_letters
_DIGITS = string.digits
_NAME_START = frozenset(_LETTERS + "_")
_NODE_CHARS = frozenset(_LETTERS + _DIGITS + "_-")
_PORT_CHARS = frozenset(_LETTERS + _DIGITS + "._")
_COMPONENT_CHARS = frozenset(_LETTERS + _DIGITS + "/-_")
_META_CHARS = frozenset(_LETTERS + _DIGITS + "/=_,")
_ANNOTATION_KEY_CHARS = frozenset(_LETTERS + _DIGITS + "-_")
_ANNOTATION_VALUE_CHARS = _ANNOTATION_KEY_CHARS | frozenset(" .")
_DIGIT_SET = frozenset(_DIGITS)
_ANY_BUT_NEWLINE = NotIn(NEWLINES)
_ANY_BUT_QUOTE = NotIn("'")

_NO_INDEX = object()  # a port written without [index]

_JS_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def _js_parse_float(text: str) -> int | float | None:
    """JavaScript's parseFloat: the longest numeric prefix, NaN (None) if there is none.
    The reference applies it to ``x`` and ``y`` node metadata."""
    match = _JS_FLOAT_PREFIX.match(text)
    if not match or "Infinity" in match.group():
        return None
    return js_number(float(match.group()))


# ---------------------------------------------------------------------------- parser


class _Parser(JsonValues):
    """One parse of one source text: the .fbp statement rules, with the reference's
    alternatives in the reference's order. Terminals and failure bookkeeping come from
    Matcher (fbp_peg), the rules for JSON IIPs from JsonValues (fbp_json)."""

    def __init__(self, text: str, filename: str, case_sensitive: bool) -> None:
        super().__init__(text, filename)
        self.case_sensitive = case_sensitive
        self.default_inport = "IN"
        self.default_outport = "OUT"
        self.processes: dict[str, dict[str, Any]] = {}
        self.mentioned: dict[str, int] = {}  # process name -> first offset, for errors
        self.anonymous_names: dict[int, str] = {}
        self.anonymous_counts: dict[str, int] = {}
        self.inports: dict[str, dict[str, Any]] = {}
        self.outports: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, Any] | None = None
        self.fragments: list[dict[str, Any]] = []

    # --- entry point and result

    def parse(self) -> dict[str, Any]:
        while self.line():
            pass
        if self.pos < len(self.text):
            self.fail(self.pos, "end of input")
            raise self.syntax_error()
        result: dict[str, Any] = {
            "inports": self.inports,
            "outports": self.outports,
            "groups": [],
            "processes": self.processes,
            "connections": self.pair_fragments(),
        }
        if self.properties is not None:
            result["properties"] = self.properties
        result["caseSensitive"] = self.case_sensitive
        self.validate(result)
        return result

    def pair_fragments(self) -> list[dict[str, Any]]:
        """Turn the flat stream of connection ends into connections, as the reference does:
        a source (``src`` or ``data``) immediately followed by a ``tgt`` is a connection;
        anything else (such as the ``tgt`` of a bare declaration) is dropped."""
        frags, connections, i = self.fragments, [], 1
        while i < len(frags):
            before, current = frags[i - 1], frags[i]
            if ("src" in before or "data" in before) and "tgt" in current:
                before["tgt"] = current["tgt"]
                connections.append(before)
                i += 2
            else:
                i += 1
        return connections

    def validate(self, graph: dict[str, Any]) -> None:
        """Reject graphs that refer to processes never declared with a component,
        checking in the reference's order so the first problem reported is the same."""
        for name, process in graph["processes"].items():
            if not process.get("component"):
                self.semantic_error(
                    name,
                    f'expected a component for process "{name}", as in '
                    f"{name}(Component), found none",
                )
        for kind, ports in (("inport", graph["inports"]), ("outport", graph["outports"])):
            for public, port in ports.items():
                self.require_declared(port["process"], f'exported as {kind} "{public}"')
        for conn in graph["connections"]:
            self.require_declared(conn["tgt"]["process"], "target of a connection")
            if "src" in conn:
                self.require_declared(conn["src"]["process"], "source of a connection")

    def require_declared(self, name: str, role: str) -> None:
        if name not in self.processes:
            self.semantic_error(
                name,
                f'expected process "{name}" ({role}) to be declared with a component, '
                f"as in {name}(Component), found none",
            )

    def semantic_error(self, name: str, detail: str) -> None:
        line, column = location(self.text, self.mentioned.get(name, 0))
        raise FbpSyntaxError(detail, self.filename, line, column)

    # --- whitespace

    def spaces(self) -> str:
        """The grammar's optional whitespace: spaces only, never tabs."""
        return self.many(" ", "space")

    def some_spaces(self) -> str | Fail:
        return self.some(" ", "space")

    def newline(self) -> str | Fail:
        return self.char(NEWLINES, "newline")

    # --- lines

    def line(self) -> bool:
        """One statement; the alternatives are tried in the reference's order."""
        start = self.pos
        alternative: Callable[[], bool]
        for alternative in (
            lambda: self.export_line("INPORT=", self.inports),
            lambda: self.export_line("OUTPORT=", self.outports),
            lambda: self.default_port_line("DEFAULT_INPORT="),
            lambda: self.default_port_line("DEFAULT_OUTPORT="),
            self.annotation_line,
            self.comment_line,
            self.blank_line,
            self.connection_line,
        ):
            if alternative():
                return True
            self.pos = start
        return False

    def export_line(self, keyword: str, exports: dict[str, dict[str, Any]]) -> bool:
        """``INPORT=node.PORT:PUBLIC`` (no port index: the grammar has none here)."""
        self.spaces()
        if self.literal(keyword) is FAIL:
            return False
        node = self.node()
        if node is FAIL or self.literal(".") is FAIL:
            return False
        port = self.port_name()
        if port is FAIL or self.literal(":") is FAIL:
            return False
        public = self.port_name()
        if public is FAIL:
            return False
        self.spaces()
        self.line_terminator()
        if not self.case_sensitive:
            public, port = public.lower(), port.lower()
        exports[public] = {"process": node, "port": port}
        return True

    def default_port_line(self, keyword: str) -> bool:
        self.spaces()
        if self.literal(keyword) is FAIL:
            return False
        name = self.port_name()
        if name is FAIL:
            return False
        self.spaces()
        self.line_terminator()
        if keyword == "DEFAULT_INPORT=":
            self.default_inport = name
        else:
            self.default_outport = name
        return True

    def annotation_line(self) -> bool:
        """``# @key value`` followed by a line break; ``@runtime`` sets the environment."""
        if self.literal("#") is FAIL or self.some_spaces() is FAIL:
            return False
        if self.literal("@") is FAIL:
            return False
        key = self.some(_ANNOTATION_KEY_CHARS, "annotation name")
        if key is FAIL or self.some_spaces() is FAIL:
            return False
        value = self.some(_ANNOTATION_VALUE_CHARS, "annotation value")
        if value is FAIL or self.newline() is FAIL:
            return False
        if self.properties is None:
            self.properties = {}
        if key == "runtime":
            self.properties["environment"] = {"type": value}
        else:
            self.properties[key] = value
        return True

    def comment_line(self) -> bool:
        if self.comment() is FAIL:
            return False
        self.optional(self.newline)
        return True

    def blank_line(self) -> bool:
        self.spaces()
        return self.newline() is not FAIL

    def connection_line(self) -> bool:
        self.spaces()
        fragments = self.connection()
        if fragments is FAIL:
            return False
        self.spaces()
        self.line_terminator()
        self.fragments.extend(fragments)
        return True

    def line_terminator(self) -> None:
        """What may end a statement: spaces, a comma, a comment, one line break."""
        self.spaces()
        self.optional(lambda: self.literal(","))
        self.optional(self.comment)
        self.optional(self.newline)

    def comment(self) -> str | Fail:
        start = self.pos
        self.spaces()
        if self.literal("#") is FAIL:
            self.pos = start
            return FAIL
        return self.many(_ANY_BUT_NEWLINE, "any character")

    # --- connections

    def connection(self) -> list[dict[str, Any]] | Fail:
        """``source -> source -> ... -> destination``, as a flat list of connection ends.

        The grammar is right-recursive (``source -> connection / destination``); this loop
        makes the same attempts without recursion: when no destination can end the chain
        at some step, the previous step is re-read as the destination instead.
        """
        origin = self.pos
        starts: list[int] = []
        sources: list[list[dict[str, Any]]] = []
        while True:
            start = self.pos
            source = self.source()
            if source is not FAIL:
                self.spaces()
                if self.literal("->") is not FAIL:
                    self.spaces()
                    starts.append(start)
                    sources.append(source)
                    continue
            self.pos = start
            while True:
                destination = self.destination()
                if destination is not FAIL:
                    return [end for source in sources for end in source] + destination
                if not starts:
                    self.pos = origin
                    return FAIL
                self.pos = starts.pop()
                sources.pop()

    def source(self) -> list[dict[str, Any]] | Fail:
        for rule in (self.bridge, self.outport, self.iip):
            value = rule()
            if value is not FAIL:
                return value
        return FAIL

    def destination(self) -> list[dict[str, Any]] | Fail:
        for rule in (self.inport, self.bridge):
            value = rule()
            if value is not FAIL:
                return value
        return FAIL

    def bridge(self) -> list[dict[str, Any]] | Fail:
        """A process in the middle of a chain: ``IN node OUT``; either port may be left
        out when the process is declared there, ``IN node(Comp)`` or ``node(Comp) OUT``."""
        start = self.pos
        inport = self.port_then_spaces()
        if inport is not FAIL:
            node = self.node()
            if node is not FAIL:
                outport = self.spaces_then_port()
                if outport is not FAIL:
                    return self.bridge_ends(node, inport, outport)
        self.pos = start
        optional_inport = self.optional(self.port_then_spaces)
        node = self.node_with_component()
        if node is FAIL:
            self.pos = start
            return FAIL
        optional_outport = self.optional(self.spaces_then_port)
        return self.bridge_ends(node, optional_inport, optional_outport)

    def bridge_ends(
        self, node: str, inport: tuple[str, Any] | None, outport: tuple[str, Any] | None
    ) -> list[dict[str, Any]]:
        return [
            {"tgt": self.make_port(node, inport, self.default_inport)},
            {"src": self.make_port(node, outport, self.default_outport)},
        ]

    def outport(self) -> list[dict[str, Any]] | Fail:
        node = self.node()
        if node is FAIL:
            return FAIL
        port = self.optional(self.spaces_then_port)
        return [{"src": self.make_port(node, port, self.default_outport)}]

    def inport(self) -> list[dict[str, Any]] | Fail:
        start = self.pos
        port = self.optional(self.port_then_spaces)
        node = self.node()
        if node is FAIL:
            self.pos = start
            return FAIL
        return [{"tgt": self.make_port(node, port, self.default_inport)}]

    def make_port(self, node: str, port: tuple[str, Any] | None, default: str) -> dict[str, Any]:
        if not self.case_sensitive:
            default = default.lower()
        ref: dict[str, Any] = {"process": node, "port": port[0] if port else default}
        if port and port[1] is not _NO_INDEX:
            ref["index"] = port[1]
        return ref

    # --- IIPs

    def iip(self) -> list[dict[str, Any]] | Fail:
        """``'text'`` (a backslash before a quote escapes it; nothing else is an escape)
        or a JSON value."""
        start = self.pos
        if self.literal("'") is not FAIL:
            chars = []
            while True:
                before = self.pos
                if self.char("\\", '"\\\\"') is not FAIL:
                    if self.char("'", '"\'"') is not FAIL:
                        chars.append("'")
                        continue
                    self.pos = before
                char = self.char(_ANY_BUT_QUOTE, "any character")
                if char is FAIL:
                    break
                chars.append(char)
            if self.literal("'") is not FAIL:
                return [{"data": "".join(chars)}]
            self.pos = start
        try:
            value = self.json_text()
        except RecursionError:
            line, column = location(self.text, start)
            raise FbpSyntaxError(
                "expected JSON nested less deeply, found deeper nesting",
                self.filename,
                line,
                column,
            ) from None
        return FAIL if value is FAIL else [{"data": value}]

    # --- processes and ports

    def node(self) -> str | Fail:
        """A process reference: ``name(Component)``, ``name`` or ``(Component)``."""
        start = self.pos
        name = self.node_name()
        if name is not FAIL:
            component = self.component()
            if component is not FAIL:
                self.add_process(name, component)
                return name
            self.pos = start
        name = self.node_name()
        if name is not FAIL:
            return name
        return self.anonymous_node()

    def node_with_component(self) -> str | Fail:
        start = self.pos
        name = self.node_name()
        if name is not FAIL:
            component = self.component()
            if component is not FAIL:
                self.add_process(name, component)
                return name
            self.pos = start
        return self.anonymous_node()

    def node_name(self) -> str | Fail:
        start = self.pos
        first = self.char(_NAME_START, "process name")
        if first is FAIL:
            return FAIL
        name = first + self.many(_NODE_CHARS, "process name character")
        self.mentioned.setdefault(name, start)
        return name

    def anonymous_node(self) -> str | Fail:
        """``(Component)``: named ``_Component_N`` after its component, once per place."""
        start = self.pos
        component = self.component()
        if component is FAIL:
            return FAIL
        if start not in self.anonymous_names:
            base = re.sub(r"[^a-zA-Z0-9]+", "_", component[0], count=1)
            self.anonymous_counts[base] = self.anonymous_counts.get(base, 0) + 1
            name = f"_{base}_{self.anonymous_counts[base]}"
            self.anonymous_names[start] = name
            self.mentioned.setdefault(name, start)
            self.add_process(name, component)
        return self.anonymous_names[start]

    def component(self) -> tuple[str, list[str] | None] | Fail:
        """``(Component)`` or ``(Component:key=value,route)``."""
        start = self.pos
        if self.literal("(") is FAIL:
            return FAIL
        name = self.many(_COMPONENT_CHARS, "component name character")
        meta: str | None = None
        before_meta = self.pos
        if self.literal(":") is not FAIL:
            items = self.some(_META_CHARS, "metadata character")
            if items is FAIL:
                self.pos = before_meta
            else:
                meta = items
        if self.literal(")") is FAIL:
            self.pos = start
            return FAIL
        return name, (meta.split(",") if meta is not None else None)

    def add_process(self, name: str, component: tuple[str, list[str] | None]) -> None:
        """Declare or redeclare a process; the latest component and metadata win.
        A metadata item without ``=`` is a route; ``x`` and ``y`` are numbers."""
        process = self.processes.setdefault(name, {})
        comp, meta = component
        if comp:
            process["component"] = comp
        if meta is not None:
            metadata: dict[str, Any] = {}
            for item in meta:
                parts = item.split("=")
                key, value = ("routes", parts[0]) if len(parts) == 1 else parts[:2]
                metadata[key] = _js_parse_float(value) if key in ("x", "y") else value
            process["metadata"] = metadata

    def port_name(self) -> str | Fail:
        first = self.char(_NAME_START, "port name")
        if first is FAIL:
            return FAIL
        return first + self.many(_PORT_CHARS, "port name character")

    def port(self) -> tuple[str, Any] | Fail:
        """``NAME`` or ``NAME[index]``, as (name, index or _NO_INDEX)."""
        name = self.port_name()
        if name is FAIL:
            return FAIL
        index: Any = _NO_INDEX
        start = self.pos
        if self.literal("[") is not FAIL:
            digits = self.some(_DIGIT_SET, "digit")
            if digits is not FAIL and self.literal("]") is not FAIL:
                index = js_number(float(digits))
            else:
                self.pos = start
        return (name if self.case_sensitive else name.lower()), index

    def port_then_spaces(self) -> tuple[str, Any] | Fail:
        start = self.pos
        port = self.port()
        if port is FAIL or self.some_spaces() is FAIL:
            self.pos = start
            return FAIL
        return port

    def spaces_then_port(self) -> tuple[str, Any] | Fail:
        start = self.pos
        if self.some_spaces() is FAIL:
            return FAIL
        port = self.port()
        if port is FAIL:
            self.pos = start
        return port
