"""Jepsen-style: 8 processes contend for leases while holders are paused past their TTL or
killed; a fencing resource must never accept two overlapping critical sections.

The nemesis SIGSTOPs the newest entrant of the critical section for longer than the TTL (its
lease expires and passes on; when it wakes, its writes must be refused) and SIGKILLs random
workers (replaced at once). Sleeping here only paces the nemesis and makes pauses outlast the
TTL: that is the point of the test, not synchronisation.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.lock_redis import RedisServer
from tests.integration.lock_worker import open_resource

WORKER = Path(__file__).with_name("lock_worker.py")
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8
TARGET = 1000
TTL_MS = 300
PAUSES = 6
KILLS = 3


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


def spawn(store_args: list[str], resource: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'server'}{os.pathsep}{ROOT}"}
    cmd = [sys.executable, str(WORKER), *store_args, "--resource", str(resource)]
    cmd += ["--ttl-ms", str(TTL_MS), "--target", str(TARGET)]
    return subprocess.Popen(cmd, env=env)


def run_with_nemesis(store_args: list[str], resource: Path) -> dict[str, int]:
    open_resource(resource).close()
    procs = [spawn(store_args, resource) for _ in range(WORKERS)]
    res = sqlite3.connect(resource, timeout=60)
    pauses = kills = 0
    done = False
    rng = random.Random()
    deadline = time.monotonic() + 90
    try:
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "workers did not finish"
            time.sleep(rng.uniform(0.05, 0.15))
            live = {p.pid: p for p in procs if p.poll() is None}
            if pauses == PAUSES and kills == KILLS:
                if not done:
                    res.execute("INSERT INTO control VALUES (1)")  # workers may stop at the target now
                    res.commit()
                    done = True
                continue
            if pauses < PAUSES:
                row = res.execute(
                    "SELECT pid FROM writes WHERE kind = 'enter' AND accepted = 1 ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                if row and row[0] in live:
                    os.kill(row[0], signal.SIGSTOP)
                    time.sleep(TTL_MS / 1000 * 2.5)  # the holder stays paused past its TTL
                    os.kill(row[0], signal.SIGCONT)
                    pauses += 1
                    continue
            if kills < KILLS and live:
                victim = rng.choice(list(live.values()))
                victim.kill()
                victim.wait()
                procs.append(spawn(store_args, resource))
                kills += 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    stats = check_history(res)
    res.close()
    return stats | {"pauses": pauses, "kills": kills}


def check_history(res: sqlite3.Connection) -> dict[str, int]:
    grants = res.execute("SELECT task, token, pid FROM grants ORDER BY rowid").fetchall()
    assert len(grants) >= TARGET
    by_task: dict[str, list[int]] = defaultdict(list)
    last: dict[tuple[str, int], int] = {}
    for task, token, pid in grants:
        by_task[task].append(token)
        assert token > last.get((task, pid), 0), "a process saw a token go backwards"
        last[task, pid] = token
    for task, tokens in by_task.items():
        assert len(tokens) == len(set(tokens)), f"{task}: a token was granted twice"

    writes = res.execute("SELECT seq, task, token, kind, pid, accepted FROM writes ORDER BY seq").fetchall()
    owner_of: dict[tuple[str, int], int] = {}
    high: dict[str, int] = {}
    enters: dict[tuple[str, int], int] = {}
    intervals: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for seq, task, token, kind, pid, accepted in writes:
        assert owner_of.setdefault((task, token), pid) == pid, "one token, two holders"
        if not accepted:
            continue
        assert token >= high.get(task, 0), "resource accepted an older token"
        high[task] = token
        if kind == "enter":
            enters[task, token] = seq
        elif (task, token) in enters:
            intervals[task].append((enters.pop((task, token)), seq))
    for task, spans in intervals.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end < start, f"{task}: overlapping critical sections"
    rejected = sum(1 for w in writes if not w[5])
    return {"grants": len(grants), "rejected": rejected, "sections": sum(map(len, intervals.values()))}


def test_sqlite_leases_fence_paused_and_killed_holders(tmp_path: Path) -> None:
    stats = run_with_nemesis(["--db", str(tmp_path / "locks.sqlite3")], tmp_path / "resource.sqlite3")
    print("sqlite", stats)
    assert stats["pauses"] == PAUSES and stats["kills"] == KILLS
    assert stats["rejected"] >= 1, "no paused holder woke inside its critical section"


def test_redis_leases_fence_paused_and_killed_holders(tmp_path: Path, redis_url: str) -> None:
    stats = run_with_nemesis(["--redis", redis_url], tmp_path / "resource.sqlite3")
    print("redis", stats)
    assert stats["pauses"] == PAUSES and stats["kills"] == KILLS
    assert stats["rejected"] >= 1, "no paused holder woke inside its critical section"
