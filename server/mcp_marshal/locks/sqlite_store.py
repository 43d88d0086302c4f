"""Leases in one SQLite database per workspace, shared by every window and CLI on the machine.

Every change is one write transaction (``BEGIN IMMEDIATE``): read the task's row, decide with
the pure ``rules`` (holder liveness included), write the row and its ``lease_log`` entries.
Rows are never deleted and tokens never fall below the clock (``rules.next_token``), so a
task's token only grows, across restarts and a deleted database too.

The change log is a plain table: a reader's cursor is the id of the last entry it saw, entries
come in commit order, and only the newest ``log_keep`` (and up to a tenth more) are kept;
``read_log`` says when entries after a cursor were pruned. Pruning never removes the newest
entry, so ``max(id) + 1`` never hands out an id twice (no AUTOINCREMENT, whose
``sqlite_sequence`` row would be one more page written by every change).

WAL with ``synchronous=NORMAL``: a process crash loses nothing committed; a power loss may lose
the last commits, and with them every local holder (pass ``synchronous="FULL"`` when fenced
state lives outside this machine).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mcp_marshal.locks import rules
from mcp_marshal.locks.lease import Clock, Lease, LeaseKey, LockStoreUnavailable, LogEntry
from mcp_marshal.locks.liveness import holder_alive, holder_of, own_holder
from mcp_marshal.locks.memory_store import LOG_KEEP
from mcp_marshal.locks.rules import Change, Record, log_position
from mcp_marshal.locks.ttl import check_ttl

T = TypeVar("T")

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a database with this schema (older versions left it at 0)."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS leases(
  task TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, acquired_at REAL NOT NULL,
  expires_at REAL NOT NULL, holder TEXT, changed_at REAL NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS lease_log(
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, task TEXT NOT NULL, owner TEXT NOT NULL,
  token INTEGER NOT NULL, expires_at REAL NOT NULL, ts REAL NOT NULL, holder TEXT)""",
)
# Versions before 05451ab logged through these triggers into a lease_log of another shape.
_OLDER = (
    "DROP TRIGGER IF EXISTS lease_log_insert",
    "DROP TRIGGER IF EXISTS lease_log_update",
    "DROP TABLE IF EXISTS lease_log",
)
_FIELDS = "task, owner, token, acquired_at, expires_at, holder"
_FETCH = f"SELECT {_FIELDS} FROM leases WHERE task = ?"
_PUT = f"INSERT OR REPLACE INTO leases({_FIELDS}, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
_LOG = "INSERT INTO lease_log(kind, task, owner, token, expires_at, ts, holder) VALUES (?, ?, ?, ?, ?, ?, ?)"
_PRUNE = "DELETE FROM lease_log WHERE id <= ?"
_READ = "SELECT id, kind, task, owner, token, expires_at, ts, holder FROM lease_log WHERE id > ? ORDER BY id LIMIT ?"
_LAST = "SELECT max(id) FROM lease_log"
_PROBE_ROUNDS = 3  # holders seen change only by grants: past this, probe inside the transaction

Decide = Callable[[Record | None, float, Callable[[str], bool]], Change | None]
"""What a call changes, given the task's record, the time and a holder-liveness test."""


class _Unprobed(Exception):
    """A decision needs the liveness of ``holder``, not yet probed."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class SqliteStore:
    """One connection to ``path``; safe to share across threads only when calls are serialised."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock = time.time,
        busy_timeout_s: float = 5.0,
        retries: int = 4,
        synchronous: str = "NORMAL",
        log_keep: int = LOG_KEEP,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"bad synchronous mode {synchronous!r}")
        self.path = Path(path)
        self._clock = clock
        self._retries = retries
        if log_keep < 1:
            raise ValueError(f"log_keep must be >= 1, got {log_keep}")  # the newest entry numbers the next
        self._keep = log_keep
        self._prune_every = max(1, log_keep // 10)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise LockStoreUnavailable(f"lease database {self.path} cannot be opened: {_reason(exc)}") from exc
        self._run(self._setup, synchronous.upper())

    def _setup(self, synchronous: str) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return  # a read: opening a current database never waits for the write lock
        self._db.execute("BEGIN IMMEDIATE")  # one process creates or upgrades the schema
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for sql in (*_OLDER, *_SCHEMA):
                    self._db.execute(sql)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # --- plumbing ---------------------------------------------------------------------------

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` retrying on SQLITE_BUSY: the busy handler is not FIFO, so a writer can
        lose the race several times under contention even within the busy timeout."""
        for attempt in range(self._retries + 1):
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                msg = str(exc)
                if ("locked" not in msg and "busy" not in msg) or attempt == self._retries:
                    raise LockStoreUnavailable(f"lease database {self.path}: {msg}") from exc
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
            except sqlite3.Error as exc:
                raise LockStoreUnavailable(f"lease database {self.path}: {exc}") from exc
        raise AssertionError("unreachable")

    def _record(self, task: str) -> Record | None:
        row = self._db.execute(_FETCH, (task,)).fetchone()
        return Record.stored(*row) if row is not None else None

    def _fetch(self, task: str) -> Record | None:
        return self._run(self._record, task)

    def _change(self, task: str, decide: Decide, *, live_holder_refuses: bool = False) -> Record | None:
        """Decide and write one change in one write transaction; the record written, if any.

        A holder's liveness is never probed inside the transaction (it would stall every other
        writer): the transaction is rolled back, the process probed, and the change decided
        again with that verdict, which cannot go stale the wrong way (the dead stay dead). With
        ``live_holder_refuses`` (acquire), a live holder ends the call at once: it held the task
        when the row was read.
        """
        verdicts: dict[str, bool] = {}
        own = own_holder()

        def alive(holder: str) -> bool:
            if holder == own:
                return True
            if holder not in verdicts:
                raise _Unprobed(holder)
            return verdicts[holder]

        for _ in range(_PROBE_ROUNDS):
            try:
                return self._run(self._transaction, task, lambda rec, now: decide(rec, now, alive))
            except _Unprobed as need:
                verdicts[need.holder] = holder_alive(need.holder)
                if live_holder_refuses and verdicts[need.holder]:
                    return None
        return self._run(self._transaction, task, lambda rec, now: decide(rec, now, holder_alive))

    def _transaction(self, task: str, decide: Callable[[Record | None, float], Change | None]) -> Record | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            now = self._clock()  # read once the write lock is ours: entries' times follow commit order
            change = decide(self._record(task), now)
            if change is not None:
                new = change.record
                db.execute(_PUT, (new.task, new.owner, new.token, new.acquired_at, new.expires_at, new.holder, now))
                for kind, rec in change.log:
                    entry = (kind, rec.task, rec.owner, rec.token, rec.expires_at, now, rec.holder)
                    last = db.execute(_LOG, entry).lastrowid
                    if last is not None and last % self._prune_every == 0:
                        db.execute(_PRUNE, (last - self._keep,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return change.record if change is not None else None

    # --- the contract -----------------------------------------------------------------------

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind_pid: int | None = None) -> Lease | None:
        check_ttl(ttl_ms)
        holder = holder_of(bind_pid) if bind_pid is not None else None
        rec = self._change(
            task,
            lambda cur, now, alive: rules.acquire(cur, task, owner, now, ttl_ms, holder, alive),
            live_holder_refuses=True,
        )
        return rec.lease() if rec is not None else None

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        check_ttl(ttl_ms)
        rec = self._change(lease.task, lambda cur, now, alive: rules.renew(cur, lease, now, ttl_ms, alive))
        return rec.lease() if rec is not None else None

    def release(self, lease: LeaseKey) -> bool:
        return self._change(lease.task, lambda cur, now, alive: rules.release(cur, lease, now, alive)) is not None

    def get(self, task: str) -> Lease | None:
        rec = self._fetch(task)
        return rec.lease() if rec is not None and rules.is_held(rec, self._clock(), holder_alive) else None

    def list(self) -> list[Lease]:
        now = self._clock()
        sql = f"SELECT {_FIELDS} FROM leases WHERE owner IS NOT NULL AND expires_at > ? ORDER BY task"
        rows = self._run(lambda: self._db.execute(sql, (now,)).fetchall())
        recs = [Record.stored(*r) for r in rows]
        return [r.lease() for r in recs if rules.is_held(r, now, holder_alive)]

    def check(self, task: str, token: int) -> bool:
        row = self._run(lambda: self._db.execute("SELECT token FROM leases WHERE task = ?", (task,)).fetchone())
        return row is not None and row[0] == token

    # --- the change log ---------------------------------------------------------------------

    def _last_id(self) -> int:
        (last,) = self._db.execute(_LAST).fetchone()
        return int(last or 0)

    def log_end(self) -> str:
        return str(self._run(self._last_id))

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        """Entries after ``cursor`` in commit order; the flag: some were pruned (ids follow one
        another with no hole otherwise) or the cursor is past this log's end (another store's)."""
        after = log_position(cursor)

        def read() -> tuple[list[LogEntry], bool]:
            rows = self._db.execute(_READ, (after, limit)).fetchall()
            gap = rows[0][0] != after + 1 if rows else after > self._last_id()
            return [LogEntry(str(r[0]), *r[1:]) for r in rows], gap

        return self._run(read)

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def close(self) -> None:
        """Close the connection. Leases bound to a process stay until that process dies."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def _reason(exc: BaseException) -> str:
    """What went wrong, in the OS's words where it has some (no errno prefix, no repr)."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
