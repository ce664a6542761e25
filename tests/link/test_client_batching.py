"""The client's per-packet work done per batch: the packet inbox, the reader's dispatch of one
read, replies that wake only their waiter, and a window refilled by the reader from each read.

No runtime: a socket stand-in records what the client writes, and the test feeds the reader
the messages a runtime would send."""

import json
import queue
import threading
import time

import pytest

from flowpy.link import streams
from flowpy.link.batchqueue import BatchQueue
from flowpy.link.client import Client, ConnectionClosed
from flowpy.link.client_core import DISPATCH_EVERY
from flowpy.link.pending import Done, Pending, Replies
from flowpy.link.skim import OUTPUT_PREFIX
from flowpy.link.writer import FrameWriter
from flowpy.wire import wsframes


class RecordingSocket:
    """What the client writes, frame by frame, as the runtime would read it."""

    def __init__(self) -> None:
        self.writes = 0
        self.messages: list[str] = []
        self._codec = wsframes.FrameCodec(client=False)
        self._lock = threading.Lock()

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self.writes += 1
            self.messages += [e.data for e in self._codec.receive(data)]

    def send(self, data: memoryview, flags: int = 0) -> int:
        self.sendall(bytes(data))
        return len(data)

    def gettimeout(self) -> None:
        return None


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.001)


def offline_client(**options) -> tuple[Client, RecordingSocket]:
    client = Client("ws://127.0.0.1:9/", **options)
    sock = RecordingSocket()
    client._sock = sock  # type: ignore[assignment]
    return client, sock


def start_stream(payload_of, count: int, window: int):
    """An offline client sending ``count`` data packets, one batch each, from a thread; the
    numbers of the packets its source has given so far, and the stream's result once done."""
    client, sock = offline_client()
    pulled: list[int] = []
    sent: list[int] = []

    def batches():
        for n in range(count):
            pulled.append(n)
            yield [("data", payload_of(n))]

    sender = threading.Thread(
        target=lambda: sent.append(client.send_batches("g", "in", batches(), window=window))
    )
    sender.start()
    return client, sock, pulled, sent, sender


def acknowledge_until_done(client: Client, sock: RecordingSocket, sent: list[int]) -> None:
    """Acknowledge everything written, a read at a time, until the stream says it is done."""
    acked = 0
    while len(sock.messages) > acked:
        ids = [json.loads(m)["requestId"] for m in sock.messages[acked:]]
        acked = len(sock.messages)
        client._dispatch_all([packetsent(i) for i in ids])
        client._run_reader_hooks()
        wait_until(lambda acked=acked: len(sock.messages) > acked or sent)


def packetsent(request_id: str) -> dict:
    return {
        "protocol": "runtime",
        "command": "packetsent",
        "payload": {"graph": "g", "port": "in", "event": "data"},
        "responseTo": request_id,
    }


def output(n: int) -> dict:
    return {
        "protocol": "runtime",
        "command": "packet",
        "payload": {"graph": "g", "port": "out", "event": "data", "payload": n},
    }


def test_batch_queue_moves_many_items_in_order_and_waits_for_room():
    inbox: BatchQueue[int] = BatchQueue(maxsize=3)
    give_up = threading.Event()
    assert inbox.put_many([1, 2], give_up) == 2
    assert inbox.get_many(10) == [1, 2]
    put = []
    feeder = threading.Thread(target=lambda: put.append(inbox.put_many([3, 4, 5, 6, 7], give_up)))
    feeder.start()
    taken = []
    while len(taken) < 5:  # the feeder waits for room each time the inbox is full
        batch = inbox.get_many(2, timeout=10)
        assert 1 <= len(batch) <= 2
        taken += batch
    feeder.join(10)
    assert taken == [3, 4, 5, 6, 7] and put == [5]
    with pytest.raises(queue.Empty):
        inbox.get_many(1, timeout=0)


def test_batch_queue_put_many_gives_up_when_told():
    inbox: BatchQueue[int] = BatchQueue(maxsize=1)
    give_up = threading.Event()
    give_up.set()
    assert inbox.put_many([1, 2, 3], give_up, poll=0.01) == 1
    assert inbox.get() == 1


def test_one_read_settles_its_replies_and_queues_its_outputs_together():
    client, sock = offline_client()
    pendings = client.send_packets_nowait("g", "in", [("data", n) for n in range(5)])
    assert sock.writes == 1 and len(sock.messages) == 5
    messages = []
    for n, pending in enumerate(pendings):
        messages += [packetsent(pending.request_id), output(n)]
    messages.append({"protocol": "network", "command": "output", "payload": {"message": "hi"}})
    client._dispatch_all(messages)
    assert all(p.done.is_set() and p.replies[0]["command"] == "packetsent" for p in pendings)
    assert [p["payload"] for p in client.recv_packets(timeout=0)] == [0, 1, 2, 3, 4]
    assert client.recv_message(timeout=0)["command"] == "output"
    assert not client._pending


def test_recv_packets_returns_what_arrived_then_reports_the_close():
    client, _ = offline_client()
    runtime = wsframes.FrameCodec(client=False)
    reads = iter([runtime.texts([json.dumps(output(1)), json.dumps(output(2))]), b""])
    client._read_loop(ReadSocket(reads))  # the reader: two outputs, then the runtime hangs up
    assert [p["payload"] for p in client.recv_packets(timeout=1)] == [1, 2]
    with pytest.raises(ConnectionClosed, match="the runtime closed the socket"):
        client.recv_packets(timeout=1)
    with pytest.raises(ConnectionClosed):  # and to every later caller
        client.recv_packet(timeout=1)


class ReadSocket:
    def __init__(self, reads) -> None:
        self._reads = reads

    def recv(self, size: int) -> bytes:
        return next(self._reads)


def test_a_reply_wakes_only_the_thread_waiting_for_it():
    replies = Replies()
    notified = []
    real_notify_all = replies.cond.notify_all
    replies.cond.notify_all = lambda: (notified.append(1), real_notify_all())[1]  # type: ignore[method-assign]
    first = Pending("runtime", "packet", "1", frozenset({"packetsent"}), done=Done(replies))
    second = Pending("runtime", "packet", "2", frozenset({"packetsent"}), done=Done(replies))
    waiting = threading.Thread(target=second.done.wait, args=(10,))
    waiting.start()
    while not second.done._waiters:  # the waiter has counted itself under the condition
        threading.Event().wait(0.001)
    first.done.set()
    assert notified == []  # nobody waits for the first: nobody is woken
    second.done.set()
    waiting.join(10)
    assert notified == [1] and not waiting.is_alive()


def test_the_reader_refills_the_window_from_the_acks_of_each_read():
    """The sender only queues; each read's acknowledgements make room and the reader hook
    writes that many packets at once, in the reader's thread, with one write."""
    client, sock = offline_client()
    window, count = 8, 40
    sent: list[int] = []
    sender = threading.Thread(
        target=lambda: sent.append(client.send_stream("g", "in", range(count), window=window))
    )
    sender.start()
    wait_until(lambda: client._reader_hooks)
    pump = client._reader_hooks[0].__self__  # type: ignore[attr-defined]
    acked, read_size = 0, 3

    def sender_waits() -> bool:  # for room in its queue, or for the last acknowledgements
        with pump._cond:  # held: a sender that set _awaited is in its wait, and stays while
            awaited = pump._awaited  # what it waits for does not hold
            return (awaited is not None and not awaited()) or not sender.is_alive()

    while acked < count + 2:  # connect, the data, disconnect
        wait_until(sender_waits)
        assert pump._in_flight <= window
        ids = [json.loads(m)["requestId"] for m in sock.messages[acked : acked + read_size]]
        before, written_before = sock.writes, len(sock.messages)
        waiting = len(pump._queued)
        client._dispatch_all([packetsent(i) for i in ids])  # one read of len(ids) acks...
        client._run_reader_hooks()
        acked += len(ids)
        refilled = min(len(ids), waiting)
        # ...refilled at once by this thread, in one write
        assert len(sock.messages) - written_before == refilled
        assert sock.writes - before == (1 if refilled else 0)
    sender.join(10)
    assert not sender.is_alive() and sent == [count]
    payloads = [json.loads(m)["payload"].get("payload") for m in sock.messages]
    assert payloads == [None, *range(count), None]
    assert not client._pending and not client._reader_hooks and not client._routes


def test_a_refusal_ends_the_stream_with_its_error_and_nothing_more_is_sent():
    client, sock = offline_client()
    failure: list[BaseException] = []

    def send() -> None:
        try:
            client.send_stream("g", "in", range(20), window=4)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            failure.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(sock.messages) == 4)
    first, second = (json.loads(m)["requestId"] for m in sock.messages[:2])
    refusal = {
        "protocol": "runtime",
        "command": "error",
        "payload": {"message": "no such port"},
        "responseTo": second,
    }
    client._dispatch_all([packetsent(first), refusal])
    client._run_reader_hooks()
    sender.join(10)
    assert not sender.is_alive() and len(sock.messages) == 4
    assert [str(e) for e in failure] == ["runtime:packet failed: no such port"]
    assert not client._routes


def test_a_runtime_that_names_no_request_still_acknowledges_the_stream_in_order():
    client, sock = offline_client()
    sent: list[int] = []
    sender = threading.Thread(
        target=lambda: sent.append(client.send_stream("g", "in", range(10), window=3))
    )
    sender.start()
    for n in range(12):  # connect, 10 data, disconnect: one packetsent each, no responseTo
        wait_until(lambda n=n: len(sock.messages) > n)  # the n-th packet is written
        bare = {"protocol": "runtime", "command": "packetsent", "payload": {}}
        client._dispatch_all([bare])
        client._run_reader_hooks()
    sender.join(10)
    assert sent == [10] and len(sock.messages) == 12


@pytest.mark.parametrize("secret", [None, 's"e\\cret'])
def test_queued_packets_are_the_messages_the_general_encoder_makes(secret):
    """queue_packets' template (scalars) and its fallback (anything else) against _encode."""
    client, sock = offline_client(secret=secret)
    packets = [
        ("connect", None),
        ("begingroup", 'g"1'),
        ("data", 7),
        ("data", 2**70),
        ("data", 'é \\ "q" \ud800'),
        ("data", None),
        ("data", float("nan")),
        ("data", True),
        ("data", {"deep": [[[1]]], "set": {1}}),
        ("endgroup", None),
        ("disconnect", None),
    ]
    pendings, upto = client.queue_packets('gr"aph', "in", packets)
    client.flush(upto)
    expected = []
    for (event, payload), pending in zip(packets, pendings, strict=True):
        body = {"graph": 'gr"aph', "port": "in", "event": event}
        if payload is not None or event == "data":
            body["payload"] = payload
        expected.append(json.loads(client._encode("runtime", "packet", body, pending.request_id)))
    assert [json.loads(m) for m in sock.messages] == expected


def test_a_write_the_socket_cannot_take_now_is_finished_later_in_order():
    """flush_nowait never waits: what the socket does not take stays first in line."""
    writer = FrameWriter()
    taken: list[bytes] = []

    class Filling:
        room = 5

        def gettimeout(self) -> None:
            return None

        def send(self, data: memoryview, flags: int) -> int:
            if not self.room:
                raise BlockingIOError
            n = min(self.room, len(data))
            taken.append(bytes(data[:n]))
            self.room -= n
            return n

        def sendall(self, data: bytes) -> None:
            taken.append(bytes(data))

    sock = Filling()
    writer.queue(b"abcdefgh")
    writer.flush_nowait(sock)  # type: ignore[arg-type]
    assert taken == [b"abcde"]
    writer.post(b"PONG")
    later = writer.queue(b"ij")
    writer.flush(sock, later)  # type: ignore[arg-type]
    assert b"".join(taken) == b"abcdefghPONGij"


def test_on_batch_takes_the_outputs_and_unawaited_replies_of_a_read_at_once():
    client, _ = offline_client()
    client.on_message = lambda message: pytest.fail(f"one by one: {message}")
    batches: list[list[dict]] = []
    client.on_batch = batches.append
    (awaited,) = client.send_packets_nowait("g", "in", [("data", 0)])
    client._dispatch_all(
        [packetsent(awaited.request_id), packetsent("L1-1"), output(1), packetsent("L1-2")]
    )
    assert awaited.done.is_set()  # a request's reply still settles it
    assert [[m["command"] for m in batch] for batch in batches] == [
        ["packet", "packetsent", "packetsent"]
    ]


class ScriptedReads(RecordingSocket):
    """A socket whose reads are given (each a runtime's frames), then the end."""

    def __init__(self, reads: list[list[dict]]) -> None:
        super().__init__()
        server = wsframes.FrameCodec(client=False)
        self._reads = [
            server.texts([json.dumps(m, separators=(",", ":")) for m in read]) for read in reads
        ]

    def recv(self, size: int) -> bytes:
        return self._reads.pop(0) if self._reads else b""


@pytest.mark.parametrize("keep_packets", [False, True])
def test_a_sender_drops_outputs_but_gets_its_replies_and_other_messages(keep_packets):
    """keep_packets=False (``flowpy send``): outputs go (those written as flowpy writes
    them, unparsed; others after parsing); replies and other messages still arrive."""
    client, _ = offline_client(keep_packets=keep_packets)
    pending = client.send_packet_nowait("g", "in", "data", 1)
    error = {"protocol": "network", "command": "error", "payload": {"message": "boom"}}
    other = {"command": "packet", "protocol": "runtime", "payload": {"graph": "g", "n": 9}}
    compact = [json.dumps(m, separators=(",", ":")) for m in (output(1), other)]
    assert compact[0].startswith(OUTPUT_PREFIX) and not compact[1].startswith(OUTPUT_PREFIX)
    sock = ScriptedReads([[output(1), packetsent(pending.request_id), output(2)], [error, other]])
    client._read_frames(sock)  # type: ignore[arg-type]
    assert pending.done.is_set() and pending.replies[-1]["command"] == "packetsent"
    kept = client.packets.get_many(10, timeout=0) if not client.packets.empty() else []
    assert [p["payload"].get("payload", p["payload"].get("n")) for p in kept] == (
        [1, 2, 9] if keep_packets else []
    )
    assert client.messages.get_many(10, timeout=0) == [error]


def test_named_packets_to_several_ports_are_the_messages_the_general_encoder_makes():
    """queue_named_packets (a plain-mode Link): runs of ports, each id where it was given."""
    client, sock = offline_client(secret="s")
    packets = [
        ("in", "connect", None),
        ("in", "data", 1),
        ("b", "data", {"x": [1]}),
        ("b", "endgroup", "g"),
        ("in", "data", "é"),
    ]
    ids = ["L1-1", "L1-2", "L1-3", "L1-4", "L1-5"]
    client.flush(client.queue_named_packets("gr", packets, ids))
    expected = []
    for (port, event, payload), request_id in zip(packets, ids, strict=True):
        body = {"graph": "gr", "port": port, "event": event}
        if payload is not None or event == "data":
            body["payload"] = payload
        expected.append(json.loads(client._encode("runtime", "packet", body, request_id)))
    assert [json.loads(m) for m in sock.messages] == expected
    assert sock.writes == 1


def test_replies_naming_no_request_fill_the_oldest_open_ones_around_named_ones():
    """A named reply may come first (its number is skipped); each reply that names no request
    takes the oldest request still open, so none is counted twice and the stream ends."""
    client, sock = offline_client()
    sent: list[int] = []
    sender = threading.Thread(
        target=lambda: sent.append(client.send_stream("g", "in", range(4), window=6))
    )
    sender.start()
    wait_until(lambda: len(sock.messages) == 6)  # connect, 4 data, disconnect
    ids = [json.loads(m)["requestId"] for m in sock.messages]
    bare = {"protocol": "runtime", "command": "packetsent", "payload": {}}
    client._dispatch_all([packetsent(ids[1]), packetsent(ids[3]), bare, bare])
    client._run_reader_hooks()
    assert not sent  # 1 and 3 named, 0 and 2 by order: 4 and 5 are still open
    client._dispatch_all([bare, packetsent(ids[4])])  # the bare one is 4's: 5 stays open
    client._run_reader_hooks()
    assert not sent
    client._dispatch_all([bare])
    client._run_reader_hooks()
    sender.join(10)
    assert sent == [4] and len(sock.messages) == 6


def test_a_long_read_is_handed_on_in_parts_each_followed_by_the_hooks():
    """A windowed sender refills from a hook: within one long read the hooks run every
    DISPATCH_EVERY frames at most, so the runtime gets new packets before the read is parsed."""
    client, _ = offline_client()
    handed: list[int] = []
    client.on_batch = lambda batch: handed.append(len(batch))
    seen_by_hook: list[int] = []
    client.add_reader_hook(lambda: seen_by_hook.append(sum(handed)))
    count = 2 * DISPATCH_EVERY + 22
    client._read_frames(ScriptedReads([[output(n) for n in range(count)]]))  # type: ignore[arg-type]
    assert seen_by_hook[-1] == count and len(seen_by_hook) >= 3
    steps = [b - a for a, b in zip([0, *seen_by_hook], seen_by_hook, strict=False)]
    assert all(0 < step <= DISPATCH_EVERY for step in steps)


def test_a_stream_queues_up_to_queue_ahead_packets_beyond_its_window_and_no_more(monkeypatch):
    """The reader refills the window from a queue the caller keeps QUEUE_AHEAD deep, so the
    caller can be away from the GIL a while; the queue stays bounded all the same."""
    monkeypatch.setattr(streams, "QUEUE_AHEAD", 10)
    client, sock, pulled, sent, sender = start_stream(lambda n: n, 30, window=4)
    wait_until(lambda: len(pulled) == 15)  # 4 written, 10 queued, one waiting for room
    sender.join(0.2)
    assert sender.is_alive() and len(pulled) == 15 and len(sock.messages) == 4
    acknowledge_until_done(client, sock, sent)
    sender.join(10)
    assert sent == [30] and len(pulled) == 30
    assert [json.loads(m)["payload"]["payload"] for m in sock.messages] == list(range(30))


def test_a_stray_reply_naming_no_request_does_not_take_the_place_of_a_later_one():
    """A bare packetsent while nothing is open is not ours; the next request written still
    gets the next bare reply (the stream would otherwise wait for it until its timeout)."""
    client, sock = offline_client()
    later = threading.Event()
    bare = {"protocol": "runtime", "command": "packetsent", "payload": {}}

    def batches():
        yield [("connect", None)]
        later.wait(10)
        yield [("data", 1)]
        yield [("disconnect", None)]

    sent: list[int] = []
    sender = threading.Thread(
        target=lambda: sent.append(client.send_batches("g", "in", batches(), window=1))
    )
    sender.start()
    wait_until(lambda: len(sock.messages) == 1)
    client._dispatch_all([bare])  # the connect's
    client._run_reader_hooks()
    client._dispatch_all([bare])  # nothing is open: a stray one
    client._run_reader_hooks()
    later.set()
    for written in (2, 3):
        wait_until(lambda written=written: len(sock.messages) == written)
        client._dispatch_all([bare])
        client._run_reader_hooks()
    sender.join(10)
    assert sent == [1] and len(sock.messages) == 3


@pytest.mark.parametrize(
    ("payload", "queued"),
    [
        ("x" * 300, 3),  # 364 each: the third reaches the 1,000 bytes, 3 are queued
        ({"big": "unknown"}, 2),  # a structure weighs UNSIZED_WEIGHT: a window's worth only
        (7, 10),  # scalars: up to QUEUE_AHEAD
    ],
)
def test_what_a_stream_queues_beyond_a_window_is_bounded_in_bytes_too(monkeypatch, payload, queued):
    """Large payloads are not queued thousands deep: beyond a window's worth, the queue
    stops at QUEUE_AHEAD packets or QUEUE_AHEAD_BYTES, whichever comes first."""
    monkeypatch.setattr(streams, "QUEUE_AHEAD", 10)
    monkeypatch.setattr(streams, "QUEUE_AHEAD_BYTES", 1000)
    monkeypatch.setattr(streams, "UNSIZED_WEIGHT", 5000)
    client, sock, pulled, sent, sender = start_stream(lambda n: payload, 20, window=2)
    in_hand = 2 + queued + 1  # written, queued, and one waiting for room
    wait_until(lambda: len(pulled) == in_hand)
    sender.join(0.2)
    assert sender.is_alive() and len(pulled) == in_hand and len(sock.messages) == 2
    acknowledge_until_done(client, sock, sent)
    sender.join(10)
    assert sent == [20] and len(sock.messages) == 20
