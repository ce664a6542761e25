"""The root of flowpy's one error hierarchy.

Every error flowpy raises on purpose derives from :class:`FlowpyError`, so an embedding
application can catch all of them at once; each layer defines its own subclasses next to its
code (``NetworkError`` in the engine, ``GraphError`` in graphs, ``ProtocolError`` in the
protocol, ``ClientError`` and ``LinkError`` in the link, ...). A few also derive from the
built-in they refine (``GraphError`` is a ``ValueError``), so older ``except`` clauses keep
working. ``EndOfStream`` and ``NetworkStopped`` are not errors: they end a process's loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any


class FlowpyError(Exception):
    """Something flowpy refused or could not do, said in a sentence (``str(error)``)."""


class MissingExtra(FlowpyError):
    """An optional library is not installed: the message is one line naming the pip extra
    (``flowpy-fbp[NAME]``) that brings it."""


def require_extra(
    module: str,
    extra: str,
    what: str,
    package: str | None = None,
    error: type[MissingExtra] = MissingExtra,
) -> ModuleType:
    """``module``, imported; else ``error`` saying ``WHAT needs the PACKAGE package: pip
    install 'flowpy-fbp[EXTRA]'``. The one way flowpy reaches an optional dependency (a
    broker client, a format library), so a missing one always reads the same and names its
    fix. Call it where the library is first needed, never at import time: a component must
    be listed, documented and described whether or not its library is there."""
    try:
        return importlib.import_module(module)
    except ImportError:
        name = package or module.split(".")[0]
        raise error(f"{what} needs the {name} package: pip install 'flowpy-fbp[{extra}]'") from None


#: Lists longer than this are not spelled out in an "unknown name" message, only suggested from.
SHORT_LIST = 12


def did_you_mean(name: Any, known: Iterable[str]) -> str:
    """``: did you mean 'core/Range'?`` for the known names closest to ``name`` (compared
    without regard to case), or "" when none is close: the hint every "no such name" error
    carries, so a user who mistyped sees the fix without looking anything up."""
    import difflib

    by_case = {candidate.lower(): candidate for candidate in sorted(set(known))}
    wanted = str(name).lower()
    scored = []
    for candidate in difflib.get_close_matches(wanted, list(by_case), n=3, cutoff=0.6):
        scored.append((difflib.SequenceMatcher(None, wanted, candidate).ratio(), candidate))
    if not scored:
        return ""
    best = max(score for score, _ in scored)
    guesses = [candidate for score, candidate in scored if score >= best - 0.05]
    return ": did you mean " + " or ".join(repr(by_case[g]) for g in guesses) + "?"


def missing_name(name: Any, known: Iterable[str]) -> str:
    """``'outt': did you mean 'out'? (it has: error, out)``: the end of every "X has no port
    NAME" message, with the known names in the order given."""
    names = list(known)
    return f"{name!r}{did_you_mean(name, names)} (it has: {', '.join(names) or 'none'})"


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown component 'core/Rnage': did you mean 'core/Range'?``, plus the known names
    when they are few."""
    names = sorted(set(known))
    text = f"unknown {what} {name!r}{did_you_mean(name, names)}"
    if not names:
        return text + " (there are none)"
    if len(names) <= SHORT_LIST:
        text += f" (known: {', '.join(names)})"
    return text
