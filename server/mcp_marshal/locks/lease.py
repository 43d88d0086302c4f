"""The lease value types shared by every backend, the service and the shells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch; injected so tests can move time by hand."""


class LockStoreUnavailable(RuntimeError):
    """The lease store cannot be reached or used (Redis down, database locked for too long).

    Never means "not acquired": callers must treat the outcome as unknown. The message names
    the store without credentials.
    """


class LeaseKey(Protocol):
    """What identifies one grant: renew/release/check need only these three fields."""

    @property
    def task(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def token(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LeaseRef:
    """A ``LeaseKey`` built from parts, e.g. the arguments of ``lock renew`` or an LSP command."""

    task: str
    owner: str
    token: int


@dataclass(frozen=True, slots=True)
class Lease:
    """One grant of a task to an owner.

    ``token`` is the fencing token: it strictly increases per task across all processes, store
    restarts and even the loss of the store (it is never below the clock in microseconds, see
    ``rules.next_token``), so a resource that remembers the highest token it has seen can
    reject a writer whose lease has already passed to someone else. It stays below 2**53.
    Times are epoch seconds. ``holder`` names the process whose death ends the lease at once
    (``PID:START:BOOT``, see ``liveness``; sqlite and memory only; ``None`` means the lease
    lives until released or expired).
    """

    task: str
    owner: str
    token: int
    acquired_at: float
    expires_at: float
    holder: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LogKind = Literal["acquired", "renewed", "released", "expired"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One change recorded by the store itself, so every process can replay it as an event.

    ``expired`` entries are written when a lease that was never released (expired, or its
    holder died) is taken over; expiry with no taker is noticed by ``LeaseService``'s timer.
    """

    cursor: str
    kind: LogKind
    task: str
    owner: str
    token: int
    expires_at: float
    ts: float
    holder: str | None = None


class LeaseStore(Protocol):
    """The contract every backend keeps (DESIGN §8). Calls are synchronous and thread-compatible
    (not thread-safe): use one store per thread, or ``LeaseService`` which serialises calls.

    Every method may raise ``LockStoreUnavailable``; none ever reports a grant it did not make.
    """

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind_pid: int | None = None) -> Lease | None:
        """Grant ``task`` to ``owner`` if nobody holds it; ``None`` if it is held.

        ``bind_pid`` ties the lease to that running process (0: the caller's own): once it
        dies the lease is reclaimable at once, whoever took it (sqlite, memory; redis ignores
        it and relies on the TTL). Raises ``UnknownProcess`` if it names no running process,
        and ``InvalidTtl`` unless 1 <= ``ttl_ms`` <= ``MAX_TTL_MS``.
        """
        ...

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        """Extend a lease still held under this owner and token to now + ttl; else ``None``."""
        ...

    def release(self, lease: LeaseKey) -> bool:
        """End a lease still held under this owner and token; ``False`` if it was not held."""
        ...

    def get(self, task: str) -> Lease | None:
        """The current holder of ``task``, if any."""
        ...

    def list(self) -> list[Lease]:
        """Every lease currently held, sorted by task."""
        ...

    def check(self, task: str, token: int) -> bool:
        """True iff ``token`` is the latest token issued for ``task`` (no newer grant exists)."""
        ...

    def log_end(self) -> str:
        """A cursor after the newest log entry."""
        ...

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        """Entries after ``cursor`` (oldest first) and whether some were lost in between: pruned
        (the log is bounded) or gone with the store. ``"0"`` is the beginning; after ``True``,
        take a fresh snapshot (``list``, ``log_end``)."""
        ...

    def describe(self) -> str:
        """Where the leases live, without credentials (for messages)."""
        ...

    def close(self) -> None: ...
