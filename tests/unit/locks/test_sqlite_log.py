"""The sqlite change log (``lease_log``, one row per event, an integer cursor): order, exact
fields, cursors, pruning (and the service's re-snapshot after it), and older databases."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
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


def log_rows(db: Path) -> int:
    con = sqlite3.connect(db)
    (n,) = con.execute("SELECT count(*) FROM lease_log").fetchone()
    con.close()
    return n


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "locks.sqlite3"


@pytest.fixture()
def editor() -> object:
    """A process to bind leases to, killed by the test when it wants the holder dead."""
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    proc.kill()
    proc.wait()


def test_events_come_back_in_order_with_exact_fields(db: Path, editor: subprocess.Popen[bytes]) -> None:
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
    b = store.acquire("u", "bob", 1_000, bind_pid=editor.pid)
    assert b is not None and b.holder is not None
    clock.now = t4 = t0 + 9.9  # bob's lease has expired: the grant logs its end, then itself
    c = store.acquire("u", ODD_OWNER, 5_000)
    assert c is not None and c.token > b.token
    # refused calls log nothing
    assert store.acquire("u", "dave", 5_000) is None
    assert store.renew(LeaseRef("t", "alice", a.token), 5_000) is None
    assert not store.release(LeaseRef("u", "bob", b.token))

    entries, gap = store.read_log("0")
    assert not gap
    assert fields(entries) == [
        ("acquired", "t", "alice", a.token, t0 + 10, t0, None),
        ("renewed", "t", "alice", a.token, t1 + 20, t1, None),
        ("released", "t", "alice", a.token, t2, t2, None),
        ("acquired", "u", "bob", b.token, t3 + 1, t3, b.holder),
        ("expired", "u", "bob", b.token, t3 + 1, t4, b.holder),
        ("acquired", "u", ODD_OWNER, c.token, t4 + 5, t4, None),
    ]
    assert [e.cursor for e in entries] == ["1", "2", "3", "4", "5", "6"]
    assert store.log_end() == "6"
    # reading on from any entry's cursor gives exactly the rest, with the same cursors
    for i, entry in enumerate(entries):
        assert store.read_log(entry.cursor) == (entries[i + 1 :], False)
    # and a limit cuts the same sequence
    first, _ = store.read_log("0", limit=2)
    assert first == entries[:2]
    store.close()


def test_entries_are_in_commit_order_when_writers_clocks_disagree(db: Path) -> None:
    ahead = SqliteStore(db, clock=FakeClock(2000.0))
    behind = SqliteStore(db, clock=FakeClock(1500.0))
    lease = ahead.acquire("t", "a", 60_000)
    assert lease is not None and ahead.release(lease)
    assert behind.acquire("s", "b", 60_000) is not None
    assert behind.acquire("t", "b", 60_000) is not None  # logged at 1500, after events at 2000
    entries, gap = behind.read_log("0")
    assert not gap
    assert [(e.task, e.kind, e.ts) for e in entries] == [
        ("t", "acquired", 2000.0),
        ("t", "released", 2000.0),
        ("s", "acquired", 1500.0),
        ("t", "acquired", 1500.0),
    ]
    ahead.close()
    behind.close()


def test_a_cursor_at_log_end_sees_nothing_until_a_change(db: Path) -> None:
    store = SqliteStore(db)
    other = SqliteStore(db)
    assert store.log_end() == "0"
    held = store.acquire("t", "alice", 60_000)
    assert held is not None
    end = store.log_end()
    assert end == "1" and store.read_log(end) == ([], False)
    # reads, refusals and new connections change nothing
    assert other.get("t") == held and other.list() == [held] and other.check("t", held.token)
    assert other.acquire("t", "bob", 60_000) is None
    assert other.renew(LeaseRef("t", "bob", held.token), 60_000) is None
    SqliteStore(db).close()
    assert store.read_log(end) == ([], False)
    assert other.log_end() == end
    # a change by another connection, to a task the cursor has never seen
    assert other.acquire("new", "bob", 60_000) is not None
    entries, gap = store.read_log(end)
    assert not gap
    assert [(e.kind, e.task, e.owner) for e in entries] == [("acquired", "new", "bob")]
    assert store.read_log(entries[-1].cursor) == ([], False)
    store.close()
    other.close()


def test_the_log_is_pruned_and_a_reader_left_behind_is_told(db: Path) -> None:
    store = SqliteStore(db, log_keep=20)
    lease = store.acquire("t", "alice", 60_000)
    assert lease is not None
    cursor = store.log_end()
    for _ in range(10):  # within what is kept: every event, no gap
        assert store.renew(lease, 60_000) is not None
    entries, gap = store.read_log(cursor)
    assert not gap and [e.kind for e in entries] == ["renewed"] * 10
    cursor = entries[-1].cursor
    for _ in range(200):
        assert store.renew(lease, 60_000) is not None
    assert 20 <= log_rows(db) <= 25  # bounded: what is kept plus one pruning step
    entries, gap = store.read_log(cursor)
    assert gap
    ids = [int(e.cursor) for e in entries]
    assert ids == list(range(ids[0], 212)) and ids[0] > int(cursor) + 1  # what is left: the newest, in order
    assert store.read_log(store.log_end()) == ([], False)  # a fresh cursor is whole again
    assert store.read_log(entries[-1].cursor) == ([], False)
    store.close()


def test_a_cursor_beyond_the_log_is_a_gap(db: Path) -> None:
    """A cursor from a database that was since replaced: its entries are gone, whatever follows."""
    store = SqliteStore(db)
    assert store.acquire("t", "alice", 60_000) is not None
    assert store.read_log("500") == ([], True)
    store.close()


@pytest.mark.parametrize("cursor", ["x", "-1", "1.5", '{"t": 3}'])
def test_a_cursor_that_is_not_ours_is_refused(db: Path, cursor: str) -> None:
    store = SqliteStore(db)
    with pytest.raises(ValueError):
        store.read_log(cursor)
    store.close()


async def test_the_service_resnapshots_after_pruning_and_publishes_the_current_holder(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    service = LeaseService(SqliteStore(db), bus, poll_interval_s=3600)  # only our sync() calls read
    await service.start()
    other = SqliteStore(db, log_keep=10)
    with bus.queue() as q:
        alice = other.acquire("t", "alice", 60_000)
        assert alice is not None and other.acquire("quiet", "carol", 60_000) is not None
        await service.sync()
        assert summary(drain(q)) == [
            ("LeaseAcquired", "t", "alice", alice.token),
            ("LeaseAcquired", "quiet", "carol", other.get("quiet").token),  # type: ignore[union-attr]
        ]

        # between two reads: alice leaves, bob takes over and renews until alice's events are pruned
        assert other.release(alice)
        bob = other.acquire("t", "bob", 60_000)
        assert bob is not None
        for _ in range(30):
            bob = other.renew(bob, 60_000)
            assert bob is not None
        with caplog.at_level(logging.WARNING, logger="mcp_marshal.locks.service"):
            await service.sync()
        assert "moved past this reader" in caplog.text
        # a listener that follows the events ends where the store is: bob holds t, carol quiet
        assert summary(drain(q)) == [
            ("LeaseReleased", "t", "alice", alice.token),
            ("LeaseAcquired", "t", "bob", bob.token),
        ]

        # and the service goes on from the fresh snapshot
        assert other.release(bob)
        await service.sync()
        assert summary(drain(q)) == [("LeaseReleased", "t", "bob", bob.token)]
    assert await service.list() == [other.get("quiet")]
    other.close()
    await service.aclose()


# --- databases written by older versions ----------------------------------------------------

# The schema before 05451ab: every change copied into a lease_log of its own by triggers.
TRIGGER_SCHEMA = """
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
  VALUES ('renewed', new.task, coalesce(new.owner, old.owner), new.token, new.expires_at, new.changed_at,
          new.holder);
END;
"""
# The schema of 05451ab..this change: the log held inside each row.
IN_ROW_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases(
  task TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, acquired_at REAL NOT NULL,
  expires_at REAL NOT NULL, holder TEXT, changed_at REAL NOT NULL,
  ver INTEGER NOT NULL DEFAULT 0, hist BLOB NOT NULL DEFAULT x'') WITHOUT ROWID;
"""
OLD_ROWS = [("released", None, 5, 4000.0), ("held", "old", 3, 9000.0)]


def old_database(db: Path, schema: str) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(schema)
    for task, owner, token, expires_at in OLD_ROWS:
        con.execute(
            "INSERT INTO leases(task, owner, token, acquired_at, expires_at, holder, changed_at)"
            " VALUES (?, 'old', ?, 1000.0, ?, NULL, 1000.0)",
            (task, token, expires_at),
        )
        if owner is None:  # released, as the old version did it
            con.execute("UPDATE leases SET owner = NULL WHERE task = ?", (task,))
    con.close()


def triggers(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")]
    con.close()
    return names


@pytest.mark.parametrize("schema", [TRIGGER_SCHEMA, IN_ROW_SCHEMA], ids=["triggers", "in-row log"])
def test_an_older_database_opens_and_keeps_its_leases_and_tokens(db: Path, schema: str) -> None:
    old_database(db, schema)
    clock = FakeClock(5000.0)
    store = SqliteStore(db, clock=clock)
    assert triggers(db) == []
    held = store.get("held")  # a lease granted by the old version survives
    assert held is not None and (held.owner, held.token) == ("old", 3)
    assert store.acquire("held", "new", 60_000) is None
    lease = store.acquire("released", "new", 60_000)
    assert lease is not None and lease.token > 5  # next token > every old one
    assert store.check("released", lease.token) and not store.check("released", 5)
    entries, gap = store.read_log("0")
    assert not gap and fields(entries) == [("acquired", "released", "new", lease.token, 5060.0, 5000.0, None)]
    store.close()

    again = SqliteStore(db, clock=clock)  # reopening changes nothing
    assert again.release(lease) and again.read_log("1")[0][0].kind == "released"
    again.close()


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


def test_the_lease_of_a_dead_bound_holder_is_taken_over_at_once_and_logged(
    db: Path, editor: subprocess.Popen[bytes]
) -> None:
    holder = SqliteStore(db)
    bound = holder.acquire("bound", ODD_OWNER, 600_000, bind_pid=editor.pid)
    assert bound is not None and holder.acquire("plain", "cli", 600_000) is not None
    store = SqliteStore(db)
    assert store.acquire("plain", "me", 1000) is None
    assert store.acquire("bound", "me", 1000) is None  # its holder lives
    cursor = store.log_end()
    editor.kill()
    editor.wait()  # the window's process dies
    assert store.renew(bound, 600_000) is None and not store.release(bound)  # and its lease with it
    lease = store.acquire("bound", "me", 1000)
    assert lease is not None and lease.token > bound.token
    entries, gap = store.read_log(cursor)
    assert not gap
    assert fields(entries) == [
        ("expired", "bound", ODD_OWNER, bound.token, bound.expires_at, lease.acquired_at, bound.holder),
        ("acquired", "bound", "me", lease.token, lease.expires_at, lease.acquired_at, None),
    ]
    holder.close()
    store.close()
