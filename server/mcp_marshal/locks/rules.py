"""Pure lease rules: whether a task is free, and what a grant, renewal or release changes.

The memory and sqlite stores run these functions (sqlite inside one write transaction); the
redis scripts encode the same rules, and the stateful tests hold all three to one reference
model. Time is an argument, and holder liveness a function passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from mcp_marshal.locks.lease import Lease, LeaseKey, LogKind
from mcp_marshal.locks.ttl import check_ttl

TOKENS_PER_SECOND = 1_000_000
"""The clock floor's resolution: tokens stay below 2**53 (exact in JavaScript) until 2255, and a
task would need a million grants a second to outrun the clock."""

MAX_TIME = 253_402_300_799.0
"""9999-12-31T23:59:59Z, the last instant ``datetime`` can show: stored times are read as at most this."""


def token_floor(now: float) -> int:
    """The wall clock in microseconds: no token is below it, so tokens keep growing even after the
    store lost its counters (a deleted database, a Redis without persistence), as long as the
    clock does not go back."""
    return int(now * TOKENS_PER_SECOND)


def next_token(last: int, now: float) -> int:
    """The token of the next grant after ``last``: strictly greater, and never below the clock."""
    return max(last + 1, token_floor(now))


def sane_time(value: Any) -> float:
    """A stored time as every reader can use it: a finite number of seconds from 0 to ``MAX_TIME``.

    Rows written by older versions may hold any float (they took any TTL); NaN or junk reads as 0,
    i.e. long past.
    """
    if type(value) is float and 0.0 <= value <= MAX_TIME:
        return value  # what every current row holds
    try:
        ts = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(ts) else min(max(ts, 0.0), MAX_TIME)


class Record(NamedTuple):
    """The stored state of one task. It is never deleted, so the token never goes back;
    ``owner is None`` means released. (A tuple: one is built for every row read.)"""

    task: str
    owner: str | None
    token: int
    acquired_at: float
    expires_at: float
    holder: str | None = None

    @classmethod
    def stored(cls, task: str, owner: str | None, token: Any, acquired_at: Any, expires_at: Any, holder: Any) -> Record:
        """A record from stored fields, whoever wrote them (times made sane, see ``sane_time``)."""
        return cls(task, owner, int(token), sane_time(acquired_at), sane_time(expires_at), holder)

    def lease(self) -> Lease:
        assert self.owner is not None
        return Lease(self.task, self.owner, self.token, self.acquired_at, self.expires_at, self.holder)


class Change(NamedTuple):
    """What one granted call does: the task's record afterwards, and the log entries to append
    (each a kind and the record as the entry shows it), in order."""

    record: Record
    log: tuple[tuple[LogKind, Record], ...]


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


def matches(rec: Record | None, key: LeaseKey) -> bool:
    """The record is the grant named by ``key`` (same owner and token) and not released."""
    return rec is not None and rec.owner is not None and rec.owner == key.owner and rec.token == key.token


def grant(rec: Record | None, task: str, owner: str, now: float, ttl_ms: int, holder: str | None) -> Record:
    """The record after granting a free task: the next token, expiring ``ttl_ms`` from now."""
    check_ttl(ttl_ms)
    token = next_token(rec.token if rec is not None else 0, now)
    return Record(task, owner, token, now, now + ttl_ms / 1000, holder)


def renewed(rec: Record, now: float, ttl_ms: int) -> Record:
    check_ttl(ttl_ms)
    return Record(rec.task, rec.owner, rec.token, rec.acquired_at, now + ttl_ms / 1000, rec.holder)


def released(rec: Record, now: float) -> Record:
    return Record(rec.task, None, rec.token, rec.acquired_at, now, None)


def acquire(
    rec: Record | None,
    task: str,
    owner: str,
    now: float,
    ttl_ms: int,
    holder: str | None,
    holder_alive: Callable[[str], bool] = always_alive,
) -> Change | None:
    """Grant ``task`` unless it is held; an unreleased lease it replaces is logged as expired."""
    if is_held(rec, now, holder_alive):
        return None
    new = grant(rec, task, owner, now, ttl_ms, holder)
    ended: tuple[tuple[LogKind, Record], ...] = (("expired", rec),) if rec is not None and rec.owner is not None else ()
    return Change(new, (*ended, ("acquired", new)))


def renew(
    rec: Record | None, key: LeaseKey, now: float, ttl_ms: int, holder_alive: Callable[[str], bool] = always_alive
) -> Change | None:
    """Extend the grant ``key`` names, if it is still held."""
    check_ttl(ttl_ms)
    if rec is None or not matches(rec, key) or not is_held(rec, now, holder_alive):
        return None
    new = renewed(rec, now, ttl_ms)
    return Change(new, (("renewed", new),))


def release(
    rec: Record | None, key: LeaseKey, now: float, holder_alive: Callable[[str], bool] = always_alive
) -> Change | None:
    """End the grant ``key`` names, if it is still held; the entry says when it ended."""
    if rec is None or not matches(rec, key) or not is_held(rec, now, holder_alive):
        return None
    ended = Record(rec.task, rec.owner, rec.token, rec.acquired_at, now, rec.holder)
    return Change(released(rec, now), (("released", ended),))


def log_position(cursor: str) -> int:
    """The id a log cursor names (memory and sqlite: the last entry seen; ``"0"``: none yet).

    A cursor is opaque to readers: anything but what the store handed out is a bug (``ValueError``).
    """
    if not cursor.isascii() or not cursor.isdigit():
        raise ValueError(f"bad lease log cursor {cursor!r}")
    return int(cursor)


def renew_interval(ttl_ms: int) -> float:
    """Seconds between renewals: a third of the TTL leaves two chances before expiry."""
    return max(ttl_ms / 3000, 0.001)
