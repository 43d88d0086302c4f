"""One supervised workspace file: its configuration, trust, orchestrator, leases, telemetry,
watcher and tasks.

Every background task (the orchestrator's owner, the watcher, user prompts) is created through
``spawn`` and awaited by ``close``, so shutting down leaves nothing running and no process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mcp_marshal.config import Config, LoadResult, load_workspace, plan_reload
from mcp_marshal.events import ConfigRejected, EventBus
from mcp_marshal.file_watch import watch_file
from mcp_marshal.lsp.diagnostics import Diagnostics
from mcp_marshal.lsp.inputs import InputResolver
from mcp_marshal.lsp.leases import Leases
from mcp_marshal.lsp.notifications import EventForwarder
from mcp_marshal.lsp.progress import StartProgress
from mcp_marshal.lsp.telemetry import Telemetry

if TYPE_CHECKING:
    from mcp_marshal.redact import Redactor
    from mcp_marshal.supervise.orchestrator import Orchestrator

log = logging.getLogger(__name__)
START = "Start"
NOT_NOW = "Not now"


class SessionError(Exception):
    """A command cannot run in the session's current state (no workspace, not trusted)."""


class WorkspaceSession:
    def __init__(self, ls: LanguageServer, file: Path, *, trusted: bool, telemetry: bool = False) -> None:
        self.ls = ls
        self.file = file
        self.trusted = trusted
        self.bus = EventBus()
        self.config: Config | None = None
        """The last valid configuration read from disk (running, or waiting for trust)."""
        self.orchestrator: Orchestrator | None = None
        self.diagnostics = Diagnostics(ls, file)
        self._inputs = InputResolver(ls)
        self.leases = Leases(self.bus)
        self.telemetry = Telemetry(ls, self.bus, enabled=telemetry)
        self._reload_lock = asyncio.Lock()
        self.opened = asyncio.Event()
        """Set once ``open`` is done: a lease or telemetry command that arrives while the editor
        is still starting waits for it instead of failing."""
        self._stop = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._asked_trust = False
        self._unsubscribe = self.bus.subscribe(EventForwarder(ls, self))

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Read and validate the file, start watching it, then start (or ask for trust)."""
        try:
            result = self._load_disk()
            armed = asyncio.Event()
            self.spawn(watch_file(self.file, self.reload, armed), "watcher")
            await armed.wait()
            if result.config is not None:
                await self._open_features()
                self._after_valid_config()
        finally:
            self.opened.set()

    async def close(self, *, client_gone: bool = False) -> None:
        """Stop every server and task, close the lease store, then drain telemetry (bounded), so
        the records of the shutdown itself are delivered; safe to call twice (shutdown, then exit).

        ``client_gone``: nobody is listening any more, so events are no longer forwarded.
        """
        if client_gone:
            self._unsubscribe()
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owner is not None:
            self._stop.set()
            with contextlib.suppress(Exception):
                await self._owner
        await self.leases.close()
        await self.telemetry.close(client_gone=client_gone)
        self._unsubscribe()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """Run ``coro`` as a task this session owns (cancelled and awaited by ``close``)."""
        if self._closed:
            coro.close()
            return None
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)
            self.log(types.MessageType.Error, f"mcp-marshal: {task.get_name()} failed: {self.redact(str(exc))}")

    # --- trust and start ---------------------------------------------------------------------

    def _after_valid_config(self) -> None:
        if self.orchestrator is not None or self._owner is not None:
            return
        if self.trusted:
            self.spawn(self.start(), "start")
        elif not self._asked_trust:
            self._asked_trust = True
            self.spawn(self._ask_trust(), "trust-prompt")

    async def _ask_trust(self) -> None:
        assert self.config is not None
        count = sum(1 for spec in self.config.servers.values() if spec.auto_start)
        noun = "server" if count == 1 else "servers"
        choice = await self.ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=f"Start {count} MCP {noun} defined in {self.file.name}?",
                actions=[types.MessageActionItem(title=START), types.MessageActionItem(title=NOT_NOW)],
            )
        )
        if choice is not None and choice.title == START:
            await self.trust()

    async def trust(self) -> None:
        """Accept the workspace: start its servers now (nothing is spawned before this)."""
        if self.trusted and self._owner is not None:
            return
        self.trusted = True
        await self._open_features()  # what waited for trust (a Redis store, a telemetry file)
        await self.start()

    async def _open_features(self) -> None:
        """Open leases and telemetry for the current configuration, or apply it to them.

        Neither spawns anything, so both open before trust, except where the file names a
        place outside our state directory (a Redis URL, a telemetry file): that waits for trust.
        """
        if self.config is None or self._closed:
            return
        await self.telemetry.configure(self.config, trusted=self.trusted)
        await self.leases.configure(self.config.locks, self.config.file, trusted=self.trusted)

    @property
    def redactor(self) -> Redactor | None:
        """The secrets of this workspace (server env/headers, inputs): the telemetry pipeline's,
        shared with the orchestrator; the orchestrator's own if telemetry never started."""
        if self.telemetry.redactor is not None:
            return self.telemetry.redactor
        return self.orchestrator.redactor if self.orchestrator is not None else None

    async def start(self) -> None:
        """Create the orchestrator (once) and start every autoStart server, with progress."""
        if self._closed or self.config is None:
            return
        async with self._reload_lock:  # a reload meanwhile sees the orchestrator, or waits for it
            if self._owner is None:
                entered: asyncio.Future[Orchestrator] = asyncio.get_running_loop().create_future()
                self._owner = asyncio.ensure_future(self._own_orchestrator(self.config, entered))
                await entered
        orchestrator = self.orchestrator
        if orchestrator is None:
            return
        names = [name for name, spec in orchestrator.config.servers.items() if spec.auto_start]
        async with StartProgress(self.ls, self.bus, names, "MCP: starting servers"):
            await orchestrator.start_all()

    async def _own_orchestrator(self, config: Config, entered: asyncio.Future[Orchestrator]) -> None:
        """One task enters and exits the orchestrator's context (its task groups are bound to it)."""
        from mcp_marshal.supervise.orchestrator import Orchestrator

        try:
            async with Orchestrator(
                config, self.bus, input_resolver=self._inputs, redactor=self.telemetry.redactor
            ) as orchestrator:
                self.orchestrator = orchestrator
                entered.set_result(orchestrator)
                await self._stop.wait()
        except BaseException as exc:
            if not entered.done():
                entered.set_exception(exc)
            raise
        finally:
            self.orchestrator = None

    # --- reload ------------------------------------------------------------------------------

    def _load_disk(self) -> LoadResult:
        result = load_workspace(self.file)
        self.diagnostics.publish(result.problems)
        if result.config is not None:
            self.config = result.config
        return result

    def validate_disk(self) -> None:
        """Diagnostics for the file as saved (the editor closed its buffer)."""
        self.diagnostics.publish(load_workspace(self.file).problems)

    def validate_buffer(self, text: str) -> None:
        """Diagnostics for unsaved editor text; never applied."""
        self.diagnostics.publish(load_workspace(self.file, text=text).problems)

    async def reload(self) -> dict[str, Any]:
        """Re-read the file; apply the plan if it is valid, else keep everything running."""
        async with self._reload_lock:
            if self._closed:
                return {"applied": False, "reason": "shutting down"}
            result = self._load_disk()
            if result.config is None:
                self.bus.publish(ConfigRejected(problems=result.problems))
                self.log(
                    types.MessageType.Warning,
                    f"MCP: {self.file.name} has {len(result.errors)} problem(s); kept running config",
                )
                return {"applied": False, "problems": [p.format() for p in result.errors]}
            await self._open_features()
            if self.orchestrator is None:
                self._after_valid_config()
                return {"applied": False, "reason": "servers not started"}
            plan = plan_reload(self.orchestrator.config, result.config)
            if plan.empty:
                self.log(types.MessageType.Log, f"MCP: reloaded {self.file.name}: no changes")
                return {"applied": False, "summary": plan.summary(), "plan": dataclasses.asdict(plan)}
            await self.orchestrator.apply(result.config, plan)
            message = f"MCP: {plan.summary()}"
            self.ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))
            return {"applied": True, "summary": plan.summary(), "plan": dataclasses.asdict(plan)}

    # --- used by commands and notifications --------------------------------------------------

    def require_orchestrator(self) -> Orchestrator:
        if self.orchestrator is None:
            if not self.trusted:
                raise SessionError(f"{self.file.name} is not trusted yet: run mcpMarshal.trustWorkspace first")
            raise SessionError(f"the servers of {self.file.name} are not running (see the file's diagnostics)")
        return self.orchestrator

    def snapshot_dict(self, name: str) -> dict[str, Any] | None:
        if self.orchestrator is None:
            return None
        try:
            return self.orchestrator.get(name).to_dict()
        except ValueError:  # removed by a reload meanwhile
            return None

    def servers(self) -> list[dict[str, Any]]:
        if self.orchestrator is not None:
            return [snap.to_dict() for snap in self.orchestrator.snapshot()]
        specs = self.config.servers.values() if self.config else ()
        return [{"name": s.name, "type": s.type, "state": "stopped", "pid": None} for s in specs]

    async def restart(self, name: str) -> dict[str, Any]:
        orchestrator = self.require_orchestrator()
        await orchestrator.restart(name)
        return orchestrator.get(name).to_dict()

    def show_logs(self, name: str) -> list[str]:
        """Send a server's stderr tail to the client's log and return it."""
        lines = list(self.require_orchestrator().stderr_tail(name))
        body = "\n".join(self.redact(line) for line in lines) if lines else "(no output)"
        self.log(types.MessageType.Info, f"[{name}] last {len(lines)} stderr lines:\n{body}")
        return lines

    def redact(self, text: str) -> str:
        """Text we did not write (server output, error messages) through the workspace's secrets
        and credential shapes; a ``[name]`` prefix around it stays readable."""
        redactor = self.redactor
        return redactor.redact(text) if redactor is not None else text

    def log(self, kind: types.MessageType, text: str) -> None:
        self.ls.window_log_message(types.LogMessageParams(type=kind, message=text))
