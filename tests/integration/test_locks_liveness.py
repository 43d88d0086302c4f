"""Dead holders, store restarts and an unreachable Redis, with real processes and servers.

A lease bound to a process lives exactly as long as that process: its pid and start time are
checked, never a file, so neither a deleted file nor a reused pid can fake its death or life.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_marshal.errors import UserError
from mcp_marshal.locks import LeaseRef, LockStoreUnavailable, UnknownProcess
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
lease = store.acquire("job", "holder", int(ttl), bind_pid=0)
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
        assert lease is not None and lease.token > token
        assert not store.check("job", token) and store.check("job", lease.token)
        kinds = [e.kind for e in store.read_log("0")[0]]
        assert kinds == ["acquired", "expired", "acquired"]
    finally:
        kill(proc)
        store.close()


def test_a_missing_file_does_not_make_a_live_holder_dead(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    proc, token, _ = start_holder("sqlite", str(db), 600_000)
    store = SqliteStore(db)
    try:
        database = {db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")}
        for path in sorted(tmp_path.rglob("*"), reverse=True):  # everything but the database
            if path not in database:
                path.rmdir() if path.is_dir() else path.unlink()
        assert store.acquire("job", "me", 1000) is None, "the lease of a live holder was taken"
        held = store.get("job")
        assert held is not None and held.token == token
        kill(proc)
        assert store.acquire("job", "me", 1000) is not None
    finally:
        kill(proc)
        store.close()


def sleeper() -> subprocess.Popen[bytes]:
    """Stands in for the editor: a process that outlives the language server."""
    return subprocess.Popen(["sleep", "1000"])


BINDER = """
import sys
from mcp_marshal.locks.sqlite_store import SqliteStore
store = SqliteStore(sys.argv[1])
lease = store.acquire("job", "editor", 600000, bind_pid=int(sys.argv[2]))
print(lease.token, lease.holder, flush=True)
"""


def test_a_lease_bound_to_another_process_outlives_its_taker_and_ends_with_that_process(tmp_path: Path) -> None:
    db = tmp_path / "locks.sqlite3"
    editor = sleeper()
    store = SqliteStore(db)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
        done = subprocess.run(
            [sys.executable, "-c", BINDER, str(db), str(editor.pid)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr  # the language server took it, then exited (a restart)
        token = int(done.stdout.split()[0])
        held = store.get("job")
        assert held is not None and held.token == token and held.holder is not None
        assert held.holder.startswith(f"{editor.pid}:")
        assert store.acquire("job", "other", 1000) is None, "the lease died with the process that took it"
        editor.kill()
        editor.wait()
        lease = store.acquire("job", "other", 1000)
        assert lease is not None and lease.token > token, "the lease outlived the process it is bound to"
    finally:
        editor.kill()
        editor.wait()
        store.close()


def test_a_stopped_holder_is_alive(tmp_path: Path) -> None:
    """SIGSTOP is a pause, not a death: only the TTL may end a paused holder's lease."""
    db = tmp_path / "locks.sqlite3"
    editor = sleeper()
    store = SqliteStore(db)
    try:
        assert store.acquire("job", "editor", 600_000, bind_pid=editor.pid) is not None
        os.kill(editor.pid, signal.SIGSTOP)
        assert store.acquire("job", "other", 1000) is None
    finally:
        editor.kill()
        editor.wait()
        store.close()


def test_binding_to_a_process_that_does_not_run_is_a_user_error(tmp_path: Path) -> None:
    gone = sleeper()
    gone.kill()
    gone.wait()
    store = SqliteStore(tmp_path / "locks.sqlite3")
    with pytest.raises(UnknownProcess) as err:
        store.acquire("job", "editor", 1000, bind_pid=gone.pid)
    assert isinstance(err.value, UserError) and str(gone.pid) in str(err.value)
    assert store.list() == []
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
    assert tokens == sorted(set(tokens))


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
        assert lease.token > token and lease.acquired_at >= expires_at
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
    assert again is not None and again.token > first.token
    store.close()
