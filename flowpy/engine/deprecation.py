"""One log line per deprecated name, so an old component keeps working for a release and
its author learns, once, what to write instead.

Names of the component API that are not part of the one vocabulary (docs/writing-components.md)
stay as aliases for a release; each call of one goes through :func:`deprecated`, which logs a
warning the first time a name is used in a process (where it was called from, and what to
use), never again after that, and never raises.
"""

from __future__ import annotations

import logging
import sys
import threading

log = logging.getLogger("flowpy.deprecated")
_warned: set[str] = set()
_lock = threading.Lock()


def deprecated(name: str, instead: str, depth: int = 2) -> None:
    """Log once per process that ``name`` is deprecated and ``instead`` replaces it; ``depth``
    frames up is the caller named in the line (2: the caller of the deprecated function)."""
    with _lock:
        if name in _warned:
            return
        _warned.add(name)
    try:
        frame = sys._getframe(depth)
        where = f" (called from {frame.f_code.co_filename}:{frame.f_lineno})"
    except ValueError:
        where = ""
    log.warning(
        "%s is deprecated and goes in the next release: use %s instead%s", name, instead, where
    )
