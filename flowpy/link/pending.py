"""Requests waiting for their replies: the bookkeeping of :mod:`flowpy.link.client`.

A windowed sender has hundreds of requests in flight, and every reply settles one; what
each costs to make and to settle is paid per packet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


class Done:
    """Set once a request has its reply: ``threading.Event``'s interface on one condition
    shared by every request (an Event is a lock and a condition made per request and
    signalled per reply, a fifth of what a client spends per packet). ``set`` takes the
    condition only when someone waits; a waiter counts itself under it before it looks,
    so a reply between its look and its wait is never missed."""

    __slots__ = ("_flag", "_replies")

    def __init__(self, replies: Replies) -> None:
        self._flag = False
        self._replies = replies

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        replies = self._replies
        if replies.waiting:
            with replies.cond:
                replies.cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        replies = self._replies
        with replies.cond:
            replies.waiting += 1
            try:
                return replies.cond.wait_for(self.is_set, timeout)
            finally:
                replies.waiting -= 1


class Replies:
    """The condition every :class:`Done` waits on, and how many wait."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.waiting = 0


@dataclass
class Pending:
    """One request waiting for its reply (or replies, for component:list)."""

    protocol: str
    command: str
    request_id: str
    expect: frozenset[str]
    until: str | None = None  # for multi-message replies: the command that ends them
    replies: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    done: Done = field(default_factory=lambda: Done(Replies()))  # a client passes its own
