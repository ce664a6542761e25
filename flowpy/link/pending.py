"""Requests waiting for their replies: the bookkeeping of :mod:`flowpy.link.client`.

A caller may have hundreds of requests in flight (``send_packets_nowait``), and every
reply settles one; what each costs to make and to settle is paid per packet. So a request
is a :class:`Pending` with its own reply, while a stream of them (:mod:`flowpy.link.streams`)
numbers its requests on a :class:`ReplyRoutes` route and keeps its own book: a reply is then
a mark.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .errors import RequestError

log = logging.getLogger(__name__)


class Done:
    """Set once a request has its reply: ``threading.Event``'s interface on one condition
    shared by every request (an Event is a lock and a condition made per request and
    signalled per reply, a fifth of what a client spends per packet). ``set`` takes the
    condition only when someone waits for this request: a caller with hundreds in flight
    waits for one of them, and waking it for every other reply would cost a thread switch per
    packet. A waiter counts itself under the condition before it looks, so a reply between
    its look and its wait is never missed."""

    __slots__ = ("_flag", "_replies", "_waiters")

    def __init__(self, replies: Replies) -> None:
        self._flag = False
        self._replies = replies
        self._waiters = 0

    def is_set(self) -> bool:
        """Whether the reply has come."""
        return self._flag

    def set(self) -> None:
        """Mark the reply come, waking only a thread that waits for it."""
        self._flag = True
        if self._waiters:
            cond = self._replies.cond
            with cond:
                cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the reply; False if ``timeout`` passed first."""
        if self._flag:
            return True
        cond = self._replies.cond
        with cond:
            self._waiters += 1
            try:
                return cond.wait_for(self.is_set, timeout)
            finally:
                self._waiters -= 1


class Replies:
    """The condition every :class:`Done` of one client waits on."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())


class Pending:
    """One request waiting for its reply (or replies, for component:list). A plain class
    with slots: a caller sending packets makes one per packet, and a dataclass's generated
    ``__init__`` with default factories cost a third of the sending side's time."""

    __slots__ = ("command", "done", "error", "expect", "protocol", "replies", "request_id", "until")

    def __init__(
        self,
        protocol: str,
        command: str,
        request_id: str,
        expect: frozenset[str],
        until: str | None = None,
        done: Done | None = None,
    ) -> None:
        self.protocol = protocol
        self.command = command
        self.request_id = request_id
        self.expect = expect
        #: for multi-message replies: the command that ends them
        self.until = until
        self.replies: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        #: a client passes the Done of its own Replies
        self.done = done if done is not None else Done(Replies())

    def __repr__(self) -> str:
        return f"Pending({self.protocol}:{self.command} {self.request_id})"


class PendingTable:
    """A client's requests waiting for replies, by request id, oldest first, under one lock:
    the reader settles them, senders add and drop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Pending] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._by_id

    def values(self) -> list[Pending]:
        """The requests waiting now, oldest first."""
        with self._lock:
            return list(self._by_id.values())

    def add(self, pendings: Iterable[Pending]) -> None:
        """Wait for replies to these (before their requests are written)."""
        with self._lock:
            for pending in pendings:
                self._by_id[pending.request_id] = pending

    def drop(self, pendings: Iterable[Pending]) -> None:
        """Stop waiting for these (not sent after all, or given up on)."""
        with self._lock:
            for pending in pendings:
                self._by_id.pop(pending.request_id, None)

    def take(self, request_ids: list[str]) -> list[Pending | None]:
        """Remove and return the request each id names (None: nobody waits for it)."""
        by_id = self._by_id
        with self._lock:
            return [by_id.pop(request_id, None) for request_id in request_ids]

    def settle(self, message: dict[str, Any]) -> bool:
        """Hand a reply to the request it answers; True if it was one."""
        protocol, command = message.get("protocol"), message.get("command")
        response_to = message.get("responseTo")
        with self._lock:
            match = None
            if response_to is not None:
                match = self._by_id.get(response_to)
            # A reply naming a request nobody waits for (it timed out, or it was sent with
            # send() on purpose) is not a reply to some other request: only runtimes that
            # send no responseTo at all are matched by command.
            elif not (protocol == "runtime" and command == "packet"):
                match = next(
                    (
                        p
                        for p in self._by_id.values()
                        if p.protocol == protocol and (command in p.expect or command == "error")
                    ),
                    None,
                )
            if match is None:
                return False
            payload = message.get("payload")
            if command == "error":
                text = payload.get("message") if isinstance(payload, dict) else str(payload)
                match.error = RequestError(match.protocol, match.command, str(text))
            else:
                match.replies.append(message)
                if match.until is not None and command != match.until:
                    return True
            del self._by_id[match.request_id]
        match.done.set()
        return True

    def fail_all(self, error: BaseException) -> None:
        """The connection is over: every waiting request fails with ``error``."""
        with self._lock:
            pending, self._by_id = list(self._by_id.values()), {}
        for p in pending:
            p.error = error
            p.done.set()


#: What a reply route is given: ``(n, reply)`` for requests ``<tag>:<n>`` (None: unnamed).
RouteHandler = Callable[[list[tuple[int | None, dict[str, Any]]]], None]


class ReplyRoutes:
    """A client's reply routes (see ``ClientCore.add_reply_route``), by tag, oldest first;
    copied on change, so the reader reads them without a lock."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._routes: dict[str, RouteHandler] = {}
        self._tags = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._routes)

    def add(self, handler: RouteHandler) -> str:
        """A new route to ``handler``; its tag (never a hex count, as plain request ids are)."""
        tag = f"s{next(self._tags)}"
        with self._lock:
            self._routes = {**self._routes, tag: handler}
        return tag

    def remove(self, tag: str) -> None:
        """The route ``tag`` is gone."""
        with self._lock:
            self._routes = {k: v for k, v in self._routes.items() if k != tag}

    def take(self, replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Hand each reply a route takes to it (those of one route together); the others."""
        routes = self._routes
        taken: dict[str, list[tuple[int | None, dict[str, Any]]]] = {}
        rest = []
        for reply in replies:
            head, mark, number = str(reply.get("responseTo")).partition(":")
            if mark and head in routes and number.isdigit():
                taken.setdefault(head, []).append((int(number), reply))
            else:
                rest.append(reply)
        for head, batch in taken.items():
            self._call(routes[head], batch)
        return rest

    def take_unnamed(self, reply: dict[str, Any]) -> bool:
        """Hand a reply that names no request to the oldest route; False if there is none."""
        handler = next(iter(self._routes.values()), None)
        if handler is None:
            return False
        self._call(handler, [(None, reply)])
        return True

    def _call(self, handler: RouteHandler, batch: list[tuple[int | None, dict[str, Any]]]) -> None:
        try:
            handler(batch)
        except Exception:
            log.exception("%s: a reply route failed", self._name)


def expected_replies(
    command: str, expect: Iterable[str] | None, until: str | None
) -> frozenset[str]:
    """The commands that answer a request: ``expect`` (else the command itself) and
    ``until``. The common ones are made once, not per request."""
    key = (command, expect, until)
    known = _EXPECTED.get(key) if type(expect) is tuple or expect is None else None
    if known is None:
        known = frozenset(expect or (command,)) | ({until} if until else frozenset())
        if type(expect) is tuple or expect is None:
            _EXPECTED[key] = known
    return known


#: What :func:`expected_replies` made, by its arguments (a handful of distinct requests).
_EXPECTED: dict[tuple[str, Any, str | None], frozenset[str]] = {}
