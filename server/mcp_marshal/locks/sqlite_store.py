"""Leases in one SQLite database per workspace, shared by every window and CLI on the machine.

Acquire is one UPSERT statement (one write transaction); renew and release are one UPDATE each,
all compare-and-set on owner and token. Rows are never deleted, so a task's token only grows,
across restarts too. Triggers append every change to ``lease_log`` in the same statement, so
any process can replay the changes as events. WAL with ``synchronous=NORMAL``: a process crash
loses nothing committed; a power loss may lose the last commits, and with them every local
holder (pass ``synchronous="FULL"`` when fenced state lives outside this machine).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mcp_marshal.locks import rules
from mcp_marshal.locks.lease import Clock, Lease, LeaseKey, LockStoreUnavailable, LogEntry
from mcp_marshal.locks.liveness import Holder, holder_alive

T = TypeVar("T")

_SCHEMA = """
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

_ACQUIRE = """
INSERT INTO leases(task, owner, token, acquired_at, expires_at, holder, changed_at)
VALUES (:task, :owner, 1, :now, :exp, :holder, :now)
ON CONFLICT(task) DO UPDATE SET owner = excluded.owner, token = leases.token + 1,
  acquired_at = excluded.acquired_at, expires_at = excluded.expires_at,
  holder = excluded.holder, changed_at = excluded.changed_at
WHERE leases.owner IS NULL OR leases.expires_at <= excluded.acquired_at
RETURNING token
"""
# Take over from a dead holder: compare-and-set on the token and holder we saw.
_TAKEOVER = """
UPDATE leases SET owner = :owner, token = token + 1, acquired_at = :now, expires_at = :exp,
  holder = :holder, changed_at = :now
WHERE task = :task AND token = :seen AND holder = :dead
RETURNING token
"""
# Renew/release in one statement when no other live process is bound to the lease; a lease
# bound to another process needs its liveness checked first (``:foreign`` = that holder).
_HOLDER_OK = "(holder IS NULL OR holder = :mine OR holder = :foreign)"
_RENEW = f"""
UPDATE leases SET expires_at = :exp, changed_at = :now
WHERE task = :task AND owner = :owner AND token = :token AND expires_at > :now AND {_HOLDER_OK}
RETURNING acquired_at, holder
"""
_RELEASE = f"""
UPDATE leases SET owner = NULL, holder = NULL, expires_at = :now, changed_at = :now
WHERE task = :task AND owner = :owner AND token = :token AND expires_at > :now AND {_HOLDER_OK}
"""
_SELECT = "SELECT task, owner, token, acquired_at, expires_at, holder FROM leases"

_PRUNE_EVERY = 512
_LOG_KEEP = 10_000


class SqliteStore:
    """One connection to ``path``; safe to share across threads only when calls are serialised."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = time.time,
        busy_timeout_s: float = 5.0,
        retries: int = 4,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._retries = retries
        self._holders_dir = self.path.with_name(self.path.name + ".holders")
        self._holder: Holder | None = None
        self._holder_lock = threading.Lock()
        self._writes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            self._run(self._setup, synchronous)
        except (sqlite3.Error, OSError) as exc:
            raise LockStoreUnavailable(f"lease database {self.path} cannot be opened: {exc}") from exc

    def _setup(self, synchronous: str) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"bad synchronous mode {synchronous!r}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.executescript(_SCHEMA)

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

    def _write(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows = self._run(lambda: self._db.execute(sql, params).fetchall())
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 0:
            self._run(
                self._db.execute,
                "DELETE FROM lease_log WHERE seq <= (SELECT max(seq) FROM lease_log) - ?",
                (_LOG_KEEP,),
            )
        return rows

    def _own_holder(self) -> Holder:
        with self._holder_lock:
            if self._holder is None or not self._holder.alive:
                self._holder = Holder(self._holders_dir)
            return self._holder

    @property
    def holder_id(self) -> str | None:
        """This store's liveness handle, once a bound lease has created it."""
        return self._holder.id if self._holder is not None and self._holder.alive else None

    def _alive(self, holder: str) -> bool:
        if holder == self.holder_id:
            return True
        if Path(holder).name != holder:  # never a path outside the holders directory
            return True
        return holder_alive(self._holders_dir, holder)

    def _record(self, row: tuple[Any, ...] | None) -> rules.Record | None:
        return rules.Record(*row) if row is not None else None

    def _fetch(self, task: str) -> rules.Record | None:
        return self._record(self._run(lambda: self._db.execute(f"{_SELECT} WHERE task = ?", (task,)).fetchone()))

    # --- the contract -----------------------------------------------------------------------

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind: bool = False) -> Lease | None:
        rules.check_ttl(ttl_ms)
        holder = self._own_holder().id if bind else None
        now = self._clock()
        exp = now + ttl_ms / 1000
        params = {"task": task, "owner": owner, "now": now, "exp": exp, "holder": holder}
        rows = self._write(_ACQUIRE, params)
        if not rows:
            rec = self._fetch(task)
            if rec is None or rec.holder is None or rules.is_held(rec, now, self._alive):
                return None
            rows = self._write(_TAKEOVER, {**params, "seen": rec.token, "dead": rec.holder})
            if not rows:
                return None
        return Lease(task, owner, rows[0][0], now, exp, holder)

    def _foreign(self, lease: LeaseKey, now: float) -> str | None:
        """The live holder of another process bound to exactly this grant, if any."""
        rec = self._fetch(lease.task)
        if rec is None or rec.holder is None or not rules.matches(rec, lease):
            return None
        return rec.holder if rules.is_held(rec, now, self._alive) else None

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        rules.check_ttl(ttl_ms)
        now = self._clock()
        exp = now + ttl_ms / 1000
        params = {"task": lease.task, "owner": lease.owner, "token": lease.token, "now": now, "exp": exp}
        params |= {"mine": self.holder_id, "foreign": None}
        rows = self._write(_RENEW, params)
        if not rows:
            foreign = self._foreign(lease, now)
            if foreign is None:
                return None
            rows = self._write(_RENEW, params | {"foreign": foreign})
            if not rows:
                return None
        acquired_at, holder = rows[0]
        return Lease(lease.task, lease.owner, lease.token, acquired_at, exp, holder)

    def release(self, lease: LeaseKey) -> bool:
        now = self._clock()
        params = {"task": lease.task, "owner": lease.owner, "token": lease.token, "now": now}
        params |= {"mine": self.holder_id, "foreign": None}
        if self._run(lambda: self._db.execute(_RELEASE, params).rowcount) == 1:
            return True
        foreign = self._foreign(lease, now)
        return foreign is not None and self._run(
            lambda: self._db.execute(_RELEASE, params | {"foreign": foreign}).rowcount == 1
        )

    def get(self, task: str) -> Lease | None:
        rec = self._fetch(task)
        return rec.lease() if rec is not None and rules.is_held(rec, self._clock(), self._alive) else None

    def list(self) -> list[Lease]:
        now = self._clock()
        rows = self._run(
            lambda: self._db.execute(
                f"{_SELECT} WHERE owner IS NOT NULL AND expires_at > ? ORDER BY task", (now,)
            ).fetchall()
        )
        recs = [rules.Record(*r) for r in rows]
        return [r.lease() for r in recs if rules.is_held(r, now, self._alive)]

    def check(self, task: str, token: int) -> bool:
        row = self._run(lambda: self._db.execute("SELECT token FROM leases WHERE task = ?", (task,)).fetchone())
        return row is not None and row[0] == token

    def log_end(self) -> str:
        row = self._run(lambda: self._db.execute("SELECT coalesce(max(seq), 0) FROM lease_log").fetchone())
        return str(row[0])

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        after = int(cursor)
        rows = self._run(
            lambda: self._db.execute(
                "SELECT seq, kind, task, owner, token, expires_at, ts, holder FROM lease_log"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        gap = bool(rows) and rows[0][0] > after + 1 and after > 0
        return [LogEntry(str(r[0]), *r[1:]) for r in rows], gap

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" probe."""
        return self._run(lambda: self._db.execute("PRAGMA data_version").fetchone()[0])

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def close(self) -> None:
        """Close the connection and drop this process's liveness handle (its bound leases
        become reclaimable, as if the process had exited)."""
        with self._holder_lock:
            if self._holder is not None:
                self._holder.close()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
