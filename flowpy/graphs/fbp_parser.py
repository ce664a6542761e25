"""The .fbp flow language: a parser and a writer for noflo's JSON graph format.

The language is the one defined by the npm ``fbp`` package, the reference parser. Its
grammar is a PEG: ordered choice, backtracking, and semantic actions that run as soon
as a rule matches. Several observable behaviours follow from that and are relied on by
real .fbp files, so this parser is a hand-written recursive-descent parser that makes
the same choices in the same order instead of a cleaner grammar that would differ at the
edges. For example:

* a "line" needs no line break: ``a(A) b(B)`` declares two processes;
* ``# @name Foo`` is an annotation only when a line break follows it (at the end of a
  file, or with characters outside ``[A-Za-z0-9_ .-]`` in the value, it is a comment);
* only spaces separate tokens (a tab is a syntax error), except around JSON IIPs;
* a bare ``true`` / ``false`` / ``null`` is a process name, not JSON;
* processes are created only when written with a component, ``name(Component)``;
  ``(Component)`` alone creates an anonymous process ``_Component_1``;
* ``DEFAULT_INPORT=NAME`` / ``DEFAULT_OUTPORT=NAME`` change the ports used when a
  connection omits one (initially ``IN`` and ``OUT``).

Errors are reported where the reference reports them: at the furthest position any
alternative reached, listing what would have been accepted there.

Known differences from the reference, all deliberate:

* columns count code points; the reference counts UTF-16 code units, so the two differ
  after a character outside the Basic Multilingual Plane on the same line;
* process names, component names and JSON object keys that collide with JavaScript
  ``Object.prototype`` members (``constructor``, ``toString``, ``__proto__``...) are
  ordinary names here; the reference loses or mangles them;
* JSON IIPs nested deeper than Python's recursion limit are rejected;
* error messages are worded in English rather than as PEG expectation lists.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from flowpy.errors import FlowpyError

__all__ = ["FbpSyntaxError", "parse", "serialize"]


class FbpSyntaxError(FlowpyError, ValueError):
    """A .fbp source that the language rejects, with the place to look at.

    ``line`` and ``column`` are 1-based; ``expected`` lists what would have been
    accepted there and ``found`` is the offending character (None at end of input).
    """

    def __init__(
        self,
        detail: str,
        filename: str,
        line: int,
        column: int,
        expected: tuple[str, ...] = (),
        found: str | None = None,
    ) -> None:
        super().__init__(f"{filename}:{line}:{column}: {detail}")
        self.filename = filename
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found


def parse(text: str, filename: str = "<string>", case_sensitive: bool = False) -> dict:
    """Parse .fbp source into the noflo JSON graph dict the reference parser produces.

    With ``case_sensitive`` false (the default, like the reference's option) port names
    and exported port names are lower-cased; process names always keep their case.
    Raises FbpSyntaxError for invalid syntax and for graphs the reference rejects
    (a process without a component, a connection or export to an undeclared process).
    """
    return _Parser(text, filename, case_sensitive).parse()


# --------------------------------------------------------------------------- lexemes


class _NotIn:
    """A character class given by what it excludes, usable with ``in``."""

    def __init__(self, chars: str) -> None:
        self.chars = chars

    def __contains__(self, char: object) -> bool:
        return char not in self.chars


_LETTERS = string.ascii_letters
_DIGITS = string.digits
_NEWLINES = "\n\r\u2028\u2029"
_NAME_START = frozenset(_LETTERS + "_")
_NODE_CHARS = frozenset(_LETTERS + _DIGITS + "_-")
_PORT_CHARS = frozenset(_LETTERS + _DIGITS + "._")
_COMPONENT_CHARS = frozenset(_LETTERS + _DIGITS + "/-_")
_META_CHARS = frozenset(_LETTERS + _DIGITS + "/=_,")
_ANNOTATION_KEY_CHARS = frozenset(_LETTERS + _DIGITS + "-_")
_ANNOTATION_VALUE_CHARS = _ANNOTATION_KEY_CHARS | frozenset(" .")
_DIGIT_SET = frozenset(_DIGITS)
_HEX_DIGITS = frozenset(_DIGITS + "abcdefABCDEF")
_JSON_WS = frozenset(" \t\n\r")
_JSON_UNESCAPED = _NotIn("".join(map(chr, range(0x20))) + '"\\')
_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                 "r": "\r", "t": "\t"}
_ANY_BUT_NEWLINE = _NotIn(_NEWLINES)
_ANY_BUT_QUOTE = _NotIn("'")

_FAIL: Any = object()  # "no match"; distinct from None, which is JSON null
_NO_INDEX = object()  # a port written without [index]

_JS_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def _js_number(value: float) -> int | float | None:
    """A JavaScript number as it comes back through JSON: NaN and infinities are null
    (JSON.stringify writes them as ``null``) and integral values below 1e21 are ints,
    written with the shortest digits that identify the double and then zeros, as
    JavaScript prints them (12345678901234567890 reads back as 12345678901234567000)."""
    if math.isnan(value) or math.isinf(value):
        return None
    if value.is_integer() and abs(value) < 1e21:
        return int(Decimal(repr(value)))
    return value


def _js_parse_float(text: str) -> int | float | None:
    """JavaScript's parseFloat: the longest numeric prefix, NaN (None) if there is none.
    The reference applies it to ``x`` and ``y`` node metadata."""
    match = _JS_FLOAT_PREFIX.match(text)
    if not match or "Infinity" in match.group():
        return None
    return _js_number(float(match.group()))


def _join_surrogates(text: str) -> str:
    r"""Combine ``\ud83d\ude00``-style escape pairs the way a JavaScript string would."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


_GROUPS = {
    "a JSON value": {'"["', '"{"', '"false"', '"null"', '"true"', "number", "string"},
    "INPORT=/OUTPORT=/DEFAULT_INPORT=/DEFAULT_OUTPORT=": {
        '"INPORT="', '"OUTPORT="', '"DEFAULT_INPORT="', '"DEFAULT_OUTPORT="'},
}


def _summarise(expected: set[str]) -> tuple[str, ...]:
    """Sorted expectations, with the long lists a statement start produces grouped."""
    items = set(expected)
    for name, group in _GROUPS.items():
        if group <= items:
            items = (items - group) | {name}
    return tuple(sorted(items))


def _location(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``pos``; CR LF, CR, LF, U+2028 and U+2029 end lines."""
    line, column, after_cr = 1, 1, False
    for char in text[:pos]:
        if char == "\n":
            if not after_cr:
                line += 1
            column, after_cr = 1, False
        elif char in "\r\u2028\u2029":
            line, column, after_cr = line + 1, 1, True
        else:
            column, after_cr = column + 1, False
    return line, column


# ---------------------------------------------------------------------------- parser


class _Parser:
    """One parse of one source text.

    Every rule method either matches, advancing ``pos`` and returning a value, or fails,
    leaving ``pos`` where it was and returning ``_FAIL``. Each failed attempt to match a
    character is remembered if it is the furthest so far, which is what error messages
    report (like the reference, attempts inside JSON strings, numbers and whitespace are
    summarised as "string" / "number").
    """

    def __init__(self, text: str, filename: str, case_sensitive: bool) -> None:
        self.text = text
        self.filename = filename
        self.case_sensitive = case_sensitive
        self.pos = 0
        self.silent = 0
        self.max_fail = 0
        self.expected: set[str] = set()
        self.default_inport = "IN"
        self.default_outport = "OUT"
        self.processes: dict[str, dict] = {}
        self.mentioned: dict[str, int] = {}  # process name -> first offset, for errors
        self.anonymous_names: dict[int, str] = {}
        self.anonymous_counts: dict[str, int] = {}
        self.inports: dict[str, dict] = {}
        self.outports: dict[str, dict] = {}
        self.properties: dict[str, Any] | None = None
        self.fragments: list[dict] = []

    # --- entry point and result

    def parse(self) -> dict:
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

    def pair_fragments(self) -> list[dict]:
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

    def validate(self, graph: dict) -> None:
        """Reject graphs that refer to processes never declared with a component,
        checking in the reference's order so the first problem reported is the same."""
        for name, process in graph["processes"].items():
            if not process.get("component"):
                self.semantic_error(
                    name, f'expected a component for process "{name}", as in '
                    f"{name}(Component), found none")
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
                name, f'expected process "{name}" ({role}) to be declared with a component, '
                f"as in {name}(Component), found none")

    def semantic_error(self, name: str, detail: str) -> None:
        line, column = _location(self.text, self.mentioned.get(name, 0))
        raise FbpSyntaxError(detail, self.filename, line, column)

    # --- failure bookkeeping and terminals

    def fail(self, pos: int, what: str) -> None:
        if self.silent or pos < self.max_fail:
            return
        if pos > self.max_fail:
            self.max_fail, self.expected = pos, set()
        self.expected.add(what)

    def syntax_error(self) -> FbpSyntaxError:
        pos = self.max_fail
        expected = _summarise(self.expected)
        found = self.text[pos] if pos < len(self.text) else None
        if len(expected) > 1:
            wanted = ", ".join(expected[:-1]) + " or " + expected[-1]
        else:
            wanted = expected[0] if expected else "nothing"
        shown = "end of input" if found is None else json.dumps(found)
        line_start = max(self.text.rfind(c, 0, pos) for c in _NEWLINES) + 1
        if "\t" in self.text[line_start:pos]:
            shown += " (a tab is not a separator in .fbp except around JSON values)"
        line, column = _location(self.text, pos)
        return FbpSyntaxError(
            f"expected {wanted}, found {shown}", self.filename, line, column, expected, found)

    def literal(self, word: str, what: str | None = None) -> str:
        if self.text.startswith(word, self.pos):
            self.pos += len(word)
            return word
        self.fail(self.pos, what or json.dumps(word))
        return _FAIL

    def char(self, chars: Any, what: str) -> str:
        pos = self.pos
        if pos < len(self.text) and self.text[pos] in chars:
            self.pos = pos + 1
            return self.text[pos]
        self.fail(pos, what)
        return _FAIL

    def many(self, chars: Any, what: str) -> str:
        """Zero or more characters of a class (the attempt that ends the run counts)."""
        start = end = self.pos
        while end < len(self.text) and self.text[end] in chars:
            end += 1
        self.fail(end, what)
        self.pos = end
        return self.text[start:end]

    def some(self, chars: Any, what: str) -> str:
        """One or more characters of a class."""
        first = self.char(chars, what)
        return _FAIL if first is _FAIL else first + self.many(chars, what)

    def spaces(self) -> str:
        """The grammar's optional whitespace: spaces only, never tabs."""
        return self.many(" ", "space")

    def some_spaces(self) -> str:
        return self.some(" ", "space")

    def newline(self) -> str:
        return self.char(_NEWLINES, "newline")

    def optional(self, rule: Callable[[], Any]) -> Any:
        """Run a rule, turning failure into None (rules already restore ``pos``)."""
        value = rule()
        return None if value is _FAIL else value

    # --- lines

    def line(self) -> bool:
        """One statement; the alternatives are tried in the reference's order."""
        start = self.pos
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

    def export_line(self, keyword: str, exports: dict[str, dict]) -> bool:
        """``INPORT=node.PORT:PUBLIC`` (no port index: the grammar has none here)."""
        self.spaces()
        if self.literal(keyword) is _FAIL:
            return False
        node = self.node()
        if node is _FAIL or self.literal(".") is _FAIL:
            return False
        port = self.port_name()
        if port is _FAIL or self.literal(":") is _FAIL:
            return False
        public = self.port_name()
        if public is _FAIL:
            return False
        self.spaces()
        self.line_terminator()
        if not self.case_sensitive:
            public, port = public.lower(), port.lower()
        exports[public] = {"process": node, "port": port}
        return True

    def default_port_line(self, keyword: str) -> bool:
        self.spaces()
        if self.literal(keyword) is _FAIL:
            return False
        name = self.port_name()
        if name is _FAIL:
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
        if self.literal("#") is _FAIL or self.some_spaces() is _FAIL:
            return False
        if self.literal("@") is _FAIL:
            return False
        key = self.some(_ANNOTATION_KEY_CHARS, "annotation name")
        if key is _FAIL or self.some_spaces() is _FAIL:
            return False
        value = self.some(_ANNOTATION_VALUE_CHARS, "annotation value")
        if value is _FAIL or self.newline() is _FAIL:
            return False
        if self.properties is None:
            self.properties = {}
        if key == "runtime":
            self.properties["environment"] = {"type": value}
        else:
            self.properties[key] = value
        return True

    def comment_line(self) -> bool:
        if self.comment() is _FAIL:
            return False
        self.optional(self.newline)
        return True

    def blank_line(self) -> bool:
        self.spaces()
        return self.newline() is not _FAIL

    def connection_line(self) -> bool:
        self.spaces()
        fragments = self.connection()
        if fragments is _FAIL:
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

    def comment(self) -> str:
        start = self.pos
        self.spaces()
        if self.literal("#") is _FAIL:
            self.pos = start
            return _FAIL
        return self.many(_ANY_BUT_NEWLINE, "any character")

    # --- connections

    def connection(self) -> list[dict]:
        """``source -> source -> ... -> destination``, as a flat list of connection ends.

        The grammar is right-recursive (``source -> connection / destination``); this loop
        makes the same attempts without recursion: when no destination can end the chain
        at some step, the previous step is re-read as the destination instead.
        """
        origin = self.pos
        starts: list[int] = []
        sources: list[list[dict]] = []
        while True:
            start = self.pos
            source = self.source()
            if source is not _FAIL:
                self.spaces()
                if self.literal("->") is not _FAIL:
                    self.spaces()
                    starts.append(start)
                    sources.append(source)
                    continue
            self.pos = start
            while True:
                destination = self.destination()
                if destination is not _FAIL:
                    return [end for source in sources for end in source] + destination
                if not starts:
                    self.pos = origin
                    return _FAIL
                self.pos = starts.pop()
                sources.pop()

    def source(self) -> list[dict]:
        for rule in (self.bridge, self.outport, self.iip):
            value = rule()
            if value is not _FAIL:
                return value
        return _FAIL

    def destination(self) -> list[dict]:
        for rule in (self.inport, self.bridge):
            value = rule()
            if value is not _FAIL:
                return value
        return _FAIL

    def bridge(self) -> list[dict]:
        """A process in the middle of a chain: ``IN node OUT``; either port may be left
        out when the process is declared there, ``IN node(Comp)`` or ``node(Comp) OUT``."""
        start = self.pos
        inport = self.port_then_spaces()
        if inport is not _FAIL:
            node = self.node()
            if node is not _FAIL:
                outport = self.spaces_then_port()
                if outport is not _FAIL:
                    return self.bridge_ends(node, inport, outport)
        self.pos = start
        inport = self.optional(self.port_then_spaces)
        node = self.node_with_component()
        if node is _FAIL:
            self.pos = start
            return _FAIL
        outport = self.optional(self.spaces_then_port)
        return self.bridge_ends(node, inport, outport)

    def bridge_ends(self, node: str, inport: Any, outport: Any) -> list[dict]:
        return [{"tgt": self.make_port(node, inport, self.default_inport)},
                {"src": self.make_port(node, outport, self.default_outport)}]

    def outport(self) -> list[dict]:
        node = self.node()
        if node is _FAIL:
            return _FAIL
        port = self.optional(self.spaces_then_port)
        return [{"src": self.make_port(node, port, self.default_outport)}]

    def inport(self) -> list[dict]:
        start = self.pos
        port = self.optional(self.port_then_spaces)
        node = self.node()
        if node is _FAIL:
            self.pos = start
            return _FAIL
        return [{"tgt": self.make_port(node, port, self.default_inport)}]

    def make_port(self, node: str, port: tuple[str, Any] | None, default: str) -> dict:
        if not self.case_sensitive:
            default = default.lower()
        ref: dict[str, Any] = {"process": node, "port": port[0] if port else default}
        if port and port[1] is not _NO_INDEX:
            ref["index"] = port[1]
        return ref

    # --- IIPs

    def iip(self) -> list[dict]:
        """``'text'`` (a backslash before a quote escapes it; nothing else is an escape)
        or a JSON value."""
        start = self.pos
        if self.literal("'") is not _FAIL:
            chars = []
            while True:
                before = self.pos
                if self.char("\\", '"\\\\"') is not _FAIL:
                    if self.char("'", '"\'"') is not _FAIL:
                        chars.append("'")
                        continue
                    self.pos = before
                char = self.char(_ANY_BUT_QUOTE, "any character")
                if char is _FAIL:
                    break
                chars.append(char)
            if self.literal("'") is not _FAIL:
                return [{"data": "".join(chars)}]
            self.pos = start
        try:
            value = self.json_text()
        except RecursionError:
            line, column = _location(self.text, start)
            raise FbpSyntaxError("expected JSON nested less deeply, found deeper nesting",
                                 self.filename, line, column) from None
        return _FAIL if value is _FAIL else [{"data": value}]

    # --- processes and ports

    def node(self) -> str:
        """A process reference: ``name(Component)``, ``name`` or ``(Component)``."""
        start = self.pos
        name = self.node_name()
        if name is not _FAIL:
            component = self.component()
            if component is not _FAIL:
                self.add_process(name, component)
                return name
            self.pos = start
        name = self.node_name()
        if name is not _FAIL:
            return name
        return self.anonymous_node()

    def node_with_component(self) -> str:
        start = self.pos
        name = self.node_name()
        if name is not _FAIL:
            component = self.component()
            if component is not _FAIL:
                self.add_process(name, component)
                return name
            self.pos = start
        return self.anonymous_node()

    def node_name(self) -> str:
        start = self.pos
        first = self.char(_NAME_START, "process name")
        if first is _FAIL:
            return _FAIL
        name = first + self.many(_NODE_CHARS, "process name character")
        self.mentioned.setdefault(name, start)
        return name

    def anonymous_node(self) -> str:
        """``(Component)``: named ``_Component_N`` after its component, once per place."""
        start = self.pos
        component = self.component()
        if component is _FAIL:
            return _FAIL
        if start not in self.anonymous_names:
            base = re.sub(r"[^a-zA-Z0-9]+", "_", component[0], count=1)
            self.anonymous_counts[base] = self.anonymous_counts.get(base, 0) + 1
            name = f"_{base}_{self.anonymous_counts[base]}"
            self.anonymous_names[start] = name
            self.mentioned.setdefault(name, start)
            self.add_process(name, component)
        return self.anonymous_names[start]

    def component(self) -> tuple[str, list[str] | None]:
        """``(Component)`` or ``(Component:key=value,route)``."""
        start = self.pos
        if self.literal("(") is _FAIL:
            return _FAIL
        name = self.many(_COMPONENT_CHARS, "component name character")
        meta = None
        before_meta = self.pos
        if self.literal(":") is not _FAIL:
            meta = self.some(_META_CHARS, "metadata character")
            if meta is _FAIL:
                meta = None
                self.pos = before_meta
        if self.literal(")") is _FAIL:
            self.pos = start
            return _FAIL
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

    def port_name(self) -> str:
        first = self.char(_NAME_START, "port name")
        if first is _FAIL:
            return _FAIL
        return first + self.many(_PORT_CHARS, "port name character")

    def port(self) -> tuple[str, Any]:
        """``NAME`` or ``NAME[index]``, as (name, index or _NO_INDEX)."""
        name = self.port_name()
        if name is _FAIL:
            return _FAIL
        index: Any = _NO_INDEX
        start = self.pos
        if self.literal("[") is not _FAIL:
            digits = self.some(_DIGIT_SET, "digit")
            if digits is not _FAIL and self.literal("]") is not _FAIL:
                index = _js_number(float(digits))
            else:
                self.pos = start
        return (name if self.case_sensitive else name.lower()), index

    def port_then_spaces(self) -> tuple[str, Any]:
        start = self.pos
        port = self.port()
        if port is _FAIL or self.some_spaces() is _FAIL:
            self.pos = start
            return _FAIL
        return port

    def spaces_then_port(self) -> tuple[str, Any]:
        start = self.pos
        if self.some_spaces() is _FAIL:
            return _FAIL
        port = self.port()
        if port is _FAIL:
            self.pos = start
        return port

    # --- JSON IIPs (RFC 7159, with whitespace allowed around the value)

    def json_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _JSON_WS:
            self.pos += 1

    def json_punctuation(self, char: str) -> bool:
        start = self.pos
        self.json_ws()
        if self.literal(char) is _FAIL:
            self.pos = start
            return False
        self.json_ws()
        return True

    def json_text(self) -> Any:
        start = self.pos
        self.json_ws()
        value = self.json_value()
        if value is _FAIL:
            self.pos = start
            return _FAIL
        self.json_ws()
        return value

    def json_value(self) -> Any:
        for word, value in (("false", False), ("null", None), ("true", True)):
            if self.literal(word) is not _FAIL:
                return value
        for rule in (self.json_object, self.json_array, self.json_number, self.json_string):
            value = rule()
            if value is not _FAIL:
                return value
        return _FAIL

    def json_object(self) -> Any:
        start = self.pos
        if not self.json_punctuation("{"):
            return _FAIL
        result: dict[str, Any] = {}
        member = self.json_member()
        if member is not _FAIL:
            result[member[0]] = member[1]
            while True:
                before = self.pos
                if not self.json_punctuation(","):
                    break
                member = self.json_member()
                if member is _FAIL:
                    self.pos = before
                    break
                result[member[0]] = member[1]
        if not self.json_punctuation("}"):
            self.pos = start
            return _FAIL
        return result

    def json_member(self) -> Any:
        start = self.pos
        name = self.json_string()
        if name is not _FAIL and self.json_punctuation(":"):
            value = self.json_value()
            if value is not _FAIL:
                return name, value
        self.pos = start
        return _FAIL

    def json_array(self) -> Any:
        start = self.pos
        if not self.json_punctuation("["):
            return _FAIL
        result: list[Any] = []
        value = self.json_value()
        if value is not _FAIL:
            result.append(value)
            while True:
                before = self.pos
                if not self.json_punctuation(","):
                    break
                value = self.json_value()
                if value is _FAIL:
                    self.pos = before
                    break
                result.append(value)
        if not self.json_punctuation("]"):
            self.pos = start
            return _FAIL
        return result

    def json_number(self) -> Any:
        start = self.pos
        self.silent += 1
        try:
            ok = self.json_number_text()
        finally:
            self.silent -= 1
        if not ok:
            self.pos = start
            self.fail(start, "number")
            return _FAIL
        return _js_number(float(self.text[start:self.pos]))

    def json_number_text(self) -> bool:
        self.optional(lambda: self.literal("-"))
        if self.literal("0") is _FAIL:
            if self.char("123456789", "digit") is _FAIL:
                return False
            self.many(_DIGIT_SET, "digit")
        before = self.pos
        if self.literal(".") is not _FAIL and self.some(_DIGIT_SET, "digit") is _FAIL:
            self.pos = before
        before = self.pos
        if self.char("eE", "exponent") is not _FAIL:
            self.optional(lambda: self.char("+-", "sign"))
            if self.some(_DIGIT_SET, "digit") is _FAIL:
                self.pos = before
        return True

    def json_string(self) -> Any:
        start = self.pos
        self.silent += 1
        try:
            value = self.json_string_body()
        finally:
            self.silent -= 1
        if value is _FAIL:
            self.pos = start
            self.fail(start, "string")
        return value

    def json_string_body(self) -> Any:
        if self.literal('"') is _FAIL:
            return _FAIL
        chars = []
        while True:
            char = self.char(_JSON_UNESCAPED, "character")
            if char is not _FAIL:
                chars.append(char)
                continue
            escaped = self.json_escape()
            if escaped is _FAIL:
                break
            chars.append(escaped)
        if self.literal('"') is _FAIL:
            return _FAIL
        return _join_surrogates("".join(chars))

    def json_escape(self) -> Any:
        start = self.pos
        if self.literal("\\") is _FAIL:
            return _FAIL
        char = self.char(_JSON_ESCAPES.keys() | {"u"}, "escape")
        if char is _FAIL:
            self.pos = start
            return _FAIL
        if char != "u":
            return _JSON_ESCAPES[char]
        digits = self.text[self.pos:self.pos + 4]
        if len(digits) == 4 and all(d in _HEX_DIGITS for d in digits):
            self.pos += 4
            return chr(int(digits, 16))
        self.pos = start
        return _FAIL


# ---------------------------------------------------------------------------- writer

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
                    "data" in connection or isinstance(source, Mapping)):
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
            elif (key != "runtime" and _ANNOTATION_KEY.fullmatch(key)
                    and isinstance(value, str) and _ANNOTATION_VALUE.fullmatch(value)):
                lines.append(f"# @{key} {value}")
                continue
            self.drop(f"property {key!r} = {value!r}")
        return lines

    def export_line(self, keyword: str, public: str, export: Mapping[str, Any]) -> str:
        node = export.get("process")
        self.known(node)
        if not self.writable(node):
            raise ValueError(f"{keyword} {public!r}: process name {node!r} cannot be "
                             "written in .fbp ([a-zA-Z_][a-zA-Z0-9_-]*)")
        if export.get("index") is not None:
            raise ValueError(f"{keyword} {public!r}: .fbp cannot export an indexed port")
        if export.get("metadata"):
            self.drop(f"metadata of {keyword} {public!r}")
        return f"{keyword}={node}.{self.port_name(export.get('port'))}:{self.port_name(public)}"

    @staticmethod
    def writable(name: Any) -> bool:
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
            raise ValueError(f"process {name!r} cannot be written as a name in .fbp and "
                             "is mentioned more than once (once in and once out at most)")
        process = self.processes[name]
        component = process.get("component")
        if not isinstance(component, str) or not _COMPONENT_NAME.fullmatch(component):
            raise ValueError(f"process {name!r}: component {component!r} is not a "
                             ".fbp component name ([a-zA-Z0-9/_-]+)")
        if not self.writable(name):
            self.check_anonymous_name(name, component)
        self.declared.add(name)
        items = [self.metadata_item(name, key, value)
                 for key, value in (process.get("metadata") or {}).items()]
        meta = ",".join(item for item in items if item is not None)
        written = name if self.writable(name) else ""
        return f"{written}({component}{':' + meta if meta else ''})"

    def check_anonymous_name(self, name: str, component: str) -> None:
        """``(Component)`` here must produce exactly ``name`` when parsed."""
        base = re.sub(r"[^a-zA-Z0-9]+", "_", component, count=1)
        count = self.anonymous_counts.get(base, 0) + 1
        if name != f"_{base}_{count}":
            raise ValueError(f"process name {name!r} cannot be written in .fbp "
                             "([a-zA-Z_][a-zA-Z0-9_-]*)")
        self.anonymous_counts[base] = count

    def metadata_item(self, name: str, key: Any, value: Any) -> str | None:
        if isinstance(key, str) and _META_WORD.fullmatch(key):
            if key in ("x", "y"):
                if value is None:
                    return f"{key}="  # parses as NaN, which JSON writes as null
                if (isinstance(value, int | float) and not isinstance(value, bool)
                        and math.isfinite(value) and value >= 0 and value == int(value)):
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
