"""JMESPath, the one expression language of the libraries (flow/Filter, flow/Route,
flow/Sort, objects/Get): declarative, so safe to accept from protocol clients (it never runs
code), and known from the AWS CLI. https://jmespath.org/"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from .base import BadInput, short

#: Hint for a comparison of text with a number (csv values are text unless asked).
TYPES_HINT = (
    "the values compared are of different types (text and a number?): csv/Parse gives text "
    'unless its conf has "numbers": true, strings/ParseNumber converts one value, and a '
    "number in an expression is written in backticks (`18`)"
)


class ExpressionError(ValueError):
    """A JMESPath expression that does not parse. ``pointer`` is the expression with a caret
    under the place it fails, on lines of their own (what a person reads under the one-line
    error); ``hint`` says what the common cause would fix."""

    def __init__(self, message: str, pointer: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.pointer = pointer
        self.hint = hint


def compile_expression(text: Any, node: str, what: str = "expression") -> ParsedResult:
    """A compiled JMESPath expression; ExpressionError (a ValueError) naming the node for a
    bad one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(
            f"{node}: {what} must be a JMESPath expression (a non-empty string), not {text!r}"
        )
    try:
        return jmespath.compile(text)
    except jmespath_errors.JMESPathError as exc:
        raise _parse_error(exc, text, node, what) from None


def _parse_error(exc: Exception, text: str, node: str, what: str) -> ExpressionError:
    position = getattr(exc, "lex_position", None)
    token = getattr(exc, "token_value", None)
    kind = str(getattr(exc, "token_type", "") or "")
    reason = str(getattr(exc, "msg", "") or "").strip() or str(exc).splitlines()[0]
    if isinstance(position, int) and token is not None:
        reason = f"{reason.rstrip('.:')} at column {position}: {str(token)!r} ({kind.lower()})"
    message = f"{node}: bad JMESPath {what} {text!r}: {reason}"
    if not isinstance(position, int) or "\n" in text:
        return ExpressionError(message)
    pointer = f"    {text}\n    {' ' * position}^"
    hint = ""
    if kind == "NUMBER" and isinstance(token, int | float):
        shown = str(token)
        fixed = text[:position] + f"`{shown}`" + text[position + len(shown) :]
        hint = f"a number in JMESPath is written in backticks: {fixed}"
    return ExpressionError(message, pointer, hint)


def evaluate(expression: ParsedResult, value: Any) -> Any:
    """The expression's result on ``value``; BadInput when it cannot be evaluated on it (a
    function given the wrong type, say)."""
    try:
        return expression.search(value)
    except jmespath_errors.JMESPathError as exc:
        message = str(exc).replace("\n", " ")
        raise BadInput(f"{expression.expression!r} fails on {short(value)}: {message}") from None
    except TypeError as exc:  # a comparison of text with a number ('<' on str and int)
        message = f"{expression.expression!r} fails on {short(value)}: {exc}"
        raise BadInput(message, TYPES_HINT) from None


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; everything else (0 too) true."""
    return not (value is False or value is None or value == "" or value == [] or value == {})
