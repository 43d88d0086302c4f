"""The pure batching decisions, driven with plain numbers as the clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_marshal.config.models import TelemetrySettings
from mcp_marshal.telemetry import QUEUE_FULL, Batcher, BatchLimits, Record


def rec(i: int) -> Record:
    return Record("ServerLog", float(i), {"i": i})


def ids(batch) -> list[int]:
    return [r.fields["i"] for r in batch.records]


def test_size_makes_a_batch_due() -> None:
    b = Batcher(BatchLimits(batch_size=3, interval=5.0, max_queue=10))
    b.add(rec(0), 0.0)
    b.add(rec(1), 0.1)
    assert not b.due(0.2)
    assert b.take(0.2) is None
    b.add(rec(2), 0.2)
    assert b.due(0.2)
    batch = b.take(0.2)
    assert batch is not None
    assert (batch.seq, ids(batch), dict(batch.dropped)) == (1, [0, 1, 2], {})
    assert len(b) == 0 and b.next_due() is None


def test_add_says_when_the_flusher_must_wake() -> None:
    """When a record starts an interval (to arm the timer) or makes a batch due by size; not
    for the records in between, nor for those a full queue drops the oldest for."""
    b = Batcher(BatchLimits(batch_size=3, interval=5.0, max_queue=4))
    assert b.add(rec(0), 10.0) is True and b.next_due() == 15.0
    assert [b.add(rec(1), 11.0), b.add(rec(2), 12.0)] == [False, True]
    assert b.add(rec(3), 13.0) is False
    assert b.add(rec(4), 14.0) is False and b.pending_dropped == {QUEUE_FULL: 1} and len(b) == 4
    assert b.next_due() == 15.0  # drops do not move the interval
    assert b.accepted == 5
    assert ids(b.take(15.0)) == [1, 2, 3]
    assert b.add(rec(5), 16.0) is False  # the leftover's interval is already armed
    assert ids(b.take(20.0)) == [4, 5]
    assert b.add(rec(6), 21.0) is True


def test_interval_counts_from_the_first_waiting_record() -> None:
    b = Batcher(BatchLimits(batch_size=100, interval=5.0, max_queue=10))
    assert b.next_due() is None
    b.add(rec(0), 10.0)
    b.add(rec(1), 13.0)  # a later record does not push the deadline
    assert b.next_due() == 15.0
    assert not b.due(14.999)
    assert b.take(14.999) is None
    assert b.due(15.0)
    assert ids(b.take(15.0)) == [0, 1]
    assert b.next_due() is None
    b.add(rec(2), 40.0)  # the next one starts a fresh interval
    assert b.next_due() == 45.0


def test_leftovers_after_a_size_batch_start_a_new_interval() -> None:
    b = Batcher(BatchLimits(batch_size=2, interval=5.0, max_queue=10))
    for i in range(3):
        b.add(rec(i), 0.0)
    assert ids(b.take(1.0)) == [0, 1]
    assert b.next_due() == 6.0
    assert ids(b.take(6.0)) == [2]


def test_full_queue_drops_the_oldest_and_reports_the_exact_count_once() -> None:
    b = Batcher(BatchLimits(batch_size=100, interval=5.0, max_queue=5))
    for i in range(8):
        b.add(rec(i), 0.0)
    assert len(b) == 5
    assert b.pending_dropped == {QUEUE_FULL: 3}
    first = b.take(5.0)
    assert ids(first) == [3, 4, 5, 6, 7]
    assert dict(first.dropped) == {QUEUE_FULL: 3}
    b.add(rec(8), 6.0)
    second = b.take(11.0)
    assert ids(second) == [8] and dict(second.dropped) == {}
    assert b.dropped_total == {QUEUE_FULL: 3}
    assert b.accepted == 9


def test_drops_without_records_still_travel_in_a_batch() -> None:
    b = Batcher(BatchLimits(batch_size=10, interval=1.0, max_queue=10))
    b.drop("shutdown", 4, now=2.0)
    b.drop("shutdown", 0, now=2.0)
    assert b.next_due() == 3.0
    batch = b.take(3.0)
    assert batch is not None and batch.records == () and dict(batch.dropped) == {"shutdown": 4}
    assert b.take(100.0) is None


def test_take_all_splits_into_batches_in_order() -> None:
    b = Batcher(BatchLimits(batch_size=4, interval=5.0, max_queue=100))
    for i in range(10):
        b.add(rec(i), 0.0)
    batches = b.take_all(0.0)
    assert [ids(x) for x in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [x.seq for x in batches] == [1, 2, 3]
    assert b.take_all(0.0) == []


def test_reconfigure_shrinking_the_queue_counts_what_it_drops() -> None:
    b = Batcher(BatchLimits(batch_size=100, interval=5.0, max_queue=10))
    for i in range(8):
        b.add(rec(i), 0.0)
    b.reconfigure(BatchLimits(batch_size=2, interval=1.0, max_queue=3), now=1.0)
    assert len(b) == 3 and b.pending_dropped == {QUEUE_FULL: 5}
    assert ids(b.take(1.0)) == [5, 6]
    b.add(rec(8), 1.0)
    b.add(rec(9), 1.0)
    b.add(rec(10), 1.0)  # queue is 3 again: 7 dropped
    assert ids(b.take(1.0)) == [8, 9]
    assert b.dropped_total == {QUEUE_FULL: 6}


def test_limits_from_settings_and_validation() -> None:
    limits = BatchLimits.from_settings(TelemetrySettings(batch_size=5000, batch_interval_ms=250, max_queue=64))
    assert limits == BatchLimits(batch_size=64, interval=0.25, max_queue=64)
    assert BatchLimits.from_settings(TelemetrySettings()) == BatchLimits(100, 5.0, 2048)
    with pytest.raises(ValueError):
        BatchLimits(batch_size=0)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(st.one_of(st.integers(1, 30), st.just(0), st.just(-1)), max_size=60),
    batch_size=st.integers(1, 8),
    max_queue=st.integers(1, 12),
)
def test_every_record_is_delivered_once_in_order_or_counted_as_dropped(
    ops: list[int], batch_size: int, max_queue: int
) -> None:
    """Model check: n>0 adds n records, 0 takes a due batch, -1 advances time past the interval."""
    b = Batcher(BatchLimits(batch_size=min(batch_size, max_queue), interval=1.0, max_queue=max_queue))
    now, next_id = 0.0, 0
    delivered: list[int] = []
    reported = 0
    for op in ops:
        if op > 0:
            for _ in range(op):
                b.add(rec(next_id), now)
                next_id += 1
        elif op == -1:
            now += 1.0
        batch = b.take(now) if op <= 0 else None
        if batch is not None:
            delivered += ids(batch)
            reported += sum(batch.dropped.values())
            assert len(batch.records) <= b.limits.batch_size
        assert len(b) <= max_queue
    for batch in b.take_all(now):
        delivered += ids(batch)
        reported += sum(batch.dropped.values())
    assert delivered == sorted(delivered)
    assert len(delivered) + reported == next_id
    assert reported == b.dropped_total.get(QUEUE_FULL, 0)
    # What was lost is exactly the oldest records of each overflow, never a delivered one.
    assert set(delivered) <= set(range(next_id))
