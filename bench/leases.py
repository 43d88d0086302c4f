"""Lease throughput through our stores next to the raw primitive, measured in the same run.

``PROCS`` processes contend for one task and count acquire+release pairs per second. The raw
primitive is the bare statement: for SQLite one UPSERT…RETURNING plus one UPDATE on a plain
table (same WAL and ``synchronous`` settings as the store); for Redis a Lua ``INCR`` + ``SET NX
PX`` and a compare-and-delete. What ours adds on top (the change log, a row per change in a
table of its own; holder liveness; tokens floored by the clock; the server clock; Python
plumbing) is the price the ratio shows.

The worker processes start once and run every variant on command, rounds alternating the
order (A B B A …), so machine noise and drift hit ours and the raw primitive alike; figures are
medians over rounds. A worker that does not answer by its deadline is killed and reported
(an earlier version could hang on a barrier when a worker died during setup).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import random
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from bench.common import Report, Size, free_port, median, state_dir

PROCS = 4
TTL_MS = 30_000
TASK = "bench"
GOALS = {"sqlite": 0.5, "redis": 0.8}
SQLITE = ["sqlite raw", "sqlite ours", "sqlite ours, bound"]
"""Bound: the lease tied to the worker's liveness, as the editor takes them (``LeaseService``)."""
REDIS = ["redis raw", "redis ours"]
REDIS_SERVER = shutil.which("redis-server")

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

Cycle = Callable[[float], bool]
"""One acquire (+ release when granted) attempt; the argument is the run's deadline (monotonic)."""


# --- the cycles, built inside each worker ---------------------------------------------------------


def _raw_sqlite(path: str, owner: str) -> Cycle:
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")  # journal_mode=WAL is persistent: set by the parent

    def cycle(deadline: float) -> bool:
        while True:  # the store retries SQLITE_BUSY too; never past the deadline
            try:
                rows = db.execute(RAW_SQL_ACQUIRE, (TASK, owner, time.time(), TTL_MS / 1000)).fetchall()
                if not rows:
                    return False
                db.execute(RAW_SQL_RELEASE, (TASK, owner, rows[0][0]))
                return True
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.001, 0.01))

    return cycle


def _raw_redis(url: str, owner: str) -> Cycle:
    import redis

    r = redis.Redis.from_url(url, socket_timeout=5)
    acquire, release = r.register_script(RAW_LUA_ACQUIRE), r.register_script(RAW_LUA_RELEASE)
    keys = [f"raw:{TASK}", f"raw:fence:{TASK}"]

    def cycle(_deadline: float) -> bool:
        token = acquire(keys=keys, args=[owner, TTL_MS])
        if not token:
            return False
        release(keys=keys[:1], args=[f"{owner}:{token}"])
        return True

    return cycle


def _ours(store: Any, owner: str, bind: bool) -> Cycle:
    def cycle(_deadline: float) -> bool:
        lease = store.acquire(TASK, owner, TTL_MS, bind_pid=0 if bind else None)
        if lease is None:
            return False
        store.release(lease)
        return True

    return cycle


def _cycles(places: dict[str, str], owner: str) -> dict[str, Cycle]:
    from mcp_marshal.locks.sqlite_store import SqliteStore

    cycles = {
        "sqlite raw": _raw_sqlite(places["sqlite raw"], owner),
        "sqlite ours": _ours(SqliteStore(Path(places["sqlite ours"])), owner, bind=False),
        "sqlite ours, bound": _ours(SqliteStore(Path(places["sqlite ours, bound"])), owner, bind=True),
    }
    if "redis" in places:
        from mcp_marshal.locks.redis_store import RedisStore

        cycles["redis raw"] = _raw_redis(places["redis"], owner)
        cycles["redis ours"] = _ours(RedisStore(places["redis"]), owner, bind=False)
    return cycles


def worker(conn: Connection, places: dict[str, str]) -> None:
    """Build every cycle, then run ``(variant, start_at, seconds)`` commands until ``None``.

    Every reply is sent, errors included, so the parent never waits on a silent worker.
    """
    owner = f"w{mp.current_process().pid}"
    try:
        cycles = _cycles(places, owner)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if command is None:
            return
        variant, start_at, seconds = command
        time.sleep(max(0.0, start_at - time.monotonic()))
        cycle, end = cycles[variant], start_at + seconds
        pairs = attempts = 0
        try:
            while time.monotonic() < end:
                attempts += 1
                pairs += cycle(end + 10)
        except Exception:
            conn.send(("error", traceback.format_exc()))
            continue
        conn.send(("done", (pairs, attempts)))


# --- the parent: redis, the pool, the rounds --------------------------------------------------------


class _Redis:
    """A throwaway redis-server on a free loopback port, data in a private directory."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WorkerFailure(RuntimeError):
    pass


class _Pool:
    """``PROCS`` spawned workers answering on pipes; every wait has a deadline."""

    def __init__(self, places: dict[str, str]) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(PROCS):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(theirs, places), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(proc)
        try:
            self._collect(timeout=60, expect="ready")
        except WorkerFailure:
            self.close()
            raise

    def _collect(self, timeout: float, expect: str) -> list[Any]:
        deadline = time.monotonic() + timeout
        replies: dict[int, Any] = {}
        pending = list(range(len(self.conns)))
        while pending:
            left = deadline - time.monotonic()
            ready = wait([self.conns[i] for i in pending], timeout=max(0.0, left))
            if not ready:
                raise WorkerFailure(f"{len(pending)} of {PROCS} workers did not answer within {timeout:g} s")
            for conn in ready:
                i = self.conns.index(conn)  # type: ignore[arg-type]
                try:
                    kind, value = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    self.procs[i].join(1)
                    raise WorkerFailure(f"worker {self.procs[i].pid} exited ({self.procs[i].exitcode})") from None
                if kind != expect:  # a traceback: its last line says what went wrong
                    raise WorkerFailure(f"worker {self.procs[i].pid}: {str(value).strip().splitlines()[-1]}")
                replies[i] = value
                pending.remove(i)
        return [replies[i] for i in range(len(self.conns))]

    def run(self, variant: str, seconds: float) -> tuple[float, float]:
        """Every worker runs ``variant`` for the same ``seconds``; pairs/s and attempts/s."""
        start_at = time.monotonic() + 0.05
        for conn, proc in zip(self.conns, self.procs, strict=True):
            try:
                conn.send((variant, start_at, seconds))
            except OSError:
                raise WorkerFailure(f"worker {proc.pid} exited ({proc.exitcode})") from None
        results = self._collect(timeout=seconds + 30, expect="done")
        return sum(r[0] for r in results) / seconds, sum(r[1] for r in results) / seconds

    def close(self) -> list[int]:
        """Stop the workers; kill any that do not exit in time. Returns the pids killed."""
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        killed = []
        deadline = time.monotonic() + 5
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                killed.append(proc.pid)
                proc.kill()
                proc.join(5)
        for conn in self.conns:
            conn.close()
        return killed


def _prepare(tmp: Path) -> dict[str, str]:
    """Create the databases up front, so workers never race on schema creation or WAL mode."""
    from mcp_marshal.locks.sqlite_store import SqliteStore

    places = {v: str(tmp / f"{v.replace(' ', '-').replace(',', '')}.sqlite3") for v in SQLITE}
    with contextlib.closing(sqlite3.connect(places["sqlite raw"], isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(RAW_SQL_SCHEMA)
    for v in SQLITE[1:]:
        SqliteStore(Path(places[v])).close()
    return places


def run(size: Size) -> list[Report]:
    rounds: int = size.pick(20, 2)  # many short rounds: noise on a shared machine comes in bursts
    seconds: float = size.pick(0.6, 0.2)
    report = Report(f"leases: acquire+release pairs/s, {PROCS} processes contending for one task")
    runs: dict[str, list[tuple[float, float]]] = {}
    killed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-leases-") as name, state_dir(Path(name) / "state"):
        tmp = Path(name)
        places = _prepare(tmp)
        redis_server = None
        if REDIS_SERVER is None:
            report.note("redis: redis-server is not installed, redis not measured")
        else:
            (tmp / "redis").mkdir()
            redis_server = _Redis(tmp / "redis")
            places["redis"] = redis_server.url
        variants = SQLITE + (REDIS if redis_server else [])
        runs = {v: [] for v in variants}
        pool = None
        try:
            pool = _Pool(places)
            for i in range(rounds):
                for v in variants if i % 2 == 0 else variants[::-1]:
                    runs[v].append(pool.run(v, seconds))
        except WorkerFailure as exc:
            report.note(f"RUN ABORTED: {exc}")
        finally:
            if pool is not None:
                killed = pool.close()
            if redis_server is not None:
                redis_server.stop()
    if killed:
        report.note(f"killed {len(killed)} worker(s) that did not exit: {killed}")

    med = {v: median([r[0] for r in rs]) for v, rs in runs.items()}
    for v, rs in runs.items():
        pairs = [r[0] for r in rs] or [math.nan]
        note = f"attempts {median([r[1] for r in rs]):,.0f}/s; rounds {min(pairs):,.0f} … {max(pairs):,.0f}"
        report.row(v, med[v], "pairs/s", note)
    for v in runs:
        kind = v.split()[0]
        if v.endswith("raw") or f"{kind} raw" not in runs:
            continue
        report.ratio(f"{v} / {kind} raw", med[v], med[f"{kind} raw"], at_least=GOALS[kind])
        paired = sorted(a[0] / b[0] for a, b in zip(runs[v], runs[f"{kind} raw"], strict=False) if b[0])
        if paired:
            report.note(
                f"{v} / {kind} raw round by round: median {median(paired):.2f}, {paired[0]:.2f} … {paired[-1]:.2f}"
            )
    report.note(
        f"{rounds} rounds x {seconds:g} s per variant, the order reversed every other round; medians. "
        "An attempt fails when another worker holds the task; sqlite ours refused = its one-statement UPDATE "
        "matched nothing, then a read outside the write lock (bound: plus a probe of the holder's process)."
    )
    return [report]
