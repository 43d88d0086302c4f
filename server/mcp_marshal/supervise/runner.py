"""One server's life: spawn, handshake, ping, exit, backoff, restart — owned by one task.

Structured concurrency: the run task owns the child from spawn to reap; ``stop()`` cancels it
and then runs the stop sequence itself, so no path leaves a process without an owner. Every
state change goes through ``_set`` (one place, checked against the transition table).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_marshal.config.models import ServerSpec, StopPolicy
from mcp_marshal.events import (
    EventBus,
    HealthCheckFailed,
    RestartScheduled,
    ServerExited,
    ServerFailed,
    ServerLog,
    ServerReady,
    ServerStateChanged,
)
from mcp_marshal.supervise.backoff import RestartBudget
from mcp_marshal.supervise.child import Child, ExitStatus, Lifeline, SpawnError, StderrRing, spawn
from mcp_marshal.supervise.mcp_http import HttpCheckError, http_handshake
from mcp_marshal.supervise.mcp_stdio import ConnectionClosed, Handshake, McpStdio, RpcError
from mcp_marshal.supervise.states import ServerState, can_transition

S = ServerState
TAIL = 20
Prepare = Callable[[ServerSpec], Awaitable[ServerSpec]]


class TransitionError(RuntimeError):
    """A bug: the runner tried a transition the state table forbids."""


@dataclass(frozen=True)
class ServerSnapshot:
    """What a user sees of one server; ``to_dict`` is JSON-ready."""

    name: str
    type: str
    state: str
    pid: int | None
    restarts: int
    uptime_s: float | None
    last_exit_code: int | None
    last_signal: int | None
    last_error: str
    handshake_ms: float | None
    protocol_version: str | None
    server_info: dict[str, Any]
    stderr_tail: list[str]
    depends_on: list[str] = field(default_factory=list)
    auto_start: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Unhealthy(Exception):
    pass


class ServerRunner:
    """Supervises one server. ``on_change`` is called after every state change."""

    def __init__(
        self,
        spec: ServerSpec,
        bus: EventBus,
        *,
        lifeline: Lifeline | None = None,
        prepare: Prepare | None = None,
        on_change: Callable[[ServerRunner], None] = lambda _r: None,
        clean: Callable[[str], str] = lambda text: text,
        ring: StderrRing | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.bus = bus
        self.state = S.STOPPED
        self.pid: int | None = None
        self.restarts = 0
        self.last_exit: ExitStatus | None = None
        self.last_error = ""
        self.handshake: Handshake | None = None
        self.ring = ring or StderrRing()
        self.budget = RestartBudget(spec.restart)
        self.lifeline = lifeline
        """Set by the owner before ``start`` (the orchestrator starts its lifeline on entry)."""
        self._prepare = prepare
        self._on_change = on_change
        self._clean = clean
        self._clock = clock
        self._ready_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._child: Child | None = None
        self._spent: Child | None = None
        """The last life's exited child, released from the lifeline after the next fork (or the end)."""
        self._conn: McpStdio | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        """True while the run task is alive (starting, ready, unhealthy, backoff...)."""
        return self._task is not None and not self._task.done()

    # --- state -------------------------------------------------------------------------------

    def _set(self, new: ServerState, detail: str = "") -> None:
        old = self.state
        if old == new:
            return
        if not can_transition(old, new):
            raise TransitionError(f"{self.name}: {old} → {new} is not a legal transition")
        self.state = new
        if new == S.READY:
            self._ready_at = self._clock()
        elif new != S.UNHEALTHY:
            self._ready_at = None
        self.bus.publish(ServerStateChanged(self.name, new.value, old.value, self.pid, self.restarts, detail))
        self._on_change(self)

    def set_blocked(self, detail: str) -> None:
        """Called by the orchestrator while a dependency is not ready."""
        if self.running or self.state not in (S.STOPPED, S.FAILED):
            return
        self.last_error = detail
        self._set(S.BLOCKED, detail)

    def snapshot(self) -> ServerSnapshot:
        hs = self.handshake
        return ServerSnapshot(
            name=self.name,
            type=self.spec.type,
            state=self.state.value,
            pid=self.pid,
            restarts=self.restarts,
            uptime_s=round(self._clock() - self._ready_at, 3) if self._ready_at is not None else None,
            last_exit_code=self.last_exit.code if self.last_exit else None,
            last_signal=self.last_exit.signal if self.last_exit else None,
            last_error=self.last_error,
            handshake_ms=round(hs.ms, 1) if hs else None,
            protocol_version=hs.protocol_version if hs else None,
            server_info=dict(hs.server_info) if hs else {},
            stderr_tail=self.ring.tail(TAIL),
            depends_on=sorted(self.spec.depends_on),
            auto_start=self.spec.auto_start,
        )

    # --- commands ----------------------------------------------------------------------------

    def start(self, *, reset_budget: bool = False) -> None:
        """Begin supervising (no-op while already running)."""
        if self.running:
            return
        if reset_budget:
            self.budget.reset()
        self._task = asyncio.create_task(self._run(), name=f"server-{self.name}")

    async def stop(self) -> None:
        """Stop supervising and run the stop sequence; returns when the process is reaped."""
        async with self._lock:
            task, self._task = self._task, None
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            child, self._child = self._child, None
            if child is not None and child.exit_status is None:
                self._set(S.STOPPING)
                status = await child.stop(self.spec.stop)
                self.last_exit = status
                self.bus.publish(ServerExited(self.name, status.code, status.signal, True, tuple(self.ring.tail(TAIL))))
            if child is not None:
                child.release()
            self.pid = None
            self._set(S.STOPPED)

    async def list_tools(self) -> list[dict[str, Any]] | None:
        """The tools of a ready stdio server, over its own pipe; None for remote servers."""
        if not self.spec.spawned:
            return None
        if self.state != S.READY or self._conn is None:
            raise RuntimeError(f"{self.name} is {self.state.value}, not ready")
        return await self._conn.list_tools(self.spec.health.start_timeout_ms / 1000)

    def update_spec(self, spec: ServerSpec) -> None:
        """Take new policies without touching the process (reload ``update``)."""
        self.spec = spec
        self.budget.policy = spec.restart

    # --- the run loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._lives()
        finally:
            self._release_spent()

    async def _lives(self) -> None:
        while True:
            self._set(S.STARTING)
            try:
                status = await self._one_life()
            except SpawnError as exc:
                self._fail(str(exc))
                return
            self.bus.publish(
                ServerExited(
                    self.name,
                    status.code if status else None,
                    status.signal if status else None,
                    False,
                    tuple(self.ring.tail(TAIL)),
                )
            )
            self._set(S.EXITED, self.last_error)
            decision = self.budget.on_exit(self._clock())
            if not decision.restart:
                self._fail(self._give_up_reason())
                return
            self.restarts += 1
            self.bus.publish(
                RestartScheduled(self.name, decision.attempt, decision.delay_ms, self.spec.restart.max_restarts)
            )
            self._set(
                S.BACKOFF,
                f"restart {decision.attempt}/{self.spec.restart.max_restarts} in {decision.delay_ms} ms",
            )
            if decision.delay_ms:  # with none: no yield, and the spent group is released after the fork
                self._release_spent()
                await asyncio.sleep(decision.delay_ms / 1000)

    def _release_spent(self) -> None:
        spent, self._spent = self._spent, None
        if spent is not None:
            spent.release()

    def _give_up_reason(self) -> str:
        n = self.spec.restart.max_restarts
        return f"{self.last_error or 'stopped unexpectedly'}; gave up after {n} restart{'s' * (n != 1)}"

    def _fail(self, reason: str) -> None:
        self.last_error = reason
        self.pid = None
        self._set(S.FAILED, reason)
        self.bus.publish(ServerFailed(self.name, reason, tuple(self.ring.tail(TAIL))))

    async def _one_life(self) -> ExitStatus | None:
        """Run the server once; return how it ended (None for remote servers)."""
        spec = await self._prepare(self.spec) if self._prepare else self.spec
        if not spec.spawned:
            await self._remote_life(spec)
            return None
        child = await self._spawn(spec)
        conn = McpStdio(child.stdout, child.stdin, on_noise=self._on_noise)
        reader = asyncio.create_task(conn.read_loop(), name=f"stdout-{self.name}")
        self._conn = conn
        try:
            await self._handshake_and_watch(child, conn, spec)
        finally:
            self._conn = None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        status = await child.wait()
        self.last_exit = status
        self._child = None
        self._spent = child
        self.pid = None
        return status

    async def _spawn(self, spec: ServerSpec) -> Child:
        spawning = asyncio.ensure_future(
            spawn(spec, lifeline=self.lifeline, on_stderr=self._on_stderr, ring=self.ring, clean=self._clean)
        )
        try:
            child = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Cancelled mid-spawn: still adopt the child so stop() can reap it.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                self._child = await spawning
                self.pid = self._child.pid
            raise
        self._child = child
        self.pid = child.pid
        self._release_spent()  # only now: its ledger rewrite must not delay the fork
        return child

    async def _handshake_and_watch(self, child: Child, conn: McpStdio, spec: ServerSpec) -> None:
        timeout = spec.health.start_timeout_ms / 1000
        try:
            self.handshake = await conn.handshake(timeout)
        except TimeoutError:
            self.last_error = f"no MCP handshake within {spec.health.start_timeout_ms} ms"
            await self._kill(child)
            return
        except (RpcError, ConnectionClosed, OSError) as exc:
            if child.exit_status is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(child.wait(), 1.0)
            self.last_error = self._exit_reason(child, exc)
            await self._kill(child)
            return
        self._became_ready(self.handshake)
        try:
            await self._watch(child, conn, spec)
        except _Unhealthy:
            await self._kill(child)
            return
        self.last_error = self._exit_reason(child, None)

    def _became_ready(self, hs: Handshake) -> None:
        self.last_error = ""
        self.bus.publish(ServerReady(self.name, round(hs.ms, 1), hs.protocol_version, dict(hs.server_info)))
        self._set(S.READY)
        self.budget.on_ready(self._clock())

    def _exit_reason(self, child: Child, exc: BaseException | None) -> str:
        status = child.exit_status
        if status is not None:
            return status.describe()
        if isinstance(exc, RpcError):
            return f"handshake refused: {exc}"
        return f"handshake failed: {exc}" if exc else "stopped unexpectedly"

    async def _watch(self, child: Child, conn: McpStdio, spec: ServerSpec) -> None:
        """Ping until the process exits (return) or misses pile up (raise ``_Unhealthy``)."""
        health = spec.health
        interval = health.ping_interval_ms / 1000 if health.ping_interval_ms else None  # None: never ping
        exited = asyncio.ensure_future(child.wait())
        misses = 0
        try:
            while True:
                done, _ = await asyncio.wait({exited}, timeout=interval)
                if done:
                    return
                self.budget.maybe_reset(self._clock())
                try:
                    await conn.ping(health.ping_timeout_ms / 1000)
                except (TimeoutError, RpcError, ConnectionClosed, OSError) as exc:
                    if child.exit_status is not None or exited.done():
                        return
                    misses += 1
                    reason = "no answer" if isinstance(exc, TimeoutError) else str(exc)
                    self.bus.publish(HealthCheckFailed(self.name, misses, reason))
                    if misses >= health.failure_threshold:
                        self.last_error = f"unresponsive: {misses} pings in a row got no answer"
                        self._set(S.UNHEALTHY, self.last_error)
                        raise _Unhealthy from None
                    continue
                misses = 0
        finally:
            exited.cancel()

    async def _kill(self, child: Child) -> None:
        """End a child we gave up on: a hung server will not read stdin, so start at SIGTERM."""
        await child.stop(StopPolicy(stdin_grace_ms=0, term_grace_ms=self.spec.stop.term_grace_ms))

    async def _remote_life(self, spec: ServerSpec) -> None:
        assert spec.url is not None
        timeout = spec.health.start_timeout_ms / 1000
        try:
            self.handshake = await http_handshake(spec.type, spec.url, spec.headers, timeout)
        except (HttpCheckError, RpcError, TimeoutError) as exc:
            self.last_error = str(exc) or f"no MCP handshake within {spec.health.start_timeout_ms} ms"
            return
        self._became_ready(self.handshake)
        health = spec.health
        misses = 0
        while health.ping_interval_ms:
            await asyncio.sleep(health.ping_interval_ms / 1000)
            self.budget.maybe_reset(self._clock())
            try:
                await http_handshake(spec.type, spec.url, spec.headers, health.ping_timeout_ms / 1000)
            except (HttpCheckError, RpcError, TimeoutError) as exc:
                misses += 1
                self.bus.publish(HealthCheckFailed(self.name, misses, str(exc) or "no answer"))
                if misses >= health.failure_threshold:
                    self.last_error = str(exc) or "no answer"
                    self._set(S.UNHEALTHY, self.last_error)
                continue
            if misses:
                misses = 0
                self.last_error = ""
                self._set(S.READY)

    # --- output ------------------------------------------------------------------------------

    def _on_stderr(self, line: str) -> None:
        self.bus.publish(ServerLog(self.name, "stderr", line))

    def _on_noise(self, text: str) -> None:
        text = self._clean(text)
        self.ring.lines.append(f"[stdout, not MCP] {text}")
        self.bus.publish(ServerLog(self.name, "stdout", text))
