"""Leases in one process's memory: for tests and a single editor window that shares nothing."""

from __future__ import annotations

import threading
import time

from mcp_marshal.locks import rules
from mcp_marshal.locks.lease import Clock, Lease, LeaseKey, LogEntry, LogKind
from mcp_marshal.locks.rules import Record

_LOG_KEEP = 10_000


class MemoryStore:
    """The pure rules over a dict. ``bind`` is accepted and ignored: leases die with the process."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._records: dict[str, Record] = {}
        self._log: list[LogEntry] = []
        self._seq = 0
        self._lock = threading.Lock()

    def _append(self, kind: LogKind, rec: Record, owner: str, now: float) -> None:
        self._seq += 1
        self._log.append(LogEntry(str(self._seq), kind, rec.task, owner, rec.token, rec.expires_at, now))
        if len(self._log) > 2 * _LOG_KEEP:
            del self._log[:-_LOG_KEEP]

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind: bool = False) -> Lease | None:
        with self._lock:
            now = self._clock()
            old = self._records.get(task)
            if rules.is_held(old, now):
                return None
            new = rules.grant(old, task, owner, now, ttl_ms, None)
            self._records[task] = new
            if old is not None and old.owner is not None:
                self._append("expired", old, old.owner, now)
            self._append("acquired", new, owner, now)
            return new.lease()

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        with self._lock:
            now = self._clock()
            rec = self._records.get(lease.task)
            if rec is None or not rules.matches(rec, lease) or not rules.is_held(rec, now):
                return None
            new = rules.renewed(rec, now, ttl_ms)
            self._records[lease.task] = new
            self._append("renewed", new, lease.owner, now)
            return new.lease()

    def release(self, lease: LeaseKey) -> bool:
        with self._lock:
            now = self._clock()
            rec = self._records.get(lease.task)
            if rec is None or not rules.matches(rec, lease) or not rules.is_held(rec, now):
                return False
            self._records[lease.task] = rules.released(rec, now)
            self._append("released", rec, lease.owner, now)
            return True

    def get(self, task: str) -> Lease | None:
        with self._lock:
            rec = self._records.get(task)
            return rec.lease() if rec is not None and rules.is_held(rec, self._clock()) else None

    def list(self) -> list[Lease]:
        with self._lock:
            now = self._clock()
            return [r.lease() for _, r in sorted(self._records.items()) if rules.is_held(r, now)]

    def check(self, task: str, token: int) -> bool:
        with self._lock:
            rec = self._records.get(task)
            return rec is not None and rec.token == token

    def log_end(self) -> str:
        return str(self._seq)

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        with self._lock:
            after = int(cursor)
            out = [e for e in self._log if int(e.cursor) > after][:limit]
            first = int(self._log[0].cursor) if self._log else self._seq + 1
            return out, after + 1 < first and after < self._seq

    def describe(self) -> str:
        return "memory"

    def close(self) -> None:
        pass
