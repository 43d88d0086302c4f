"""Pure lease rules: whether a task is free, what a grant, renewal or release produces.

The memory backend runs these functions directly; the sqlite statements and redis scripts
encode the same rules, and the stateful tests hold all three to one reference model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mcp_marshal.locks.lease import Lease, LeaseKey


@dataclass(frozen=True, slots=True)
class Record:
    """The stored state of one task. It is never deleted, so the token never goes back;
    ``owner is None`` means released."""

    task: str
    owner: str | None
    token: int
    acquired_at: float
    expires_at: float
    holder: str | None = None

    def lease(self) -> Lease:
        assert self.owner is not None
        return Lease(self.task, self.owner, self.token, self.acquired_at, self.expires_at, self.holder)


def always_alive(_holder: str) -> bool:
    return True


def is_held(rec: Record | None, now: float, holder_alive: Callable[[str], bool] = always_alive) -> bool:
    """Held = granted, not released, not expired (``now < expires_at``), and its holder alive."""
    return (
        rec is not None
        and rec.owner is not None
        and now < rec.expires_at
        and (rec.holder is None or holder_alive(rec.holder))
    )


def grant(rec: Record | None, task: str, owner: str, now: float, ttl_ms: int, holder: str | None) -> Record:
    """The record after granting a free task: the next token, expiring ``ttl_ms`` from now."""
    check_ttl(ttl_ms)
    token = (rec.token if rec is not None else 0) + 1
    return Record(task, owner, token, now, now + ttl_ms / 1000, holder)


def matches(rec: Record | None, key: LeaseKey) -> bool:
    """The record is the grant named by ``key`` (same owner and token) and not released."""
    return rec is not None and rec.owner is not None and rec.owner == key.owner and rec.token == key.token


def renewed(rec: Record, now: float, ttl_ms: int) -> Record:
    check_ttl(ttl_ms)
    return replace(rec, expires_at=now + ttl_ms / 1000)


def released(rec: Record, now: float) -> Record:
    return replace(rec, owner=None, holder=None, expires_at=now)


def renew_interval(ttl_ms: int) -> float:
    """Seconds between renewals: a third of the TTL leaves two chances before expiry."""
    return max(ttl_ms / 3000, 0.001)


def check_ttl(ttl_ms: int) -> None:
    if ttl_ms <= 0:
        raise ValueError(f"ttl_ms must be > 0, got {ttl_ms}")
