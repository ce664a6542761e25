"""The send window and the inbox of a link, without sockets (flowpy.link.window, .inbox)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from flowpy.link.inbox import Inbox
from flowpy.link.window import WRITE_BATCH, SendWindow


def stats() -> dict[str, int]:
    return dict.fromkeys(
        (
            "sent",
            "resent",
            "acked",
            "handed_over",
            "received",
            "duplicates",
            "came_back",
            "inbox_peak",
        ),
        0,
    )


def connection() -> SimpleNamespace:
    return SimpleNamespace(lost=threading.Event())


def data(n: int) -> list[tuple[str, str, int]]:
    return [("in", "data", value) for value in range(n)]


# -- the send window ------------------------------------------------------------------------------


def test_put_takes_what_fits_and_a_full_window_waits_until_stopped():
    window = SendWindow(3, stats())
    assert window.put(data(8)) == 6 and len(window) == 6  # a window written, one waiting
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert window.put(data(1), stop) == 0
    assert time.monotonic() - started >= 0.09


def test_an_ack_makes_room_for_a_waiting_sender():
    counts = stats()
    window = SendWindow(1, counts)
    conn = connection()
    window.attach(conn, lambda: None)
    assert window.put([("in", "data", 1), ("in", "connect", None)]) == 2
    threading.Timer(0.05, window.ack, (conn, 1)).start()
    assert window.put(data(1)) == 1
    assert (counts["acked"], counts["handed_over"]) == (1, 1)  # only data counts as handed over


def test_close_releases_senders_and_flush():
    window = SendWindow(1, stats())
    assert window.put(data(2)) == 2
    threading.Timer(0.05, window.close).start()
    assert window.put(data(1)) == 0
    assert window.flush(timeout=1) is False


def test_no_more_than_a_window_is_written_unacknowledged():
    window = SendWindow(3, stats())
    conn = connection()
    window.attach(conn, lambda: None)
    window.put(data(6))
    taken = window.take()
    assert taken is not None and [seq for seq, _ in taken[1]] == [1, 2, 3]
    assert window.take() is None  # three wait: the remote has no room for them
    window.ack(conn, 2)
    taken = window.take()
    assert taken is not None and [seq for seq, _ in taken[1]] == [4, 5]
    assert window.take() is None


def test_acks_count_only_from_the_current_connection():
    window = SendWindow(10, stats())
    old, new = connection(), connection()
    window.put(data(3))
    window.attach(new, lambda: None)
    window.ack(old, 3)
    assert len(window) == 3
    window.ack(new, 2)
    assert len(window) == 1


def test_a_new_connection_writes_the_unacknowledged_again_in_batches():
    counts = stats()
    window = SendWindow(1000, counts)
    conn = connection()
    assert window.take() is None  # no connection: nothing to write to
    window.put(data(WRITE_BATCH + 10))
    window.attach(conn, lambda: None)
    first = window.take()
    assert first is not None and first[0] is conn and len(first[1]) == WRITE_BATCH
    window.count_written(first[1])
    rest = window.take()
    assert rest is not None and [seq for seq, _ in rest[1]][0] == WRITE_BATCH + 1
    window.count_written(rest[1])
    assert window.take() is None and window.oldest_written() == 1
    window.ack(conn, 5)
    again = connection()
    window.attach(again, lambda: None)
    replay = window.take()
    assert replay is not None and replay[1][0][0] == 6
    window.count_written(replay[1])
    assert counts["resent"] == WRITE_BATCH and counts["sent"] == 2 * WRITE_BATCH + 10


def test_a_lost_connection_gets_nothing_written():
    window = SendWindow(10, stats())
    conn = connection()
    window.attach(conn, lambda: None)
    window.put(data(2))
    conn.lost.set()
    assert window.take() is None


def test_a_refused_attach_leaves_the_window_as_it_was():
    window = SendWindow(10, stats())
    conn = connection()

    def refuse() -> None:
        raise RuntimeError("closing")

    try:
        window.attach(conn, refuse)
    except RuntimeError:
        pass
    assert window.connection is None and not window.is_current(conn)


def test_a_welcome_resumes_or_renumbers():
    counts = stats()
    window = SendWindow(10, counts)
    window.put(data(4))
    window.welcome(resumed=True, received=2)
    assert len(window) == 2 and counts["handed_over"] == 2
    window.welcome(resumed=False, received=0)  # the remote lost our session
    conn = connection()
    window.attach(conn, lambda: None)
    taken = window.take()
    assert taken is not None and [(seq, p.payload) for seq, p in taken[1]] == [(1, 2), (2, 3)]
    assert window.find(2).payload == 3 and window.find(3) is None


def test_a_goodbye_goes_past_a_full_window():
    window = SendWindow(1, stats())
    window.put(data(1))
    window.put_now("in", "disconnect")
    assert len(window) == 2


# -- the inbox ------------------------------------------------------------------------------------


def run_delivery(inbox: Inbox, delivered: list, acks: list) -> threading.Thread:
    def listener(port, event, payload):
        delivered.append((port, event, payload))
        return True

    def send_ack():
        seq = inbox.take_ack()
        if seq is not None:
            acks.append(seq)

    thread = threading.Thread(target=inbox.deliver, args=(listener, send_ack))
    thread.start()
    return thread


def wait_for(predicate, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_replays_are_delivered_once_and_acked_when_idle():
    counts = stats()
    inbox = Inbox(8, counts, "t")
    lost = threading.Event()
    for seq in (1, 2, 1, 2, 3):
        inbox.offer({"port": "out", "event": "data", "payload": seq, "seq": seq}, True, lost)
    inbox.offer({"port": "out", "event": "bogus", "seq": 4}, True, lost)  # dropped
    delivered: list = []
    acks: list = []
    thread = run_delivery(inbox, delivered, acks)
    try:
        assert wait_for(lambda: inbox.idle and acks and acks[-1] == 3)
        assert [p for _, _, p in delivered] == [1, 2, 3]
        assert counts["duplicates"] == 2 and counts["came_back"] == 3
    finally:
        inbox.close()
        thread.join(5)


def test_packets_of_a_lost_session_are_delivered_but_not_acked():
    inbox = Inbox(8, stats(), "t")
    lost = threading.Event()
    inbox.offer({"port": "out", "event": "data", "payload": "old", "seq": 1}, True, lost)
    inbox.welcome(resumed=False, acked=0)  # the remote restarted: a new numbering
    delivered: list = []
    acks: list = []
    thread = run_delivery(inbox, delivered, acks)
    try:
        assert wait_for(lambda: inbox.idle and delivered)
        assert acks == [] and inbox.take_ack() is None
        inbox.offer({"port": "out", "event": "data", "payload": "new", "seq": 1}, True, lost)
        assert wait_for(lambda: acks == [1])
    finally:
        inbox.close()
        thread.join(5)


def test_plain_mode_holds_the_reader_while_the_inbox_is_full():
    counts = stats()
    inbox = Inbox(2, counts, "t")
    lost = threading.Event()
    for value in range(2):
        inbox.offer({"port": "out", "event": "data", "payload": value}, False, lost)
    reader = threading.Thread(
        target=inbox.offer, args=({"port": "out", "event": "data", "payload": 2}, False, lost)
    )
    reader.start()
    reader.join(0.1)
    assert reader.is_alive(), "the reader should wait for room"
    lost.set()
    inbox.wake()
    reader.join(5)
    assert not reader.is_alive() and counts["inbox_peak"] == 3
