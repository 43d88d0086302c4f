"""The sqlite change log kept in each lease row (``ver`` + bounded ``hist``): order, exact
fields, cursors, gaps (and the service's re-snapshot after one), and migration of old databases."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from mcp_marshal.events import EventBus
from mcp_marshal.locks import LeaseRef, LeaseService, LogEntry
from mcp_marshal.locks.sqlite_store import SqliteStore

from .conftest import drain, summary


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


ODD_OWNER = 'car"ol\\ é\n\u2028,]'  # quotes, escapes, non-ASCII, line breaks


def fields(entries: list[LogEntry]) -> list[tuple[object, ...]]:
    """Everything but the cursor."""
    return [(e.kind, e.task, e.owner, e.token, e.expires_at, e.ts, e.holder) for e in entries]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "locks.sqlite3"


def test_events_come_back_in_order_with_exact_fields(db: Path) -> None:
    clock = FakeClock(1_700_000_000.1 + 1 / 3)  # floats that only survive as 17 digits
    store = SqliteStore(db, clock=clock)
    t0 = clock.now
    a = store.acquire("t", "alice", 10_000)
    assert a is not None
    clock.now = t1 = t0 + 0.7
    assert store.renew(a, 20_000) is not None
    clock.now = t2 = t0 + 1.1
    assert store.release(a)
    clock.now = t3 = t0 + 2.3
    b = store.acquire("u", "bob", 1_000, bind=True)
    assert b is not None and b.holder is not None
    clock.now = t4 = t0 + 9.9  # bob's lease has expired: the grant logs its end, then itself
    c = store.acquire("u", ODD_OWNER, 5_000)
    assert c is not None and c.token == 2
    # refused calls log nothing
    assert store.acquire("u", "dave", 5_000) is None
    assert store.renew(LeaseRef("t", "alice", 1), 5_000) is None
    assert not store.release(LeaseRef("u", "bob", 1))

    entries, gap = store.read_log("0")
    assert not gap
    assert fields(entries) == [
        ("acquired", "t", "alice", 1, t0 + 10, t0, None),
        ("renewed", "t", "alice", 1, t1 + 20, t1, None),
        ("released", "t", "alice", 1, t2, t2, None),
        ("acquired", "u", "bob", 1, t3 + 1, t3, b.holder),
        ("expired", "u", "bob", 1, t3 + 1, t4, b.holder),
        ("acquired", "u", ODD_OWNER, 2, t4 + 5, t4, None),
    ]
    assert [json.loads(e.cursor) for e in entries] == [
        {"t": 1},
        {"t": 2},
        {"t": 3},
        {"t": 3, "u": 1},
        {"t": 3, "u": 2},
        {"t": 3, "u": 3},
    ]
    # reading on from any entry's cursor gives exactly the rest, with the same cursors
    for i, entry in enumerate(entries):
        assert store.read_log(entry.cursor) == (entries[i + 1 :], False)
    # and a limit cuts the same sequence
    first, _ = store.read_log("0", limit=2)
    assert first == entries[:2]
    store.close()


def test_each_task_keeps_its_own_order_when_writers_clocks_disagree(db: Path) -> None:
    ahead = SqliteStore(db, clock=FakeClock(2000.0))
    behind = SqliteStore(db, clock=FakeClock(1500.0))
    lease = ahead.acquire("t", "a", 60_000)
    assert lease is not None and ahead.release(lease)
    assert behind.acquire("s", "b", 60_000) is not None
    assert behind.acquire("t", "b", 60_000) is not None  # logged at 1500, after events at 2000
    entries, gap = behind.read_log("0")
    assert not gap
    assert [(e.kind, e.ts) for e in entries if e.task == "t"] == [
        ("acquired", 2000.0),
        ("released", 2000.0),
        ("acquired", 1500.0),
    ]
    assert [(e.task, e.kind) for e in entries if e.task == "s"] == [("s", "acquired")]
    ahead.close()
    behind.close()


def test_a_cursor_at_log_end_sees_nothing_until_a_change(db: Path) -> None:
    store = SqliteStore(db)
    other = SqliteStore(db)
    held = store.acquire("t", "alice", 60_000)
    assert held is not None
    end = store.log_end()
    assert json.loads(end) == {"t": 1}
    assert store.read_log(end) == ([], False)
    # reads, refusals and new connections change nothing
    assert other.get("t") == held and other.list() == [held] and other.check("t", 1)
    assert other.acquire("t", "bob", 60_000) is None
    assert other.renew(LeaseRef("t", "bob", 1), 60_000) is None
    SqliteStore(db).close()
    assert store.read_log(end) == ([], False)
    assert other.log_end() == end
    # a change by another connection, to a task the cursor has never seen
    assert other.acquire("new", "bob", 60_000) is not None
    entries, gap = store.read_log(end)
    assert not gap
    assert [(e.kind, e.task, e.owner, e.token) for e in entries] == [("acquired", "new", "bob", 1)]
    assert store.read_log(entries[-1].cursor) == ([], False)
    assert store.read_log(store.log_end()) == ([], False)
    store.close()
    other.close()


def test_a_reader_far_behind_on_one_task_is_told_of_the_gap(db: Path) -> None:
    store = SqliteStore(db)
    lease = store.acquire("t", "alice", 60_000)
    assert lease is not None and store.acquire("quiet", "bob", 60_000) is not None
    cursor = store.log_end()
    for _ in range(4):  # within the window: every event, no gap
        assert store.renew(lease, 60_000) is not None
    entries, gap = store.read_log(cursor)
    assert not gap and [e.kind for e in entries] == ["renewed"] * 4
    cursor = entries[-1].cursor
    for _ in range(30):  # far more than hist keeps
        assert store.renew(lease, 60_000) is not None
    entries, gap = store.read_log(cursor)
    assert gap
    vers = [json.loads(e.cursor)["t"] for e in entries]
    assert vers == list(range(vers[0], 36)) and vers[0] > 6  # what is left: the newest, in order
    assert store.read_log(store.log_end()) == ([], False)  # a fresh cursor is whole again
    store.close()


def test_a_cursor_taken_on_an_empty_database_still_sees_gaps(db: Path) -> None:
    store = SqliteStore(db)
    cursor = store.log_end()  # no task yet
    assert store.read_log(cursor) == ([], False)
    lease = store.acquire("t", "alice", 60_000)
    assert lease is not None
    for _ in range(30):
        assert store.renew(lease, 60_000) is not None
    entries, gap = store.read_log(cursor)
    assert gap and entries and entries[0].kind == "renewed"
    store.close()


async def test_the_service_resnapshots_after_a_gap_and_publishes_the_current_holder(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    service = LeaseService(SqliteStore(db), bus, poll_interval_s=3600)  # only our sync() calls read
    await service.start()
    other = SqliteStore(db)
    with bus.queue() as q:
        alice = other.acquire("t", "alice", 60_000)
        assert alice is not None and other.acquire("quiet", "carol", 60_000) is not None
        await service.sync()
        assert summary(drain(q)) == [("LeaseAcquired", "t", "alice", 1), ("LeaseAcquired", "quiet", "carol", 1)]

        # between two reads: alice leaves, bob takes over and renews until alice's events are gone
        assert other.release(alice)
        bob = other.acquire("t", "bob", 60_000)
        assert bob is not None
        for _ in range(12):
            bob = other.renew(bob, 60_000)
            assert bob is not None
        with caplog.at_level(logging.WARNING, logger="mcp_marshal.locks.service"):
            await service.sync()
        assert "moved past this reader" in caplog.text
        # a listener that follows the events ends where the store is: bob holds t, carol quiet
        assert summary(drain(q)) == [("LeaseReleased", "t", "alice", 1), ("LeaseAcquired", "t", "bob", 2)]

        # and the service goes on from the fresh snapshot
        assert other.release(bob)
        await service.sync()
        assert summary(drain(q)) == [("LeaseReleased", "t", "bob", 2)]
    assert await service.list() == [other.get("quiet")]
    other.close()
    await service.aclose()


# --- migration ------------------------------------------------------------------------------

# The schema before 05451ab: every change copied into lease_log by triggers.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases(
  task TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, acquired_at REAL NOT NULL,
  expires_at REAL NOT NULL, holder TEXT, changed_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease_log(
  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, task TEXT NOT NULL, owner TEXT NOT NULL,
  token INTEGER NOT NULL, expires_at REAL NOT NULL, ts REAL NOT NULL, holder TEXT);
CREATE TRIGGER IF NOT EXISTS lease_log_insert AFTER INSERT ON leases BEGIN
  INSERT INTO lease_log(kind, task, owner, token, expires_at, ts, holder)
  VALUES ('acquired', new.task, new.owner, new.token, new.expires_at, new.changed_at, new.holder);
END;
CREATE TRIGGER IF NOT EXISTS lease_log_update AFTER UPDATE ON leases BEGIN
  INSERT INTO lease_log(kind, task, owner, token, expires_at, ts, holder)
  SELECT 'expired', old.task, old.owner, old.token, old.expires_at, new.changed_at, old.holder
  WHERE new.token > old.token AND old.owner IS NOT NULL;
  INSERT INTO lease_log(kind, task, owner, token, expires_at, ts, holder)
  VALUES (CASE WHEN new.token > old.token THEN 'acquired' WHEN new.owner IS NULL THEN 'released'
               ELSE 'renewed' END,
          new.task, coalesce(new.owner, old.owner), new.token, new.expires_at, new.changed_at,
          coalesce(new.holder, old.holder));
END;
"""
OLD_ACQUIRE = """
INSERT INTO leases(task, owner, token, acquired_at, expires_at, holder, changed_at)
VALUES (:task, :owner, 1, :now, :exp, NULL, :now)
ON CONFLICT(task) DO UPDATE SET owner = excluded.owner, token = leases.token + 1,
  acquired_at = excluded.acquired_at, expires_at = excluded.expires_at,
  holder = excluded.holder, changed_at = excluded.changed_at
WHERE leases.owner IS NULL OR leases.expires_at <= excluded.acquired_at
RETURNING token
"""
OLD_RELEASE = (
    "UPDATE leases SET owner = NULL, expires_at = :now, changed_at = :now WHERE task = :task AND token = :token"
)


def old_version_writes(db: Path, now: float, grants: dict[str, int], keep: str | None = None) -> None:
    """What an older mcp-marshal does on open and in use: (re)create its schema, then take and
    release each task ``grants[task]`` times (the last grant of ``keep`` stays held)."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(OLD_SCHEMA)
    for task, n in grants.items():
        for i in range(n):
            (token,) = con.execute(
                OLD_ACQUIRE, {"task": task, "owner": "old", "now": now, "exp": now + 3600}
            ).fetchone()
            if task != keep or i < n - 1:
                con.execute(OLD_RELEASE, {"task": task, "token": token, "now": now})
    con.close()


def stale_objects(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'lease_log%' ORDER BY name")]
    con.close()
    return names


def test_an_old_database_is_migrated_on_open_and_keeps_its_tokens(db: Path) -> None:
    clock = FakeClock(5000.0)
    old_version_writes(db, clock.now, {"released": 5, "held": 3}, keep="held")
    assert stale_objects(db) == ["lease_log", "lease_log_insert", "lease_log_update"]

    store = SqliteStore(db, clock=clock)
    assert stale_objects(db) == []
    held = store.get("held")  # a lease granted by the old version survives the migration
    assert held is not None and (held.owner, held.token) == ("old", 3)
    assert store.acquire("held", "new", 60_000) is None
    lease = store.acquire("released", "new", 60_000)
    assert lease is not None and lease.token == 6  # next token > every old one
    assert store.check("released", 6) and not store.check("released", 5)
    entries, gap = store.read_log("0")
    assert not gap and fields(entries) == [("acquired", "released", "new", 6, 5060.0, 5000.0, None)]
    store.close()

    # reopening is idempotent: tokens go on from where they were
    again = SqliteStore(db, clock=clock)
    assert again.release(lease)
    nxt = again.acquire("released", "newer", 60_000)
    assert nxt is not None and nxt.token == 7 and again.release(nxt)
    again.close()
    assert stale_objects(db) == []


def test_triggers_an_older_version_recreates_are_dropped_on_every_open(db: Path) -> None:
    clock = FakeClock(5000.0)
    store = SqliteStore(db, clock=clock)  # a current database
    lease = store.acquire("t", "new", 60_000)
    assert lease is not None and store.release(lease)
    store.close()

    # an older mcp-marshal opens the same database: its triggers and lease_log come back,
    # and its grants run through them
    old_version_writes(db, clock.now, {"t": 3, "other": 2})
    assert stale_objects(db) == ["lease_log", "lease_log_insert", "lease_log_update"]

    store = SqliteStore(db, clock=clock)
    assert stale_objects(db) == []
    assert store.check("t", 4) and store.check("other", 2)  # the old version's tokens count
    cursor = store.log_end()
    nxt = store.acquire("t", "new", 60_000)
    assert nxt is not None and nxt.token == 5
    entries, gap = store.read_log(cursor)
    assert not gap and [(e.kind, e.token) for e in entries] == [("acquired", 5)]

    # again while a current version is open (its connection must not bring anything back)
    old_version_writes(db, clock.now, {"other": 1})
    assert SqliteStore(db, clock=clock).acquire("other", "new", 60_000) is not None
    assert stale_objects(db) == []
    assert store.check("other", 4)
    store.close()


def test_opening_a_current_database_does_not_wait_for_the_write_lock(db: Path) -> None:
    SqliteStore(db).close()
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # someone is in a long write transaction
    try:
        store = SqliteStore(db, busy_timeout_s=0.05, retries=0)
        assert store.list() == []
        store.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# --- takeover --------------------------------------------------------------------------------


def test_the_lease_of_a_dead_bound_holder_is_taken_over_at_once_and_logged(db: Path) -> None:
    holder = SqliteStore(db)
    bound = holder.acquire("bound", ODD_OWNER, 600_000, bind=True)
    assert bound is not None and holder.acquire("plain", "cli", 600_000) is not None
    store = SqliteStore(db)
    assert store.acquire("plain", "me", 1000) is None
    assert store.acquire("bound", "me", 1000, bind=True) is None  # its holder lives
    holder.close()  # the window's process dies
    lease = store.acquire("bound", "me", 1000)
    assert lease is not None and lease.token == bound.token + 1
    entries, gap = store.read_log(json.dumps({"bound": 1, "plain": 1}))
    assert not gap
    assert fields(entries) == [
        ("expired", "bound", ODD_OWNER, 1, bound.expires_at, lease.acquired_at, bound.holder),
        ("acquired", "bound", "me", 2, lease.expires_at, lease.acquired_at, None),
    ]
    store.close()
