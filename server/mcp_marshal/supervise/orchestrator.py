"""The orchestrator: every server of a workspace, started along the dependency DAG.

A server starts as soon as every server it depends on is ready; independent branches never
wait for each other; a dependency that failed (or is stopped) leaves its dependents ``blocked``
until it becomes ready again. Stopping goes in reverse dependency order. The orchestrator is
an async context manager: leaving it stops everything it started.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.config.reload_plan import ReloadPlan
from mcp_marshal.events import ConfigRejected, ConfigReloaded, EventBus
from mcp_marshal.redact import Redactor
from mcp_marshal.supervise.child import Lifeline, SpawnError, StderrRing
from mcp_marshal.supervise.runner import ServerRunner, ServerSnapshot
from mcp_marshal.supervise.states import ServerState

if TYPE_CHECKING:
    from mcp_marshal.config.workspace import LoadResult

S = ServerState
InputResolver = Callable[[InputSettings], Awaitable[str | None]]


class UnknownServerError(ValueError):
    """A command named a server the configuration does not have."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown server {name!r} (servers: {names})")
        self.name = name


def input_env_var(input_id: str) -> str:
    """``MCP_MARSHAL_INPUT_<ID>``: upper-cased, anything but letters and digits becomes ``_``."""
    return "MCP_MARSHAL_INPUT_" + re.sub(r"[^A-Za-z0-9]", "_", input_id).upper()


async def env_input_resolver(spec: InputSettings) -> str | None:
    """The headless answer to ``${input:ID}``: an environment variable, or nothing."""
    return os.environ.get(input_env_var(spec.id))


class Orchestrator:
    """Supervises every server of one configuration. All methods run on the event loop."""

    def __init__(
        self,
        config: Config,
        bus: EventBus,
        *,
        input_resolver: InputResolver | None = None,
        lifeline: Lifeline | None = None,
        use_lifeline: bool = True,
        redactor: Redactor | None = None,
    ) -> None:
        self._config = config
        self.redactor = redactor or Redactor.from_config(config)
        self.bus = bus
        self._input_resolver = input_resolver or env_input_resolver
        self._lifeline = lifeline
        self._own_lifeline = lifeline is None and use_lifeline
        self._inputs: dict[str, asyncio.Future[str | None]] = {}
        self._runners: dict[str, ServerRunner] = {n: self._runner(s) for n, s in config.servers.items()}
        self._waiters: dict[str, asyncio.Task[None]] = {}
        self._tick = asyncio.Event()
        self._trouble = 0
        """Bumped when a server may have become a blocker (failed, blocked, stopped, reloaded)."""
        self._apply_lock = asyncio.Lock()

    # --- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Orchestrator:
        if self._own_lifeline:
            from mcp_marshal.supervise.lifeline import Lifeline as RealLifeline

            lifeline = RealLifeline()
            await lifeline.start()
            self._lifeline = lifeline
            for runner in self._runners.values():
                runner.lifeline = lifeline
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_all()
        if self._own_lifeline and self._lifeline is not None:
            await self._lifeline.close()  # type: ignore[attr-defined]

    @property
    def config(self) -> Config:
        return self._config

    def _runner(self, spec: ServerSpec, ring: StderrRing | None = None) -> ServerRunner:
        return ServerRunner(
            spec,
            self.bus,
            lifeline=self._lifeline,
            prepare=self._prepare,
            on_change=self._changed,
            clean=self.redactor.redact,  # stderr may echo a secret: redact before anyone sees it
            ring=ring,
        )

    def _changed(self, runner: ServerRunner | None = None) -> None:
        """Wake every waiter; they re-check their own condition (cheaply, see _start_when_ready)."""
        if runner is None or runner.state in (S.FAILED, S.BLOCKED, S.STOPPED):
            self._trouble += 1
        self._tick.set()
        self._tick = asyncio.Event()

    def _get(self, name: str) -> ServerRunner:
        try:
            return self._runners[name]
        except KeyError:
            raise UnknownServerError(name, self._runners) from None

    # --- inputs ------------------------------------------------------------------------------

    async def _prepare(self, spec: ServerSpec) -> ServerSpec:
        """Resolve ``${input:ID}`` just before start; each input is asked once per session."""
        if not spec.inputs:
            return spec
        values: dict[str, str] = {}
        for input_id in spec.inputs:
            future = self._inputs.get(input_id)
            if future is None:
                future = asyncio.ensure_future(self._ask(input_id))
                self._inputs[input_id] = future
            value = await asyncio.shield(future)
            if value is None:
                self._inputs.pop(input_id, None)  # ask again next time
                raise SpawnError(f"input {input_id!r} has no value: answer the prompt or set {input_env_var(input_id)}")
            values[input_id] = value
        from mcp_marshal.config.variables import resolve_inputs

        return resolve_inputs(spec, values)

    async def _ask(self, input_id: str) -> str | None:
        settings = self._config.inputs.get(input_id) or InputSettings(id=input_id)
        try:
            value = await self._input_resolver(settings)
        except Exception:
            value = None
        if value is not None:
            self.redactor.add_secret(value)
        return value

    # --- starting ----------------------------------------------------------------------------

    def _wanted(self, name: str) -> bool:
        waiter = self._waiters.get(name)
        return (waiter is not None and not waiter.done()) or self._runners[name].running

    def _want(self, name: str, *, reset_budget: bool = False) -> None:
        """Start ``name`` once its dependencies are ready (no-op if already on its way)."""
        if self._wanted(name):
            return
        self._waiters[name] = asyncio.create_task(self._start_when_ready(name, reset_budget), name=f"deps-{name}")

    async def _start_when_ready(self, name: str, reset_budget: bool) -> None:
        """Start ``name`` once every dependency is ready; mark it blocked while one cannot be.

        Every state change wakes every waiter, and tiers make each server depend on all of the
        lower tiers, so a wake must not scan every dependency: it re-checks the one that was not
        ready last time, and looks for blockers only after something may have become one.
        """
        runner = self._runners[name]
        config: Config | None = None
        deps: list[str] = []
        pending: str | None = None
        trouble = -1
        while True:
            tick = self._tick
            if config is not self._config:  # a reload may have changed the dependencies
                config, pending = self._config, None
                deps = sorted(config.deps.needs(name))
            if pending is None or self._runners[pending].state == S.READY:
                pending = next((d for d in deps if self._runners[d].state != S.READY), None)
                if pending is None:
                    runner.start(reset_budget=reset_budget)
                    self._changed(runner)
                    return
            if trouble != self._trouble:
                trouble = self._trouble
                blockers = [
                    f"{d} is {self._runners[d].state.value}"
                    for d in self._unready_deps(name)
                    if self._runners[d].state in (S.FAILED, S.BLOCKED)
                    or (self._runners[d].state == S.STOPPED and not self._wanted(d))
                ]
                if blockers:
                    runner.set_blocked("waiting for a dependency: " + ", ".join(blockers))
            await tick.wait()

    def _unready_deps(self, name: str) -> list[str]:
        return [d for d in sorted(self._config.deps.needs(name)) if self._runners[d].state != S.READY]

    def _settled(self, name: str) -> bool:
        runner = self._runners[name]
        if runner.state == S.BLOCKED:  # settled only while a dependency is still not ready
            return bool(self._unready_deps(name))
        if runner.state in (S.READY, S.FAILED):
            return True
        return runner.state == S.STOPPED and not self._wanted(name)

    async def wait_settled(self, names: Iterable[str] | None = None) -> None:
        """Return once every named server is ready, failed, blocked or (deliberately) stopped."""
        wanted = list(self._runners if names is None else names)
        pending: str | None = None  # re-checked first: a wake costs O(1) while it is unsettled
        while True:
            tick = self._tick
            if pending is None or pending not in self._runners or self._settled(pending):
                pending = next((n for n in wanted if n in self._runners and not self._settled(n)), None)
                if pending is None:
                    return
            await tick.wait()

    async def start_all(self) -> None:
        """Start every ``autoStart`` server along the DAG; return when all have settled."""
        names = [n for n, r in self._runners.items() if r.spec.auto_start]
        for name in names:
            self._want(name)
        await self.wait_settled(names)

    async def start(self, name: str) -> ServerSnapshot:
        """Start one server (budget reset) once its dependencies are ready; return when settled."""
        runner = self._get(name)
        if runner.state in (S.FAILED, S.BLOCKED):
            await runner.stop()
        self._want(name, reset_budget=True)
        await self.wait_settled([name])
        return runner.snapshot()

    async def restart(self, name: str) -> ServerSnapshot:
        """Stop and start again with a fresh restart budget (also revives a ``failed`` one)."""
        await self.stop(name)
        return await self.start(name)

    async def restart_all(self) -> None:
        await self.stop_all()
        await self.start_all()

    # --- stopping ----------------------------------------------------------------------------

    async def stop(self, name: str) -> ServerSnapshot:
        """Stop one server (its dependents keep running)."""
        runner = self._get(name)
        await self._stop_many([name], self._config.deps)
        return runner.snapshot()

    async def _stop_many(self, names: Iterable[str], deps: DependencyGraph) -> None:
        """Stop ``names`` concurrently, each only after every dependent of it among them."""
        targets = [n for n in names if n in self._runners]
        for name in targets:  # first, so no waiter starts a server we are about to stop
            waiter = self._waiters.pop(name, None)
            if waiter is not None:
                waiter.cancel()
        tasks: dict[str, asyncio.Task[None]] = {}

        async def stop_one(name: str) -> None:
            before = [tasks[d] for d in deps.users(name) if d in tasks]
            if before:
                await asyncio.gather(*before, return_exceptions=True)
            await self._runners[name].stop()

        for name in targets:
            tasks[name] = asyncio.create_task(stop_one(name), name=f"stop-{name}")
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        self._changed()

    async def stop_all(self) -> None:
        """Stop every server in reverse dependency order (DESIGN §4)."""
        await self._stop_many(list(self._runners), self._config.deps)

    # --- reload ------------------------------------------------------------------------------

    async def apply(self, config: Config, plan: ReloadPlan) -> None:
        """Carry out a reload plan: stop removed and changed servers (dependents first), swap
        the configuration, then start added and changed ones along the new DAG."""
        async with self._apply_lock:
            old = self._config
            self.redactor.add_config(config)
            was_wanted = {n: self._wanted(n) for n in plan.restart}
            await self._stop_many([*plan.stop, *plan.restart], old.deps)
            for name in plan.stop:
                self._runners.pop(name, None)
            self._config = config
            for name in plan.restart:  # a fresh runner, but the log history survives the change
                self._runners[name] = self._runner(config.servers[name], self._runners[name].ring)
            for name in plan.update:
                self._runners[name].update_spec(config.servers[name])
            for name in plan.start:
                self._runners[name] = self._runner(config.servers[name])
            # keep the runners in file order, so listings follow the file
            self._runners = {n: self._runners[n] for n in config.servers}
            for name in plan.restart:
                if was_wanted[name] or config.servers[name].auto_start:
                    self._want(name)
            for name in plan.start:
                if config.servers[name].auto_start:
                    self._want(name)
            for name in plan.update:
                runner = self._runners[name]
                if runner.spec.auto_start and runner.state == S.STOPPED and not self._wanted(name):
                    self._want(name)
            self._changed()
        self.bus.publish(ConfigReloaded(plan))

    async def reload(self, result: LoadResult) -> ReloadPlan | None:
        """Apply a freshly loaded file, or keep everything running if it has problems."""
        if result.config is None:
            self.bus.publish(ConfigRejected(result.errors))
            return None
        from mcp_marshal.config.reload_plan import plan_reload

        plan = plan_reload(self._config, result.config)
        await self.apply(result.config, plan)
        return plan

    # --- views -------------------------------------------------------------------------------

    def snapshot(self) -> list[ServerSnapshot]:
        return [runner.snapshot() for runner in self._runners.values()]

    def get(self, name: str) -> ServerSnapshot:
        return self._get(name).snapshot()

    def stderr_tail(self, name: str, n: int | None = None) -> list[str]:
        return self._get(name).ring.tail(n)

    async def list_tools(self, name: str) -> list[dict[str, Any]] | None:
        return await self._get(name).list_tools()


__all__ = [
    "Orchestrator",
    "ServerSnapshot",
    "UnknownServerError",
    "env_input_resolver",
    "input_env_var",
]
