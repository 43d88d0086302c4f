"""Dead holders, store restarts and an unreachable Redis, with real processes and servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_marshal.locks import LeaseRef, LockStoreUnavailable
from mcp_marshal.locks.redis_store import RedisStore
from mcp_marshal.locks.sqlite_store import SqliteStore
from tests.integration.lock_redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
from mcp_marshal.locks.redis_store import RedisStore
from mcp_marshal.locks.sqlite_store import SqliteStore
kind, where, ttl = sys.argv[1:4]
store = SqliteStore(where) if kind == "sqlite" else RedisStore(where)
lease = store.acquire("job", "holder", int(ttl), bind=True)
print(lease.token, lease.expires_at, flush=True)
sys.stdin.read()  # hold until killed
"""


def start_holder(kind: str, where: str, ttl_ms: int) -> tuple[subprocess.Popen[str], int, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, where, str(ttl_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    token, expires_at = proc.stdout.readline().split()
    return proc, int(token), float(expires_at)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    (tmp_path / "redis").mkdir()
    with server:
        yield server


def test_sqlite_lease_of_a_killed_holder_is_reclaimable_at_once(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    proc, token, _ = start_holder("sqlite", str(db), 600_000)
    store = SqliteStore(db)
    try:
        assert store.acquire("job", "me", 1000) is None  # the holder is alive
        kill(proc)
        lease = store.acquire("job", "me", 1000)
        assert lease is not None and lease.token == token + 1
        assert not store.check("job", token) and store.check("job", token + 1)
        kinds = [e.kind for e in store.read_log("0")[0]]
        assert kinds == ["acquired", "expired", "acquired"]
    finally:
        kill(proc)
        store.close()


def test_sqlite_lease_not_bound_to_a_process_outlives_it(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    first = SqliteStore(db)
    lease = first.acquire("job", "cli", 600_000)  # like `lock acquire`: the CLI exits at once
    first.close()
    second = SqliteStore(db)
    assert lease is not None and second.acquire("job", "other", 1000) is None
    assert second.release(lease)
    second.close()


def test_sqlite_tokens_survive_reopening_the_database(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    tokens = []
    for _ in range(3):
        store = SqliteStore(db)
        lease = store.acquire("job", "me", 1000)
        assert lease is not None and store.release(lease)
        tokens.append(lease.token)
        store.close()
    assert tokens == [1, 2, 3]


def test_redis_lease_of_a_killed_holder_ends_with_its_ttl(redis_server: RedisServer) -> None:
    proc, token, expires_at = start_holder("redis", redis_server.url, 800)
    store = RedisStore(redis_server.url)
    try:
        kill(proc)
        assert store.acquire("job", "me", 1000) is None  # no liveness in redis: wait for the TTL
        deadline = time.monotonic() + 10
        while (lease := store.acquire("job", "me", 1000)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert lease.token == token + 1 and lease.acquired_at >= expires_at
    finally:
        kill(proc)
        store.close()


def test_redis_down_is_an_error_never_a_grant_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path, appendonly=True, password="s3cret").start()
    try:
        _redis_down_checks(redis_server)
    finally:
        redis_server.stop()


def _redis_down_checks(redis_server: RedisServer) -> None:
    url = redis_server.url.replace("redis://", "redis://default:s3cret@")
    store = RedisStore(url, timeout_s=2)
    first = store.acquire("job", "me", 60_000)
    assert first is not None and store.release(first)
    redis_server.stop()
    calls = [
        lambda: store.acquire("job", "me", 1000),
        lambda: store.renew(LeaseRef("job", "me", first.token), 1000),
        lambda: store.release(LeaseRef("job", "me", first.token)),
        store.list,
        lambda: store.check("job", first.token),
    ]
    for call in calls:
        with pytest.raises(LockStoreUnavailable) as err:
            call()
        assert f"127.0.0.1:{redis_server.port}" in str(err.value)
        assert "s3cret" not in str(err.value) and "default" not in str(err.value)
    redis_server.start()  # AOF with appendfsync always: the fence counter is back
    again = store.acquire("job", "me", 1000)
    assert again is not None and again.token == first.token + 1
    store.close()
