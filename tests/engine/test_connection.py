"""Connections: back-pressure, end-of-stream, batching, no loss under concurrency."""

import threading

import pytest

from flowpy.engine.connection import Connection, EndOfStream, NetworkStopped, Selector


def test_fifo_order_and_end_of_stream():
    conn = Connection(capacity=8)
    for n in range(5):
        assert conn.send(n)
    conn.close_writer()
    assert [conn.recv() for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(EndOfStream):
        conn.recv()


def test_send_blocks_while_full_until_reader_drains():
    conn = Connection(capacity=4)
    for n in range(4):
        conn.send(n)
    sent = threading.Event()

    def writer():
        conn.send("fifth")
        sent.set()

    t = threading.Thread(target=writer)
    t.start()
    assert not sent.wait(0.2), "send must block while the connection is full"
    assert len(conn) == 4
    # Draining to the low watermark (capacity // 2) releases the writer.
    assert conn.recv() == 0
    assert conn.recv() == 1
    assert sent.wait(5)
    t.join()
    assert conn.recv_many() == [2, 3, "fifth"]


def test_recv_blocks_until_item_or_close():
    conn = Connection(capacity=2)
    got = []
    t = threading.Thread(target=lambda: got.append(conn.recv()))
    t.start()
    conn.send("x")
    t.join(5)
    assert got == ["x"]

    ended = threading.Event()

    def reader():
        try:
            conn.recv()
        except EndOfStream:
            ended.set()

    t = threading.Thread(target=reader)
    t.start()
    conn.close_writer()
    assert ended.wait(5)
    t.join()


def test_recv_timeout():
    conn = Connection()
    with pytest.raises(TimeoutError):
        conn.recv(timeout=0.05)
    with pytest.raises(TimeoutError):
        conn.recv_many(timeout=0.05)


def test_end_of_stream_waits_for_every_writer():
    conn = Connection(writers=3)
    conn.send("a")
    conn.close_writer()
    conn.close_writer()
    assert not conn.closed
    conn.send("b")
    conn.close_writer()
    assert conn.closed
    assert conn.recv_many() == ["a", "b"]
    with pytest.raises(EndOfStream):
        conn.recv_many()


def test_preloaded_connection_without_writers_is_an_iip():
    conn = Connection(capacity=1, writers=0)
    conn.preload(["iip1", "iip2"])  # IIPs ignore capacity
    assert conn.recv() == "iip1"
    assert conn.recv() == "iip2"
    with pytest.raises(EndOfStream):
        conn.recv()


def test_send_many_larger_than_capacity_is_delivered_whole_and_in_order():
    conn = Connection(capacity=16)
    items = list(range(1000))
    t = threading.Thread(target=lambda: (conn.send_many(items), conn.close_writer()))
    t.start()
    got = []
    try:
        while True:
            batch = conn.recv_many(7)
            assert 1 <= len(batch) <= 7
            got.extend(batch)
    except EndOfStream:
        pass
    t.join()
    assert got == items


@pytest.mark.parametrize("batched", [False, True])
def test_no_loss_under_concurrency_with_fan_in(batched):
    writers, per_writer = 4, 20000
    conn = Connection(capacity=64, writers=writers)

    def writer(w):
        items = [(w, n) for n in range(per_writer)]
        if batched:
            for start in range(0, per_writer, 50):
                conn.send_many(items[start : start + 50])
        else:
            for item in items:
                conn.send(item)
        conn.close_writer()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    got = []
    try:
        while True:
            got.extend(conn.recv_many(33) if batched else [conn.recv()])
    except EndOfStream:
        pass
    for t in threads:
        t.join()
    assert len(got) == writers * per_writer
    for w in range(writers):  # each writer's items stay in its order
        assert [n for (ww, n) in got if ww == w] == list(range(per_writer))


def test_close_reader_releases_blocked_writer_and_counts_discards():
    conn = Connection(capacity=2)
    conn.send(1)
    conn.send(2)
    result = []
    t = threading.Thread(target=lambda: result.append(conn.send(3)))
    t.start()
    assert conn.close_reader() == 2
    t.join(5)
    assert result == [False]
    assert conn.send(4) is False
    assert conn.dropped == 4


def test_abort_wakes_blocked_writer_and_reader():
    full = Connection(capacity=1)
    full.send(0)
    errors = []

    def writer():
        try:
            full.send(1)
        except NetworkStopped:
            errors.append("stopped")

    empty = Connection()
    ended = []

    def reader():
        try:
            empty.recv()
        except EndOfStream:
            ended.append(True)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    full.abort()
    empty.abort()
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert errors == ["stopped"] and ended == [True]


def test_selector_is_poked_on_first_item_and_on_close():
    selector = Selector()
    conn = Connection()
    conn.selector = selector
    seen = selector.generation
    conn.send("a")
    assert selector.wait(seen, timeout=1)
    seen = selector.generation
    conn.send("b")  # not empty before: no poke needed
    assert selector.generation == seen
    conn.close_writer()
    assert selector.generation != seen


def test_writers_wake_only_at_low_watermark():
    """A blocked writer stays parked until the reader drains to half the capacity."""
    conn = Connection(capacity=10)
    conn.send_many(list(range(10)))
    released = threading.Event()
    t = threading.Thread(target=lambda: (conn.send("x"), released.set()))
    t.start()
    for _ in range(4):  # 6 left: above the watermark of 5
        conn.recv()
    assert not released.wait(0.1)
    conn.recv()  # 5 left: at the watermark
    assert released.wait(5)
    t.join()


def test_send_many_tells_how_many_entered_before_the_reader_sees_them():
    """on_queued(n) runs under the lock as each part goes in: its total is what the reader can
    take, never less, so a caller counting with it never counts behind the reader."""
    conn = Connection(capacity=16)
    counted: list[int] = []
    t = threading.Thread(
        target=lambda: (conn.send_many(list(range(100)), counted.append), conn.close_writer())
    )
    t.start()
    got = []
    try:
        while True:
            batch = conn.recv_many(10)
            assert len(got) + len(batch) <= sum(counted)  # read only what was counted in
            got.extend(batch)
    except EndOfStream:
        pass
    t.join()
    assert got == list(range(100))
    assert sum(counted) == 100 and all(1 <= n <= 16 for n in counted)
