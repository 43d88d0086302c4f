"""Leases in one SQLite database per workspace, shared by every window and CLI on the machine.

Every operation is one statement (one write transaction), compare-and-set on owner and token.
Rows are never deleted, so a task's token only grows, across restarts too. Renew and release ask
whether another bound holder process lives from inside the statement (``lease_holder_alive``,
a ``flock`` probe); taking over from a dead holder probes outside the write lock, then
compare-and-sets on the token and holder it saw.

Change log: each statement also appends its events to the row's own ``hist`` (the last
``HIST_BYTES`` of JSON lines, numbered by the row's ``ver``), so a change writes a single
B-tree page; a separate log table (or trigger) costs a second page per commit and halved the
throughput. A reader's cursor is ``{task: ver}``; it sees every event unless more than fit in
``hist`` happened to one task between two reads, which ``read_log`` reports as a gap.
Versions before the in-row log kept triggers and a ``lease_log`` table, and recreate them on
open; every open drops them again. Their grants keep tokens increasing, but do not reach this
log (they leave ``ver`` alone): run one version per workspace.

WAL with ``synchronous=NORMAL``: a process crash loses nothing committed; a power loss may lose
the last commits, and with them every local holder (pass ``synchronous="FULL"`` when fenced
state lives outside this machine).
"""

from __future__ import annotations

import contextlib
import heapq
import json
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

HIST_BYTES = 640
"""Bytes of recent events kept per task (about eight events; the row stays on one page)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases(
  task TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, acquired_at REAL NOT NULL,
  expires_at REAL NOT NULL, holder TEXT, changed_at REAL NOT NULL,
  ver INTEGER NOT NULL DEFAULT 0, hist BLOB NOT NULL DEFAULT x'') WITHOUT ROWID
"""
_ADD_COLUMNS = {
    "ver": "ALTER TABLE leases ADD COLUMN ver INTEGER NOT NULL DEFAULT 0",
    "hist": "ALTER TABLE leases ADD COLUMN hist BLOB NOT NULL DEFAULT x''",
}
# Earlier versions logged through triggers into a separate table, and recreate both whenever
# they open the database: anything found here is dropped on every open (a trigger on leases
# costs every write a second page).
_STALE = """
SELECT type, name FROM sqlite_master
WHERE (type = 'trigger' AND tbl_name = 'leases') OR (type = 'table' AND name = 'lease_log')
"""


def _event(ver: str, kind: str, owner: str, token: str, exp: str, ts: str, holder: str) -> str:
    """SQL for one log line: ``[ver,kind,owner,token,expires_at,ts,holder]`` (exact floats)."""
    return (
        f"printf('[%d,\"{kind}\",%s,%d,%!.17g,%!.17g,%s]', {ver}, json_quote({owner}), {token},"
        f" {exp}, {ts}, json_quote({holder})) || char(10)"
    )


def _append(hist: str, lines: str) -> str:
    return f"substr(CAST({hist} || {lines} AS BLOB), -{HIST_BYTES})"


# ?1 task, ?2 owner, ?3 now, ?4 expires_at, ?5 holder. A free or expired task is granted with
# token + 1 (and an "expired" event for an expired lease it replaces); a lease bound to a
# holder that may have died is left to _TAKEOVER.
_GRANT_SET = f"""owner = ?2, token = leases.token + 1, acquired_at = ?3,
  expires_at = ?4, holder = ?5, changed_at = ?3,
  ver = leases.ver + 1 + (leases.owner IS NOT NULL),
  hist = {
    _append(
        "leases.hist",
        "CASE WHEN leases.owner IS NULL THEN '' ELSE "
        + _event(
            "leases.ver + 1", "expired", "leases.owner", "leases.token", "leases.expires_at", "?3", "leases.holder"
        )
        + " END || "
        + _event("leases.ver + 1 + (leases.owner IS NOT NULL)", "acquired", "?2", "leases.token + 1", "?4", "?3", "?5"),
    )
}"""
# A task granted before: a plain UPDATE. An upsert would compute its VALUES (the first log
# line: printf, json_quote) on every attempt, granted or refused, before finding the conflict.
# Measured (bench/leases.py): a refused attempt 8 -> 6 us, a grant+release pair 36 -> 31 us;
# 4 processes contending for one task, 0.64 -> 0.72-0.76 of the bare statements' pairs/s.
_GRANT = f"""
UPDATE leases SET {_GRANT_SET}
WHERE task = ?1 AND (owner IS NULL OR expires_at <= ?3)
RETURNING token
"""
# A task's first grant (its row missing when read): the upsert, in case another process has
# just inserted it.
_ACQUIRE = f"""
INSERT INTO leases(task, owner, token, acquired_at, expires_at, holder, changed_at, ver, hist)
VALUES (?1, ?2, 1, ?3, ?4, ?5, ?3, 1, {_append("x''", _event("1", "acquired", "?2", "1", "?4", "?3", "?5"))})
ON CONFLICT(task) DO UPDATE SET {_GRANT_SET}
WHERE leases.owner IS NULL OR leases.expires_at <= ?3
RETURNING token
"""
# Take over from a dead bound holder (probed outside the write lock): compare-and-set on the
# token and holder we saw (?6, ?7); same parameters and log lines as _ACQUIRE otherwise.
_TAKEOVER = f"""
UPDATE leases SET owner = ?2, token = token + 1, acquired_at = ?3, expires_at = ?4, holder = ?5,
  changed_at = ?3, ver = ver + 2,
  hist = {
    _append(
        "hist",
        _event("ver + 1", "expired", "owner", "token", "expires_at", "?3", "holder")
        + " || "
        + _event("ver + 2", "acquired", "?2", "token + 1", "?4", "?3", "?5"),
    )
}
WHERE task = ?1 AND token = ?6 AND holder = ?7 AND owner IS NOT NULL
RETURNING token
"""
# ?1 task, ?2 owner, ?3 token, ?4 now, ?5 our holder id (+ ?6 new expires_at): only the named
# grant, still held; a lease bound to another process needs that process alive.
_HELD = (
    "task = ?1 AND owner = ?2 AND token = ?3 AND expires_at > ?4"
    " AND (holder IS NULL OR holder = ?5 OR lease_holder_alive(holder))"
)
_RENEW = f"""
UPDATE leases SET expires_at = ?6, changed_at = ?4, ver = ver + 1,
  hist = {_append("hist", _event("ver + 1", "renewed", "owner", "token", "?6", "?4", "holder"))}
WHERE {_HELD}
RETURNING acquired_at, holder
"""
_RELEASE = f"""
UPDATE leases SET owner = NULL, holder = NULL, expires_at = ?4, changed_at = ?4, ver = ver + 1,
  hist = {_append("hist", _event("ver + 1", "released", "owner", "token", "?4", "?4", "holder"))}
WHERE {_HELD}
"""
_SELECT = "SELECT task, owner, token, acquired_at, expires_at, holder FROM leases"
_FETCH = f"{_SELECT} WHERE task = ?"


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            self._db.create_function("lease_holder_alive", 1, self._alive)
            self._run(self._setup, synchronous)
        except (sqlite3.Error, OSError) as exc:
            raise LockStoreUnavailable(f"lease database {self.path} cannot be opened: {exc}") from exc

    def _setup(self, synchronous: str) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"bad synchronous mode {synchronous!r}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        if self._schema_work():
            self._db.execute("BEGIN IMMEDIATE")  # one process creates or migrates the schema
            try:
                self._db.execute(_SCHEMA)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(leases)")}
                for column, sql in _ADD_COLUMNS.items():
                    if column not in columns:
                        self._db.execute(sql)
                for kind, name in self._db.execute(_STALE).fetchall():
                    self._db.execute(f'DROP {kind.upper()} IF EXISTS "{name.replace(chr(34), chr(34) * 2)}"')
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _schema_work(self) -> bool:
        """Whether the schema needs creating, migrating or cleaning (a read: opening a current
        database never waits for the write lock)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(leases)")}
        return not set(_ADD_COLUMNS) <= columns or bool(self._db.execute(_STALE).fetchall())

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

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def _changed(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._db.execute(sql, params).rowcount

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
        """Whether ``holder``'s process lives; also called by SQLite inside our statements, so
        it never raises (an unreadable liveness file counts as alive: never a wrong grant)."""
        if holder == self.holder_id:
            return True
        if Path(holder).name != holder:  # never a path outside the holders directory
            return True
        try:
            return holder_alive(self._holders_dir, holder)
        except OSError:
            return True

    def _fetch(self, task: str) -> rules.Record | None:
        row = self._run(lambda: self._db.execute(_FETCH, (task,)).fetchone())
        return rules.Record(*row) if row is not None else None

    # --- the contract -----------------------------------------------------------------------

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind: bool = False) -> Lease | None:
        rules.check_ttl(ttl_ms)
        holder = self._own_holder().id if bind else None
        now = self._clock()
        exp = now + ttl_ms / 1000
        params = (task, owner, now, exp, holder)
        rows = self._run(self._rows, _GRANT, params)
        if not rows:
            rec = self._fetch(task)
            if rec is None:  # never granted
                rows = self._run(self._rows, _ACQUIRE, params)
                if not rows:
                    rec = self._fetch(task)
            if not rows:
                if rec is None or rec.holder is None or rules.is_held(rec, now, self._alive):
                    return None
                rows = self._run(self._rows, _TAKEOVER, (*params, rec.token, rec.holder))
                if not rows:
                    return None
        return Lease(task, owner, rows[0][0], now, exp, holder)

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        rules.check_ttl(ttl_ms)
        now = self._clock()
        exp = now + ttl_ms / 1000
        rows = self._run(self._rows, _RENEW, (lease.task, lease.owner, lease.token, now, self.holder_id, exp))
        if not rows:
            return None
        acquired_at, holder = rows[0]
        return Lease(lease.task, lease.owner, lease.token, acquired_at, exp, holder)

    def release(self, lease: LeaseKey) -> bool:
        params = (lease.task, lease.owner, lease.token, self._clock(), self.holder_id)
        return self._run(self._changed, _RELEASE, params) == 1

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

    # --- the change log: cursor = {task: ver} -----------------------------------------------

    def log_end(self) -> str:
        rows = self._run(lambda: self._db.execute("SELECT task, ver FROM leases").fetchall())
        return _cursor(dict(rows))

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        """Events after ``cursor``, oldest first (ordered by time across tasks, by ``ver``
        within one), and whether a task changed more often than its ``hist`` remembers."""
        start = _parse_cursor(cursor)
        seen = start or {}
        rows = self._run(lambda: self._db.execute("SELECT task, ver, hist FROM leases").fetchall())
        gap = False
        per_task: list[list[tuple[float, str, int, tuple[Any, ...]]]] = []
        for task, ver, hist in rows:
            after = seen.get(task, 0)
            if ver <= after:
                continue
            if isinstance(hist, str):  # written by hand or by an older version
                hist = hist.encode()
            lines = hist.split(b"\n")[:-1]
            if len(hist) >= HIST_BYTES:
                lines = lines[1:]  # the oldest line may have been cut
            events = [e for e in map(json.loads, lines) if e[0] > after]
            if start is not None and (not events or events[0][0] > after + 1):
                gap = True
            per_task.append([(e[5], task, e[0], (e[1], task, *e[2:])) for e in events])
        out: list[LogEntry] = []
        position = dict(seen)
        # merge keeps each task's own order even when two writers' clocks disagree
        for _ts, task, ver, fields in heapq.merge(*per_task):
            if len(out) == limit:
                break
            position[task] = ver
            out.append(LogEntry(_cursor(position), *fields))
        return out, gap

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


def _cursor(position: dict[str, int]) -> str:
    return json.dumps(position, separators=(",", ":"), sort_keys=True)


def _parse_cursor(cursor: str) -> dict[str, int] | None:
    """``"0"`` or ``""`` means the beginning (``None``: whatever ``hist`` still holds, never a
    gap); anything else is a ``{task: ver}`` position, ``{}`` included (``log_end`` of an empty
    database), after which a task's first event must still be there."""
    if cursor in ("", "0"):
        return None
    position = json.loads(cursor)
    if not isinstance(position, dict):
        raise ValueError(f"bad lease log cursor {cursor!r}")
    return position
