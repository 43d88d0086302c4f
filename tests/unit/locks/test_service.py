"""LeaseService: events for our own calls, for other processes' changes, and for expiry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
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
from mcp_marshal.locks import InvalidTtl, LeaseService, UnknownProcess
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


@pytest.fixture()
def editor() -> Iterator[subprocess.Popen[bytes]]:
    """Stands in for the editor's process (LSP ``initialize.processId``)."""
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    proc.kill()
    proc.wait()


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
        ("LeaseAcquired", "t", "alice", lease.token),
        ("LeaseDenied", "t", "bob", None),
        ("LeaseRenewed", "t", "alice", lease.token),
        ("LeaseDenied", "t", "alice", lease.token + 1),
        ("LeaseReleased", "t", "alice", lease.token),
    ]


async def test_expiry_is_published_once_by_the_timer() -> None:
    bus = EventBus()
    service = LeaseService(MemoryStore(), bus, poll_interval_s=30)  # only the expiry timer can fire
    await service.start()
    with bus.queue() as q:
        first = await service.acquire("t", "alice", 200)
        assert first is not None
        event = await wait_for(q, lambda e: isinstance(e, LeaseExpired), timeout=10)
        assert (event.task, event.owner, event.token) == ("t", "alice", first.token)  # type: ignore[attr-defined]
        lease = await service.acquire("t", "bob", 60_000)  # takeover after expiry: no second Expired
        assert lease is not None and lease.token > first.token
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
    sqlite_service: tuple[LeaseService, EventBus, Path], editor: subprocess.Popen[bytes]
) -> None:
    service, bus, db = sqlite_service
    other = SqliteStore(db)
    with bus.queue() as q:
        held = other.acquire("t", "window", 600_000, bind_pid=editor.pid)
        assert held is not None
        await wait_for(q, lambda e: isinstance(e, LeaseAcquired), timeout=10)
        editor.kill()  # the window's process dies
        editor.wait()
        got = await wait_for(q, lambda e: isinstance(e, LeaseExpired), timeout=10)
        assert (got.owner, got.token) == ("window", held.token)  # type: ignore[attr-defined]
        lease = await service.acquire("t", "next", 1000)
        assert lease is not None and lease.token > held.token
        assert not [e for e in drain(q) if isinstance(e, LeaseExpired)]
    other.close()


SERVICE = """
import asyncio, sys
from mcp_marshal.events import EventBus
from mcp_marshal.locks import LeaseService
from mcp_marshal.locks.sqlite_store import SqliteStore

async def main():
    bind = None if sys.argv[2] == "-" else int(sys.argv[2])
    service = LeaseService(SqliteStore(sys.argv[1]), EventBus(), bind_pid=bind if bind is not None else 0)
    await service.start()
    lease = await service.acquire("t", "window", 600_000)
    print(lease.token, flush=True)
    if sys.argv[3] == "close":
        await service.aclose()  # an orderly shutdown of the language server
    else:
        sys.stdin.read()

asyncio.run(main())
"""


def run_service(db: Path, bind: str, end: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "server")}
    argv = [sys.executable, "-c", SERVICE, str(db), bind, end]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def test_leases_of_the_service_die_with_its_process(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    server = run_service(db, "-", "wait")
    assert server.stdout is not None and int(server.stdout.readline()) > 0
    probe = SqliteStore(db)
    assert probe.acquire("t", "other", 1000) is None
    server.kill()  # the editor window (its language server) dies
    server.wait()
    assert probe.acquire("t", "other", 1000) is not None
    probe.close()


def test_leases_bound_to_the_editor_survive_a_language_server_restart(
    tmp_path: Path, editor: subprocess.Popen[bytes]
) -> None:
    db = tmp_path / "locks.sqlite3"
    for end in ("close", "kill"):  # an orderly shutdown, then a crash
        server = run_service(db, str(editor.pid), "close" if end == "close" else "wait")
        assert server.stdout is not None
        token = int(server.stdout.readline())
        if end == "kill":
            server.kill()
        server.wait()
        probe = SqliteStore(db)
        held = probe.get("t")
        assert held is not None and held.token == token, f"the editor's lease vanished ({end})"
        assert probe.release(held)  # so the next language server can take it again
        probe.close()
    probe = SqliteStore(db)
    server = run_service(db, str(editor.pid), "close")
    assert server.stdout is not None and int(server.stdout.readline()) > token
    server.wait()
    editor.kill()  # the editor itself goes: its leases with it
    editor.wait()
    assert probe.get("t") is None and probe.acquire("t", "other", 1000) is not None
    probe.close()


async def test_bad_ttls_and_bindings_are_user_errors(editor: subprocess.Popen[bytes]) -> None:
    service = LeaseService(MemoryStore(), EventBus(), default_ttl_ms=60_000, bind_pid=editor.pid)
    await service.start()
    for ttl in (0, -1, 10**20):
        with pytest.raises(InvalidTtl):
            await service.acquire("t", "a", ttl)  # 0 is not "the default"
    lease = await service.acquire("t", "a")
    assert lease is not None and lease.expires_at - lease.acquired_at == 60
    with pytest.raises(InvalidTtl):
        await service.renew("t", "a", lease.token, 0)
    await service.aclose()
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(UnknownProcess):
        LeaseService(MemoryStore(), EventBus(), bind_pid=gone.pid)


async def test_denied_is_published_for_a_refused_release() -> None:
    bus = EventBus()
    service = LeaseService(MemoryStore(), bus)
    await service.start()
    with bus.queue() as q:
        assert not await service.release("t", "nobody", 3)
        assert isinstance(q.get_nowait(), LeaseDenied)
    await service.aclose()
