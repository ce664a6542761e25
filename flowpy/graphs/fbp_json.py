"""JSON IIPs in .fbp text, read by the reference's JSON grammar (RFC 7159 values, with
whitespace allowed around them) rather than by the json module.

The rules share the .fbp parser's position and failure bookkeeping, so an error inside a
JSON IIP is reported where, and in the terms, the reference reports it. Values come back as
they would from JavaScript through JSON: numbers as JavaScript numbers (see ``js_number``),
``\\uXXXX`` surrogate pairs joined.
"""

from __future__ import annotations

import math
import string
from decimal import Decimal
from typing import Any

from .fbp_peg import FAIL, Fail, Matcher, NotIn

__all__ = ["JsonValues", "js_number"]

_DIGIT_SET = frozenset(string.digits)
_HEX_DIGITS = frozenset(string.digits + "abcdefABCDEF")
_JSON_WS = frozenset(" \t\n\r")
_JSON_UNESCAPED = NotIn("".join(map(chr, range(0x20))) + '"\\')
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def js_number(value: float) -> int | float | None:
    """A JavaScript number as it comes back through JSON: NaN and infinities are null
    (JSON.stringify writes them as ``null``) and integral values below 1e21 are ints,
    written with the shortest digits that identify the double and then zeros, as
    JavaScript prints them (12345678901234567890 reads back as 12345678901234567000)."""
    if math.isnan(value) or math.isinf(value):
        return None
    if value.is_integer() and abs(value) < 1e21:
        return int(Decimal(repr(value)))
    return value


def _join_surrogates(text: str) -> str:
    r"""Combine ``\ud83d\ude00``-style escape pairs the way a JavaScript string would."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


class JsonValues(Matcher):
    """The JSON rules; ``json_text`` reads one value with the whitespace around it.

    Like the reference, attempts inside strings, numbers and whitespace are not reported one
    by one: a string or number that fails is reported as "string" / "number".
    """

    def json_ws(self) -> None:
        """Skip JSON whitespace (which, unlike .fbp, includes tabs and line breaks)."""
        while self.pos < len(self.text) and self.text[self.pos] in _JSON_WS:
            self.pos += 1

    def json_punctuation(self, char: str) -> bool:
        """Match ``char`` with the whitespace around it; on failure the position is kept."""
        start = self.pos
        self.json_ws()
        if self.literal(char) is FAIL:
            self.pos = start
            return False
        self.json_ws()
        return True

    def json_text(self) -> Any | Fail:
        """One JSON value with the whitespace around it: an IIP's whole text."""
        start = self.pos
        self.json_ws()
        value = self.json_value()
        if value is FAIL:
            self.pos = start
            return FAIL
        self.json_ws()
        return value

    def json_value(self) -> Any | Fail:
        """Any JSON value, trying the alternatives in the reference grammar's order."""
        for word, constant in (("false", False), ("null", None), ("true", True)):
            if self.literal(word) is not FAIL:
                return constant
        for rule in (self.json_object, self.json_array, self.json_number, self.json_string):
            value = rule()
            if value is not FAIL:
                return value
        return FAIL

    def json_object(self) -> dict[str, Any] | Fail:
        """A JSON object; a repeated key keeps its last value, as JavaScript's does."""
        start = self.pos
        if not self.json_punctuation("{"):
            return FAIL
        result: dict[str, Any] = {}
        member = self.json_member()
        if member is not FAIL:
            result[member[0]] = member[1]
            while True:
                before = self.pos
                if not self.json_punctuation(","):
                    break
                member = self.json_member()
                if member is FAIL:
                    self.pos = before
                    break
                result[member[0]] = member[1]
        if not self.json_punctuation("}"):
            self.pos = start
            return FAIL
        return result

    def json_member(self) -> tuple[str, Any] | Fail:
        """One ``"key": value`` pair of an object."""
        start = self.pos
        name = self.json_string()
        if name is not FAIL and self.json_punctuation(":"):
            value = self.json_value()
            if value is not FAIL:
                return name, value
        self.pos = start
        return FAIL

    def json_array(self) -> list[Any] | Fail:
        """A JSON array."""
        start = self.pos
        if not self.json_punctuation("["):
            return FAIL
        result: list[Any] = []
        value = self.json_value()
        if value is not FAIL:
            result.append(value)
            while True:
                before = self.pos
                if not self.json_punctuation(","):
                    break
                value = self.json_value()
                if value is FAIL:
                    self.pos = before
                    break
                result.append(value)
        if not self.json_punctuation("]"):
            self.pos = start
            return FAIL
        return result

    def json_number(self) -> int | float | None | Fail:
        """A JSON number (reported as one "number" when it fails); FAIL where there is none."""
        start = self.pos
        self.silent += 1
        try:
            ok = self.json_number_text()
        finally:
            self.silent -= 1
        if not ok:
            self.pos = start
            self.fail(start, "number")
            return FAIL
        return js_number(float(self.text[start : self.pos]))

    def json_number_text(self) -> bool:
        """Consume a number's text (sign, integer, fraction, exponent); whether it was one."""
        self.optional(lambda: self.literal("-"))
        if self.literal("0") is FAIL:
            if self.char("123456789", "digit") is FAIL:
                return False
            self.many(_DIGIT_SET, "digit")
        before = self.pos
        if self.literal(".") is not FAIL and self.some(_DIGIT_SET, "digit") is FAIL:
            self.pos = before
        before = self.pos
        if self.char("eE", "exponent") is not FAIL:
            self.optional(lambda: self.char("+-", "sign"))
            if self.some(_DIGIT_SET, "digit") is FAIL:
                self.pos = before
        return True

    def json_string(self) -> str | Fail:
        """A JSON string (reported as one "string" when it fails), escape pairs joined."""
        start = self.pos
        self.silent += 1
        try:
            value = self.json_string_body()
        finally:
            self.silent -= 1
        if value is FAIL:
            self.pos = start
            self.fail(start, "string")
        return value

    def json_string_body(self) -> str | Fail:
        """The characters between a string's quotes, escapes decoded."""
        if self.literal('"') is FAIL:
            return FAIL
        chars = []
        while True:
            char = self.char(_JSON_UNESCAPED, "character")
            if char is not FAIL:
                chars.append(char)
                continue
            escaped = self.json_escape()
            if escaped is FAIL:
                break
            chars.append(escaped)
        if self.literal('"') is FAIL:
            return FAIL
        return _join_surrogates("".join(chars))

    def json_escape(self) -> str | Fail:
        """One backslash escape (``u`` and four hex digits included), as the text it means."""
        start = self.pos
        if self.literal("\\") is FAIL:
            return FAIL
        char = self.char(_JSON_ESCAPES.keys() | {"u"}, "escape")
        if char is FAIL:
            self.pos = start
            return FAIL
        if char != "u":
            return _JSON_ESCAPES[char]
        digits = self.text[self.pos : self.pos + 4]
        if len(digits) == 4 and all(d in _HEX_DIGITS for d in digits):
            self.pos += 4
            return chr(int(digits, 16))
        self.pos = start
        return FAIL
