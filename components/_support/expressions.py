"""JMESPath, the one expression language of the libraries (flow/Filter, flow/Route,
flow/Sort, objects/Get): declarative, so safe to accept from protocol clients (it never runs
code), and known from the AWS CLI. https://jmespath.org/"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from .base import BadInput, short


def compile_expression(text: Any, node: str, what: str = "expression") -> ParsedResult:
    """A compiled JMESPath expression; ValueError naming the node for a bad one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{node}: {what} must be a JMESPath expression (a non-empty string), "
                         f"not {text!r}")
    try:
        return jmespath.compile(text)
    except jmespath_errors.JMESPathError as exc:
        message = str(exc).replace("\n", " ")
        raise ValueError(f"{node}: bad JMESPath {what} {text!r}: {message}") from None


def evaluate(expression: ParsedResult, value: Any) -> Any:
    """The expression's result on ``value``; BadInput when it cannot be evaluated on it (a
    function given the wrong type, say)."""
    try:
        return expression.search(value)
    except jmespath_errors.JMESPathError as exc:
        message = str(exc).replace("\n", " ")
        raise BadInput(f"{expression.expression!r} fails on {short(value)}: {message}") from None


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; everything else (0 too) true."""
    return not (value is False or value is None or value == "" or value == [] or value == {})
