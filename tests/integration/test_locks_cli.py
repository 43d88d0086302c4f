"""``mcp-marshal lock ...`` end to end: separate processes sharing one sqlite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import pid_alive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "server"),
        "MCP_MARSHAL_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "200",
    }


def lock_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcp_marshal", "lock", *args]


def lock(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, dict]:
    done = subprocess.run(
        lock_argv(args[0], "--json", *args[1:]), env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    out = done.stdout.strip().splitlines()
    return done.returncode, json.loads(out[-1]) if out else {}


def lock_text(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lock`` with its human output (a wide terminal, so rich never wraps)."""
    return subprocess.run(lock_argv(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_two_processes_share_one_store(tmp_path: Path, env: dict[str, str]) -> None:
    db = ["--db", str(tmp_path / "locks.sqlite3")]
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "alice", "--ttl", "60000", *db)
    assert rc == 0 and got["lease"]["owner"] == "alice"
    first = got["lease"]["token"]
    tok = str(first)
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "bob", *db)
    assert rc == 1 and got["acquired"] is False and got["holder"]["owner"] == "alice"
    rc, got = lock(env, tmp_path, "list", *db)
    assert [(x["task"], x["owner"], x["token"]) for x in got["leases"]] == [("build", "alice", first)]
    assert lock(env, tmp_path, "renew", "build", "--owner", "alice", "--token", str(first + 7), *db)[0] == 1
    assert lock(env, tmp_path, "release", "build", "--owner", "bob", "--token", tok, *db)[0] == 1
    rc, got = lock(env, tmp_path, "renew", "build", "--owner", "alice", "--token", tok, "--ttl", "90000", *db)
    assert rc == 0 and got["lease"]["expires_at"] - got["lease"]["acquired_at"] >= 90
    assert lock(env, tmp_path, "check", "build", "--token", tok, *db)[0] == 0
    assert lock(env, tmp_path, "release", "build", "--owner", "alice", "--token", tok, *db)[0] == 0
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "bob", *db)
    assert rc == 0 and got["lease"]["token"] > first
    assert lock(env, tmp_path, "check", "build", "--token", tok, *db)[0] == 1


def test_store_comes_from_the_workspace_in_cwd(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "demo.code-workspace").write_text('{"folders": [{"path": "."}], "settings": {}}')
    rc, got = lock(env, tmp_path, "acquire", "t", "--owner", "o")
    assert rc == 0
    assert list((tmp_path / "state").rglob("locks.sqlite3")), "lease db not in the workspace state dir"
    (tmp_path / "other.code-workspace").write_text("{}")
    rc, got = lock(env, tmp_path, "list")
    assert rc == 2 and "several" in got["error"]


def test_unreachable_redis_is_a_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    rc, got = lock(env, tmp_path, "acquire", "t", "--owner", "o", "--redis", "redis://me:pw@127.0.0.1:1/0")
    assert rc == 69 and "127.0.0.1:1" in got["error"] and "pw" not in got["error"]


def wait_dead(pids: list[int], within_s: float) -> float:
    """Poll (no event exists for another process's death) until every pid is gone; seconds taken."""
    start = time.monotonic()
    while any(pid_alive(pid) for pid in pids):
        left = [pid for pid in pids if pid_alive(pid)]
        assert time.monotonic() - start < within_s, f"still alive after {within_s} s: {left}"
        time.sleep(0.005)
    return time.monotonic() - start


def start_run(env: dict[str, str], cwd: Path, db: Path, script: str) -> subprocess.Popen[str]:
    argv = lock_argv("run", "job", "--owner", "runner", "--ttl", "3000", "--db", str(db), "--", "sh", "-c", script)
    return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_lock_run_end_to_end(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "locks.sqlite3"
    dbargs = ["--db", str(db)]
    # COMMAND prints its token, then waits for a line on stdin and exits 7.
    first = start_run(env, tmp_path, db, 'echo "$MCP_MARSHAL_FENCING_TOKEN"; read line; exit 7')
    assert first.stdout is not None and first.stdin is not None
    token = int(first.stdout.readline())
    rc, got = lock(env, tmp_path, "run", "job", "--owner", "second", *dbargs, "--", "true")
    assert rc == 75 and got["holder"]["owner"] == "runner" and got["holder"]["token"] == token
    rc, got = lock(env, tmp_path, "list", *dbargs)
    assert [x["owner"] for x in got["leases"]] == ["runner"]
    first.stdin.write("go\n")
    first.stdin.flush()
    assert first.wait(30) == 7
    assert lock(env, tmp_path, "list", *dbargs)[1]["leases"] == []

    # kill -9 of the wrapper: its lease is reclaimable at once, no TTL wait.
    second = start_run(env, tmp_path, db, 'echo "$MCP_MARSHAL_FENCING_TOKEN $$"; read line')
    assert second.stdout is not None and second.stdin is not None
    second_token = int(second.stdout.readline().split()[0])
    assert second_token > token
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    rc, got = lock(env, tmp_path, "acquire", "job", "--owner", "next", *dbargs)
    assert rc == 0 and got["lease"]["token"] > second_token
    second.stdin.close()  # lets the orphaned command read EOF and exit


def test_lock_watch_streams_events(tmp_path: Path, env: dict[str, str]) -> None:
    dbargs = ["--db", str(tmp_path / "locks.sqlite3")]
    argv = lock_argv("watch", *dbargs, "--json", "--interval", "0.05")
    watch = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        assert json.loads(watch.stdout.readline())["leases"] == []
        rc, got = lock(env, tmp_path, "acquire", "job", "--owner", "alice", *dbargs)
        assert rc == 0
        token = got["lease"]["token"]
        assert lock(env, tmp_path, "release", "job", "--owner", "alice", "--token", str(token), *dbargs)[0] == 0
        seen = [json.loads(watch.stdout.readline()) for _ in range(2)]
        assert [(e["event"], e["owner"], e["token"]) for e in seen] == [
            ("LeaseAcquired", "alice", token),
            ("LeaseReleased", "alice", token),
        ]
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
