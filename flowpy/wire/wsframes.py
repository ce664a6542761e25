"""WebSocket frames (RFC 6455) for both ends of a connection: bytes in, events out, no I/O.

:class:`FrameCodec` (``client=True`` masks what it sends, ``client=False`` refuses unmasked
frames) parses one frame per event taken, so a changed message limit applies to the next;
violations raise :class:`FrameError` with the close code. Why and how: docs/architecture.md
("WebSocket frames").
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flowpy.errors import FlowpyError

NORMAL = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
NO_STATUS = 1005
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN_OPCODES = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})
#: Close codes a peer may send (RFC 6455 section 7.4): the defined ones and 3000-4999.
_VALID_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_MASK_BIT = 0x80
_FINAL_TEXT = 0x80 | TEXT  # a frame's first byte: a whole text message, no reserved bits
_UNMASKED_SHORT = bytes(6)  # the keystream under a short frame's header and key
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


@dataclass(slots=True)
class Text:
    """A text message."""

    data: str


@dataclass(slots=True)
class Binary:
    """A binary message."""

    data: bytes


@dataclass(slots=True)
class Ping:
    """A ping (to be answered with a pong of the same data)."""

    data: bytes


@dataclass(slots=True)
class Pong:
    """A pong."""

    data: bytes


@dataclass(slots=True)
class Close:
    """A close frame: the peer's code and reason."""

    code: int
    reason: str = ""


Event = Text | Binary | Ping | Pong | Close


class FrameError(FlowpyError):
    """The peer broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def mask(payload: bytes | bytearray, key: bytes | bytearray) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``key`` (masking and unmasking alike; in C,
    through two big integers, rather than a Python loop over the bytes)."""
    length = len(payload)
    if not length:
        return b""
    repeated = (bytes(key) * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        length, "little"
    )


def header(opcode: int, length: int, masked: bool = False) -> bytes:
    """A final frame's header (flowpy never fragments what it sends)."""
    first = 0x80 | opcode
    bit = _MASK_BIT if masked else 0
    if length < 126:
        return bytes((first, bit | length))
    if length < 65536:
        return bytes((first, bit | 126)) + _U16.pack(length)
    return bytes((first, bit | 127)) + _U64.pack(length)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code, then as much of the reason as fits in 125 bytes."""
    data = reason.encode("utf-8")[:123]
    while data:  # never cut a character in half: the peer must be able to decode it
        try:
            data.decode("utf-8")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return _U16.pack(code) + data


class _MaskingKeys:
    """Masking keys from the system's entropy source (RFC 6455 section 5.3 asks for keys a
    proxy cannot predict), fetched in blocks: one system call for many frames."""

    BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        """``count`` keys of 4 bytes, as one string."""
        size = 4 * count
        with self._lock:
            if self._at + size > len(self._pool):
                self._pool = os.urandom(max(self.BLOCK, size))
                self._at = 0
            at = self._at
            self._at = at + size
            return self._pool[at : at + size]


_KEYS = _MaskingKeys()


class FrameCodec:
    """One end of a WebSocket connection without extensions (see the module docstring)."""

    def __init__(self, client: bool, max_message_size: int | None = None) -> None:
        self.client = client
        #: Larger messages are refused at the frame header that takes them over (1009).
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._offset = 0  # where the next frame starts in _buffer
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_size = 0

    # -- out -------------------------------------------------------------------------------
    def frame(self, opcode: int, data: bytes) -> bytes:
        """One unfragmented frame (masked with a fresh key on the client side)."""
        if not self.client:
            return header(opcode, len(data)) + data
        key = _KEYS.take(1)
        return header(opcode, len(data), True) + key + mask(data, key)

    def text(self, text: str) -> bytes:
        """One text message as one frame."""
        return self.frame(TEXT, text.encode("utf-8"))

    def texts(self, texts: Sequence[str]) -> bytes:
        """Several text messages as one buffer: one system call writes them all."""
        parts: list[bytes] = []
        append = parts.append
        if not self.client:
            for text in texts:
                data = text.encode("utf-8")
                append(header(TEXT, len(data)))
                append(data)
            return b"".join(parts)
        # Masked all at once: the frames as they go, XORed in one operation with a stream of
        # the same length that holds zeros under each header and key, and the frame's own
        # key repeated under its payload (a big-integer XOR per frame cost more than the
        # rest of a small frame's making).
        keys = _KEYS.take(len(texts))
        stream: list[bytes] = []
        keep = stream.append
        at = 0
        for text in texts:
            data = text.encode("utf-8")
            key = keys[at : at + 4]
            at += 4
            length = len(data)
            if length < 126:
                append(bytes((_FINAL_TEXT, _MASK_BIT | length)))
                keep(_UNMASKED_SHORT)
            else:
                head = header(TEXT, length, True)
                append(head)
                keep(bytes(len(head) + 4))
            append(key)
            append(data)
            keep((key * (length // 4 + 1))[:length])
        frames = b"".join(parts)
        masked = int.from_bytes(frames, "little") ^ int.from_bytes(b"".join(stream), "little")
        return masked.to_bytes(len(frames), "little")

    def ping(self, data: bytes = b"") -> bytes:
        """A ping (data cut to the 125 bytes a control frame may hold)."""
        return self.frame(PING, data[:125])

    def pong(self, data: bytes) -> bytes:
        """A pong (data cut to the 125 bytes a control frame may hold)."""
        return self.frame(PONG, data[:125])

    def close(self, code: int, reason: str = "") -> bytes:
        """A close frame with ``code`` and ``reason``."""
        return self.frame(CLOSE, close_payload(code, reason))

    # -- in --------------------------------------------------------------------------------
    def receive(self, data: bytes) -> Iterator[Event]:
        """The events ``data`` completes, each parsed when it is taken."""
        buffer = self._buffer
        if self._offset:
            del buffer[: self._offset]
            self._offset = 0
        buffer += data
        expect_mask = 0 if self.client else _MASK_BIT
        end = len(buffer)
        while True:
            offset = self._offset
            if end - offset < 2:
                break
            first, second = buffer[offset], buffer[offset + 1]
            if second & _MASK_BIT != expect_mask:
                raise FrameError(
                    PROTOCOL_ERROR,
                    "server frames must not be masked"
                    if self.client
                    else "client frames must be masked",
                )
            length = second & 0x7F
            position = offset + 2
            if length == 126:
                if end - position < 2:
                    break
                (length,) = _U16.unpack_from(buffer, position)
                position += 2
            elif length == 127:
                if end - position < 8:
                    break
                (length,) = _U64.unpack_from(buffer, position)
                position += 8
            limit = self.max_message_size
            # The common case, checked at once: a whole text message within the limit.
            if (
                first != _FINAL_TEXT
                or self._fragment_opcode is not None
                or (limit is not None and length > limit)
            ):
                self._check_frame(first, length)
            stop = position + length
            if expect_mask:
                stop += 4
                if end < stop:
                    self._incomplete(stop - offset)
                    break
                payload = mask(buffer[position + 4 : stop], buffer[position : position + 4])
            else:
                if end < stop:
                    self._incomplete(stop - offset)
                    break
                payload = bytes(buffer[position:stop])
            self._offset = stop
            if first == _FINAL_TEXT and self._fragment_opcode is None:
                self._message_done()
                try:
                    yield Text(payload.decode("utf-8"))
                except UnicodeDecodeError:
                    raise FrameError(INVALID_DATA, "text message is not valid UTF-8") from None
                continue
            event = self._frame(first & 0x0F, bool(first & 0x80), payload)
            if event is not None:
                yield event
        if self._offset:  # what was parsed goes now, not at the next read
            del buffer[: self._offset]
            self._offset = 0

    # -- hooks for a side that accounts for what it holds (the server's shared budget) ------
    def _incomplete(self, frame_size: int) -> None:
        """The next frame (``frame_size`` bytes in all) has not fully arrived yet."""

    def _fragment_kept(self) -> None:
        """A fragment of an unfinished message was kept, waiting for the rest."""

    def _message_done(self) -> None:
        """A whole message has arrived (whatever was held for it may go)."""

    def _check_frame(self, first: int, length: int) -> None:
        """What can be refused from the header alone, before waiting for the payload."""
        opcode, fin = first & 0x0F, bool(first & 0x80)
        if first & 0x70:
            raise FrameError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if opcode not in _KNOWN_OPCODES:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode >= CLOSE:
            if not fin:
                raise FrameError(PROTOCOL_ERROR, "fragmented control frame")
            if length > 125:
                raise FrameError(PROTOCOL_ERROR, "control frame longer than 125 bytes")
            return
        limit = self.max_message_size
        if limit is not None and self._fragment_size + length > limit:
            raise FrameError(TOO_BIG, f"message is over {limit} bytes")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> Event | None:
        if opcode == PING:
            return Ping(payload)
        if opcode == PONG:
            return Pong(payload)
        if opcode == CLOSE:
            return self._close(payload)
        if opcode == CONTINUATION:
            if self._fragment_opcode is None:
                raise FrameError(PROTOCOL_ERROR, "continuation frame without a message")
        elif self._fragment_opcode is not None:
            raise FrameError(PROTOCOL_ERROR, "new message before the last one ended")
        elif fin:
            self._message_done()
            return self._message(opcode, payload)
        else:
            self._fragment_opcode = opcode
        self._fragments.append(payload)
        self._fragment_size += len(payload)
        if not fin:
            self._fragment_kept()
            return None
        opcode = self._fragment_opcode
        whole = b"".join(self._fragments)
        self._fragments = []
        self._fragment_opcode = None
        self._fragment_size = 0
        self._message_done()
        return self._message(opcode, whole)

    @staticmethod
    def _message(opcode: int, payload: bytes) -> Event:
        if opcode == BINARY:
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
        (code,) = _U16.unpack_from(payload)
        if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
            raise FrameError(PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "close reason is not valid UTF-8") from None
        return Close(code, reason)
