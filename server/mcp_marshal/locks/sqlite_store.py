"""Leases in one SQLite database per workspace, shared by every window and CLI on the machine.

Every change is one write transaction (``BEGIN IMMEDIATE``) that writes the row and its
``lease_log`` entries. The common cases, which need neither a holder's liveness nor an
``expired`` entry, are one ``UPDATE ... RETURNING`` whose ``WHERE`` is the rule's own
condition for that case (a released task is free; the owner and token of a live lease, unbound
or bound to this process, may renew or release it). Anything else is decided by the pure
``rules`` on the row: first read without the lock (a refusal ends there), then again in the
transaction that writes. The write lock is thus never held for a decision, a liveness probe
or a refusal, which is what throughput under contention depends on.
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
from mcp_marshal.locks.rules import Change, Record, log_position, sane_time
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
_PROBE_ROUNDS = 3  # the holder changes only by grants: past this many, probe inside the transaction
# The shortcuts (see the module docstring). ?1 task, ?2 owner, ?3 token or clock floor, ?4 now.
_GRANT_RELEASED = """UPDATE leases SET owner = ?2, token = max(token + 1, ?3), acquired_at = ?4, expires_at = ?5,
  holder = ?6, changed_at = ?4 WHERE task = ?1 AND owner IS NULL RETURNING token"""
_RENEW_HELD = """UPDATE leases SET expires_at = ?5, changed_at = ?4
  WHERE task = ?1 AND owner = ?2 AND token = ?3 AND expires_at > ?4 AND holder IS ?6 RETURNING acquired_at"""
_RELEASE_HELD = """UPDATE leases SET owner = NULL, holder = NULL, expires_at = ?4, changed_at = ?4
  WHERE task = ?1 AND owner = ?2 AND token = ?3 AND expires_at > ?4 AND holder IS ?5 RETURNING acquired_at"""

Shortcut = Callable[[float], tuple[str, tuple[Any, ...], Callable[[tuple[Any, ...]], Change]]]
"""A call's common case at ``now``: the statement, its parameters, and the change it made given
the row it returned (its log entries are still to be written)."""

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

    def _change(self, task: str, decide: Decide, shortcut: Shortcut) -> Record | None:
        """Make one call's change; the record written, or ``None`` if the rules refuse it.

        1. The shortcut, in a transaction of its own. 2. Otherwise the row is read without the
        write lock and the rules decide, probing holders' processes as they need: a refusal
        ends the call here (it held when the row was read). 3. Otherwise the general transaction
        decides again on the row it locks, with those verdicts; a holder not probed yet rolls
        it back to be probed outside (a probe inside would stall every other writer). A
        verdict cannot go stale the wrong way: the dead stay dead.
        """
        done = self._run(self._shortcut, shortcut)
        if done is not None:
            return done
        verdicts: dict[str, bool] = {}
        own = own_holder()

        def probed(holder: str) -> bool:
            if holder != own and holder not in verdicts:
                verdicts[holder] = holder_alive(holder)
            return holder == own or verdicts[holder]

        if decide(self._fetch(task), self._clock(), probed) is None:
            return None

        def known(holder: str) -> bool:
            if holder != own and holder not in verdicts:
                raise _Unprobed(holder)
            return holder == own or verdicts[holder]

        def with_known(rec: Record | None, now: float) -> Change | None:
            return decide(rec, now, known)

        def with_probes(rec: Record | None, now: float) -> Change | None:
            return decide(rec, now, holder_alive)

        for _ in range(_PROBE_ROUNDS):
            try:
                return self._run(self._transaction, task, with_known)
            except _Unprobed as need:
                probed(need.holder)
        return self._run(self._transaction, task, with_probes)

    def _shortcut(self, shortcut: Shortcut) -> Record | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            now = self._clock()  # read once the write lock is ours: entries' times follow commit order
            sql, params, made = shortcut(now)
            rows = db.execute(sql, params).fetchall()
            change = made(rows[0]) if rows else None
            if change is not None:
                self._append(change, now)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return change.record if change is not None else None

    def _transaction(self, task: str, decide: Callable[[Record | None, float], Change | None]) -> Record | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            now = self._clock()
            change = decide(self._record(task), now)
            if change is not None:
                new = change.record
                db.execute(_PUT, (new.task, new.owner, new.token, new.acquired_at, new.expires_at, new.holder, now))
                self._append(change, now)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return change.record if change is not None else None

    def _append(self, change: Change, now: float) -> None:
        """Write ``change``'s log entries (inside its transaction), pruning every tenth of ``log_keep``."""
        for kind, rec in change.log:
            last = self._db.execute(
                _LOG, (kind, rec.task, rec.owner, rec.token, rec.expires_at, now, rec.holder)
            ).lastrowid
            if last is not None and last % self._prune_every == 0:
                self._db.execute(_PRUNE, (last - self._keep,))

    # --- the contract -----------------------------------------------------------------------

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind_pid: int | None = None) -> Lease | None:
        check_ttl(ttl_ms)
        holder = holder_of(bind_pid) if bind_pid is not None else None

        def grant_released(now: float) -> tuple[str, tuple[Any, ...], Callable[[tuple[Any, ...]], Change]]:
            exp = now + ttl_ms / 1000

            def made(row: tuple[Any, ...]) -> Change:
                rec = Record(task, owner, int(row[0]), now, exp, holder)
                return Change(rec, (("acquired", rec),))

            return _GRANT_RELEASED, (task, owner, rules.token_floor(now), now, exp, holder), made

        rec = self._change(
            task, lambda cur, now, alive: rules.acquire(cur, task, owner, now, ttl_ms, holder, alive), grant_released
        )
        return rec.lease() if rec is not None else None

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        check_ttl(ttl_ms)
        holder = _unprobed_holder(lease)

        def renew_held(now: float) -> tuple[str, tuple[Any, ...], Callable[[tuple[Any, ...]], Change]]:
            exp = now + ttl_ms / 1000

            def made(row: tuple[Any, ...]) -> Change:
                rec = Record(lease.task, lease.owner, lease.token, sane_time(row[0]), exp, holder)
                return Change(rec, (("renewed", rec),))

            return _RENEW_HELD, (lease.task, lease.owner, lease.token, now, exp, holder), made

        rec = self._change(lease.task, lambda cur, now, alive: rules.renew(cur, lease, now, ttl_ms, alive), renew_held)
        return rec.lease() if rec is not None else None

    def release(self, lease: LeaseKey) -> bool:
        holder = _unprobed_holder(lease)

        def release_held(now: float) -> tuple[str, tuple[Any, ...], Callable[[tuple[Any, ...]], Change]]:
            def made(row: tuple[Any, ...]) -> Change:
                ended = Record(lease.task, lease.owner, lease.token, sane_time(row[0]), now, holder)
                return Change(rules.released(ended, now), (("released", ended),))

            return _RELEASE_HELD, (lease.task, lease.owner, lease.token, now, holder), made

        return (
            self._change(lease.task, lambda cur, now, alive: rules.release(cur, lease, now, alive), release_held)
            is not None
        )

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


def _unprobed_holder(lease: LeaseKey) -> str | None:
    """The holder a shortcut may assume for ``lease`` without a probe: none, or this process."""
    holder = getattr(lease, "holder", None)
    return holder if holder is not None and holder == own_holder() else None


def _reason(exc: BaseException) -> str:
    """What went wrong, in the OS's words where it has some (no errno prefix, no repr)."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
