"""Model-based tests: every backend against one obviously-correct reference model.

A fake clock drives all three backends (for redis it is passed to the scripts instead of the
server's TIME), so expiry and the clock floor of tokens are exact and repeatable; times and TTLs
are whole seconds so float and integer-ms arithmetic agree at the boundary. Agents are separate
store instances (separate connections), each with a real process of its own that bound leases
are tied to, so ``crash`` is real: the agent's process is SIGKILLed and it comes back as a new
process under the same name.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mcp_marshal.locks import Lease, LeaseRef, LeaseStore
from mcp_marshal.locks.memory_store import MemoryStore
from mcp_marshal.locks.redis_store import RedisStore
from mcp_marshal.locks.sqlite_store import SqliteStore
from tests.integration.lock_redis import RedisServer

AGENTS = ("a", "b", "c")
TASKS = ("t1", "t2")
TTLS_MS = (1000, 2000, 5000)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rec:
    owner: str | None
    token: int
    expires: float
    holder: tuple[str, int] | None  # (agent, generation) whose death ends the lease


def next_token(last: int, now: float) -> int:
    """The token rule: past the last one, and at least the clock in microseconds, so tokens keep
    growing when the store is lost."""
    return max(last + 1, int(now * 1_000_000))


def agent_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "1000"])


class LeaseMachine(RuleBasedStateMachine):
    """Subclasses say how to open one agent's store and whether holder liveness exists."""

    liveness: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.model: dict[str, Rec] = {}
        self.generation = dict.fromkeys(AGENTS, 0)
        self.procs = {a: agent_process() for a in AGENTS}
        self.stores: dict[str, LeaseStore] = {a: self.open_store(a) for a in AGENTS}
        self.issued: list[Lease] = []

    def open_store(self, agent: str) -> LeaseStore:
        raise NotImplementedError

    def teardown(self) -> None:
        for store in self.stores.values():
            store.close()
        for proc in self.procs.values():
            proc.kill()
            proc.wait()

    # --- the reference model ----------------------------------------------------------------

    def held(self, rec: Rec | None) -> bool:
        if rec is None or rec.owner is None or self.clock.now >= rec.expires:
            return False
        return rec.holder is None or self.generation[rec.holder[0]] == rec.holder[1]

    def matches(self, rec: Rec | None, key: Lease) -> bool:
        return self.held(rec) and rec is not None and rec.owner == key.owner and rec.token == key.token

    # --- rules ------------------------------------------------------------------------------

    @rule(agent=st.sampled_from(AGENTS), task=st.sampled_from(TASKS), ttl=st.sampled_from(TTLS_MS), bind=st.booleans())
    def acquire(self, agent: str, task: str, ttl: int, bind: bool) -> None:
        rec = self.model.get(task)
        got = self.stores[agent].acquire(task, agent, ttl, bind_pid=self.procs[agent].pid if bind else None)
        if self.held(rec):
            assert got is None, f"{task} granted to {agent} while held by {rec}"
            return
        assert got is not None, f"{task} free but not granted"
        token = next_token(rec.token if rec else 0, self.clock.now)
        assert (got.task, got.owner, got.token) == (task, agent, token)
        assert got.expires_at == self.clock.now + ttl / 1000
        holder = (agent, self.generation[agent]) if bind and self.liveness else None
        self.model[task] = Rec(agent, token, got.expires_at, holder)
        self.issued.append(got)

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), agent=st.sampled_from(AGENTS), ttl=st.sampled_from(TTLS_MS))
    def renew(self, data: st.DataObject, agent: str, ttl: int) -> None:
        lease = data.draw(st.sampled_from(self.issued))
        rec = self.model.get(lease.task)
        got = self.stores[agent].renew(lease, ttl)
        if not self.matches(rec, lease):
            assert got is None
            return
        assert rec is not None and got is not None
        assert (got.token, got.expires_at) == (lease.token, self.clock.now + ttl / 1000)
        rec.expires = got.expires_at

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), agent=st.sampled_from(AGENTS))
    def release(self, data: st.DataObject, agent: str) -> None:
        lease = data.draw(st.sampled_from(self.issued))
        rec = self.model.get(lease.task)
        ok = self.stores[agent].release(lease)
        assert ok == self.matches(rec, lease)
        if ok and rec is not None:
            rec.owner, rec.holder, rec.expires = None, None, self.clock.now

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), agent=st.sampled_from(AGENTS), wrong=st.sampled_from(["owner", "token"]))
    def forged(self, data: st.DataObject, agent: str, wrong: str) -> None:
        """A renew/release with the wrong owner or a token never issued is always refused."""
        lease = data.draw(st.sampled_from(self.issued))
        owner = lease.owner + "-x" if wrong == "owner" else lease.owner
        token = lease.token + 1000 if wrong == "token" else lease.token
        key = LeaseRef(lease.task, owner, token)
        assert self.stores[agent].renew(key, 1000) is None
        assert self.stores[agent].release(key) is False

    @rule(seconds=st.sampled_from([0, 1, 1, 2, 3, 5]))
    def advance(self, seconds: int) -> None:
        self.clock.now += seconds

    @precondition(lambda self: any(self.held(r) for r in self.model.values()))
    @rule(data=st.data())
    def advance_to_expiry(self, data: st.DataObject) -> None:
        """Land exactly on an expiry: the boundary where ``<`` versus ``<=`` bugs live."""
        held = sorted({r.expires for r in self.model.values() if self.held(r)})
        self.clock.now = data.draw(st.sampled_from(held))

    @rule(agent=st.sampled_from(AGENTS))
    def crash(self, agent: str) -> None:
        """The agent's process dies and a new one takes its place under the same name."""
        self.procs[agent].kill()
        self.procs[agent].wait()
        self.stores[agent].close()
        self.generation[agent] += 1
        self.procs[agent] = agent_process()
        self.stores[agent] = self.open_store(agent)

    @rule(agent=st.sampled_from(AGENTS), task=st.sampled_from(TASKS), data=st.data())
    def check(self, agent: str, task: str, data: st.DataObject) -> None:
        rec = self.model.get(task)
        latest = rec.token if rec else 0
        token = data.draw(st.sampled_from([latest - 1, latest, latest + 1]) | st.integers(0, latest + 1))
        assert self.stores[agent].check(task, token) == (rec is not None and token == latest)

    @invariant()
    def listing_matches(self) -> None:
        want = {t: (r.owner, r.token, r.expires) for t, r in self.model.items() if self.held(r)}
        for agent in AGENTS[:2]:
            got = {le.task: (le.owner, le.token, le.expires_at) for le in self.stores[agent].list()}
            assert got == want
        for task in TASKS:
            cur = self.stores["c"].get(task)
            assert (cur.token if cur else None) == (want[task][1] if task in want else None)


SETTINGS = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class MemoryMachine(LeaseMachine):
    def __init__(self) -> None:
        self.shared = MemoryStore(clock=self._clock_proxy)
        super().__init__()

    def _clock_proxy(self) -> float:
        return self.clock.now

    def open_store(self, agent: str) -> LeaseStore:
        return self.shared  # one process: every agent shares the dict (closing it is a no-op)


class SqliteMachine(LeaseMachine):
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lock-model-"))
        super().__init__()

    def open_store(self, agent: str) -> LeaseStore:
        return SqliteStore(self.dir / "locks.sqlite3", clock=self.clock)

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisMachine(LeaseMachine):
    """No holder liveness across machines: a bound lease lives until released or expired."""

    liveness = False
    url: ClassVar[str] = ""

    def __init__(self) -> None:
        self.prefix = f"model-{uuid.uuid4().hex[:8]}:"  # a fresh keyspace per example
        super().__init__()

    def open_store(self, agent: str) -> LeaseStore:
        return RedisStore(self.url, prefix=self.prefix, clock=self.clock)


def test_memory_store_follows_the_model() -> None:
    run_state_machine_as_test(MemoryMachine, settings=settings(SETTINGS, max_examples=100))


def test_sqlite_store_follows_the_model() -> None:
    run_state_machine_as_test(SqliteMachine, settings=SETTINGS)


@pytest.fixture(scope="module")
def redis_url() -> object:
    with RedisServer() as server:
        yield server.url


def test_redis_store_follows_the_model(redis_url: str) -> None:
    RedisMachine.url = redis_url
    run_state_machine_as_test(RedisMachine, settings=SETTINGS)
