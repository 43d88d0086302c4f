"""A contending lease holder for the multi-process test (run as a script, one per process).

Loop: acquire a random task (bound to this process), enter the critical section of a shared
fencing resource, work a little, leave, release. The resource (its own SQLite file) accepts a
write only if its token is >= the highest it has seen for the task, and records every write
with its own sequence number, so the test can check intervals without trusting any clock.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import time
from pathlib import Path

from mcp_marshal.locks import LeaseStore, LockStoreUnavailable
from mcp_marshal.locks.redis_store import RedisStore
from mcp_marshal.locks.sqlite_store import SqliteStore

RESOURCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS fence(task TEXT PRIMARY KEY, max_token INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS writes(seq INTEGER PRIMARY KEY, task TEXT, token INTEGER, kind TEXT,
  pid INTEGER, accepted INTEGER);
CREATE TABLE IF NOT EXISTS grants(task TEXT, token INTEGER, pid INTEGER);
CREATE TABLE IF NOT EXISTS control(nemesis_done INTEGER);
"""


def open_resource(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(RESOURCE_SCHEMA)
    return db


def fenced_write(db: sqlite3.Connection, task: str, token: int, kind: str) -> bool:
    """The resource's side of fencing: reject any token older than the newest seen."""
    db.execute("BEGIN IMMEDIATE")
    row = db.execute("SELECT max_token FROM fence WHERE task = ?", (task,)).fetchone()
    ok = row is None or token >= row[0]
    if ok:
        db.execute("INSERT OR REPLACE INTO fence(task, max_token) VALUES (?, ?)", (task, token))
    db.execute(
        "INSERT INTO writes(task, token, kind, pid, accepted) VALUES (?, ?, ?, ?, ?)",
        (task, token, kind, os.getpid(), int(ok)),
    )
    db.execute("COMMIT")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path)
    ap.add_argument("--redis")
    ap.add_argument("--resource", type=Path, required=True)
    ap.add_argument("--tasks", default="t1,t2,t3")
    ap.add_argument("--ttl-ms", type=int, default=300)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--work-s", type=float, default=0.003)
    args = ap.parse_args()
    store: LeaseStore = SqliteStore(args.db) if args.db else RedisStore(args.redis)
    res = open_resource(args.resource)
    tasks = args.tasks.split(",")
    owner = f"worker-{os.getpid()}"
    # Run until the target is reached and the test's nemesis has done all its faults.
    done = "SELECT (SELECT count(*) FROM grants) >= ? AND EXISTS (SELECT 1 FROM control)"
    while not res.execute(done, (args.target,)).fetchone()[0]:
        task = random.choice(tasks)
        try:
            lease = store.acquire(task, owner, args.ttl_ms, bind_pid=0)
        except LockStoreUnavailable:
            lease = None
        if lease is None:
            time.sleep(random.uniform(0, 0.002))  # back off before the next attempt
            continue
        res.execute("INSERT INTO grants(task, token, pid) VALUES (?, ?, ?)", (task, lease.token, os.getpid()))
        fenced_write(res, task, lease.token, "enter")
        time.sleep(args.work_s)  # the work done under the lease
        fenced_write(res, task, lease.token, "leave")
        try:
            store.release(lease)
        except LockStoreUnavailable:
            pass
    store.close()


if __name__ == "__main__":
    main()
