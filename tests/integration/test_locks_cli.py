"""``mcp-marshal lock ...`` end to end: separate processes sharing one sqlite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_two_processes_share_one_store(tmp_path: Path, env: dict[str, str]) -> None:
    db = ["--db", str(tmp_path / "locks.sqlite3")]
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "alice", "--ttl", "60000", *db)
    assert rc == 0 and got["lease"]["token"] == 1 and got["lease"]["owner"] == "alice"
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "bob", *db)
    assert rc == 1 and got["acquired"] is False and got["holder"]["owner"] == "alice"
    rc, got = lock(env, tmp_path, "list", *db)
    assert [(x["task"], x["owner"], x["token"]) for x in got["leases"]] == [("build", "alice", 1)]
    assert lock(env, tmp_path, "renew", "build", "--owner", "alice", "--token", "7", *db)[0] == 1
    assert lock(env, tmp_path, "release", "build", "--owner", "bob", "--token", "1", *db)[0] == 1
    rc, got = lock(env, tmp_path, "renew", "build", "--owner", "alice", "--token", "1", "--ttl", "90000", *db)
    assert rc == 0 and got["lease"]["expires_at"] - got["lease"]["acquired_at"] >= 90
    assert lock(env, tmp_path, "check", "build", "--token", "1", *db)[0] == 0
    assert lock(env, tmp_path, "release", "build", "--owner", "alice", "--token", "1", *db)[0] == 0
    rc, got = lock(env, tmp_path, "acquire", "build", "--owner", "bob", *db)
    assert rc == 0 and got["lease"]["token"] == 2
    assert lock(env, tmp_path, "check", "build", "--token", "1", *db)[0] == 1


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
    assert token == 1
    rc, got = lock(env, tmp_path, "run", "job", "--owner", "second", *dbargs, "--", "true")
    assert rc == 75 and got["holder"]["owner"] == "runner"
    rc, got = lock(env, tmp_path, "list", *dbargs)
    assert [x["owner"] for x in got["leases"]] == ["runner"]
    first.stdin.write("go\n")
    first.stdin.flush()
    assert first.wait(30) == 7
    assert lock(env, tmp_path, "list", *dbargs)[1]["leases"] == []

    # kill -9 of the wrapper: its lease is reclaimable at once, no TTL wait.
    second = start_run(env, tmp_path, db, 'echo "$MCP_MARSHAL_FENCING_TOKEN"; read line')
    assert second.stdout is not None and second.stdin is not None
    assert int(second.stdout.readline()) == 2
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    rc, got = lock(env, tmp_path, "acquire", "job", "--owner", "next", *dbargs)
    assert rc == 0 and got["lease"]["token"] == 3
    second.stdin.close()  # lets the orphaned command read EOF and exit


def test_lock_watch_streams_events(tmp_path: Path, env: dict[str, str]) -> None:
    dbargs = ["--db", str(tmp_path / "locks.sqlite3")]
    argv = lock_argv("watch", *dbargs, "--json", "--interval", "0.05")
    watch = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        assert json.loads(watch.stdout.readline())["leases"] == []
        assert lock(env, tmp_path, "acquire", "job", "--owner", "alice", *dbargs)[0] == 0
        assert lock(env, tmp_path, "release", "job", "--owner", "alice", "--token", "1", *dbargs)[0] == 0
        seen = [json.loads(watch.stdout.readline()) for _ in range(2)]
        assert [(e["event"], e["owner"], e["token"]) for e in seen] == [
            ("LeaseAcquired", "alice", 1),
            ("LeaseReleased", "alice", 1),
        ]
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
