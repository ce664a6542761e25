"""Mixins for the common shapes of components, and the rules every library follows.

* Bad input goes to the ``error`` outport when the component has one and it is connected,
  as ``{"message": ..., "input": ...}``; otherwise it is a ``ValueError`` (a process error)
  whose message names the node. Either way the component never hangs on it.
* Brackets pass through unchanged unless the component is about brackets.
* Aggregators work per innermost bracketed substream, or over the whole stream when the
  input has no brackets (:class:`AggregateMixin`).

The mixins are not ``Component`` subclasses, so the registry never lists them; a component
is ``class Upper(TransformMixin, Component)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flowpy import IP, Component, EndOfStream


class BadInput(ValueError):
    """One input IP cannot be handled; the message says why (without the node name)."""


def reject(component: Component, message: str, value: Any = None, **extra: Any) -> None:
    """Report bad input: to ``error`` when that outport exists and is connected, else raise
    ``ValueError`` naming the node (the process fails with that message)."""
    if "error" in component.outports and component.outports["error"].is_connected:
        info: dict[str, Any] = {"message": message, "input": value}
        info.update(extra)
        component.outports["error"].send_data(info)
        return
    raise ValueError(f"{component.node_id}: {message}")


def text_options(component: Component, defaults: Mapping[str, Any], scalar: str,
                 port: str = "conf") -> dict[str, Any]:
    """``component.options`` for a component whose one obvious option is text that may itself
    look like JSON (a JMESPath expression "[0]", a template "{name}", a separator "1"): conf
    text is that option as written unless it is a JSON object (``Component.options`` with
    ``text=True``, the one conf rule)."""
    return component.options(defaults, scalar, port, text=True)


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


class TransformMixin:
    """One data IP on ``in`` gives one data IP on ``out`` (``transform``); brackets pass
    through. ``transform`` raises BadInput for input it cannot handle (see :func:`reject`).
    ``setup()`` runs first, in the process thread (read options there). When the reader of
    ``out`` has ended, so does the process (its upstream then sees its sends discarded)."""

    def setup(self) -> None:
        """Read options; runs once before the first IP."""

    def transform(self, value: Any) -> Any:
        raise NotImplementedError

    def run(self) -> None:
        self.setup()
        out = self.outports["out"]
        transform = self.transform
        for ip in self.inports["in"]:
            if not ip.is_data:
                if not out.send(ip):
                    return  # nobody reads `out` any more: end, so upstream can end too
                continue
            try:
                result = transform(ip.data)
            except BadInput as exc:
                reject(self, str(exc), ip.data)
                continue
            if not out.send(IP.make_data(result)):
                return


class Level:
    """One substream of an aggregation: its state, whether it held data directly and
    whether it held brackets."""

    __slots__ = ("state", "had_data", "had_children")

    def __init__(self, state: Any) -> None:
        self.state = state
        self.had_data = False
        self.had_children = False


class AggregateMixin:
    """Reduces each innermost bracketed substream, or the whole stream when the input has
    no brackets, to what ``finish`` returns; brackets pass through unchanged, so a result
    is sent inside the brackets of its substream, just before the close.

    A substream gets a result when it held data directly or held nothing at all (an empty
    bracket pair, or an empty stream): ``finish(state, empty=True)`` says what an empty one
    gives (nothing, for most). Data beside brackets at the same level counts towards that
    level, whose result comes before its close (at the end for the top level).
    Subclasses: ``new_state()``, ``add(state, value) -> values to send now`` (a BadInput
    rejects that one value), ``finish(state, empty) -> values to send``; ``setup()`` first.
    When the reader of ``out`` has ended, so does the process.
    """

    def setup(self) -> None:
        """Read options; runs once before the first IP."""

    def new_state(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, value: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def finish(self, state: Any, empty: bool) -> Iterable[Any]:
        raise NotImplementedError

    def run(self) -> None:
        self.setup()
        out = self.outports["out"]
        top = Level(self.new_state())
        levels = [top]
        for ip in self.inports["in"]:
            if ip.is_data:
                level = levels[-1]
                level.had_data = True
                try:
                    ready = self.add(level.state, ip.data)
                except BadInput as exc:
                    reject(self, str(exc), ip.data)
                    continue
                if ready and not out.send_many([IP.make_data(v) for v in ready]):
                    return  # nobody reads `out` any more: end, so upstream can end too
            elif ip.is_open:
                levels[-1].had_children = True
                levels.append(Level(self.new_state()))
                if not out.send(ip):
                    return
            else:
                if len(levels) == 1:
                    raise ValueError(f"{self.node_id}: close bracket {ip.data!r} without an "
                                     "open bracket")
                self._flush(levels.pop(), out)
                if not out.send(ip):
                    return
        while len(levels) > 1:  # unbalanced input: results of what is still open, no closes
            self._flush(levels.pop(), out)
        self._flush(top, out)

    def _flush(self, level: Level, out: Any) -> None:
        if level.had_data or not level.had_children:
            values = self.finish(level.state, not level.had_data)
            if values:
                out.send_many([IP.make_data(v) for v in values])


def recv_data_or_end(port: Any) -> tuple[bool, Any]:
    """(True, payload) of the next data IP of ``port``, skipping brackets; (False, None) at
    end-of-stream."""
    try:
        return True, port.recv_data()
    except EndOfStream:
        return False, None


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
