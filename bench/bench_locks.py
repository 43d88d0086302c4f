"""Lease throughput through our API next to the raw primitive, measured in the same run.

4 processes contend for one task key and count acquire+release pairs per second (the
research baseline: SQLite WAL ~13.8k/s, Redis+Lua ~2.1k/s on 2 vCPUs). Raw = the bare
statements (SQLite UPSERT…RETURNING + UPDATE on a plain table; Redis Lua INCR+SET NX PX and a
compare-and-delete). Rounds alternate raw and API so machine noise hits both alike; medians.

    .venv/bin/python bench/bench_locks.py [--seconds 3] [--rounds 3] [--redis URL] [--only sqlite]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "server"), str(ROOT)]

PROCS = 4
TTL_MS = 30_000
TASK = "bench"
VARIANTS = ["sqlite-raw", "sqlite-api", "sqlite-bound", "redis-raw", "redis-api"]

RAW_SQL_SCHEMA = """CREATE TABLE IF NOT EXISTS leases(name TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL,
  expires_at REAL NOT NULL) WITHOUT ROWID"""
RAW_SQL_ACQUIRE = """INSERT INTO leases(name, owner, token, expires_at) VALUES(?1, ?2, 1, ?3 + ?4)
ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, token = leases.token + 1, expires_at = excluded.expires_at
WHERE leases.owner IS NULL OR leases.expires_at <= ?3 RETURNING token"""
RAW_SQL_RELEASE = "UPDATE leases SET owner = NULL, expires_at = 0 WHERE name = ?1 AND owner = ?2 AND token = ?3"

RAW_LUA_ACQUIRE = """local t = redis.call('INCR', KEYS[2])
if redis.call('SET', KEYS[1], ARGV[1] .. ':' .. t, 'NX', 'PX', ARGV[2]) then return t end
return 0"""
RAW_LUA_RELEASE = """if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""


def _locked(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def raw_sqlite(where: str, owner: str) -> Callable[[], bool]:
    db = sqlite3.connect(where, timeout=5, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(RAW_SQL_SCHEMA)

    def cycle() -> bool:
        while True:
            try:
                rows = db.execute(RAW_SQL_ACQUIRE, (TASK, owner, time.time(), TTL_MS / 1000)).fetchall()
                if not rows:
                    return False
                db.execute(RAW_SQL_RELEASE, (TASK, owner, rows[0][0]))
                return True
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise
                time.sleep(random.uniform(0.001, 0.01))

    return cycle


def api(kind: str, where: str, owner: str, bind: bool) -> Callable[[], bool]:
    from mcp_marshal.locks.redis_store import RedisStore
    from mcp_marshal.locks.sqlite_store import SqliteStore

    store = SqliteStore(Path(where)) if kind == "sqlite" else RedisStore(where)

    def cycle() -> bool:
        lease = store.acquire(TASK, owner, TTL_MS, bind=bind)
        if lease is None:
            return False
        store.release(lease)
        return True

    return cycle


def raw_redis(url: str, owner: str) -> Callable[[], bool]:
    import redis

    r = redis.Redis.from_url(url)
    acquire, release = r.register_script(RAW_LUA_ACQUIRE), r.register_script(RAW_LUA_RELEASE)
    keys = [f"raw:{TASK}", f"raw:fence:{TASK}"]

    def cycle() -> bool:
        token = acquire(keys=keys, args=[owner, TTL_MS])
        if not token:
            return False
        release(keys=keys[:1], args=[f"{owner}:{token}"])
        return True

    return cycle


def worker(variant: str, where: str, seconds: float, ready: mp.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    owner = f"w{mp.current_process().pid}"
    kind, _, flavour = variant.partition("-")
    if flavour == "raw":
        cycle = raw_sqlite(where, owner) if kind == "sqlite" else raw_redis(where, owner)
    else:
        cycle = api(kind, where, owner, bind=flavour == "bound")
    ready.wait()
    pairs = attempts = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        attempts += 1
        pairs += cycle()
    out.put((pairs, attempts))


def measure(variant: str, where: str, seconds: float) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    ready, out = ctx.Barrier(PROCS), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(variant, where, seconds, ready, out)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", help="use this Redis instead of starting one")
    ap.add_argument("--only", choices=["sqlite", "redis"], help="measure one backend")
    args = ap.parse_args()
    variants = [v for v in VARIANTS if args.only in (None, v.split("-")[0])]

    tmp = Path(tempfile.mkdtemp(prefix="bench-locks-"))
    server = None
    url = args.redis
    if url is None and "redis-raw" in variants:
        from tests.integration.lock_redis import RedisServer

        (tmp / "redis").mkdir()
        server = RedisServer(tmp / "redis").start()
        url = server.url
    places = {"sqlite": str(tmp / "api.sqlite3"), "redis": url}
    runs: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    try:
        for _ in range(args.rounds):
            for v in variants:
                where = str(tmp / "raw.sqlite3") if v == "sqlite-raw" else places[v.split("-")[0]]
                runs[v].append(measure(v, where, args.seconds))
    finally:
        if server is not None:
            server.stop()

    med = {v: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for v, rs in runs.items()}
    print(f"{PROCS} processes, one contended task, {args.rounds} rounds x {args.seconds:g}s, medians")
    print(f"{'variant':<14}{'pairs/s':>10}{'attempts/s':>12}{'vs raw':>9}   runs (pairs/s)")
    goals = {"sqlite": 0.7, "redis": 0.8}
    for v in variants:
        kind = v.split("-")[0]
        ratio = med[v][0] / med[f"{kind}-raw"][0]
        mark = "" if v.endswith("raw") else ("  ok" if ratio >= goals[kind] else f"  below goal {goals[kind]}")
        each = ", ".join(f"{r[0]:.0f}" for r in runs[v])
        print(f"{v:<14}{med[v][0]:>10.0f}{med[v][1]:>12.0f}{ratio:>9.2f}   {each}{mark}")


if __name__ == "__main__":
    main()
