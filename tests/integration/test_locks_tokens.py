"""Fencing tokens never repeat or go backwards, even when the store itself is lost.

A resource that remembers the highest token it accepted must reject every holder from before
the loss: so each token issued after deleting the database, ``FLUSHALL`` or restarting a Redis
without persistence must exceed every token issued before it. Figures are printed (``-s``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_marshal.locks import LeaseStore
from mcp_marshal.locks.memory_store import MemoryStore
from mcp_marshal.locks.redis_store import RedisStore
from mcp_marshal.locks.sqlite_store import SqliteStore
from tests.integration.lock_redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
JS_SAFE = 2**53


def churn(store: LeaseStore, task: str, n: int) -> list[int]:
    """``n`` grants of ``task`` released at once, as fast as the store goes; their tokens."""
    tokens = []
    for _ in range(n):
        lease = store.acquire(task, "churn", 60_000)
        assert lease is not None and store.release(lease)
        tokens.append(lease.token)
    return tokens


def assert_strictly_increasing(tokens: list[int]) -> None:
    assert all(a < b for a, b in itertools.pairwise(tokens)), tokens
    assert all(0 < t < JS_SAFE for t in tokens), "a token JavaScript cannot hold exactly"


def test_sqlite_tokens_grow_past_a_deleted_database(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    # a holder in another process takes the task and keeps it while the database is deleted
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from mcp_marshal.locks.sqlite_store import SqliteStore;"
            "s = SqliteStore(sys.argv[1]); [s.release(s.acquire('job', 'h', 60000)) for _ in range(500)];"
            "lease = s.acquire('job', 'h', 600000); print(lease.token, flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None
        held = int(holder.stdout.readline())
        for path in tmp_path.iterdir():  # the database, its WAL and anything beside it
            path.unlink()
        store = SqliteStore(db)
        after = churn(store, "job", 200)
        print(f"sqlite: token held while the database was deleted {held}, next grants {after[0]} … {after[-1]}")
        assert after[0] > held
        assert_strictly_increasing([held, *after])
        store.close()
    finally:
        holder.kill()
        holder.wait()


def test_memory_tokens_grow_past_a_new_process() -> None:
    first = churn(MemoryStore(), "job", 1000)
    second = churn(MemoryStore(), "job", 10)  # a new process: an empty store
    print(f"memory: last token of one store {first[-1]}, first of the next {second[0]}")
    assert_strictly_increasing(first + second)


@pytest.fixture()
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    with RedisServer(tmp_path / "redis", appendonly=False) as server:  # no persistence at all
        yield server


def test_redis_tokens_grow_past_flushall(volatile_redis: RedisServer) -> None:
    store = RedisStore(volatile_redis.url)
    before = churn(store, "job", 300)
    held = store.acquire("job", "holder", 600_000)
    assert held is not None
    store._r.flushall()  # the store is lost while the lease is held
    after = churn(store, "job", 300)
    print(f"redis FLUSHALL: token held {held.token}, next grants {after[0]} … {after[-1]}")
    assert_strictly_increasing([*before, held.token, *after])
    store.close()


def test_redis_tokens_grow_past_a_restart_without_persistence(volatile_redis: RedisServer) -> None:
    store = RedisStore(volatile_redis.url)
    before = churn(store, "job", 300)
    held = store.acquire("job", "holder", 600_000)
    assert held is not None
    store.close()
    volatile_redis.stop()
    volatile_redis.start()  # an empty server on the same port
    store = RedisStore(volatile_redis.url)
    after = churn(store, "job", 300)
    print(f"redis restart: token held {held.token}, next grants {after[0]} … {after[-1]}")
    assert_strictly_increasing([*before, held.token, *after])
    assert not store.check("job", held.token)  # the old holder's writes are fenced off
    store.close()
