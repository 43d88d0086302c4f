"""``mcp-marshal lock ...`` end to end: separate processes sharing one sqlite store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import pid_alive

ROOT = Path(__file__).resolve().parents[2]
TTL_PROBLEM = "TTL must be a whole number of milliseconds from 1 to 604800000 (7 days), got {}"


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
    second_token, command = map(int, second.stdout.readline().split())
    assert second_token > token
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    rc, got = lock(env, tmp_path, "acquire", "job", "--owner", "next", *dbargs)
    assert rc == 0 and got["lease"]["token"] > second_token
    wait_dead([command], 5)  # the command died with it (its own test below is stricter)


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


# --- TTLs: one validator, one message -------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "shown"), [("99999999999999999999", "99999999999999999999"), ("-5", "-5"), ("0", "0"), ("1.5", '"1.5"')]
)
def test_bad_ttls_are_refused_before_anything_is_granted(
    tmp_path: Path, env: dict[str, str], ttl: str, shown: str
) -> None:
    db = ["--db", str(tmp_path / "locks.sqlite3")]
    for action in (["acquire", "t", "--owner", "o"], ["run", "t", "--owner", "o"]):
        extra = ["--", "true"] if action[0] == "run" else []
        rc, got = lock(env, tmp_path, *action, f"--ttl={ttl}", *db, *extra)
        assert rc == 2 and got["error"].startswith(TTL_PROBLEM.format(shown)), got
        done = lock_text(env, tmp_path, *action, f"--ttl={ttl}", *db, *extra)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert TTL_PROBLEM.format(shown) in done.stderr and "leave it out for the default" in done.stderr
    rc, got = lock(env, tmp_path, "acquire", "t", "--owner", "o", *db)
    assert rc == 0, "a refused --ttl left a lease behind"
    tok = str(got["lease"]["token"])
    rc, got = lock(env, tmp_path, "renew", "t", "--owner", "o", "--token", tok, f"--ttl={ttl}", *db)
    assert rc == 2 and got["error"].startswith(TTL_PROBLEM.format(shown))


def test_the_configured_default_applies_only_when_the_ttl_is_left_out(tmp_path: Path, env: dict[str, str]) -> None:
    rc, got = lock(env, tmp_path, "acquire", "t", "--owner", "o", "--db", str(tmp_path / "l.sqlite3"))
    assert rc == 0 and got["lease"]["expires_at"] - got["lease"]["acquired_at"] == pytest.approx(600, abs=0.01)


def old_version_row(db: Path, task: str, owner: str, expires_at: float) -> None:
    """A lease row as an older mcp-marshal (which took any --ttl) wrote it."""
    con = sqlite3.connect(db)
    now = time.time()
    con.execute(
        "INSERT INTO leases(task, owner, token, acquired_at, expires_at, holder, changed_at)"
        " VALUES (?, ?, 7, ?, ?, NULL, ?)",
        (task, owner, now, expires_at, now),
    )
    con.commit()
    con.close()


def test_rows_with_absurd_expiries_never_crash_a_reader(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "locks.sqlite3"
    dbargs = ["--db", str(db)]
    assert lock(env, tmp_path, "list", *dbargs)[0] == 0  # creates the database
    old_version_row(db, "far", "old", time.time() + 99999999999999999999 / 1000)
    old_version_row(db, "forever", "old", float("inf"))
    for listing in (lock_text(env, tmp_path, "list", *dbargs), lock_text(env, tmp_path, "list", "--json", *dbargs)):
        assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    leases = json.loads(lock_text(env, tmp_path, "list", "--json", *dbargs).stdout)["leases"]  # strict JSON
    assert [(x["task"], x["owner"]) for x in leases] == [("far", "old"), ("forever", "old")]
    text = lock_text(env, tmp_path, "list", *dbargs).stdout
    assert "far" in text and "forever" in text
    refused = lock_text(env, tmp_path, "acquire", "far", "--owner", "me", *dbargs)
    assert refused.returncode == 1 and "held by old" in refused.stdout and "Traceback" not in refused.stderr
    rc, got = lock(env, tmp_path, "acquire", "forever", "--owner", "me", *dbargs)
    assert rc == 1 and got["holder"]["owner"] == "old"
    # its owner can still let it go
    assert lock(env, tmp_path, "release", "far", "--owner", "old", "--token", "7", *dbargs)[0] == 0


# --- an unusable state directory ----------------------------------------------------------


def test_an_uncreatable_state_directory_is_an_unavailable_store(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "demo.code-workspace").write_text('{"folders": [{"path": "."}], "settings": {}}')
    (tmp_path / "a-file").write_text("")
    env = {**env, "MCP_MARSHAL_STATE_DIR": str(tmp_path / "a-file" / "state")}  # ENOTDIR, for root too
    ws = ["--workspace", str(tmp_path / "demo.code-workspace")]
    for args in (["acquire", "t", "--owner", "o"], ["list"], ["run", "t", "--owner", "o", "--", "true"]):
        done = lock_text(env, tmp_path, args[0], *ws, *args[1:])
        assert done.returncode == 69, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert str(tmp_path / "a-file") in done.stderr and "Not a directory" in done.stderr
        rc, got = lock(env, tmp_path, args[0], *ws, *args[1:])
        assert rc == 69 and "Not a directory" in got["error"]


def test_lock_run_without_a_ledger_still_guards_its_command(tmp_path: Path, env: dict[str, str]) -> None:
    """--db elsewhere, but the state directory (the lifeline's ledger) is unusable: like the
    supervisor (issue 12 #6) the command runs, still under the watchdog, and one warning says so."""
    (tmp_path / "a-file").write_text("")
    env = {**env, "MCP_MARSHAL_STATE_DIR": str(tmp_path / "a-file" / "state")}
    marker = tmp_path / "ran"
    db = ["--db", str(tmp_path / "locks.sqlite3")]
    done = lock_text(env, tmp_path, "run", "t", "--owner", "o", *db, "--", "touch", str(marker))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert marker.exists() and done.stderr.count("warning:") == 1 and "still dies with lock run" in done.stderr
    assert lock(env, tmp_path, "list", *db)[1]["leases"] == []  # and the lease was let go


# --- names printed literally ----------------------------------------------------------------


def test_names_with_markup_or_escapes_are_printed_literally(tmp_path: Path, env: dict[str, str]) -> None:
    weird = tmp_path / "[red]db[x]"
    weird.mkdir()
    db = ["--db", str(weird / "locks.sqlite3")]
    task, owner = "[/]", "\x1b[31mevil[bold]"  # a real ESC byte in the owner
    shown_owner = "\\x1b[31mevil[bold]"
    done = lock_text(env, tmp_path, "acquire", task, "--owner", owner, *db)
    assert done.returncode == 0, done.stderr
    assert f"{task} held by {shown_owner}" in done.stdout and "\x1b" not in done.stdout
    listing = lock_text(env, tmp_path, "list", *db)
    assert listing.returncode == 0, listing.stderr
    assert "[/]" in listing.stdout and "[red]db[x]" in listing.stdout and shown_owner in listing.stdout
    assert "\x1b" not in listing.stdout
    refused = lock_text(env, tmp_path, "acquire", task, "--owner", "[b]me", *db)
    assert refused.returncode == 1 and f"{task} held by {shown_owner}" in refused.stdout
    nope = lock_text(env, tmp_path, "release", task, "--owner", "[b]me\a", "--token", "1", *db)
    assert nope.returncode == 1 and "[b]me\\x07 does not hold it" in nope.stdout
    watch = lock_text(env, tmp_path, "check", task, "--token", "1", *db)
    assert watch.returncode == 1 and "Traceback" not in watch.stderr


def test_names_that_are_not_utf8_are_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    db = ["--db", str(tmp_path / "locks.sqlite3")]
    bad = os.fsdecode(b"job\xff")  # what Python makes of a byte that is not UTF-8 in argv
    for args in (["acquire", bad, "--owner", "o"], ["acquire", "job", "--owner", bad], ["run", bad, "--owner", "o"]):
        extra = ["--", "true"] if args[0] == "run" else []
        done = lock_text(env, tmp_path, *args, *db, *extra)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "is not valid UTF-8" in done.stderr


# --- lock run dies with its holder, and its command with it ----------------------------------


def test_sigkill_of_lock_run_kills_its_command_and_frees_the_lease(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "locks.sqlite3"
    run = start_run(env, tmp_path, db, 'sleep 1000 & echo "$$ $!"; wait')
    assert run.stdout is not None
    command, grandchild = map(int, run.stdout.readline().split())
    assert pid_alive(command) and pid_alive(grandchild)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    took = wait_dead([command, grandchild], 1.0)
    print(f"command and grandchild dead {took * 1000:.1f} ms after SIGKILL of lock run")
    rc, got = lock(env, tmp_path, "acquire", "job", "--owner", "next", "--db", str(db))
    assert rc == 0, got


def test_what_the_command_leaves_in_its_group_ends_with_it(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "locks.sqlite3"
    run = start_run(env, tmp_path, db, "sleep 1000 & echo $!")
    assert run.stdout is not None
    straggler = int(run.stdout.readline())
    assert run.wait(30) == 0
    wait_dead([straggler], 5)
    assert lock(env, tmp_path, "list", "--db", str(db))[1]["leases"] == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_lock_run_passes_signals_to_its_command(tmp_path: Path, env: dict[str, str], sig: signal.Signals) -> None:
    db = tmp_path / "locks.sqlite3"
    # the command runs in a session of its own: Ctrl-C reaches it only through lock run
    run = start_run(env, tmp_path, db, f'trap "exit 5" {sig.name[3:]}; echo ready; while :; do sleep 0.05; done')
    assert run.stdout is not None and run.stdout.readline().strip() == "ready"
    run.send_signal(sig)
    assert run.wait(30) == 5
    assert lock(env, tmp_path, "list", "--db", str(db))[1]["leases"] == []
