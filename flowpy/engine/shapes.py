"""The common shapes of components, written once: a component that handles each data IP on
its own (:class:`Transform`) and one that reduces each bracketed substream (:class:`Aggregate`).

Both pass brackets through unchanged, in order, so a component written in one of these
shapes keeps its input's structure without a line about brackets; both report input they
cannot handle through :func:`reject` (raise :class:`BadInput`), and both end when the reader
of ``out`` has ended, so upstream can end too. Subclass one and fill in its hooks
(docs/writing-components.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from .component import Component
from .failures import Failure
from .ip import DATA, IP, raw_data, raw_value
from .ports import InPort, InPorts, OutPort, OutPorts, OutputPort


class BadInput(ValueError):
    """One input IP cannot be handled; the message says why (without the node name), the
    ``hint`` what would fix the common cause, when one is known."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def reject(component: Component, message: str | BadInput, value: Any = None, **extra: Any) -> None:
    """Report bad input: to ``error`` when that outport exists and is connected (as a failure:
    node, component, type, message, input, time, plus ``extra``), else raise ``ValueError``
    naming the node (the process fails with that message). A BadInput given as the message
    keeps its hint (on the error port as ``hint``, and in the failure line)."""
    hint = message.hint if isinstance(message, BadInput) else ""
    message = str(message)
    if "error" in component.outports and component.outports["error"].is_connected:
        name = type(component).component_name or type(component).__name__
        failure = Failure(component.node_id, name, "BadInput", message, IP.make_data(value))
        info = failure.as_data()  # the one shape of a failure (docs/graphs.md)
        if hint:
            info["hint"] = hint
        info.update(extra)
        component.outports["error"].send_data(info)
        return
    error = ValueError(f"{component.node_id}: {message}")
    setattr(error, "hint", hint)  # noqa: B010 - read by the engine's failure report
    raise error


class Transform(Component):
    """Each data IP on ``in`` is handled on its own; brackets pass through to ``out``.

    Fill in ``transform(value)``: what it returns goes to ``out`` as one data IP. For anything
    else per value (several IPs, another port, nothing at all) override ``handle(value)``
    instead, which sends what it likes and may return False when nobody reads its output any
    more. Either may raise :class:`BadInput` for a value it cannot handle: the value is
    rejected (see :func:`reject`) and the next one is read. ``setup()`` runs first, in the
    process thread: read options there, and set ``bracket_targets`` (the outports brackets
    go to, ``[out]`` by default) when brackets should go elsewhere too. The ports are ``in``
    and ``out``; declare your own to describe them (and to add ``error`` or ``conf``).
    """

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))
    #: True: the process ends once a send finds nobody reading ``out`` any more (a pure
    #: transform has nothing left to do, and upstream then sees its sends discarded and ends
    #: too). False for a component that must read its input to the end whatever happens to
    #: ``out``: one with side effects (a file written) or other outputs (``error``).
    ends_with_out: ClassVar[bool] = True

    def setup(self) -> None:
        """Read options; runs once before the first IP."""

    def transform(self, value: Any) -> Any:
        """The one value ``value`` gives on ``out``."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither transform() nor handle()"
        )

    def handle(self, value: Any) -> bool | None:
        """Handle one data payload: by default, send ``transform(value)`` on ``out``. False
        says nobody reads the output any more."""
        return self.outports["out"].send(raw_value(self.transform(value)))

    def run(self) -> None:
        """Read ``in`` to the end, sending each payload's result on ``out`` and brackets along."""
        out = self.outports["out"]
        self.bracket_targets: list[OutputPort] = [out]
        self.setup()
        targets, ends = self.bracket_targets, self.ends_with_out
        # The common case without an extra call per IP: transform() straight to out.
        transform = self.transform if type(self).handle is Transform.handle else None
        handle = self.handle
        # Raw, not IPs: a data IP comes as its payload, so none needs an object here.
        for item in self.inports["in"].iter_raw():
            if isinstance(item, IP) and item.kind is not DATA:
                sent = True
                for target in targets:
                    sent = target.send(item) and sent
            else:
                value = item.data if isinstance(item, IP) else item
                try:
                    if transform is not None:
                        sent = out.send(raw_value(transform(value)))
                    else:
                        sent = handle(value) is not False
                except BadInput as exc:
                    reject(self, exc, value)
                    continue
            if not sent and ends:
                return  # nobody reads `out` any more: end, so upstream can end too


class _Level:
    """One substream of an aggregation: its state, whether it held data directly and
    whether it held brackets."""

    __slots__ = ("state", "had_data", "had_children")

    def __init__(self, state: Any) -> None:
        self.state = state
        self.had_data = False
        self.had_children = False


class Aggregate(Component):
    """Reduces each innermost bracketed substream, or the whole stream when the input has
    no brackets, to what ``finish`` returns; brackets pass through unchanged, so a result
    is sent inside the brackets of its substream, just before the close.

    A substream gets a result when it held data directly or held nothing at all (an empty
    bracket pair, or an empty stream): ``finish(state, empty=True)`` says what an empty one
    gives (nothing, for most). Data beside brackets at the same level counts towards that
    level, whose result comes before its close (at the end for the top level).
    Fill in ``new_state()``, ``add(state, value) -> values to send now`` (a BadInput rejects
    that one value) and ``finish(state, empty) -> values to send``; ``setup()`` runs first.
    The ports are ``in`` and ``out``, as for :class:`Transform`.
    """

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def setup(self) -> None:
        """Read options; runs once before the first IP."""

    def new_state(self) -> Any:
        """The state of a new substream."""
        raise NotImplementedError

    def add(self, state: Any, value: Any) -> Iterable[Any] | None:
        """Take ``value`` into ``state``; the values to send now, if any."""
        raise NotImplementedError

    def finish(self, state: Any, empty: bool) -> Iterable[Any]:
        """The values a finished substream gives (``empty``: it held no data)."""
        raise NotImplementedError

    def run(self) -> None:
        """Read ``in`` to the end, reducing each substream and sending its result in place."""
        self.setup()
        out = self.outports["out"]
        top = _Level(self.new_state())
        levels = [top]
        for ip in self.inports["in"].iter_raw():  # raw: a data IP comes as its payload
            if not isinstance(ip, IP) or ip.kind is DATA:
                value = ip.data if isinstance(ip, IP) else ip
                level = levels[-1]
                level.had_data = True
                try:
                    ready = self.add(level.state, value)
                except BadInput as exc:
                    reject(self, exc, value)
                    continue
                if ready and not out.send_raw(raw_data(ready)):
                    return  # nobody reads `out` any more: end, so upstream can end too
            elif ip.is_open:
                levels[-1].had_children = True
                levels.append(_Level(self.new_state()))
                if not out.send(ip):
                    return
            else:
                if len(levels) == 1:
                    raise ValueError(
                        f"{self.node_id}: close bracket {ip.data!r} without an open bracket"
                    )
                self._flush(levels.pop())
                if not out.send(ip):
                    return
        while len(levels) > 1:  # unbalanced input: results of what is still open, no closes
            self._flush(levels.pop())
        self._flush(top)

    def _flush(self, level: _Level) -> None:
        if level.had_data or not level.had_children:
            values = self.finish(level.state, not level.had_data)
            if values:
                self.outports["out"].send_raw(raw_data(values))


__all__ = ["Aggregate", "BadInput", "Transform", "reject"]
