"""One server's life: spawn (or connect), handshake, health checks, exit, backoff, restart.

One task owns each life from spawn to reap; ``stop()`` cancels it and runs the stop sequence
itself, so no path leaves a process without an owner. Every state change goes through ``_set``
(one place, checked against the transition table); what it acts on is decided by pure code
(``backoff.Budget`` for exits, ``health.health_step`` for health checks). Text that comes from
a server (errors, ``serverInfo``, stderr) is redacted before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, cast

from mcp_marshal.config.models import ServerSpec
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
from mcp_marshal.redact import Redactor
from mcp_marshal.supervise.backoff import Budget
from mcp_marshal.supervise.child import ExitStatus, Lifeline, SpawnError, StderrRing, spawn
from mcp_marshal.supervise.health import Verdict, health_step
from mcp_marshal.supervise.links import LINK_ERRORS, HttpLink, Link, StdioLink
from mcp_marshal.supervise.mcp_stdio import Handshake, McpStdio
from mcp_marshal.supervise.states import ServerState, can_transition
from mcp_marshal.wire import ServerSnapshot

log = logging.getLogger(__name__)
S = ServerState
TAIL = 20
Prepare = Callable[[ServerSpec], Awaitable[ServerSpec]]
TaskStarter = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class TransitionError(RuntimeError):
    """A bug: the runner tried a transition the state table forbids."""


class NotReady(RuntimeError):
    """A request that needs a ready server found it in another state (a user can retry)."""


def _own_task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.create_task(coro, name=name)


class ServerRunner:
    """Supervises one server. ``on_change`` is called after every state change; ``start_task``
    is how the owner (the orchestrator's task group) runs the life task."""

    def __init__(
        self,
        spec: ServerSpec,
        bus: EventBus,
        *,
        lifeline: Lifeline | None = None,
        prepare: Prepare | None = None,
        on_change: Callable[[ServerRunner], None] = lambda _r: None,
        redactor: Redactor | None = None,
        ring: StderrRing | None = None,
        start_task: TaskStarter = _own_task,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.bus = bus
        self.state = S.STOPPED
        self.pid: int | None = None
        self.restarts = 0
        """Restarts since the last start that was asked for (a manual start begins at 0)."""
        self.last_exit: ExitStatus | None = None
        self.last_error = ""
        self.handshake: Handshake | None = None
        self.ring = ring or StderrRing()
        self.budget = Budget()
        self._lifeline = lifeline
        self._prepare = prepare
        self._on_change = on_change
        self._redactor = redactor
        self._start_task = start_task
        self._clock = clock
        self._rng = rng or random.Random()
        self._ready_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._link: Link | None = None
        self._lock = asyncio.Lock()
        self.offers: dict[str, Any] = {}
        self.held: tuple[str, ...] = ()
        """What changed since the user approved this launch (set by the orchestrator): while
        non-empty the server is not started."""
        """Client capabilities the handshake declares: what the gateway answers for agents."""
        self.live_spec: ServerSpec | None = None
        """The spec of the current life with its inputs resolved (the gateway's remote relay
        sends the configured headers with it); None between lives."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        """True while the life task is alive (starting, ready, unhealthy, backoff...)."""
        return self._task is not None and not self._task.done()

    @property
    def connection(self) -> McpStdio | None:
        """The MCP client on a ready stdio server's pipes (what the gateway relays through)."""
        link = self._link
        return link.conn if isinstance(link, StdioLink) and self.state in (S.READY, S.UNHEALTHY) else None

    def _clean(self, text: str) -> str:
        return self._redactor.redact(text) if self._redactor is not None else text

    def _redacted(self, value: dict[str, Any]) -> dict[str, Any]:
        if self._redactor is None:
            return dict(value)
        return cast("dict[str, Any]", self._redactor.redact_value(dict(value)))

    # --- state -------------------------------------------------------------------------------

    def _set(self, new: ServerState, detail: str = "", *, force: bool = False) -> None:
        old = self.state
        if old == new:
            return
        if not force and not can_transition(old, new):
            raise TransitionError(f"{self.name}: {old} → {new} is not a legal transition")
        self.state = new
        if new == S.READY:
            self._ready_at = self._clock()
        elif new != S.UNHEALTHY:
            self._ready_at = None
        self.bus.publish(ServerStateChanged(self.name, new.value, old.value, self.pid, self.restarts, detail))
        self._on_change(self)

    def set_blocked(self, detail: str) -> None:
        """Called by the orchestrator while a dependency cannot become ready."""
        if self.running or self.state not in (S.STOPPED, S.FAILED, S.BLOCKED):
            return
        if self.state == S.BLOCKED and detail == self.last_error:
            return
        self.last_error = detail
        if self.state == S.BLOCKED:  # a new reason: say it (blocked → blocked is no transition)
            self.bus.publish(
                ServerStateChanged(self.name, S.BLOCKED.value, S.BLOCKED.value, None, self.restarts, detail)
            )
            return
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
            needs_approval=bool(self.held),
            changed=list(self.held),
        )

    # --- commands ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin supervising (no-op while already running), with a full restart budget and the
        restart count back at 0: only a start someone asked for comes here, never a restart."""
        if self.running:
            return
        self.budget = Budget()
        self.restarts = 0
        self._task = self._start_task(self._run(), f"server-{self.name}")
        self._set(S.STARTING)  # at once: the scheduler must never see a started server as stopped

    async def stop(self) -> None:
        """Stop supervising and run the stop sequence; returns when the process is reaped."""
        async with self._lock:
            task, self._task = self._task, None
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            link, self._link = self._link, None
            if link is not None:
                if not link.ended:
                    self._set(S.STOPPING)
                status = await link.stop(self.spec.stop)
                if status is not None:
                    self.last_exit = status
                    self.bus.publish(
                        ServerExited(self.name, status.code, status.signal, True, tuple(self.ring.tail(TAIL)))
                    )
            self.pid = None
            self._set(S.STOPPED)

    def update_spec(self, spec: ServerSpec) -> None:
        """Take new policies without touching the process (reload ``update``)."""
        self.spec = spec

    def ready_connection(self) -> McpStdio:
        """The connection of a ready stdio server, or ``NotReady`` saying what it is instead."""
        conn = self.connection
        if conn is None:
            raise NotReady(f"{self.name} is {self.state.value}, not ready")
        return conn

    # --- the life task -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._lives()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours: say so on the server's row, never die silently
            log.exception("supervising %s failed", self.name)
            await self._abandon(f"internal error while supervising: {exc!r}")

    async def _abandon(self, reason: str) -> None:
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await link.stop(self.spec.stop)
        self.pid = None
        self.last_error = reason
        self._set(S.FAILED, reason, force=True)
        self.bus.publish(ServerFailed(self.name, reason, tuple(self.ring.tail(TAIL))))

    async def _lives(self) -> None:
        while True:
            self._set(S.STARTING)  # already set by start() for the first life
            try:
                status = await self._one_life()
            except SpawnError as exc:
                self._fail(self._clean(str(exc)))
                return
            reason = self.last_error
            code, sig = (status.code, status.signal) if status else (None, None)
            self.bus.publish(ServerExited(self.name, code, sig, False, tuple(self.ring.tail(TAIL))))
            self._set(S.EXITED, reason)
            policy = self.spec.restart
            self.budget, decision = self.budget.after_exit(self._clock(), policy, self._rng.random())
            if not decision.restart:
                n = policy.max_restarts
                self._fail(f"{reason or 'stopped unexpectedly'}; gave up after {n} restart{'s' * (n != 1)}")
                return
            self.restarts += 1
            self.bus.publish(
                RestartScheduled(self.name, decision.attempt, decision.delay_ms, policy.max_restarts, reason)
            )
            self._set(S.BACKOFF, f"restart {decision.attempt}/{policy.max_restarts} in {decision.delay_ms} ms")
            if decision.delay_ms:
                await asyncio.sleep(decision.delay_ms / 1000)

    def _fail(self, reason: str) -> None:
        self.last_error = reason
        self.pid = None
        self._set(S.FAILED, reason)
        self.bus.publish(ServerFailed(self.name, reason, tuple(self.ring.tail(TAIL))))

    async def _connect(self, spec: ServerSpec) -> Link:
        if not spec.spawned:
            return HttpLink(spec)
        # What an envFile gives the server is as secret as its env (learnt before it can print).
        learn: Callable[[Mapping[str, str | None]], None] = (
            self._redactor.add_env if self._redactor is not None else _ignore_env
        )
        spawning = asyncio.ensure_future(
            spawn(
                spec,
                lifeline=self._lifeline,
                on_stderr=self._on_stderr,
                ring=self.ring,
                clean=self._clean,
                learn_env=learn,
            )
        )
        try:
            child = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Cancelled mid-spawn: still adopt the child so stop() can reap it.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                child = await spawning
                self._link = StdioLink(child, self._on_noise, self.offers)
                self.pid = child.pid
            raise
        return StdioLink(child, self._on_noise, self.offers)

    async def _one_life(self) -> ExitStatus | None:
        """Run the server once; return how it ended (None for remote servers)."""
        spec = await self._prepare(self.spec) if self._prepare else self.spec
        self.live_spec = spec
        link = await self._connect(spec)
        self._link = link
        self.pid = link.pid
        health = spec.health
        try:
            try:
                hs = await link.handshake(health.start_timeout_ms / 1000)
            except TimeoutError:
                self.last_error = f"no MCP handshake within {health.start_timeout_ms} ms"
                await link.kill(spec.stop)
            except LINK_ERRORS as exc:
                await link.settle(1.0)
                self.last_error = self._clean(link.why_ended(exc))
                await link.kill(spec.stop)
            else:
                self._became_ready(hs)
                if await self._watch(link, spec):
                    await link.kill(spec.stop)
                else:
                    self.last_error = self._clean(link.why_ended(None))
        finally:
            link.detach()
        status = await link.finished()
        self._link = None
        self.pid = None
        if status is not None:
            self.last_exit = status
        return status

    def _became_ready(self, hs: Handshake) -> None:
        info = self._redacted(hs.server_info)
        self.handshake = dataclasses.replace(
            hs,
            protocol_version=self._clean(hs.protocol_version),
            server_info=info,
            capabilities=self._redacted(hs.capabilities),
            instructions=self._clean(hs.instructions) if hs.instructions else None,
        )
        self.last_error = ""
        self.bus.publish(ServerReady(self.name, round(hs.ms, 1), self.handshake.protocol_version, dict(info)))
        self._set(S.READY)
        self.budget = self.budget.ready(self._clock())

    async def _watch(self, link: Link, spec: ServerSpec) -> bool:
        """Health-check until the life ends by itself (False) or is found unhealthy and must be
        restarted (True); a remote server found unhealthy is marked and checked on."""
        health = spec.health
        interval = health.ping_interval_ms / 1000 if health.ping_interval_ms else None  # None: never ping
        misses = 0
        while True:
            if await link.ends_within(interval):
                return False
            self.budget = self.budget.settled(self._clock(), spec.restart)
            reason = ""
            try:
                await link.ping(health.ping_timeout_ms / 1000)
            except LINK_ERRORS as exc:
                if link.ended:
                    return False
                reason = "no answer" if isinstance(exc, TimeoutError) else self._clean(str(exc))
            misses, verdict = health_step(misses, not reason, health.failure_threshold)
            if verdict in (Verdict.MISSED, Verdict.UNHEALTHY):
                self.bus.publish(HealthCheckFailed(self.name, misses, reason))
            if verdict is Verdict.UNHEALTHY and self.state != S.UNHEALTHY:
                self.last_error = f"unresponsive: {misses} health checks in a row failed ({reason})"
                self._set(S.UNHEALTHY, self.last_error)
                if link.restartable:
                    return True
            elif verdict is Verdict.RECOVERED:
                self.last_error = ""
                self._set(S.READY)

    # --- output ------------------------------------------------------------------------------

    def _on_stderr(self, line: str) -> None:
        self.bus.publish(ServerLog(self.name, "stderr", line))

    def _on_noise(self, text: str) -> None:
        text = self._clean(text)
        self.ring.lines.append(f"[stdout, not MCP] {text}")
        self.bus.publish(ServerLog(self.name, "stdout", text))


def _ignore_env(env: Mapping[str, str | None]) -> None:
    """No redactor: nothing to learn."""
