"""The async face of a lease store for the LSP (and ``lock watch``): calls plus lease events.

Store calls run on one worker thread (a Redis round trip or a busy SQLite wait never blocks the
event loop, and the store sees one caller at a time). Events come from the store's own change
log, so changes made by other processes and machines are published exactly like ours.
Expiry is noticed by one timer armed for the earliest expiry among known leases; between
expiries the log is read every ``poll_interval_s`` (one query over the lease rows, or one XRANGE).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from mcp_marshal.events import (
    EventBus,
    LeaseAcquired,
    LeaseDenied,
    LeaseEvent,
    LeaseExpired,
    LeaseReleased,
    LeaseRenewed,
)
from mcp_marshal.locks.lease import Clock, Lease, LeaseRef, LeaseStore, LockStoreUnavailable, LogEntry
from mcp_marshal.locks.liveness import holder_of
from mcp_marshal.locks.ttl import check_ttl

log = logging.getLogger(__name__)
T = TypeVar("T")

_MIN_TIMER_S = 0.02  # clocks of different machines (Redis TIME) never make the timer spin
_READ_LIMIT = 1000  # log entries per read_log call


class LeaseService:
    """Acquire/renew/release/list/check for one store, publishing ``Lease*`` events on ``bus``.

    Leases taken here are bound to process ``bind_pid`` (0, the default: this process; e.g.
    the editor's, from LSP ``initialize.processId``, so they outlive a language-server
    restart; ``None``: not bound): when it dies they are reclaimable at once (sqlite, memory).
    Raises ``UnknownProcess`` if ``bind_pid`` names no running process. Call ``start()`` inside
    the event loop, ``aclose()`` at shutdown; the service owns and closes the store, and
    closing it leaves bound leases to their process.
    """

    def __init__(
        self,
        store: LeaseStore,
        bus: EventBus,
        *,
        default_ttl_ms: int = 600_000,
        clock: Clock = time.time,
        poll_interval_s: float = 0.5,
        bind_pid: int | None = 0,
    ) -> None:
        if bind_pid is not None:
            holder_of(bind_pid)  # fail now, not at the first acquire
        self.store = store
        self.default_ttl_ms = default_ttl_ms
        self._bus = bus
        self._clock = clock
        self._poll = poll_interval_s
        self._bind_pid = bind_pid
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="leases")
        self._known: dict[str, Lease] = {}
        self._cursor = "0"
        self._sync_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._unavailable_logged = False
        self._closing = False

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Take a snapshot of the held leases and start watching for changes and expiry."""
        await self._resync()
        self._watcher = asyncio.create_task(self._watch(), name="lease-watch")

    async def aclose(self) -> None:
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)

    # --- calls (the LSP commands map 1:1 onto these) ----------------------------------------

    def _ttl(self, ttl_ms: int | None) -> int:
        """``ttl_ms``, or the default when it is left out (0 is an error, not the default)."""
        return check_ttl(self.default_ttl_ms if ttl_ms is None else ttl_ms)

    async def acquire(self, task: str, owner: str, ttl_ms: int | None = None) -> Lease | None:
        """Raises ``InvalidTtl`` unless ``ttl_ms`` is ``None`` (the default) or 1 … ``MAX_TTL_MS``."""
        ttl = self._ttl(ttl_ms)
        lease = await self._call(self.store.acquire, task, owner, ttl, bind_pid=self._bind_pid)
        if lease is None:
            self._bus.publish(LeaseDenied(task=task, owner=owner, token=None))
        await self.sync()
        return lease

    async def renew(self, task: str, owner: str, token: int, ttl_ms: int | None = None) -> Lease | None:
        lease = await self._call(self.store.renew, LeaseRef(task, owner, token), self._ttl(ttl_ms))
        if lease is None:
            self._bus.publish(LeaseDenied(task=task, owner=owner, token=token))
        await self.sync()
        return lease

    async def release(self, task: str, owner: str, token: int) -> bool:
        ok = await self._call(self.store.release, LeaseRef(task, owner, token))
        if not ok:
            self._bus.publish(LeaseDenied(task=task, owner=owner, token=token))
        await self.sync()
        return ok

    async def list(self) -> list[Lease]:
        return await self._call(self.store.list)

    async def get(self, task: str) -> Lease | None:
        return await self._call(self.store.get, task)

    async def check(self, task: str, token: int) -> bool:
        return await self._call(self.store.check, task, token)

    # --- events -----------------------------------------------------------------------------

    async def sync(self) -> None:
        """Publish every change recorded since the last call, then any expiry that is due."""
        async with self._sync_lock:
            entries, gap = await self._call(self._read_all, self._cursor)
            if gap:
                log.warning("lease log moved past this reader; taking a fresh snapshot")
                await self._resync_locked(publish=True)
                return
            for entry in entries:
                self._apply(entry)
                self._cursor = entry.cursor
            await self._expire_due()
        self._wake.set()

    def _read_all(self, cursor: str) -> tuple[list[LogEntry], bool]:
        out: list[LogEntry] = []
        gap_seen = False
        while True:
            batch, gap = self.store.read_log(cursor, _READ_LIMIT)
            gap_seen = gap_seen or gap
            out.extend(batch)
            if len(batch) < _READ_LIMIT:
                return out, gap_seen
            cursor = batch[-1].cursor

    async def _resync(self) -> None:
        async with self._sync_lock:
            await self._resync_locked()

    async def _resync_locked(self, *, publish: bool = False) -> None:
        self._cursor = await self._call(self.store.log_end)
        before = self._known
        self._known = {lease.task: lease for lease in await self._call(self.store.list)}
        if publish:
            self._publish_difference(before, self._known)

    def _publish_difference(self, before: dict[str, Lease], after: dict[str, Lease]) -> None:
        """After a gap in the log: events that take a listener from ``before`` to ``after``.
        How a vanished lease ended is lost with the log, so it is reported as released (an
        expiry we did not see would warn the user about nothing)."""
        for task in sorted(before.keys() | after.keys()):
            old, new = before.get(task), after.get(task)
            if old is not None and (new is None or new.token != old.token):
                self._publish(LeaseReleased, old)
            if new is not None and (old is None or new.token != old.token):
                self._publish(LeaseAcquired, new, new.acquired_at)
            elif new is not None and old is not None and new.expires_at != old.expires_at:
                self._publish(LeaseRenewed, new)

    def _publish(self, cls: type[LeaseEvent], lease: Lease | LogEntry, ts: float | None = None) -> None:
        expires = lease.expires_at if cls in (LeaseAcquired, LeaseRenewed) else None
        self._bus.publish(
            cls(task=lease.task, owner=lease.owner, token=lease.token, expires_at=expires, ts=ts or self._clock())
        )

    def _apply(self, e: LogEntry) -> None:
        known = self._known.get(e.task)
        if e.kind == "acquired":
            if known is not None and known.token >= e.token:
                return  # already in the snapshot
            if known is not None:
                self._publish(LeaseExpired, known, e.ts)
            self._known[e.task] = Lease(e.task, e.owner, e.token, e.ts, e.expires_at, e.holder)
            self._publish(LeaseAcquired, e, e.ts)
        elif e.kind == "renewed":
            if known is not None and known.token > e.token:
                return
            base = known if known is not None and known.token == e.token else None
            self._known[e.task] = (
                replace(base, expires_at=e.expires_at)
                if base is not None
                else Lease(e.task, e.owner, e.token, e.ts, e.expires_at, e.holder)
            )
            self._publish(LeaseRenewed, e, e.ts)
        elif e.kind == "released":
            if known is not None and known.token == e.token:
                del self._known[e.task]
            if known is None or known.token <= e.token:
                self._publish(LeaseReleased, e, e.ts)
        elif e.kind == "expired" and known is not None and known.token == e.token:
            del self._known[e.task]
            self._publish(LeaseExpired, e, e.ts)

    async def _expire_due(self) -> None:
        """Confirm with the store the leases our timer says are over, or bound to a process that
        may have died, and publish ``LeaseExpired`` for each that really ended without a release."""
        now = self._clock()
        suspects = [lease for lease in self._known.values() if lease.expires_at <= now or lease.holder is not None]
        if not suspects:
            return
        current = {lease.task: lease for lease in await self._call(self.store.list)}
        for lease in suspects:
            cur = current.get(lease.task)
            if cur is not None and cur.token == lease.token:
                self._known[lease.task] = cur  # still held (renewed, or our clock runs ahead)
            elif self._known.get(lease.task) == lease:
                del self._known[lease.task]
                self._publish(LeaseExpired, lease)

    def _next_delay(self) -> float:
        delay = self._poll
        if self._known:
            earliest = min(lease.expires_at for lease in self._known.values())
            delay = min(delay, max(_MIN_TIMER_S, earliest - self._clock() + 0.005))
        return delay

    async def _watch(self) -> None:
        while not self._closing:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that races
            # with the wake-up, leaving aclose() waiting forever.
            try:
                async with asyncio.timeout(self._next_delay()):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.sync()
                self._wake.clear()
                if self._unavailable_logged:
                    log.warning("lease store %s is reachable again", self.store.describe())
                    self._unavailable_logged = False
            except LockStoreUnavailable as exc:
                if not self._unavailable_logged:
                    log.warning("%s", exc)
                    self._unavailable_logged = True
