"""Leases in one Redis instance, for teams whose agents run on several machines.

Every operation is one Lua script, so the compare-and-set and the fence counter happen
atomically on the server. Time comes from the server's ``TIME`` (one clock for every machine)
unless a test injects a clock. The next token is the fence counter + 1, and never below the
server's clock in microseconds (``rules.next_token``), so tokens keep growing when the data is
lost (``FLUSHALL``, a restart without persistence) as long as that clock does not go back.
Holder liveness is not tracked (a pid means nothing on another machine): a dead holder's lease
ends with its TTL. Not for Redis Cluster (the scripts build key names), and not Redlock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from mcp_marshal.locks.lease import Clock, Lease, LeaseKey, LockStoreUnavailable, LogEntry, LogKind
from mcp_marshal.locks.rules import sane_time, token_floor
from mcp_marshal.locks.ttl import check_ttl

T = TypeVar("T")

# ARGV[1] is the time in microseconds, or "" to use the server's clock; `now` is in ms. Numbers
# above 2^31 reach Redis through string.format: Lua's own tostring keeps only 14 digits.
_NOW = """
local now_us = tonumber(ARGV[1])
if not now_us then
  local t = redis.call('TIME')
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local now = math.floor(now_us / 1000)
local p = ARGV[2]
local function log(kind, task, owner, token, exp)
  redis.call('XADD', p .. 'log', 'MAXLEN', '~', 10000, '*', 'k', kind, 't', task, 'o', owner,
             'n', token, 'e', string.format('%d', exp), 'ts', string.format('%d', now))
end
"""

# ARGV: now, prefix, task, owner, ttl_ms, extra_px
_ACQUIRE = (
    _NOW
    + """
local task, owner, ttl, extra = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local key = p .. 'lease:' .. task
local cur = redis.call('HMGET', key, 'owner', 'token', 'expires')
if cur[1] and tonumber(cur[3]) > now then return {0} end
local fence = p .. 'fence:' .. task
local token = string.format('%d', math.max(tonumber(redis.call('GET', fence) or '0') + 1, now_us))
redis.call('SET', fence, token)
local exp = now + ttl
redis.call('HSET', key, 'owner', owner, 'token', token, 'acquired', string.format('%d', now),
           'expires', string.format('%d', exp))
redis.call('PEXPIRE', key, ttl + extra)
redis.call('ZADD', p .. 'index', exp, task)
if cur[1] then log('expired', task, cur[1], cur[2], cur[3]) end
log('acquired', task, owner, token, exp)
return {1, token, now, exp}
"""
)

# ARGV: now, prefix, task, owner, token, ttl_ms, extra_px
_RENEW = (
    _NOW
    + """
local task, owner, token, ttl, extra = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local key = p .. 'lease:' .. task
local cur = redis.call('HMGET', key, 'owner', 'token', 'expires', 'acquired')
if cur[1] ~= owner or cur[2] ~= token or tonumber(cur[3]) <= now then return {0} end
local exp = now + ttl
redis.call('HSET', key, 'expires', string.format('%d', exp))
redis.call('PEXPIRE', key, ttl + extra)
redis.call('ZADD', p .. 'index', exp, task)
log('renewed', task, owner, token, exp)
return {1, tonumber(cur[4]), exp}
"""
)

# ARGV: now, prefix, task, owner, token
_RELEASE = (
    _NOW
    + """
local task, owner, token = ARGV[3], ARGV[4], ARGV[5]
local key = p .. 'lease:' .. task
local cur = redis.call('HMGET', key, 'owner', 'token', 'expires')
if cur[1] ~= owner or cur[2] ~= token or tonumber(cur[3]) <= now then return 0 end
redis.call('DEL', key)
redis.call('ZREM', p .. 'index', task)
log('released', task, owner, token, now)
return 1
"""
)

# ARGV: now, prefix, task-or-empty. Returns flat [task, owner, token, acquired, expires]*.
_LIST = (
    _NOW
    + """
local tasks
if ARGV[3] ~= '' then tasks = {ARGV[3]} else
  redis.call('ZREMRANGEBYSCORE', p .. 'index', '-inf', now)
  tasks = redis.call('ZRANGE', p .. 'index', 0, -1)
end
local out = {}
for _, task in ipairs(tasks) do
  local cur = redis.call('HMGET', p .. 'lease:' .. task, 'owner', 'token', 'acquired', 'expires')
  if cur[1] and tonumber(cur[4]) > now then
    table.insert(out, task); table.insert(out, cur[1]); table.insert(out, cur[2])
    table.insert(out, cur[3]); table.insert(out, cur[4])
  end
end
return out
"""
)

_EXTRA_PX_INJECTED = 3_600_000  # with a test clock, keys outlive their logical expiry


def _seconds(ms: Any) -> float:
    """Milliseconds as Redis returns them (an integer, or text an older version wrote) in sane seconds."""
    try:
        return sane_time(float(ms) / 1000)
    except (TypeError, ValueError):
        return 0.0


def redact_url(url: str) -> str:
    """``url`` without user name or password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RedisStore:
    """Leases under ``prefix`` in the Redis at ``url``. Errors reaching Redis raise
    ``LockStoreUnavailable`` and are never read as "acquired"."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mcp-marshal:",
        clock: Clock | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # the optional extra
            raise LockStoreUnavailable(
                "the redis backend needs the 'redis' package: pip install 'mcp-marshal[redis]'"
            ) from exc
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._url = redact_url(url)
        self._prefix = prefix
        self._clock = clock
        try:
            # No automatic retry: a script re-sent after a lost reply could act twice.
            self._r = redis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                url,
                decode_responses=True,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise LockStoreUnavailable(f"bad redis URL {self._url}: {exc}") from exc
        self._acquire = self._r.register_script(_ACQUIRE)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
        self._list = self._r.register_script(_LIST)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except self._errors as exc:
            raise LockStoreUnavailable(f"redis at {self._url} unavailable: {exc}") from exc

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(token_floor(self._clock()))

    def _extra(self) -> int:
        return 0 if self._clock is None else _EXTRA_PX_INJECTED

    def acquire(self, task: str, owner: str, ttl_ms: int, *, bind_pid: int | None = None) -> Lease | None:
        check_ttl(ttl_ms)
        args = [self._now_arg(), self._prefix, task, owner, int(ttl_ms), self._extra()]
        res = self._call(lambda: self._acquire(args=args))
        if not res or int(res[0]) != 1:
            return None
        return Lease(task, owner, int(res[1]), _seconds(res[2]), _seconds(res[3]))

    def renew(self, lease: LeaseKey, ttl_ms: int) -> Lease | None:
        check_ttl(ttl_ms)
        args = [
            self._now_arg(),
            self._prefix,
            lease.task,
            lease.owner,
            str(lease.token),
            int(ttl_ms),
            self._extra(),
        ]
        res = self._call(lambda: self._renew(args=args))
        if not res or int(res[0]) != 1:
            return None
        return Lease(lease.task, lease.owner, lease.token, _seconds(res[1]), _seconds(res[2]))

    def release(self, lease: LeaseKey) -> bool:
        args = [self._now_arg(), self._prefix, lease.task, lease.owner, str(lease.token)]
        return int(self._call(lambda: self._release(args=args))) == 1

    def _leases(self, task: str) -> list[Lease]:
        flat: list[Any] = self._call(lambda: self._list(args=[self._now_arg(), self._prefix, task]))
        out = [
            Lease(flat[i], flat[i + 1], int(flat[i + 2]), _seconds(flat[i + 3]), _seconds(flat[i + 4]))
            for i in range(0, len(flat), 5)
        ]
        return sorted(out, key=lambda lease: lease.task)

    def get(self, task: str) -> Lease | None:
        if not task:
            return None
        found = self._leases(task)
        return found[0] if found else None

    def list(self) -> list[Lease]:
        return self._leases("")

    def check(self, task: str, token: int) -> bool:
        raw = self._call(lambda: self._r.get(f"{self._prefix}fence:{task}"))
        return raw is not None and int(raw) == token

    def _stream(self, rows: Any) -> list[tuple[str, dict[str, str]]]:
        """Stream entries as ``decode_responses=True`` returns them (the stubs say bytes too)."""
        return list(rows or [])

    def log_end(self) -> str:
        last = self._stream(self._call(lambda: self._r.xrevrange(f"{self._prefix}log", count=1)))
        return last[0][0] if last else "0-0"

    def read_log(self, cursor: str, limit: int = 1000) -> tuple[list[LogEntry], bool]:
        key = f"{self._prefix}log"
        rows = self._stream(self._call(lambda: self._r.xrange(key, min=f"({cursor}", count=limit)))
        gap = False
        if rows and cursor != "0-0":  # the cursor's own entry trimmed away: entries were lost
            gap = not self._call(lambda: self._r.xrange(key, min=cursor, max=cursor, count=1))
        entries = [
            LogEntry(
                rid,
                cast("LogKind", f["k"]),  # written by our own scripts: one of the four kinds
                f["t"],
                f["o"],
                int(f["n"]),
                _seconds(f["e"]),
                _seconds(f["ts"]),
            )
            for rid, f in rows
        ]
        return entries, gap

    def describe(self) -> str:
        return self._url

    def close(self) -> None:
        self._r.close()
