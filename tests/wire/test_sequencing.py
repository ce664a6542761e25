"""The seq/ack/epoch arithmetic both ends of a link share (docs/bridge-protocol.md), alone."""

from __future__ import annotations

import pytest

from flowpy.errors import FlowpyError
from flowpy.wire.sequencing import (
    DUPLICATE,
    GAP,
    NEW,
    Incoming,
    Outgoing,
    SequenceError,
    ack_interval,
    verdict,
)

# -- verdicts and the ack interval --------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "received", "expected"),
    [
        (1, 0, NEW),
        (4, 3, NEW),
        (1, 1, DUPLICATE),
        (2, 3, DUPLICATE),
        (3, 3, DUPLICATE),
        (2, 0, GAP),
        (9, 3, GAP),
    ],
)
def test_verdict(seq, received, expected):
    assert verdict(seq, received) == expected


@pytest.mark.parametrize(("window", "interval"), [(1, 1), (3, 1), (4, 1), (8, 2), (300, 75)])
def test_an_ack_is_worth_a_quarter_window_and_never_less_than_one_packet(window, interval):
    assert ack_interval(window) == interval


def test_sequence_errors_are_flowpy_errors():
    assert issubclass(SequenceError, FlowpyError)


# -- Incoming -------------------------------------------------------------------------------------


def test_incoming_takes_in_order_and_drops_replays():
    inbound = Incoming()
    taken = []
    for seq in (1, 2, 1, 2, 3, 5, 3, 4):
        if inbound.verdict(seq) == NEW:
            inbound.take(seq)
            taken.append(seq)
    assert taken == [1, 2, 3, 4] and inbound.received == 4


def test_taking_a_seq_twice_is_an_error():
    inbound = Incoming()
    inbound.take(1)
    with pytest.raises(SequenceError):
        inbound.take(1)


def test_a_receiver_may_accept_a_gap():
    inbound = Incoming()
    inbound.take(1)
    assert inbound.verdict(4) == GAP
    inbound.take(4)  # the caller decided to live with the gap
    assert inbound.received == 4 and inbound.verdict(5) == NEW
    assert inbound.finish_through(4) == 4


def test_finished_moves_only_over_an_unbroken_run():
    inbound = Incoming()
    for seq in range(1, 6):
        inbound.take(seq)
    assert inbound.finish(2) == 0  # 1 is still on its way
    assert inbound.finish(3) == 0
    assert inbound.finish(1) == 3  # 1, 2, 3 are all done now
    assert inbound.finish(1) == 3  # finishing again changes nothing
    assert inbound.finish(5) == 3
    assert inbound.finish(4) == 5


def test_nothing_finishes_before_it_was_received():
    inbound = Incoming()
    inbound.take(1)
    with pytest.raises(SequenceError):
        inbound.finish(2)
    with pytest.raises(SequenceError):
        inbound.finish_through(2)


def test_finish_through_covers_everything_before_and_forgets_early_finishes():
    inbound = Incoming()
    for seq in range(1, 6):
        inbound.take(seq)
    inbound.finish(3)
    inbound.finish(5)
    assert inbound.finish_through(3) == 3
    assert inbound.finish(4) == 5  # 5 was finished early and is still counted


def test_acks_are_cumulative_and_said_once():
    inbound = Incoming()
    assert inbound.take_ack() is None  # nothing finished: no ack of 0
    for seq in range(1, 4):
        inbound.take(seq)
        inbound.finish(seq)
    assert inbound.owed == 3
    assert inbound.take_ack() == 3
    assert inbound.owed == 0 and inbound.take_ack() is None
    assert inbound.take_ack(force=True) == 3  # a duplicate: say it again


@pytest.mark.parametrize(
    ("finished", "idle", "due"),
    [
        (0, True, False),  # nothing owed
        (1, True, True),  # owed, and nothing more on its way: never keep the sender waiting
        (1, False, False),  # owed, more on its way, under a quarter window
        (2, False, True),  # a quarter of the window of 8
        (3, False, True),
    ],
)
def test_an_ack_is_due_when_idle_or_after_a_quarter_window(finished, idle, due):
    inbound = Incoming()
    for seq in range(1, finished + 1):
        inbound.take(seq)
        inbound.finish(seq)
    assert inbound.ack_due(8, idle) is due


def test_a_new_connection_is_owed_what_its_peer_has_not_heard():
    inbound = Incoming()
    for seq in range(1, 6):
        inbound.take(seq)
        inbound.finish(seq)
    assert inbound.take_ack() == 5
    inbound.peer_heard(3)  # the ack of 5 was lost with the connection
    assert inbound.owed == 2 and inbound.take_ack() == 5
    inbound.peer_heard(9)  # a peer claiming more than was said changes nothing
    assert inbound.acked == 5
    inbound.peer_heard(0)  # the server's new connection: nothing heard on it yet
    assert inbound.take_ack() == 5


def test_a_new_session_starts_a_new_epoch_at_one():
    inbound = Incoming()
    for seq in range(1, 4):
        inbound.take(seq)
    inbound.finish(2)
    inbound.finish(1)
    inbound.take_ack()
    epoch = inbound.epoch
    inbound.restart()
    assert inbound.epoch == epoch + 1
    assert (inbound.received, inbound.finished, inbound.acked) == (0, 0, 0)
    assert inbound.verdict(1) == NEW and inbound.verdict(2) == GAP
    inbound.take(1)
    inbound.take(2)
    assert inbound.finish(2) == 0  # nothing early survives from the old numbering


# -- Outgoing -------------------------------------------------------------------------------------


def sent(outbound: Outgoing, limit: int | None = None) -> list[tuple[int, str]]:
    return outbound.take_unwritten(limit)


def test_outgoing_numbers_in_order_and_keeps_until_acked():
    outbound: Outgoing[str] = Outgoing()
    assert [outbound.push(x) for x in "abcd"] == [1, 2, 3, 4]
    assert len(outbound) == 4 and outbound.first == 1 and outbound.last == 4
    assert outbound.ack(2) == ["a", "b"]
    assert len(outbound) == 2 and outbound.first == 3 and outbound.acked == 2
    assert outbound.ack(1) == [] and outbound.ack(2) == []  # old acks change nothing
    assert outbound.ack(4) == ["c", "d"]
    assert len(outbound) == 0 and outbound.first is None


def test_an_ack_of_a_packet_never_sent_is_refused():
    outbound: Outgoing[str] = Outgoing()
    outbound.push("a")
    with pytest.raises(SequenceError, match="ack of packet 2, but only 1 were sent"):
        outbound.ack(2)
    assert len(outbound) == 1 and outbound.acked == 0


def test_writing_takes_batches_in_order_and_remembers_how_far():
    outbound: Outgoing[str] = Outgoing()
    for x in "abcde":
        outbound.push(x)
    assert outbound.written == 0
    assert sent(outbound, 2) == [(1, "a"), (2, "b")]
    assert outbound.written == 2
    assert sent(outbound) == [(3, "c"), (4, "d"), (5, "e")]
    assert outbound.written == 5 and sent(outbound) == []
    outbound.push("f")
    assert sent(outbound) == [(6, "f")]


def test_an_ack_also_covers_what_was_not_written_yet():
    outbound: Outgoing[str] = Outgoing()
    for x in "abcd":
        outbound.push(x)
    sent(outbound, 1)
    outbound.ack(3)  # e.g. a resumed session that had received more than this connection wrote
    assert outbound.written == 3 and sent(outbound) == [(4, "d")]


def test_a_new_connection_writes_everything_unacknowledged_again():
    outbound: Outgoing[str] = Outgoing()
    for x in "abcd":
        outbound.push(x)
    sent(outbound)
    outbound.ack(1)
    outbound.rewind()
    assert outbound.written == 1
    assert sent(outbound) == [(2, "b"), (3, "c"), (4, "d")]


def test_a_new_session_numbers_what_is_kept_from_one():
    outbound: Outgoing[str] = Outgoing()
    for x in "abcde":
        outbound.push(x)
    sent(outbound)
    outbound.ack(2)
    outbound.renumber()
    assert (outbound.last, outbound.acked, outbound.first) == (3, 0, 1)
    assert sent(outbound) == [(1, "c"), (2, "d"), (3, "e")]
    assert outbound.push("f") == 4


def test_find_a_kept_packet_by_its_seq():
    outbound: Outgoing[str] = Outgoing()
    for x in "abcd":
        outbound.push(x)
    outbound.ack(1)
    assert [outbound.find(seq) for seq in range(6)] == [None, None, "b", "c", "d", None]


def test_clear_drops_everything_and_keeps_the_count():
    outbound: Outgoing[str] = Outgoing()
    for x in "abc":
        outbound.push(x)
    outbound.clear()
    assert len(outbound) == 0 and sent(outbound) == []
    assert outbound.push("d") == 4
    assert outbound.ack(3) == []  # acks of dropped packets are still numbers that were sent


def test_written_is_the_last_seq_when_everything_went_out():
    outbound: Outgoing[str] = Outgoing()
    assert outbound.written == 0
    outbound.push("a")
    sent(outbound)
    outbound.ack(1)
    assert outbound.written == 1 and outbound.first is None
