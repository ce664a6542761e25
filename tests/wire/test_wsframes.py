"""The WebSocket frame codec both ends share: masking by role, fragments, control frames,
close frames, size limits (RFC 6455 sections 5 and 7)."""

from __future__ import annotations

import struct

import pytest

from flowpy.wire import wsframes
from flowpy.wire.wsframes import Binary, Close, FrameCodec, FrameError, Ping, Pong, Text


def frame(
    opcode: int, payload: bytes, fin: bool = True, key: bytes | None = None, rsv: int = 0
) -> bytes:
    """A frame built by hand, independently of the codec's own writer."""
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        head = bytes((first, bit | n))
    elif n < 65536:
        head = bytes((first, bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, bit | 127)) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


KEY = b"\x01\x82\x23\xf4"


def test_the_client_masks_every_frame_and_the_server_reads_them():
    client, server = FrameCodec(client=True), FrameCodec(client=False)
    out = client.text("héllo") + client.texts(["a", "b" * 200, "c" * 70000]) + client.ping(b"p")
    assert out[1] & 0x80  # the mask bit
    assert b"h\xc3\xa9llo" not in out  # the payload is not on the wire as it is
    assert list(server.receive(out)) == [
        Text("héllo"),
        Text("a"),
        Text("b" * 200),
        Text("c" * 70000),
        Ping(b"p"),
    ]


def test_two_batches_use_different_masking_keys():
    client = FrameCodec(client=True)
    one, two = client.text("same"), client.text("same")
    assert one[2:6] != two[2:6] and one[6:] != two[6:]


def test_a_batch_masks_each_frame_with_its_own_key_as_a_hand_made_frame_would():
    texts = ["", "é" * 3, "x" * 125, "y" * 126, "z" * 65536, "q"]
    out = FrameCodec(client=True).texts(texts)
    keys, at = [], 0
    for text in texts:  # walk the frames by their headers, rebuilding each by hand
        data = text.encode()
        size = {True: 2, False: 4 if len(data) < 65536 else 10}[len(data) < 126]
        key = out[at + size : at + size + 4]
        expected = frame(0x1, data, key=key)
        assert out[at : at + len(expected)] == expected
        keys.append(key)
        at += len(expected)
    assert at == len(out)
    assert len(set(keys)) == len(keys)  # a fresh key per frame (RFC 6455 5.3)


def test_the_server_never_masks_and_the_client_reads_its_frames():
    server, client = FrameCodec(client=False), FrameCodec(client=True)
    out = server.texts(["x", "y" * 300]) + server.pong(b"q") + server.close(1000, "bye")
    assert out == (
        frame(0x1, b"x")
        + frame(0x1, b"y" * 300)
        + frame(0xA, b"q")
        + frame(0x8, struct.pack("!H", 1000) + b"bye")
    )
    assert list(client.receive(out)) == [Text("x"), Text("y" * 300), Pong(b"q"), Close(1000, "bye")]


@pytest.mark.parametrize(
    ("client", "data", "why"),
    [
        (True, frame(0x1, b"x", key=KEY), "server frames must not be masked"),
        (False, frame(0x1, b"x"), "client frames must be masked"),
    ],
)
def test_each_side_refuses_the_other_masking(client, data, why):
    with pytest.raises(FrameError, match=why) as err:
        list(FrameCodec(client=client).receive(data))
    assert err.value.code == wsframes.PROTOCOL_ERROR


def test_fragments_are_joined_and_control_frames_may_come_between_them():
    codec = FrameCodec(client=True)
    data = (
        frame(0x1, "déj".encode()[:2], fin=False)
        + frame(0x9, b"ping")
        + frame(0x0, "déj".encode()[2:], fin=False)
        + frame(0x0, b"a vu")
        + frame(0x2, b"\x00\x01", fin=False)
        + frame(0x0, b"\x02")
    )
    # byte by byte: a frame split anywhere is picked up where it stopped
    events = [event for i in range(len(data)) for event in codec.receive(data[i : i + 1])]
    assert events == [Ping(b"ping"), Text("déja vu"), Binary(b"\x00\x01\x02")]


@pytest.mark.parametrize(
    ("data", "code", "why"),
    [
        (frame(0x0, b"x"), 1002, "continuation frame without a message"),
        (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002, "new message before"),
        (frame(0x9, b"p", fin=False), 1002, "fragmented control frame"),
        (frame(0x9, b"p" * 126), 1002, "control frame longer than 125 bytes"),
        (frame(0x3, b""), 1002, "unknown opcode"),
        (frame(0x1, b"x", rsv=0x40), 1002, "reserved bits"),
        (frame(0x1, b"\xff"), 1007, "not valid UTF-8"),
        (frame(0x8, b"\x03"), 1002, "one-byte payload"),
        (frame(0x8, struct.pack("!H", 999)), 1002, "invalid close code 999"),
        (frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007, "close reason"),
    ],
)
def test_protocol_violations_name_the_close_code(data, code, why):
    with pytest.raises(FrameError, match=why) as err:
        list(FrameCodec(client=True).receive(data))
    assert err.value.code == code


def test_close_without_a_code_and_with_a_private_one():
    codec = FrameCodec(client=True)
    assert list(codec.receive(frame(0x8, b"") + frame(0x8, struct.pack("!H", 4000)))) == [
        Close(wsframes.NO_STATUS),
        Close(4000),
    ]


def test_an_oversize_message_is_refused_at_its_header_before_its_payload():
    codec = FrameCodec(client=False, max_message_size=100)
    header_only = frame(0x1, b"x" * 200, key=KEY)[:8]  # the header and the key, no payload
    with pytest.raises(FrameError) as err:
        list(codec.receive(header_only))
    assert err.value.code == wsframes.TOO_BIG
    fragments = FrameCodec(client=False, max_message_size=100)
    first = frame(0x1, b"x" * 60, fin=False, key=KEY)
    with pytest.raises(FrameError, match="over 100 bytes"):
        list(fragments.receive(first + frame(0x0, b"y" * 60, key=KEY)[:8]))


def test_a_close_reason_is_cut_to_fit_without_splitting_a_character():
    payload = wsframes.close_payload(1001, "é" * 100)
    assert len(payload) <= 125
    assert payload[2:].decode("utf-8") == "é" * 61


def test_a_limit_changed_between_two_messages_applies_to_the_next():
    codec = FrameCodec(client=False, max_message_size=None)
    data = frame(0x1, b"a" * 10, key=KEY) + frame(0x1, b"b" * 10, key=KEY)
    events = codec.receive(data)
    assert next(events) == Text("a" * 10)
    codec.max_message_size = 5
    with pytest.raises(FrameError) as err:
        next(events)
    assert err.value.code == wsframes.TOO_BIG
