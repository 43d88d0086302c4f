"""LeaseService: events for our own calls, for other processes' changes, and for expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcp_marshal.events import (
    EventBus,
    LeaseAcquired,
    LeaseDenied,
    LeaseExpired,
    LeaseReleased,
    LeaseRenewed,
    wait_for,
)
from mcp_marshal.locks import LeaseService
from mcp_marshal.locks.memory_store import MemoryStore
from mcp_marshal.locks.sqlite_store import SqliteStore

from .conftest import drain, summary


@pytest.fixture()
async def sqlite_service(tmp_path: Path) -> AsyncIterator[tuple[LeaseService, EventBus, Path]]:
    bus = EventBus()
    db = tmp_path / "locks.sqlite3"
    service = LeaseService(SqliteStore(db), bus, poll_interval_s=0.05)
    await service.start()
    yield service, bus, db
    await service.aclose()


async def test_own_calls_publish_events_in_order() -> None:
    bus = EventBus()
    service = LeaseService(MemoryStore(), bus, default_ttl_ms=60_000)
    await service.start()
    with bus.queue() as q:
        lease = await service.acquire("t", "alice")
        assert lease is not None and lease.expires_at - lease.acquired_at == 60
        assert await service.acquire("t", "bob") is None
        assert await service.renew("t", "alice", lease.token, 120_000) is not None
        assert await service.renew("t", "alice", lease.token + 1) is None
        assert await service.release("t", "alice", lease.token)
        assert not await service.check("t", 0) and await service.check("t", lease.token)
        assert await service.list() == []
        events = drain(q)
    await service.aclose()
    assert summary(events) == [
        ("LeaseAcquired", "t", "alice", 1),
        ("LeaseDenied", "t", "bob", None),
        ("LeaseRenewed", "t", "alice", 1),
        ("LeaseDenied", "t", "alice", 2),
        ("LeaseReleased", "t", "alice", 1),
    ]


async def test_expiry_is_published_once_by_the_timer() -> None:
    bus = EventBus()
    service = LeaseService(MemoryStore(), bus, poll_interval_s=30)  # only the expiry timer can fire
    await service.start()
    with bus.queue() as q:
        await service.acquire("t", "alice", 200)
        event = await wait_for(q, lambda e: isinstance(e, LeaseExpired), timeout=10)
        assert (event.task, event.owner, event.token) == ("t", "alice", 1)  # type: ignore[attr-defined]
        lease = await service.acquire("t", "bob", 60_000)  # takeover after expiry: no second Expired
        assert lease is not None and lease.token == 2
        kinds = [e.kind for e in drain(q)]
    await service.aclose()
    assert kinds == ["LeaseAcquired"]


async def test_changes_by_another_process_are_published(
    sqlite_service: tuple[LeaseService, EventBus, Path],
) -> None:
    _service, bus, db = sqlite_service
    other = SqliteStore(db)  # another window/CLI on the same database
    with bus.queue() as q:
        lease = other.acquire("t", "agent", 60_000)
        assert lease is not None
        got = await wait_for(q, lambda e: isinstance(e, LeaseAcquired), timeout=10)
        assert got.owner == "agent"  # type: ignore[attr-defined]
        assert other.renew(lease, 90_000) is not None
        await wait_for(q, lambda e: isinstance(e, LeaseRenewed), timeout=10)
        assert other.release(lease)
        await wait_for(q, lambda e: isinstance(e, LeaseReleased), timeout=10)
    other.close()


async def test_death_of_a_bound_holder_is_published_as_expiry(
    sqlite_service: tuple[LeaseService, EventBus, Path],
) -> None:
    service, bus, db = sqlite_service
    other = SqliteStore(db)
    with bus.queue() as q:
        assert other.acquire("t", "window", 600_000, bind=True) is not None
        await wait_for(q, lambda e: isinstance(e, LeaseAcquired), timeout=10)
        other.close()  # drops its flock exactly as the kernel does when the process dies
        got = await wait_for(q, lambda e: isinstance(e, LeaseExpired), timeout=10)
        assert (got.owner, got.token) == ("window", 1)  # type: ignore[attr-defined]
        lease = await service.acquire("t", "next", 1000)
        assert lease is not None and lease.token == 2
        assert not [e for e in drain(q) if isinstance(e, LeaseExpired)]


async def test_leases_of_the_service_die_with_it(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    service = LeaseService(SqliteStore(db), EventBus())
    await service.start()
    assert await service.acquire("t", "window", 600_000) is not None
    probe = SqliteStore(db)
    assert probe.acquire("t", "other", 1000) is None
    await service.aclose()  # the editor window closes
    assert probe.acquire("t", "other", 1000) is not None
    probe.close()


async def test_denied_is_published_for_a_refused_release() -> None:
    bus = EventBus()
    service = LeaseService(MemoryStore(), bus)
    await service.start()
    with bus.queue() as q:
        assert not await service.release("t", "nobody", 3)
        assert isinstance(q.get_nowait(), LeaseDenied)
    await service.aclose()
