"""Forces, inside a flowpy process, the interleaving a graceful stop must survive.

A stop drains: the exported inports' streams end, and the drain waits until nothing
downstream of them can move any more. The race it lost (issue 24 case 3): a process that
the end of its stream had just woken, but which had not run yet, looked blocked on an empty
connection, so the drain called the network settled and the stop cut off the total that
process was about to send. Repeating stops only gives that interleaving a chance; this hook
makes it happen every time.

When the process named by ``FLOWPY_TEST_DRAIN_GATE`` meets the end of its stream while a
drain watches its connection, its thread is held in exactly that state: the stream ended,
the reader still counted as blocked on the connection, nothing run yet. It is let go when

- the drain has looked at the network while this reader was the only thing left that could
  move, and did not call it settled (a drain that knows a woken reader is not idle), or
- the drain called the network settled and the stop has aborted every connection (a drain
  that took the woken reader for an idle one: what the process sends now is refused, as it
  was when the race was lost).

Only tests load this (``sitecustomize`` in this folder); it wraps engine internals on
purpose, since what it reproduces is an interleaving of those internals.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from flowpy.engine import connection, drain

HOLD_LIMIT = 60.0  # a correctness bound: a hook bug must not hang the runtime for good


class _Gate:
    def __init__(self, node: str) -> None:
        self.node = node
        self.cond = threading.Condition()
        self.used = False
        self.held: connection.Connection | None = None
        self.looked = False  # the drain looked with only the held reader able to move
        self.connections: list[connection.Connection] = []
        self.drain_ended = False

    def should_hold(self, conn: connection.Connection) -> bool:
        return (
            not self.used
            and conn.watch is not None  # a drain is watching this connection
            and threading.current_thread().name == self.node
        )

    def hold(self, conn: connection.Connection) -> None:
        """The calling reader has met the end of its stream: keep it woken-but-not-run."""
        with conn._lock:
            conn._waiting_readers += 1  # as between a reader's wake-up and its running
        with self.cond:
            self.used = True
            self.held = conn
        # Printed before the hold, so before anything the hold lets happen: the served test
        # reads it as proof that the interleaving did take place.
        print(f"drain gate: holding {self.node} at its end of stream", file=sys.stderr)
        watch = conn.watch
        if watch is not None:
            watch()  # the drain looks again now, with this reader in that state
        with self.cond:
            self.cond.wait_for(self._may_go, HOLD_LIMIT)
            self.held = None
            why = "the drain saw it" if self.looked else "the stop cut it off"
            if not self._may_go():
                why = f"nothing let it go within {HOLD_LIMIT:g}s"
        with conn._lock:
            conn._waiting_readers -= 1
        print(f"drain gate: let {self.node} go: {why}", file=sys.stderr)

    def _may_go(self) -> bool:
        if self.looked:
            return True
        return self.drain_ended and all(conn._aborted for conn in self.connections)

    def saw(
        self, in_handler: Any, watched: list[list[connection.Connection]], result: bool
    ) -> None:
        """The drain judged the network (``result``): note whether it judged it while the
        held reader was the only thing that could still move."""
        with self.cond:
            held = self.held
            if held is None or result or self.looked:
                return
            others = [conns for conns in watched if not any(c is held for c in conns)]
            if _settled(in_handler, others):
                self.looked = True
                self.cond.notify_all()

    def changed(self) -> None:
        with self.cond:
            self.cond.notify_all()


_settled = drain._settled
_gate: _Gate | None = None


def install(node: str) -> None:
    """Hold ``node``'s reader at the end of its stream during the first drain that sees it."""
    global _gate
    gate = _gate = _Gate(node)

    def reading(read: Callable[..., Any]) -> Callable[..., Any]:
        def gated(self: connection.Connection, *args: Any, **kwargs: Any) -> Any:
            try:
                return read(self, *args, **kwargs)
            except connection.EndOfStream:
                if gate.should_hold(self):
                    gate.hold(self)
                raise

        return gated

    connection.Connection.recv = reading(connection.Connection.recv)  # type: ignore[method-assign]
    connection.Connection.recv_many = reading(connection.Connection.recv_many)  # type: ignore[method-assign]

    abort = connection.Connection.abort

    def aborting(self: connection.Connection) -> list[Any]:
        try:
            return abort(self)
        finally:
            gate.changed()

    connection.Connection.abort = aborting  # type: ignore[method-assign]

    run = drain.Drain.run

    def draining(self: drain.Drain, topology: Any, *args: Any, **kwargs: Any) -> bool:
        with gate.cond:
            gate.connections = list(topology.connections)
            gate.drain_ended = False
        try:
            return run(self, topology, *args, **kwargs)
        finally:
            with gate.cond:
                gate.drain_ended = True
                gate.cond.notify_all()

    drain.Drain.run = draining  # type: ignore[method-assign]

    def settled(in_handler: Any, watched: list[list[connection.Connection]]) -> bool:
        result = _settled(in_handler, watched)
        gate.saw(in_handler, watched, result)
        return result

    drain._settled = settled
