"""WebSocket frames (RFC 6455) on the server side of a connection: bytes in, events out.

Sans-I/O, like wsproto, whose handshake flowpy keeps using. Two codecs share one interface:

* :class:`PlainCodec`, flowpy's own, for connections without extensions (the default: the
  server declines permessage-deflate). It parses and builds frames about ten times faster than
  wsproto does in pure Python, which at tens of thousands of small protocol messages per second
  is most of what a server spends (bench/protocol.py).
* :class:`WsprotoCodec`, for connections that negotiated an extension (``--compression``),
  which wsproto implements.

``receive(data)`` yields the events that ``data`` completes: :class:`Text`, :class:`Binary`,
:class:`Ping`, :class:`Pong`, :class:`Close`, parsing each frame only when the one before has
been taken, so a message limit the connection changes after one message (a client that has
now presented its secret) applies to the next. A protocol violation raises
:class:`FrameError` with the close code to answer with: 1002 (protocol error), 1007 (text that
is not UTF-8), 1009 (a message over the size limit, refused at its first frame header, before
any of it is buffered), 1013 (the server's budget for partial messages, shared by every
connection (:mod:`~flowpy.server.budget`), cannot hold it). ``release()`` gives back what a
connection holds of that budget when it ends.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowpy.errors import FlowpyError

from .budget import ByteBudget

if TYPE_CHECKING:
    from wsproto import WSConnection

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
NORMAL = 1000
GOING_AWAY = 1001
NO_STATUS = 1005

_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN_OPCODES = frozenset({_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG})
#: Close codes a peer may send (RFC 6455 section 7.4): the defined ones and 3000-4999.
_VALID_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                          1014})


@dataclass(frozen=True)
class Text:
    data: str


@dataclass(frozen=True)
class Binary:
    data: bytes


@dataclass(frozen=True)
class Ping:
    data: bytes


@dataclass(frozen=True)
class Pong:
    data: bytes


@dataclass(frozen=True)
class Close:
    code: int
    reason: str = ""


Event = Text | Binary | Ping | Pong | Close


class FrameError(FlowpyError):
    """The peer broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask`` (in C, through big integers)."""
    length = len(payload)
    if not length:
        return b""
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        length, "little")


def _header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode  # FIN: flowpy never fragments what it sends
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def close_payload(code: int, reason: str = "") -> bytes:
    data = reason.encode("utf-8")[:123]
    return struct.pack("!H", code) + data


class PlainCodec:
    """Server-side frames without extensions: masked frames in, unmasked frames out."""

    def __init__(self, max_message_size: int | None = None,
                 budget: ByteBudget | None = None) -> None:
        #: Larger messages are refused at their first frame header (1009). The connection
        #: may change it between two messages (a client that presented its secret).
        self.max_message_size = max_message_size
        self.budget = budget or ByteBudget(None)
        self._held = 0  # bytes of the budget this connection holds
        self._buffer = bytearray()
        self._offset = 0  # where the next frame starts in _buffer
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_size = 0

    # -- out -------------------------------------------------------------------------------
    def text(self, text: str) -> bytes:
        data = text.encode("utf-8")
        return _header(_TEXT, len(data)) + data

    def pong(self, data: bytes) -> bytes:
        return _header(_PONG, len(data)) + data

    def close(self, code: int, reason: str = "") -> bytes:
        data = close_payload(code, reason)
        return _header(_CLOSE, len(data)) + data

    # -- in --------------------------------------------------------------------------------
    def receive(self, data: bytes) -> Iterator[Event]:
        """The events ``data`` completes, each parsed when it is taken: a limit changed
        between two events (``max_message_size``) applies to every frame after the first."""
        buffer = self._buffer
        if self._offset:
            del buffer[:self._offset]
            self._offset = 0
        buffer += data
        end = len(buffer)
        while end - self._offset >= 2:
            offset = self._offset
            first, second = buffer[offset], buffer[offset + 1]
            if first & 0x70:
                raise FrameError(PROTOCOL_ERROR, "reserved bits set without an extension")
            if not second & 0x80:
                raise FrameError(PROTOCOL_ERROR, "client frames must be masked")
            opcode = first & 0x0F
            length = second & 0x7F
            position = offset + 2
            if length == 126:
                if end - position < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, position)
                position += 2
            elif length == 127:
                if end - position < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, position)
                position += 8
            self._check_frame(opcode, bool(first & 0x80), length)
            if end - position < 4 + length:
                self._hold(position - offset + 4 + length)
                break
            mask = bytes(buffer[position:position + 4])
            position += 4
            payload = _unmask(bytes(buffer[position:position + length]), mask)
            self._offset = position + length
            event = self._frame(opcode, bool(first & 0x80), payload)
            if event is not None:
                yield event
        if self._offset:
            del buffer[:self._offset]
            self._offset = 0

    def _hold(self, frame_size: int) -> None:
        """A frame is incomplete: take what it and the message's earlier fragments will
        occupy from the budget shared by every connection, or refuse it (1013)."""
        wanted = self._fragment_size + frame_size - self._held
        if wanted > 0:
            if not self.budget.take(wanted):
                raise FrameError(TRY_AGAIN_LATER, "the server holds too many partial "
                                                  "messages; try again later")
            self._held += wanted

    def release(self) -> None:
        """Give back what this connection holds of the budget (a message ended, or the
        connection did)."""
        if self._held:
            self.budget.give(self._held)
            self._held = 0

    def _check_frame(self, opcode: int, fin: bool, length: int) -> None:
        """What can be refused from the header alone, before waiting for the payload."""
        if opcode not in _KNOWN_OPCODES:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode >= _CLOSE:
            if not fin:
                raise FrameError(PROTOCOL_ERROR, "fragmented control frame")
            if length > 125:
                raise FrameError(PROTOCOL_ERROR, "control frame longer than 125 bytes")
            return
        limit = self.max_message_size
        if limit is not None and self._fragment_size + length > limit:
            raise FrameError(TOO_BIG, f"message is over {limit} bytes")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> Event | None:
        if opcode == _PING:
            return Ping(payload)
        if opcode == _PONG:
            return Pong(payload)
        if opcode == _CLOSE:
            return self._close(payload)
        if opcode == _CONTINUATION:
            if self._fragment_opcode is None:
                raise FrameError(PROTOCOL_ERROR, "continuation frame without a message")
        elif self._fragment_opcode is not None:
            raise FrameError(PROTOCOL_ERROR, "new message before the last one ended")
        elif fin:  # the common case: a whole message in one frame
            self.release()
            return self._message(opcode, payload)
        else:
            self._fragment_opcode = opcode
        self._fragments.append(payload)
        self._fragment_size += len(payload)
        if not fin:
            self._hold(0)  # the fragments so far wait in memory for the rest
            return None
        opcode = self._fragment_opcode
        whole = b"".join(self._fragments)
        self._fragments = []
        self._fragment_opcode = None
        self._fragment_size = 0
        self.release()
        return self._message(opcode, whole)

    @staticmethod
    def _message(opcode: int, payload: bytes) -> Event:
        if opcode == _BINARY:
            return Binary(payload)
        try:
            return Text(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "text message is not valid UTF-8") from None

    @staticmethod
    def _close(payload: bytes) -> Close:
        if not payload:
            return Close(NO_STATUS)
        if len(payload) == 1:
            raise FrameError(PROTOCOL_ERROR, "close frame with a one-byte payload")
        (code,) = struct.unpack_from("!H", payload)
        if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
            raise FrameError(PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "close reason is not valid UTF-8") from None
        return Close(code, reason)


class WsprotoCodec:
    """The same interface on wsproto's connection, for connections with extensions
    (permessage-deflate): wsproto compresses, inflates and validates."""

    def __init__(self, connection: WSConnection, max_message_size: int | None = None,
                 budget: ByteBudget | None = None) -> None:
        from wsproto import events as ws_events

        self._events = ws_events
        self._connection = connection  # wsproto.WSConnection, after the handshake
        self.max_message_size = max_message_size
        self.budget = budget or ByteBudget(None)
        self._held = 0
        self._parts: list[Any] = []
        self._size = 0

    def text(self, text: str) -> bytes:
        return self._connection.send(self._events.TextMessage(data=text))

    def pong(self, data: bytes) -> bytes:
        return self._connection.send(self._events.Pong(payload=data))

    def close(self, code: int, reason: str = "") -> bytes:
        try:
            return self._connection.send(self._events.CloseConnection(code=code, reason=reason))
        except Exception:  # noqa: BLE001 - wsproto refuses a second close: nothing to send
            return b""

    def receive(self, data: bytes) -> Iterator[Event]:
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
                            raise FrameError(TRY_AGAIN_LATER, "the server holds too many "
                                                              "partial messages; try again later")
                        self._held = self._size
                    continue
                parts, self._parts, self._size = self._parts, [], 0
                self.release()
                if isinstance(event, ev.TextMessage):
                    yield Text("".join(parts))
                else:
                    yield Binary(b"".join(bytes(p) for p in parts))

    def release(self) -> None:
        if self._held:
            self.budget.give(self._held)
            self._held = 0
