"""The orchestrator: every server of a workspace, started along the dependency DAG.

A server starts as soon as every server it depends on is ready; independent branches never
wait for each other; a dependency that failed (or is stopped) leaves its dependents ``blocked``
until it becomes ready again. What to start and who is blocked is decided by the pure
:func:`~mcp_marshal.supervise.schedule.plan_starts` after every state change. Stopping goes in
reverse dependency order. An async context manager: its task group owns every task it starts,
and leaving it stops everything.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.config.reload_plan import ReloadPlan
from mcp_marshal.errors import NotNow, UserError
from mcp_marshal.events import EventBus, ServerRemoved
from mcp_marshal.redact import Redactor
from mcp_marshal.supervise.child import Lifeline, SpawnError, StderrRing
from mcp_marshal.supervise.runner import ServerRunner
from mcp_marshal.supervise.schedule import plan_starts
from mcp_marshal.supervise.states import ServerState
from mcp_marshal.wire import ServerSnapshot

S = ServerState
InputResolver = Callable[[InputSettings], Awaitable[str | None]]


class UnknownServerError(UserError):
    """A command named a server the configuration does not have."""

    code = "unknown-server"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown server {name!r} (servers: {names})")
        self.name = name


class NeedsApproval(NotNow):
    """The server's launch is new or changed since the user approved it."""

    code = "needs-approval"

    def __init__(self, name: str, changed: tuple[str, ...]) -> None:
        what = "it is new" if changed == ("new",) else f"its {', '.join(changed)} changed"
        super().__init__(f"{name} needs approval ({what} since it was approved): approve it first")
        self.name = name


def input_env_var(input_id: str) -> str:
    """``MCP_MARSHAL_INPUT_<ID>``: upper-cased, anything but letters and digits becomes ``_``."""
    return "MCP_MARSHAL_INPUT_" + re.sub(r"[^A-Za-z0-9]", "_", input_id).upper()


async def env_input_resolver(spec: InputSettings) -> str | None:
    """The headless answer to ``${input:ID}``: an environment variable, or nothing."""
    return os.environ.get(input_env_var(spec.id))


class Orchestrator:
    """Supervises every server of one configuration. All methods run on the event loop.

    The composition root builds the ``lifeline`` (started) and the ``redactor`` and hands them
    in; without a lifeline, children still get their own process group but no watchdog.
    """

    def __init__(
        self,
        config: Config,
        bus: EventBus,
        *,
        lifeline: Lifeline | None = None,
        redactor: Redactor | None = None,
        input_resolver: InputResolver | None = None,
        offers: dict[str, Any] | None = None,
    ) -> None:
        self._config = config
        self._offers = offers or {}
        """The client capabilities each handshake declares (what the gateway can route)."""
        self.bus = bus
        self.redactor = redactor if redactor is not None else Redactor.from_config(config)
        self._lifeline = lifeline
        self._input_resolver = input_resolver or env_input_resolver
        self._inputs: dict[str, asyncio.Task[str | None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: dict[str, tuple[str, ...]] = {}
        """Servers the user has not approved (their launch is new or changed), with what
        changed: never started, and their dependents blocked, until released."""
        self._runners: dict[str, ServerRunner] = {n: self._runner(s) for n, s in config.servers.items()}
        self._waiting: set[str] = set()
        """Servers to start as soon as their dependencies are ready."""
        self._instances: set[ServerRunner] = set()
        """Private copies of ``shared: false`` servers, one per agent session of the gateway."""
        self._tick = asyncio.Event()
        self._scheduling = False
        self._again = False
        self._apply_lock = asyncio.Lock()

    # --- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Orchestrator:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._group is not None
        try:
            await self.stop_all()
        finally:
            for task in self._tasks:  # what stop_all does not end: a prompt for an input
                task.cancel()
            await self._group.__aexit__(exc_type, exc, tb)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this orchestrator's group (awaited when it is left)."""
        if self._group is None:
            coro.close()
            raise RuntimeError("the orchestrator runs tasks only inside `async with`")
        task = self._group.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def config(self) -> Config:
        return self._config

    def _runner(self, spec: ServerSpec, ring: StderrRing | None = None) -> ServerRunner:
        runner = ServerRunner(
            spec,
            self.bus,
            lifeline=self._lifeline,
            prepare=self._prepare,
            on_change=self._changed,
            redactor=self.redactor,
            ring=ring,
            start_task=self._spawn,
        )
        runner.offers = self._offers
        runner.held = self._held.get(spec.name, ())
        return runner

    def runner(self, name: str) -> ServerRunner:
        try:
            return self._runners[name]
        except KeyError:
            raise UnknownServerError(name, self._runners) from None

    # --- scheduling --------------------------------------------------------------------------

    def _changed(self, _runner: ServerRunner | None = None) -> None:
        """After every state change: start what can start, mark what is blocked, wake waiters.

        Re-entrant calls (a state change made here) only ask for one more pass, so a long chain
        of servers blocking one another is a loop, never a deep recursion.
        """
        self._tick.set()
        self._tick = asyncio.Event()
        if self._scheduling:
            self._again = True
            return
        self._scheduling = True
        try:
            self._again = True
            while self._again and self._waiting:
                self._again = False
                states = {name: runner.state for name, runner in self._runners.items()}
                plan = plan_starts(self._config.deps, states, self._waiting, self._held)
                for name in plan.start:
                    if self._runners[name].state == S.STOPPING:  # started again once it is down
                        continue
                    self._waiting.discard(name)
                    self._runners[name].start()
                for name, reason in plan.blocked.items():
                    self._runners[name].set_blocked(reason)
        finally:
            self._scheduling = False

    def _want(self, names: Iterable[str]) -> None:
        self._waiting.update(n for n in names if n in self._runners and n not in self._held)
        self._changed()

    # --- approval ----------------------------------------------------------------------------

    def hold(self, pending: Mapping[str, tuple[str, ...]]) -> list[str]:
        """Make ``pending`` (name → what changed) the servers awaiting approval; returns the
        servers released. A held server that runs keeps running (a changed launch is stopped
        by ``apply``, which then cannot start it): call before ``apply`` with the new
        configuration's pending set."""
        before = self._held
        self._held = dict(pending)
        released = [n for n in before if n not in self._held and n in self._runners]
        for name, runner in self._runners.items():
            runner.held = self._held.get(name, ())
        self._waiting.difference_update(self._held)
        return released

    def release(self, pending: Mapping[str, tuple[str, ...]]) -> list[str]:
        """``hold`` the new pending set and start what was released (if ``autoStart``), with
        the dependents it left blocked; returns what is starting (``wait_settled`` for it)."""
        released = self.hold(pending)
        # and the dependents a held server left blocked
        revived = [n for n in self._config.deps.dependents(released) if self._runners[n].state == S.BLOCKED]
        wanted = [n for n in (*released, *revived) if self._runners[n].spec.auto_start and self._runners[n].spec.shared]
        self._want(wanted)
        return wanted

    def is_waiting(self, name: str) -> bool:
        """Whether ``name`` will be started once its dependencies are ready."""
        return name in self._waiting

    def _settled(self, name: str) -> bool:
        runner = self._runners[name]
        if name in self._held and not runner.running:
            return True
        if runner.state in (S.READY, S.FAILED, S.BLOCKED):
            return True
        return runner.state == S.STOPPED and name not in self._waiting and not runner.running

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

    # --- inputs ------------------------------------------------------------------------------

    async def _prepare(self, spec: ServerSpec) -> ServerSpec:
        """Resolve ``${input:ID}`` just before start; each input is asked once per session."""
        if not spec.inputs:
            return spec
        values: dict[str, str] = {}
        for input_id in spec.inputs:
            task = self._inputs.get(input_id)
            if task is None:
                task = self._inputs[input_id] = self._spawn(self._ask(input_id), f"input-{input_id}")
            value = await asyncio.shield(task)
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
        except Exception:  # a client that cannot answer is a missing value, said at the start
            value = None
        if value is not None:  # a password input is a credential; another one when it looks like one
            self.redactor.add_secrets((value,), credential=settings.password or None, name=input_id)
        return value

    # --- starting ----------------------------------------------------------------------------

    async def start_all(self) -> None:
        """Start every ``autoStart`` server along the DAG; return when all have settled.
        A ``shared: false`` server has no copy of its own: each agent session gets one."""
        names = [n for n, r in self._runners.items() if r.spec.auto_start and r.spec.shared]
        self._want(names)
        await self.wait_settled(names)

    async def start(self, name: str) -> ServerSnapshot:
        """Start one server (fresh budget) once its dependencies are ready; return when settled."""
        runner = self.runner(name)
        if name in self._held:
            raise NeedsApproval(name, self._held[name])
        if runner.state in (S.FAILED, S.BLOCKED):
            await runner.stop()
        self._want([name])
        await self.wait_settled([name])
        return runner.snapshot()

    async def restart(self, name: str) -> ServerSnapshot:
        """Stop and start again with a fresh restart budget (also revives a ``failed`` one)."""
        if name in self._held:
            raise NeedsApproval(name, self._held[name])
        await self.stop(name)
        return await self.start(name)

    async def restart_all(self) -> None:
        await self.stop_all()
        await self.start_all()

    # --- stopping ----------------------------------------------------------------------------

    async def stop(self, name: str) -> ServerSnapshot:
        """Stop one server (its dependents keep running)."""
        runner = self.runner(name)
        await self._stop_many([name], self._config.deps)
        return runner.snapshot()

    async def _stop_many(self, names: Iterable[str], deps: DependencyGraph) -> None:
        """Stop ``names`` concurrently, each only after every dependent of it among them."""
        targets = [n for n in names if n in self._runners]
        self._waiting.difference_update(targets)  # first: nothing starts what we are stopping
        tasks: dict[str, asyncio.Task[None]] = {}

        async def stop_one(name: str) -> None:
            before = [tasks[d] for d in deps.users(name) if d in tasks]
            if before:
                await asyncio.wait(before)
            await self._runners[name].stop()

        for name in targets:
            tasks[name] = self._spawn(stop_one(name), f"stop-{name}")
        if tasks:
            await asyncio.wait(tasks.values())
            for task in tasks.values():
                task.result()  # a failed stop is a bug: surface it
        self._changed()

    async def stop_all(self) -> None:
        """Stop every server in reverse dependency order (DESIGN §4), private copies first."""
        await asyncio.gather(*(self.stop_instance(r) for r in list(self._instances)))
        await self._stop_many(list(self._runners), self._config.deps)

    # --- private copies ----------------------------------------------------------------------

    async def start_instance(self, name: str, bus: EventBus) -> ServerRunner:
        """A private copy of ``name`` for one agent session (``shared: false``), started once
        every server it depends on is ready (bounded by its ``startTimeoutMs``). It reports on
        ``bus``, is guarded by the lifeline like any server, and ends with ``stop_instance``."""
        spec = self.runner(name).spec
        await self._dependencies_ready(name, spec.health.start_timeout_ms)
        runner = ServerRunner(
            spec, bus, lifeline=self._lifeline, prepare=self._prepare, redactor=self.redactor, start_task=self._spawn
        )
        runner.offers = self._offers
        self._instances.add(runner)
        runner.start()
        return runner

    async def stop_instance(self, runner: ServerRunner) -> None:
        self._instances.discard(runner)
        await runner.stop()

    async def _dependencies_ready(self, name: str, timeout_ms: int) -> None:
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                while True:
                    tick = self._tick
                    needs = sorted(self._config.deps.needs(name))
                    hopeless = [
                        d
                        for d in needs
                        if (state := self._runners[d].state) in (S.FAILED, S.BLOCKED)
                        or (state == S.STOPPED and d not in self._waiting and not self._runners[d].running)
                    ]
                    if hopeless:
                        d = hopeless[0]
                        raise NotNow(f"{name} depends on {d}, which is {self._runners[d].state.value}")
                    if all(self._runners[d].state == S.READY for d in needs):
                        return
                    await tick.wait()
        except TimeoutError:
            raise NotNow(f"the dependencies of {name} were not ready within {timeout_ms} ms") from None

    # --- reload ------------------------------------------------------------------------------

    async def apply(self, config: Config, plan: ReloadPlan) -> None:
        """Carry out a reload plan: stop removed and changed servers (dependents first), swap
        the configuration, then start added and changed ones along the new DAG."""
        async with self._apply_lock:
            old = self._config
            self.redactor.add_config(config)
            was_wanted = {n: self._runners[n].running or n in self._waiting for n in plan.restart}
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
            self._runners = {n: self._runners[n] for n in config.servers}  # listings follow the file
            for name in plan.stop:
                self.bus.publish(ServerRemoved(name))
            wanted = [n for n in plan.restart if was_wanted[n] or config.servers[n].auto_start]
            wanted += [n for n in plan.start if config.servers[n].auto_start]
            wanted += [
                n
                for n in plan.update
                if (r := self._runners[n]).spec.auto_start and r.state == S.STOPPED and n not in self._waiting
            ]
            self._want(wanted)

    # --- views -------------------------------------------------------------------------------

    def snapshot(self) -> list[ServerSnapshot]:
        return [runner.snapshot() for runner in self._runners.values()]

    def get(self, name: str) -> ServerSnapshot:
        return self.runner(name).snapshot()

    def stderr_tail(self, name: str, n: int | None = None) -> list[str]:
        return self.runner(name).ring.tail(n)

    async def list_tools(self, name: str) -> list[dict[str, Any]] | None:
        """The tools of a ready stdio server, over its own pipe; None for remote servers."""
        runner = self.runner(name)
        if not runner.spec.spawned:
            return None
        return await runner.ready_connection().list_tools(runner.spec.health.start_timeout_ms / 1000)
