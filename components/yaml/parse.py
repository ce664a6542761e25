"""yaml/Parse and yaml/Format, through PyYAML's safe loader and dumper only.

The safe loader builds nothing but plain values (no tag can make a Python object, so a
document never runs code). What it builds is then made JSON-like, because IPs go over the
wire as JSON: dates and timestamps become ISO 8601 text, ``!!binary`` base64 text, sets
sorted lists, keys text, and NaN or infinity null (as JSON.stringify writes them). That walk
is also where aliases are paid for: an anchor used again is shared by the loader, cheap in
memory, but expands in the value that goes on. A "billion laughs" of aliases, or an anchor
that contains itself, is therefore refused while walking, not after.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from types import ModuleType
from typing import Any

from flowpy import (
    IP,
    BadInput,
    Component,
    InPort,
    InPorts,
    OutPort,
    OutPorts,
    Transform,
    reject,
)
from flowpy.errors import require_extra
from flowpy.wire.jsonpolicy import MAX_DEPTH
from flowpy_components._support.base import flag, positive_int, short

#: Values a document may expand to, per character of its text (aliases repeat anchors),
#: and at least: a document without aliases has fewer values than characters.
EXPANSION = 10
MIN_BUDGET = 10_000


def _pyyaml(component: Component) -> ModuleType:
    name = type(component).component_name or type(component).__name__
    return require_extra("yaml", "yaml", name, package="PyYAML")


class Parse(Component):
    """Parses each YAML text on `in` and sends the value (safe loading only: no tag builds
    an object). Values are JSON-like: dates and timestamps as ISO 8601 text, binary as
    base64 text, sets as sorted lists, keys as text, NaN and infinity as null.

    conf: {"all": false}: true sends every document of a text (`---` separated), inside
    one bracket per text; false wants exactly one document. Text that is not YAML, more
    documents than wanted, nesting deeper than 64 levels, or aliases that expand a document
    past 10 values per character of its text go to `error` (the failure shape of
    docs/graphs.md), or fail the process when `error` is not connected; the stream goes
    on. Brackets pass through. Needs PyYAML: pip install 'flowpy-fbp[yaml]'.
    """

    icon = "file-text-o"
    inports = InPorts(
        InPort("in", datatype="string", description="YAML text"),
        InPort("conf", datatype="object", description="{all}: every document of a text"),
    )
    outports = OutPorts(
        OutPort("out", description="the values (the documents of a text in a bracket with all)"),
        OutPort(
            "error",
            datatype="object",
            description="a failure for text that is not YAML or expands too far",
        ),
    )

    def run(self) -> None:
        """Load PyYAML and read `all`, then parse each text: one value, or all documents."""
        self.yaml = _pyyaml(self)
        every = flag(self.options({"all": False}, scalar="all")["all"], f"{self.node_id}: all")
        out = self.outports["out"]
        for ip in self.inports["in"]:
            if not ip.is_data:
                out.send(ip)
                continue
            try:
                documents = self._load(ip.data, every)
            except BadInput as exc:
                reject(self, exc, ip.data)
                continue
            if every:
                out.send_many(
                    [IP.open("documents"), *map(IP.make_data, documents), IP.close("documents")]
                )
            else:
                out.send_data(documents[0])

    def _load(self, text: Any, every: bool) -> list[Any]:
        if not isinstance(text, str):
            raise BadInput(f"yaml/Parse wants YAML text, not {short(text)}")
        plain = _Plain(max(MIN_BUDGET, EXPANSION * len(text)))
        try:
            if every:
                return [plain(document) for document in self.yaml.safe_load_all(text)]
            return [plain(self.yaml.safe_load(text))]
        except self.yaml.YAMLError as exc:
            raise BadInput(f"not YAML: {_problem(exc)}") from None
        except RecursionError:
            raise BadInput(f"YAML nested too deeply to read: {short(text)}") from None


class Format(Transform):
    """Writes each value on `in` as one YAML document (safe dumping: plain values only),
    block style, keys in their order, Unicode as it is, without the final newline (as
    csv/Format and strings/Stringify send text; files/WriteLines adds it).

    conf: {"indent": 2, "sort_keys": false}, or just the indent. A value YAML's safe dumper
    cannot write goes to `error` (the failure shape), or fails the process when `error` is
    not connected. Brackets pass through. Needs PyYAML: pip install 'flowpy-fbp[yaml]'.
    """

    icon = "file-text-o"
    ends_with_out = False  # bad values go to `error`: read the input to its end
    inports = InPorts(
        InPort("in", description="values to write"),
        InPort("conf", description="{indent, sort_keys}, or the indent"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="YAML text, one document per value"),
        OutPort("error", datatype="object", description="a failure for a value YAML cannot hold"),
    )

    def setup(self) -> None:
        """Load PyYAML and read the indent and sort_keys options."""
        self.yaml = _pyyaml(self)
        options = self.options({"indent": 2, "sort_keys": False}, scalar="indent")
        self.indent = positive_int(options["indent"], f"{self.node_id}: indent")
        self.sort_keys = flag(options["sort_keys"], f"{self.node_id}: sort_keys")

    def transform(self, value: Any) -> str:
        """The value as one YAML document; BadInput for what safe dumping cannot hold."""
        try:
            text: str = self.yaml.safe_dump(
                value,
                indent=self.indent,
                sort_keys=self.sort_keys,
                allow_unicode=True,
                default_flow_style=False,
            )
        except self.yaml.YAMLError as exc:
            said = exc.args[0] if exc.args else type(exc).__name__
            raise BadInput(f"cannot write {short(value)} as YAML: {said}") from None
        except RecursionError:
            raise BadInput(f"cannot write {short(value)} as YAML: nested too deeply") from None
        # A lone scalar ends with an explicit "..." end marker the text does not need.
        return text.removesuffix("\n").removesuffix("\n...")


def _problem(exc: Exception) -> str:
    """The one line of a PyYAML error: what it was doing, what went wrong, and where (line
    and column, from 1)."""
    said = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    words = ", ".join(str(part) for part in said if part)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if not words:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if mark is None:
        return words
    return f"{words} (line {mark.line + 1}, column {mark.column + 1})"


class _Plain:
    """What the safe loader built, as a JSON-like value, within a budget of values."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.left = budget
        self.open: set[int] = set()  # containers being walked: an alias back into one loops

    def __call__(self, value: Any, depth: int = 0) -> Any:
        self.left -= 1
        if self.left < 0:
            raise BadInput(
                f"the document expands to more than {self.budget} values "
                "(aliases repeat their anchors)"
            )
        if depth > MAX_DEPTH:
            raise BadInput(f"the document nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, (dict, list, set)):
            if id(value) in self.open:
                raise BadInput("the document contains itself (an alias inside its own anchor)")
            self.open.add(id(value))
            try:
                return self._container(value, depth + 1)
            finally:
                self.open.discard(id(value))
        return _scalar(value)

    def _container(self, value: dict[Any, Any] | list[Any] | set[Any], depth: int) -> Any:
        if isinstance(value, dict):
            return {_key(key): self(item, depth) for key, item in value.items()}
        if isinstance(value, set):
            return [self(item, depth) for item in sorted(value, key=_key)]
        return [self(item, depth) for item in value]


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _key(key: Any) -> str:
    """An object key as JSON writes one: text as it is, anything else as its JSON text."""
    key = _scalar(key)
    if isinstance(key, str):
        return key
    return json.dumps(key, ensure_ascii=False, default=str)
