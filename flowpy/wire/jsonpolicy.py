"""The one JSON policy: what flowpy accepts as JSON, and how it writes any Python value as JSON.

Every message in and out goes through here, so a value means the same both ways. In
(:func:`parse`, :func:`problem_in`): strict about what cannot round-trip (lone surrogates,
non-finite numbers, nesting past :data:`MAX_DEPTH`). Out (:func:`encode`, :func:`jsonable`):
total, no message can fail to be written. The rules: docs/protocol.md ("JSON policy").
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Mapping
from typing import Any

from flowpy.errors import FlowpyError

#: How deep a message may nest (input), and where :func:`jsonable` cuts (output).
MAX_DEPTH = 64


class JsonPolicyError(FlowpyError, ValueError):
    """Text that is not JSON at all, or nests too deeply to decode."""


class NonFinite:
    """Stands in for a number literal that is not finite, so the field can be named."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


#: Set by the decoder's hooks when the text held a number that is not finite (per thread: the
#: readers of several connections decode at once).
_flags = threading.local()


def _number(literal: str) -> Any:
    value = float(literal)
    if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
        return value
    _flags.suspicious = True
    return NonFinite(literal)


def _constant(name: str) -> Any:
    _flags.suspicious = True
    return NonFinite(name)


# One decoder for every message: ``json.loads`` with hooks would build a new one each time.
_DECODER = json.JSONDecoder(parse_float=_number, parse_constant=_constant)
_SCAN = getattr(_DECODER, "scan_once")  # noqa: B009 - set in __init__; typeshed omits it
#: json.loads's own scanner, without hooks (for :func:`loads`)
_PLAIN_SCAN = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


# -- in ------------------------------------------------------------------------------------------


def parse(text: str) -> tuple[Any, str | None]:
    """``(value, problem)``: the JSON value of ``text`` and the first thing in it this policy
    refuses, as a sentence naming the field (None when there is nothing to refuse).

    Raises :class:`JsonPolicyError` when ``text`` is not JSON. Cheap for ordinary messages:
    the value is only walked when the text could hold a problem (a surrogate escape, a
    non-finite number, or enough brackets to nest too deeply).
    """
    _flags.suspicious = False
    try:
        try:
            value, end = _SCAN(text, 0)  # the common case: no whitespace around the value
            if end != len(text):
                raise ValueError
        except (StopIteration, ValueError):
            value = _DECODER.decode(text)  # the slow way, for whitespace and exact errors
    except RecursionError:
        raise JsonPolicyError(f"message is nested too deeply (limit {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise JsonPolicyError(f"message is not valid JSON: {exc}") from None
    if _flags.suspicious or "\\ud" in text or "\\uD" in text or _may_nest_too_deeply(text):
        return value, problem_in(value)
    return value, None


#: bytes.translate's deletion table: every byte but brackets and quotes goes (a character
#: that is not ASCII is all bytes >= 0x80 in UTF-8, and goes too).
_ALL_BUT_BRACKETS_AND_QUOTES = bytes(c for c in range(256) if c not in b'[]{}"')


def _may_nest_too_deeply(text: str) -> bool:
    """Whether valid JSON ``text`` could nest deeper than :data:`MAX_DEPTH` allows, from its
    brackets alone, so that only such text has its value walked. Counting brackets is not
    enough: a batch of a few hundred small objects has many brackets and nests three levels.

    All in C string operations, a few per message whatever its size: escaped backslashes
    and quotes go (no other escape holds a quote or a bracket), then every byte but brackets
    and quotes. Strings without brackets are then adjacent quote pairs, and go at once; only
    if a quote is left (some string holds a bracket) is every other piece between two quotes
    taken out one by one. Each pass then takes away the innermost ``{}`` and then the
    innermost ``[]``: one or two levels, so text gone within half the limit's passes nests
    no deeper than the limit (anything else is walked, which is exact)."""
    limit = MAX_DEPTH - 1
    data = text.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = data.translate(None, _ALL_BUT_BRACKETS_AND_QUOTES)
    if marks.count(b'"') == 2 * marks.count(b'""'):  # no string holds a bracket
        shape = marks.translate(None, b'"')
    else:  # some string does (its quotes are not adjacent): take out what strings hold
        shape = b"".join(marks.split(b'"')[::2])
    for _ in range(limit // 2):
        shape = shape.replace(b"{}", b"").replace(b"[]", b"")
        if not shape:
            return False
    return True


def loads(text: str) -> Any:
    """``json.loads``, without this policy's checks (for text a runtime wrote), through the C
    scanner directly when the text is one value with nothing around it, as runtimes write
    it: a third of the cost. Anything else takes ``json.loads``, which accepts or refuses
    it exactly as before."""
    try:
        value, end = _PLAIN_SCAN(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def problem_in(value: Any, where: str = "") -> str | None:
    """The first thing in a decoded ``value`` that this policy refuses, naming its field
    (``where`` is the name of ``value`` itself); None if it is acceptable."""
    problem = _scalar_problem(value)
    if problem is not None:
        return f"{_quote(where or 'message')}: {problem}"
    if type(value) is not dict and type(value) is not list:
        return None
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (where,) if where else (), 1)]
    while stack:
        container, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"message is nested too deeply (limit {MAX_DEPTH} levels)"
        if type(container) is dict:
            items: Any = container.items()
        else:
            items = enumerate(container)
        for key, item in items:
            if key.__class__ is str and not _valid_text(key):
                return (
                    f"{_quote(_path(path) or 'message')}: an object key is not valid Unicode "
                    f"(it holds a lone surrogate: {_escaped(key)})"
                )
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, path + (key,), depth + 1))
                continue
            problem = _scalar_problem(item)
            if problem is not None:
                return f"{_quote(_path(path + (key,)))}: {problem}"
    return None


def _scalar_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        if not _valid_text(value):
            return f"text is not valid Unicode (it holds a lone surrogate: {_escaped(value)})"
    elif kind is NonFinite:
        return f"{value.literal} is not a finite number (JSON numbers must be finite)"
    elif kind is float and not math.isfinite(value):
        return f"{value!r} is not a finite number (JSON numbers must be finite)"
    return None


def _valid_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escaped(text: str, limit: int = 40) -> str:
    """``text`` cut short and with surrogates as escapes: safe to put in a reply."""
    shown = text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    return repr(shown) if len(text) <= limit else repr(shown) + "..."


def _path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _valid_text(part) else _escaped(part)
            out += f".{name}" if out else name
    return out


def _quote(path: str) -> str:
    return f"'{path}'" if not path.startswith("'") else path


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages that say what was expected."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# -- out -----------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    """What ``json`` calls for a value it has no form for (sets, bytes, objects)."""
    return jsonable(value)


def _c_encoder(ensure_ascii: bool) -> Any:
    """CPython's C encoder, made once (``JSONEncoder.encode`` makes one per call, which costs
    more than encoding a small message), or None where there is no C encoder."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    strings = getattr(
        json.encoder, "c_encode_basestring_ascii" if ensure_ascii else "c_encode_basestring", None
    )
    if strings is None:
        return None
    return make(None, _default, strings, None, ":", ",", False, False, False)


_ENCODER = json.JSONEncoder(
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
    default=_default,
)
_ASCII_ENCODER = json.JSONEncoder(
    separators=(",", ":"),
    ensure_ascii=True,
    allow_nan=False,
    check_circular=False,
    default=_default,
)
_C_ENCODE = _c_encoder(ensure_ascii=False)


def encode(message: Any) -> str:
    """``message`` as compact JSON text that is valid UTF-8, by the policy above. Never fails
    for any value (but MemoryError)."""
    try:
        if _C_ENCODE is not None:
            text = "".join(_C_ENCODE(message, 0))
        else:
            text = _ENCODER.encode(message)
    except (ValueError, TypeError, RecursionError):  # NaN, odd keys, cycles or depth
        text = _ENCODER.encode(jsonable(message))
    else:
        # The C encoder nests as deep as it is given; what this policy refuses on input it
        # must not write either. Enough brackets to be too deep: cut it as jsonable does.
        if _may_nest_too_deeply(text):
            cut = jsonable(message)
            if cut is not message:
                text = _ENCODER.encode(cut)
    if not text.isascii() and not _valid_text(text):  # a lone surrogate: escape it
        text = _ASCII_ENCODER.encode(jsonable(message))
    return text


#: CPython's C string encoder (keeps what is not ASCII, as :func:`encode` does), if any.
_C_STRING = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring


def encode_scalar(value: Any) -> str:
    """:func:`encode` of a value that cannot nest (int, str, float, bool, None): the same
    text, without the nesting check, for the hot path of message templates."""
    kind = type(value)
    if kind is int:
        try:
            return int.__repr__(value)
        except ValueError:  # more digits than Python writes: the general path decides
            pass
    elif kind is str:
        text: str = _C_STRING(value)
        if text.isascii() or _valid_text(text):
            return text
    return encode(value)


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON values, by the policy above.

    Plain JSON values are returned as they are (no copy), which is the common, fast case.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if _writable(value) else None
    if kind is float:
        return value if math.isfinite(value) else None
    if _depth >= MAX_DEPTH:
        return _repr(value)
    if kind is list:
        converted = [jsonable(v, _depth + 1) for v in value]
        return value if all(a is b for a, b in zip(converted, value, strict=True)) else converted
    if kind is dict and all(type(k) is str for k in value):
        items = {k: jsonable(v, _depth + 1) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return jsonable(int(value))
    if isinstance(value, float):
        return jsonable(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, NonFinite):
        return None
    return _repr(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, int) and not _writable(int(key)):
        return _repr(key)
    return str(key) if isinstance(key, (int, float)) else _repr(key)


#: Integers this wide have at most 633 decimal digits: fewer than the lowest limit Python
#: lets a program set (640; the default is 4,300), so they are written without asking.
_SURELY_WRITABLE_BITS = 2_100


def _writable(value: int) -> bool:
    """Whether Python writes ``value`` in decimal: past ``sys.get_int_max_str_digits()``
    digits it refuses, and JSON has no other way to write an integer."""
    if value.bit_length() <= _SURELY_WRITABLE_BITS:
        return True
    try:
        int.__repr__(value)
    except ValueError:
        return False
    return True


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not stop a message
        return f"<{type(value).__name__} object: repr failed: {type(exc).__name__}>"
