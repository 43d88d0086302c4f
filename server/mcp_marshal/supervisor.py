"""One workspace file under supervision: its last good configuration, trust, the orchestrator,
the features that live beside it (leases, telemetry, the gateway) and the one reload path.

Both shells (the language server and ``mcp-marshal up``) build a :class:`Supervisor` and only
render what it publishes: ``ConfigRejected``/``ConfigReloaded`` come from :meth:`reload`
alone. An async context manager: its task group owns the file watcher and the orchestrator's
owner task, and leaving it stops every server, then closes every feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from mcp_marshal.approvals import Approvals, Pending
from mcp_marshal.config import LoadResult, load_workspace
from mcp_marshal.config.models import Config
from mcp_marshal.config.problems import Problem
from mcp_marshal.config.reload_plan import ReloadPlan, plan_reload
from mcp_marshal.errors import NotNow
from mcp_marshal.events import (
    ApprovalNeeded,
    ConfigRejected,
    ConfigReloaded,
    EventBus,
    ServersApproved,
    ServiceDegraded,
    StartPlanned,
    SupervisedElsewhere,
    SupervisionTaken,
)
from mcp_marshal.file_watch import watch_file
from mcp_marshal.gateway.discovery import AlreadySupervised, Claim, claim
from mcp_marshal.locks.workspace import WorkspaceLeases
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.redact import Redactor
from mcp_marshal.supervise.orchestrator import InputResolver, Orchestrator, UnknownServerError
from mcp_marshal.wire import ServerSnapshot

log = logging.getLogger(__name__)


class NotTrusted(NotNow):
    code = "not-trusted"


class NotRunning(NotNow):
    code = "not-running"


class SupervisedByOther(NotNow):
    """Another process supervises the file; this one follows it."""

    code = "supervised-elsewhere"


TAKEOVER_CHECK_S = 1.0


def _pid(owner: dict[str, Any]) -> int | None:
    pid = owner.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def _url(owner: dict[str, Any]) -> str | None:
    url = owner.get("url")
    return url if isinstance(url, str) and url else None


class Feature(Protocol):
    """Something that lives beside the servers and follows the configuration (leases,
    telemetry, the gateway). ``configure`` is called with every valid configuration, before and
    after trust (a feature decides what it may open before trust); ``close`` once, at the end."""

    async def configure(self, config: Config, *, trusted: bool) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: ``applied`` when the plan changed something."""

    applied: bool
    plan: ReloadPlan | None
    problems: tuple[Problem, ...]
    reason: str = ""


class Supervisor:
    """Supervises one workspace file. All methods run on the event loop."""

    def __init__(
        self,
        file: Path,
        bus: EventBus,
        *,
        redactor: Redactor,
        features: Sequence[Feature] = (),
        input_resolver: InputResolver | None = None,
        trusted: bool = False,
        watch: bool = True,
        kind: str = "mcp-marshal",
        leases: WorkspaceLeases | None = None,
        attach: bool = False,
    ) -> None:
        """``attach``: when another process supervises the file, follow it (start nothing, show
        its servers, take over when it ends) instead of raising ``AlreadySupervised``."""
        from mcp_marshal.gateway.feature import Gateway

        self.file = file
        self.bus = bus
        self.redactor = redactor
        self.kind = kind
        """Who we are, for a second supervisor to say who owns the workspace (gateway.json)."""
        self.leases = leases if leases is not None else WorkspaceLeases(bus)
        self.gateway = Gateway(bus, lambda: self.orchestrator, redactor=redactor, leases=self.leases.service)
        self.features = (*features, self.leases, self.gateway)
        self.trusted = trusted
        self.config: Config | None = None
        """The last valid configuration read from disk (running, or waiting for trust)."""
        self.orchestrator: Orchestrator | None = None
        self._input_resolver = input_resolver
        self._watch = watch
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closed = False
        self._claim: Claim | None = None
        self._attach = attach
        self.approvals = Approvals(file)
        self.pending: dict[str, Pending] = {}
        """Servers of the current configuration whose launch the user has not approved."""
        self._unannounced: list[Pending] = []
        self._watching_approvals = False
        self.elsewhere: dict[str, Any] | None = None
        """What the supervising process published (pid, kind, url) while another one supervises."""

    # --- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Supervisor:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._group is not None
        try:
            await self.close()
        finally:
            await self._group.__aexit__(exc_type, exc, tb)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """Run ``coro`` as a task of this supervisor (cancelled and awaited when it closes)."""
        if self._group is None or self._closed:
            coro.close()
            return None
        task = self._group.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)

    async def close(self) -> None:
        """Stop every server (reverse dependency order), then close the features, in reverse."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._owner is not None:
            with contextlib.suppress(Exception):
                await self._owner
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for feature in reversed(self.features):
            try:
                await feature.close()
            except Exception:  # one feature's trouble must not keep the others open
                log.exception("closing %s failed", type(feature).__name__)
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    # --- configuration -----------------------------------------------------------------------

    async def open(self) -> LoadResult:
        """Read and validate the file, watch it, configure the features; spawn nothing.

        A trusted workspace is claimed first: ``AlreadySupervised`` says which process already
        supervises it, before anything of ours listens or runs.
        """
        result = self._load()
        if self.trusted:
            self._take_claim()
        if self._watch:
            armed = asyncio.Event()
            if self.spawn(watch_file(self.file, self._file_changed, armed), "watcher") is not None:
                await armed.wait()
        if result.config is not None:
            await self._configure(result.config)
        return result

    async def _file_changed(self) -> None:
        await self.reload()

    def _load(self) -> LoadResult:
        result = load_workspace(self.file)
        if result.config is not None:
            self.config = result.config
            self._refresh_pending(result.config)
        return result

    # --- approval (trust per server) ---------------------------------------------------------

    def _refresh_pending(self, config: Config) -> list[str]:
        """Recompute what awaits approval, keeping what newly does for ``_announce_pending``.
        Returns the servers no longer pending."""
        before = self.pending
        self.pending = self.approvals.pending(config)
        self._unannounced = [p for n, p in self.pending.items() if before.get(n) != p]
        return [n for n in before if n not in self.pending and n in config.servers]

    def _announce_pending(self) -> None:
        """Say what newly awaits approval (once trusted and running: before, trust() says it),
        after the reload that stopped its old launch, so an approval starts the new one."""
        new, self._unannounced = self._unannounced, []
        if new and self.trusted and self.orchestrator is not None:
            self.bus.publish(ApprovalNeeded(tuple((p.name, p.changed) for p in new)))

    def _held(self) -> dict[str, tuple[str, ...]]:
        return {n: p.changed for n, p in self.pending.items()}

    async def approve(self, names: Sequence[str] | None = None) -> list[str]:
        """Approve the current launch of ``names`` (default: every pending server) and start
        the ``autoStart`` ones. Returns the servers approved."""
        config = self.config
        if config is None:
            raise NotRunning(f"{self.file.name} has no valid configuration (see its problems)")
        unknown = [n for n in names or () if n not in config.servers]
        if unknown:
            raise UnknownServerError(unknown[0], config.servers)
        wanted = list(self.pending) if names is None else [n for n in names if n in self.pending]
        approved = await asyncio.to_thread(self.approvals.approve, config, wanted)
        if self.approvals.degraded is not None:
            self.bus.publish(ServiceDegraded("approvals", self.approvals.degraded))
        await self._approvals_changed()
        return approved

    async def _approvals_changed(self) -> None:
        """The approvals changed (here, or by ``mcp-marshal trust``): start what was released."""
        async with self._lock:  # never halfway through a reload
            if self.config is None or self._closed:
                return
            released = self._refresh_pending(self.config)
            self._unannounced = []
            if released:
                self.bus.publish(ServersApproved(tuple(released)))
            orchestrator = self.orchestrator
            starting = orchestrator.release(self._held()) if orchestrator is not None else []
        if orchestrator is not None and starting:
            await orchestrator.wait_settled(starting)

    async def _watch_approvals(self) -> None:
        """Follow the approvals file, so ``mcp-marshal trust`` in a terminal reaches us."""
        if self._watching_approvals or not self._watch:
            return
        path = self.approvals.path
        if path is None:
            return
        self._watching_approvals = True
        armed = asyncio.Event()
        if self.spawn(watch_file(path, self._approvals_changed, armed), "approvals-watcher") is not None:
            await armed.wait()

    async def _configure(self, config: Config) -> None:
        self.redactor.add_config(config)
        for feature in self.features:
            # Following another supervisor: its gateway serves the servers, ours must not.
            trusted = self.trusted and not (feature is self.gateway and self.elsewhere is not None)
            try:
                await feature.configure(config, trusted=trusted)
            except Exception:  # a feature that cannot follow (a store down) says so itself
                log.exception("configuring %s failed", type(feature).__name__)

    async def reload(self) -> ReloadOutcome:
        """Re-read the file: publish ``ConfigRejected`` and keep everything running when it has
        errors; else apply the plan (only what changed) and publish ``ConfigReloaded``."""
        async with self._lock:
            if self._closed:
                return ReloadOutcome(False, None, (), "shutting down")
            result = self._load()
            if result.config is None:
                self.bus.publish(ConfigRejected(result.problems))
                return ReloadOutcome(False, None, result.problems, "the file has errors")
            await self._configure(result.config)
            orchestrator = self.orchestrator
            if orchestrator is None:
                self.bus.publish(ConfigReloaded(ReloadPlan(), result.problems))
                return ReloadOutcome(False, None, result.problems, "the servers are not running")
            plan = plan_reload(orchestrator.config, result.config)
            orchestrator.hold(self._held())  # a new or changed launch never starts unapproved
            if not plan.empty:
                await orchestrator.apply(result.config, plan)
            held = tuple(n for n in (*plan.start, *plan.restart) if n in self.pending)
            self.bus.publish(ConfigReloaded(plan, result.problems, held))
            self._announce_pending()
            return ReloadOutcome(not plan.empty, plan, result.problems)

    # --- trust and start ---------------------------------------------------------------------

    def _take_claim(self) -> bool:
        """Become the one supervisor of this file: ``AlreadySupervised`` if another is, or, in
        attach mode, follow that one and return False."""
        if self._claim is not None:
            return True
        if self.elsewhere is not None:
            return False
        try:
            self._claim = claim(self.file, self.kind)
        except StateUnavailable as exc:  # no way to coordinate: supervise anyway, and say so
            self.bus.publish(ServiceDegraded("single-supervisor check", str(exc)))
            return True
        except AlreadySupervised as exc:
            if not self._attach:
                raise
            self._follow(exc.owner)
            return False
        self.gateway.publish = self._claim.publish
        return True

    def _follow(self, owner: dict[str, Any]) -> None:
        self._follow_info(owner)
        self.spawn(self._await_takeover(), "takeover")

    async def _await_takeover(self) -> None:
        """Check once a second whether the supervising process ended (its lock is free): then
        supervise here. A lock cannot be awaited without a thread that outlives shutdown."""
        while not self._closed:
            await asyncio.sleep(TAKEOVER_CHECK_S)
            async with self._lock:
                try:
                    self._claim = claim(self.file, self.kind)
                except AlreadySupervised as exc:
                    if _url(exc.owner) != _url(self.elsewhere or {}):  # its gateway started, or moved
                        self._follow_info(exc.owner)
                    continue
                except StateUnavailable:
                    continue
                self.gateway.publish = self._claim.publish
                self.elsewhere = None
                self.bus.publish(SupervisionTaken())
                if self.config is not None:
                    await self._configure(self.config)
            if self.trusted:
                await self.start()
            return

    def _follow_info(self, owner: dict[str, Any]) -> None:
        self.elsewhere = owner
        self.bus.publish(SupervisedElsewhere(_pid(owner), str(owner.get("kind") or "another process"), _url(owner)))

    async def trust(self, *, approve_all: bool = False) -> None:
        """Accept the workspace: open what waited for trust and start the servers (unless
        another process supervises them: then only remember the trust, for a takeover).

        Servers whose launch the user has not approved stay stopped ("needs approval"), unless
        ``approve_all`` (the user accepted the file as it is now) or nothing of this file was
        ever approved (the first trust approves what it holds)."""
        if self.config is not None and (approve_all or not self.approvals.any_recorded()):
            await asyncio.to_thread(self.approvals.approve, self.config, list(self.pending))
            if self.approvals.degraded is not None:
                self.bus.publish(ServiceDegraded("approvals", self.approvals.degraded))
            self._refresh_pending(self.config)
        if not self.trusted:
            self.trusted = True
            claimed = self._take_claim()
            if self.config is not None:
                await self._configure(self.config)
            if not claimed:
                return
        if self.elsewhere is not None:
            return
        if self.pending:  # said once trusted: what will not start, and why
            self.bus.publish(ApprovalNeeded(tuple((p.name, p.changed) for p in self.pending.values())))
        await self.start()

    async def start(self) -> None:
        """Start every ``autoStart`` server along the DAG (once trusted); returns when all have
        settled. The orchestrator is created once, by a task of ours that owns its context."""
        if self.config is None:
            raise NotRunning(f"{self.file.name} has no valid configuration (see its problems)")
        if not self.trusted:
            raise NotTrusted(f"{self.file.name} is not trusted yet: trust it first")
        if self.elsewhere is not None:
            raise SupervisedByOther(self._elsewhere_text())
        async with self._lock:
            if self._owner is None:
                entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._owner = self.spawn(self._own_orchestrator(self.config, entered), "orchestrator")
                if self._owner is None:
                    return
                await entered
        orchestrator = self.orchestrator
        if orchestrator is None:
            return
        await self._watch_approvals()
        auto = [
            n
            for n, spec in orchestrator.config.servers.items()
            if spec.auto_start and spec.shared and n not in self.pending
        ]
        levels = orchestrator.config.deps.restricted(auto).levels()
        self.bus.publish(StartPlanned(tuple(levels)))
        await orchestrator.start_all()

    async def _own_orchestrator(self, config: Config, entered: asyncio.Future[None]) -> None:
        from mcp_marshal.supervise.lifeline import Lifeline

        try:
            async with (
                Lifeline() as lifeline,
                Orchestrator(
                    config,
                    self.bus,
                    lifeline=lifeline,
                    redactor=self.redactor,
                    input_resolver=self._input_resolver,
                    offers=self.gateway.offers,
                ) as orchestrator,
            ):
                orchestrator.hold(self._held())
                self.orchestrator = orchestrator
                if lifeline.degraded is not None:
                    self.bus.publish(ServiceDegraded("process ledger", lifeline.degraded))
                entered.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not entered.done():
                entered.set_exception(exc)
            raise
        finally:
            self.orchestrator = None

    # --- views -------------------------------------------------------------------------------

    def _elsewhere_text(self) -> str:
        owner = self.elsewhere or {}
        kind, pid = owner.get("kind") or "another process", _pid(owner)
        return f"{self.file.name} is supervised by {kind} (pid {'?' if pid is None else pid}): use it"

    def require_orchestrator(self) -> Orchestrator:
        if self.orchestrator is None:
            if self.elsewhere is not None:
                raise SupervisedByOther(self._elsewhere_text())
            if not self.trusted:
                raise NotTrusted(f"{self.file.name} is not trusted yet: trust it first")
            raise NotRunning(f"the servers of {self.file.name} are not running (see the file's problems)")
        return self.orchestrator

    def snapshots(self) -> list[ServerSnapshot]:
        """Every server: live when running, else as configured (stopped)."""
        if self.orchestrator is not None:
            return self.orchestrator.snapshot()
        specs = self.config.servers.values() if self.config is not None else ()
        return [
            ServerSnapshot(
                name=s.name,
                type=s.type,
                state="stopped",
                depends_on=sorted(s.depends_on),
                auto_start=s.auto_start,
                needs_approval=s.name in self.pending,
                changed=list(self.pending[s.name].changed) if s.name in self.pending else [],
            )
            for s in specs
        ]
