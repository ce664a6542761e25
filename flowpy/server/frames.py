"""WebSocket frames on the server side of a connection: bytes in, events out, no I/O.

Two codecs behind one interface: :class:`PlainCodec` (the wire layer's ``FrameCodec`` plus the
accounting of partial messages against the shared :mod:`~flowpy.server.budget`) and
:class:`WsprotoCodec` for connections that negotiated compression. ``release()`` gives the
budget back. Close codes and why: docs/architecture.md ("WebSocket frames").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flowpy.wire.wsframes import (
    GOING_AWAY,
    INVALID_DATA,
    NO_STATUS,
    NORMAL,
    POLICY_VIOLATION,
    PROTOCOL_ERROR,
    TOO_BIG,
    TRY_AGAIN_LATER,
    Binary,
    Close,
    Event,
    FrameCodec,
    FrameError,
    Ping,
    Pong,
    Text,
    close_payload,
)

from .budget import ByteBudget

if TYPE_CHECKING:
    from wsproto import WSConnection

__all__ = [
    "GOING_AWAY",
    "INVALID_DATA",
    "NO_STATUS",
    "NORMAL",
    "POLICY_VIOLATION",
    "PROTOCOL_ERROR",
    "TOO_BIG",
    "TRY_AGAIN_LATER",
    "Binary",
    "Close",
    "Event",
    "FrameError",
    "Ping",
    "Pong",
    "Text",
    "close_payload",
    "PlainCodec",
    "WsprotoCodec",
]


class PlainCodec(FrameCodec):
    """Server-side frames without extensions: masked frames in, unmasked frames out, and
    what partial messages hold taken from the budget every connection shares."""

    def __init__(
        self, max_message_size: int | None = None, budget: ByteBudget | None = None
    ) -> None:
        #: Larger messages are refused at their first frame header (1009). The connection
        #: may change it between two messages (a client that presented its secret).
        super().__init__(client=False, max_message_size=max_message_size)
        self.budget = budget or ByteBudget(None)
        self._held = 0  # bytes of the budget this connection holds

    def _incomplete(self, frame_size: int) -> None:
        self._hold(frame_size)

    def _fragment_kept(self) -> None:
        self._hold(0)  # the fragments so far wait in memory for the rest

    def _message_done(self) -> None:
        self.release()

    def _hold(self, frame_size: int) -> None:
        """A frame is incomplete: take what it and the message's earlier fragments will
        occupy from the budget shared by every connection, or refuse it (1013)."""
        wanted = self._fragment_size + frame_size - self._held
        if wanted > 0:
            if not self.budget.take(wanted):
                raise FrameError(
                    TRY_AGAIN_LATER, "the server holds too many partial messages; try again later"
                )
            self._held += wanted

    def release(self) -> None:
        """Give back what this connection holds of the budget (a message ended, or the
        connection did)."""
        if self._held:
            self.budget.give(self._held)
            self._held = 0


class WsprotoCodec:
    """The same interface on wsproto's connection, for connections with extensions
    (permessage-deflate): wsproto compresses, inflates and validates."""

    def __init__(
        self,
        connection: WSConnection,
        max_message_size: int | None = None,
        budget: ByteBudget | None = None,
    ) -> None:
        from wsproto import events as ws_events

        self._events = ws_events
        self._connection = connection  # wsproto.WSConnection, after the handshake
        self.max_message_size = max_message_size
        self.budget = budget or ByteBudget(None)
        self._held = 0
        self._parts: list[Any] = []
        self._size = 0

    def text(self, text: str) -> bytes:
        """One text message as frame bytes (compressed when negotiated)."""
        return self._connection.send(self._events.TextMessage(data=text))

    def ping(self, data: bytes = b"") -> bytes:
        """A ping frame (the writer's read marks)."""
        return self._connection.send(self._events.Ping(payload=data))

    def pong(self, data: bytes) -> bytes:
        """The pong answering a ping's ``data``."""
        return self._connection.send(self._events.Pong(payload=data))

    def close(self, code: int, reason: str = "") -> bytes:
        """The close frame (empty if wsproto already sent one)."""
        try:
            return self._connection.send(self._events.CloseConnection(code=code, reason=reason))
        except Exception:  # noqa: BLE001 - wsproto refuses a second close: nothing to send
            return b""

    def receive(self, data: bytes) -> Iterator[Event]:
        """The events ``data`` completes; FrameError on a protocol violation."""
        ev = self._events
        self._connection.receive_data(data)
        for event in self._connection.events():
            if isinstance(event, ev.CloseConnection):
                if event.code in (PROTOCOL_ERROR, INVALID_DATA, TOO_BIG) and event.reason:
                    raise FrameError(event.code, event.reason)
                yield Close(event.code, event.reason or "")
            elif isinstance(event, ev.Ping):
                yield Ping(bytes(event.payload))
            elif isinstance(event, ev.Pong):
                yield Pong(bytes(event.payload))
            elif isinstance(event, ev.Message):
                self._parts.append(event.data)
                self._size += len(event.data)
                if self.max_message_size is not None and self._size > self.max_message_size:
                    raise FrameError(TOO_BIG, f"message is over {self.max_message_size} bytes")
                if not event.message_finished:
                    if self._size > self._held:
                        if not self.budget.take(self._size - self._held):
                            raise FrameError(
                                TRY_AGAIN_LATER,
                                "the server holds too many partial messages; try again later",
                            )
                        self._held = self._size
                    continue
                parts, self._parts, self._size = self._parts, [], 0
                self.release()
                if isinstance(event, ev.TextMessage):
                    yield Text("".join(parts))
                else:
                    yield Binary(b"".join(bytes(p) for p in parts))

    def release(self) -> None:
        """Give back what this connection holds of the shared budget (it ended)."""
        if self._held:
            self.budget.give(self._held)
            self._held = 0
