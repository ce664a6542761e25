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


def plain(value: object) -> dict:
    return {"port": "out", "event": "data", "payload": value}


class Taker:
    """A batch listener that records who delivered what, and can be held mid-delivery."""

    def __init__(self, take_only: int | None = None) -> None:
        self.batches: list[tuple[str, list]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.take_only = take_only

    def __call__(self, packets: list) -> int:
        self.batches.append((threading.current_thread().name, [p for _, _, p in packets]))
        self.entered.set()
        assert self.release.wait(5)
        return len(packets) if self.take_only is None else self.take_only

    def values(self) -> list:
        return [value for _, batch in self.batches for value in batch]


def start_delivery(inbox: Inbox, taker: Taker) -> threading.Thread:
    thread = threading.Thread(
        target=inbox.deliver, args=(None, lambda: None, taker), name="deliver"
    )
    thread.start()
    assert wait_for(lambda: inbox._direct is not None)
    return thread


def offer_on(name: str, inbox: Inbox, payloads: list, lost: threading.Event) -> threading.Thread:
    reader = threading.Thread(target=inbox.offer_many, args=(payloads, False, lost), name=name)
    reader.start()
    return reader


def test_plain_mode_the_reader_delivers_itself_when_nothing_is_queued():
    counts = stats()
    inbox = Inbox(4, counts, "t")
    taker = Taker()
    delivery = start_delivery(inbox, taker)
    try:
        lost = threading.Event()
        reader = offer_on("reader", inbox, [plain(1), {"port": 2}, plain(2)], lost)
        reader.join(5)
        assert taker.batches == [("reader", [1, 2])]  # the malformed one dropped, no hand-off
        assert counts["received"] == 2 and counts["came_back"] == 2 and inbox.idle
    finally:
        inbox.close()
        delivery.join(5)


def test_plain_mode_packets_queue_behind_a_delivery_at_work_and_keep_their_order():
    inbox = Inbox(8, stats(), "t")
    taker = Taker()
    delivery = start_delivery(inbox, taker)
    lost = threading.Event()
    try:
        taker.release.clear()
        first = offer_on("reader-1", inbox, [plain(1), plain(2)], lost)
        assert taker.entered.wait(5)
        assert not inbox.idle  # a reader's delivery counts as work in hand
        # The next connection's reader comes while the first still delivers: it queues,
        # and the delivery thread, not it, hands its packets on once the first is done.
        second = offer_on("reader-2", inbox, [plain(3)], lost)
        second.join(5)
        assert not second.is_alive()
        assert [values for _, values in taker.batches] == [[1, 2]]
        taker.release.set()
        first.join(5)
        assert wait_for(lambda: inbox.idle and taker.values() == [1, 2, 3])
        assert [who for who, _ in taker.batches] == ["reader-1", "deliver"]
    finally:
        taker.release.set()
        inbox.close()
        delivery.join(5)


def test_plain_mode_a_local_side_that_takes_no_more_ends_delivery():
    counts = stats()
    inbox = Inbox(4, counts, "t")
    taker = Taker(take_only=1)
    delivery = start_delivery(inbox, taker)
    lost = threading.Event()
    offer_on("reader", inbox, [plain(1), plain(2)], lost).join(5)
    delivery.join(5)
    assert not delivery.is_alive() and counts["received"] == 1
    offer_on("reader", inbox, [plain(3)], lost).join(5)  # dropped, not held: nothing delivers
    assert taker.values() == [1, 2] and inbox.idle
