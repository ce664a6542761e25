"""Helpers of the component libraries (option parsing, rendering), and the rules every
library follows.

* Bad input goes to the ``error`` outport when the component has one and it is connected,
  as ``{"message": ..., "input": ...}``; otherwise it is a ``ValueError`` (a process error)
  whose message names the node. Either way the component never hangs on it
  (``flowpy.reject``, ``flowpy.BadInput``).
* Brackets pass through unchanged unless the component is about brackets: write such a
  component as a ``flowpy.Transform`` or a ``flowpy.Aggregate`` (per innermost bracketed
  substream, or over the whole stream when the input has no brackets).

The mixins and helpers this module held before the shapes became public
(``TransformMixin``, ``AggregateMixin``, ``text_options``, ``recv_data_or_end``) are
deprecated aliases for a release.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flowpy import Aggregate, BadInput, Component, EndOfStream, Transform, next_data, reject
from flowpy.engine.deprecation import deprecated

__all__ = [
    "BadInput",
    "StopHook",
    "file_path",
    "flag",
    "number",
    "opened_as",
    "positive_int",
    "reject",
    "render",
    "seconds",
    "shared_paragraph",
    "short",
]

C = TypeVar("C", bound=type)


def file_path(value: Any) -> str:
    """``value`` as a path to a file or folder: a non-empty string. BadInput otherwise."""
    if not isinstance(value, str) or not value:
        raise BadInput(f"a path must be a non-empty string, not {value!r}")
    return value


def opened_as(component: Component, path: str) -> str:
    """``path`` for an error message: with the path it was opened as when that differs (a
    relative path resolved against the graph file's directory, see ``Component.path``)."""
    resolved = component.path(path)
    return path if resolved == path else f"{path} (as {resolved})"


def render(value: Any) -> str:
    """Strings as they are, everything else as compact JSON (repr if not JSON-able)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: Any, what: str = "value") -> int | float:
    """An int or float; numeric strings count (CSV fields and lines are text). BadInput else."""
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{what} must be a number, not {short(value)}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            result = float(text)
        except ValueError:
            raise BadInput(f"{what} must be a number, not {short(value)}") from None
        return result
    raise BadInput(f"{what} must be a number, not {short(value)}")


def positive_int(value: Any, what: str, allow_zero: bool = False) -> int:
    """A whole number >= 1 (or >= 0); numeric strings count. ValueError otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a whole number >= 0" if allow_zero else "a positive whole number"
        raise ValueError(f"{what} must be {kind}, not {value!r}")
    return value


def flag(value: Any, what: str) -> bool:
    """A boolean option: true/false, or the text "true"/"false" (from the command line)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{what} must be true or false, not {value!r}")


def seconds(value: Any, what: str) -> float:
    """Milliseconds (a number >= 0, or a numeric string) as seconds. ValueError otherwise."""
    try:
        ms = number(value, what)
    except BadInput as exc:
        raise ValueError(str(exc)) from None
    if ms < 0:
        raise ValueError(f"{what} must not be negative, not {value!r}")
    return ms / 1000.0


class StopHook(threading.Event):
    """``Component.stopping`` that also calls ``hook`` when the network sets it, so a
    process blocked outside the ports (a child process, a socket) can be woken at once."""

    def __init__(self, hook: Callable[[], Any]) -> None:
        super().__init__()
        self._hook = hook

    def set(self) -> None:
        super().set()
        try:
            self._hook()
        except Exception:  # noqa: BLE001 - a stop must go on whatever the hook does
            pass


def shared_paragraph(text: str) -> Callable[[C], C]:
    """A class decorator appending ``text``, a paragraph several components' docstrings share,
    to the class's own docstring (which stays a plain literal, so linters see it)."""

    def decorate(cls: C) -> C:
        cls.__doc__ = f"{cls.__doc__}\n\n    {text}\n    "
        return cls

    return decorate


def _text_options(
    component: Component, defaults: Mapping[str, Any], scalar: str, port: str = "conf"
) -> dict[str, Any]:
    return component.options(defaults, scalar, port, text=True)


def _recv_data_or_end(port: Any) -> tuple[bool, Any]:
    try:
        return True, next_data(port)
    except EndOfStream:
        return False, None


#: Former names -> (what replaces them, the object still given for a release).
_DEPRECATED: dict[str, tuple[str, Any]] = {
    "TransformMixin": ("flowpy.Transform", Transform),
    "AggregateMixin": ("flowpy.Aggregate", Aggregate),
    "text_options": ("self.options(defaults, scalar, text=True)", _text_options),
    "recv_data_or_end": ("flowpy.next_data(port) and EndOfStream", _recv_data_or_end),
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        instead, value = _DEPRECATED[name]
        deprecated(f"flowpy_components._support.base.{name}", instead)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
