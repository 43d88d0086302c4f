"""Leases in one process's memory: for tests and a single editor window that shares nothing."""

from __future__ import annotations

import threading
import time

from mcp_marshal.locks import rules
from mcp_marshal.locks.lease import Clock, Lease, LeaseKey, LogEntry
from mcp_marshal.locks.liveness import holder_alive, holder_of
from mcp_marshal.locks.rules import Change, Record
from mcp_marshal.locks.ttl import check_ttl

LOG_KEEP = 10_000
"""Log entries kept; older ones are pruned (``read_log`` reports it)."""


class MemoryStore:
    """The pure rules over a dict, thread-safe. Leases die with this process at the latest."""

    def __init__(self, *, clock: Clock = time.time, log_keep: int = LOG_KEEP) -> None:
        self._clock = clock
        self._keep = log_keep
        self._records: dict[str, Record] = {}
        self._log: list[LogEntry] = []
        self._seq = 0
        self._lock = threading.Lock()

    def _apply(self, change: Change | None, now: float) -> Record | None:
        if change is None:
            return None
        self._records[change.record.task] = change.record
        for kind, rec in change.log:
            self._seq += 1
            assert rec.owner is not None
            self._log.append(
                LogEntry(str(self._seq), kind, rec.task, rec.owner, rec.token, rec.expires_at, now, rec.holder)
            )
        if len(self._log) > self._keep + max(1, self._keep // 10):  # prune in steps, not on every call
            del self._log[: -self._keep]
        return change.record

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind_pid: int | None = None) -> Lease | None:
        check_ttl(ttl_ms)
        holder = holder_of(bind_pid) if bind_pid is not None else None
        with self._lock:
            now = self._clock()
            change = rules.acquire(self._records.get(task), task, owner, now, ttl_ms, holder, holder_alive)
            rec = self._apply(change, now)
            return rec.lease() if rec is not None else None

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        with self._lock:
            now = self._clock()
            rec = self._apply(rules.renew(self._records.get(lease.task), lease, now, ttl_ms, holder_alive), now)
            return rec.lease() if rec is not None else None

    def release(self, lease: LeaseKey) -> bool:
        with self._lock:
            now = self._clock()
            return self._apply(rules.release(self._records.get(lease.task), lease, now, holder_alive), now) is not None

    def get(self, task: str) -> Lease | None:
        with self._lock:
            rec = self._records.get(task)
            return rec.lease() if rec is not None and rules.is_held(rec, self._clock(), holder_alive) else None

    def list(self) -> list[Lease]:
        with self._lock:
            now = self._clock()
            return [r.lease() for _, r in sorted(self._records.items()) if rules.is_held(r, now, holder_alive)]

    def check(self, task: str, token: int) -> bool:
        with self._lock:
            rec = self._records.get(task)
            return rec is not None and rec.token == token

    def log_end(self) -> str:
        return str(self._seq)

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        after = rules.log_position(cursor)
        with self._lock:
            first = int(self._log[0].cursor) if self._log else self._seq + 1
            out = self._log[max(0, after + 1 - first) :][:limit]
            return out, (after + 1 < first and after < self._seq) or after > self._seq

    def describe(self) -> str:
        return "memory"

    def close(self) -> None:
        pass
