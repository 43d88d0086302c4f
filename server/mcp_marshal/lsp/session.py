"""The language server's side of one supervised workspace file: the core ``Supervisor`` (whose
context one task of ours owns), diagnostics, the trust prompt, start progress, failure prompts
and what events look like in the editor.

Everything that runs in the background (the owner, prompts, the start) is a task of the
supervisor's group, so ``close`` leaves nothing running and no process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mcp_marshal.config import load_workspace
from mcp_marshal.describe import describe, describe_change
from mcp_marshal.errors import UserError
from mcp_marshal.events import (
    ApprovalNeeded,
    ConfigRejected,
    ConfigReloaded,
    Event,
    EventBus,
    ServerFailed,
    SupervisedElsewhere,
    SupervisionTaken,
)
from mcp_marshal.literal import visible
from mcp_marshal.locks.workspace import WorkspaceLeases
from mcp_marshal.lsp.diagnostics import Diagnostics
from mcp_marshal.lsp.inputs import InputResolver
from mcp_marshal.lsp.mirror import mirror
from mcp_marshal.lsp.notifications import EventForwarder
from mcp_marshal.lsp.options import Options
from mcp_marshal.lsp.progress import StartProgress
from mcp_marshal.redact import Redactor
from mcp_marshal.supervisor import Supervisor
from mcp_marshal.telemetry.feature import WorkspaceTelemetry
from mcp_marshal.wire import SERVER_FAILED, ServerFailedParams

log = logging.getLogger(__name__)
START = "Start"
NOT_NOW = "Not now"
RESTART = "Restart"
SHOW_LOGS = "Show Logs"
APPROVE = "Approve and Start"


class WorkspaceSession:
    def __init__(self, ls: LanguageServer, file: Path, options: Options, *, client_pid: int | None = None) -> None:
        self.ls = ls
        self.file = file
        self.options = options
        self.bus = EventBus()
        self.redactor = Redactor()
        self.telemetry = WorkspaceTelemetry(self.bus, self.redactor, send=ls.telemetry_event, enabled=options.telemetry)
        self.leases = WorkspaceLeases(self.bus, bind_pid=client_pid or 0)
        self.supervisor = Supervisor(
            file,
            self.bus,
            redactor=self.redactor,
            features=[self.telemetry],
            leases=self.leases,
            input_resolver=InputResolver(ls),
            trusted=options.trusted,
            kind="the MCP Marshal language server",
            attach=True,  # a second window on the file uses the first one's servers
        )
        self.diagnostics = Diagnostics(ls, file, syntax=options.syntax_diagnostics)
        self.opened = asyncio.Event()
        """Set once ``open`` is done: a lease or telemetry command that arrives while the editor
        is still starting waits for it instead of failing."""
        self._stop = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None
        self._asked_trust = False
        self._told_elsewhere = False
        self._closed = False
        forwarder = EventForwarder(ls, snapshot=self._snapshot, views=options.views)
        self._unsubscribe = [self.bus.subscribe(forwarder), self.bus.subscribe(self._on_event)]

    @property
    def trusted(self) -> bool:
        return self.supervisor.trusted

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Read and validate the file, start watching it, then start (or ask for trust)."""
        entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.ensure_future(self._own(entered))
        try:
            await entered
        finally:
            self.opened.set()

    async def _own(self, entered: asyncio.Future[None]) -> None:
        """The one task that enters and leaves the supervisor's context."""
        try:
            async with self.supervisor:
                result = await self.supervisor.open()
                self.diagnostics.publish(result.problems)
                entered.set_result(None)
                if result.config is not None:
                    self._after_valid_config()
                await self._stop.wait()
        except BaseException as exc:
            if not entered.done():
                entered.set_exception(exc)
            raise

    async def close(self, *, client_gone: bool = False) -> None:
        """Stop every server and task, close the lease store, then drain telemetry (bounded), so
        the records of the shutdown itself are delivered; safe to call twice (shutdown, then exit).

        ``client_gone``: nobody is listening any more, so nothing more is sent to the client.
        """
        if client_gone:
            self._quiet()
            self.telemetry.client_gone()
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._owner is not None:
            with contextlib.suppress(Exception):
                await self._owner
        self._quiet()

    def _quiet(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as a task the supervisor owns; a failure is logged for the user."""
        self.supervisor.spawn(self._reported(coro, name), name)

    async def _reported(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except UserError as exc:
            self.log(types.MessageType.Warning, f"MCP: {exc}")
        except Exception as exc:
            log.error("task %s failed", name, exc_info=exc)
            self.log(types.MessageType.Error, f"mcp-marshal: {name} failed: {self.redactor.redact(str(exc))}")

    # --- trust and start ---------------------------------------------------------------------

    def _after_valid_config(self) -> None:
        if self.supervisor.orchestrator is not None or self._closed:
            return
        if self.trusted:
            self.spawn(self.start(), "start")
        elif not self._asked_trust:
            self._asked_trust = True
            self.spawn(self._ask_trust(), "trust-prompt")

    async def _ask_trust(self) -> None:
        config = self.supervisor.config
        assert config is not None
        count = sum(1 for spec in config.servers.values() if spec.auto_start)
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
        """The user accepts the file as it is now: approve every server in it and start them
        (nothing is spawned before this)."""
        if self.trusted and self.supervisor.orchestrator is not None:
            await self.supervisor.approve()
            return
        await self.start(approve_all=True)

    async def start(self, *, approve_all: bool = False) -> None:
        """Start every autoStart server the user approved, with progress; opens what waited
        for trust first (``approve_all``: the user just accepted every server of the file)."""
        config = self.supervisor.config
        if config is None or self._closed:
            return
        everything = approve_all or not self.supervisor.approvals.any_recorded()
        held = () if everything else self.supervisor.pending
        names = [name for name, spec in config.servers.items() if spec.auto_start and name not in held]
        async with StartProgress(self.ls, self.bus, names, "MCP: starting servers"):
            await self.supervisor.trust(approve_all=approve_all)

    async def _ask_approval(self, event: ApprovalNeeded) -> None:
        """One question for the servers a change left unapproved, naming what changed."""
        listed = "; ".join(f"{name} ({describe_change(changed)})" for name, changed in event.servers)
        count = len(event.servers)
        noun = "server is" if count == 1 else "servers are"
        choice = await self.ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=f"MCP: {count} {noun} new or changed in {self.file.name} since you approved it: "
                f"{visible(listed)}. Start {'it' if count == 1 else 'them'}?",
                actions=[types.MessageActionItem(title=APPROVE), types.MessageActionItem(title=NOT_NOW)],
            )
        )
        if choice is not None and choice.title == APPROVE:
            still = [name for name, _ in event.servers if name in self.supervisor.pending]
            if still:
                await self.supervisor.approve(still)

    # --- what the core says ------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConfigRejected):
            self.diagnostics.publish(event.problems)
        elif isinstance(event, ConfigReloaded):
            self.diagnostics.publish(event.problems)
            if not event.plan.empty:
                self.show(types.MessageType.Info, f"MCP: {describe(event)}")
            self._after_valid_config()
        elif isinstance(event, ServerFailed):
            self._server_failed(event)
        elif isinstance(event, ApprovalNeeded) and self.trusted and self.supervisor.elsewhere is None:
            self.spawn(self._ask_approval(event), "approval-prompt")
        elif isinstance(event, SupervisedElsewhere) and not self._told_elsewhere:  # once, not per url change
            self._told_elsewhere = True
            self.show(types.MessageType.Info, f"MCP: {self.file.name} is {describe(event)}")
            self.spawn(mirror(self.supervisor, self.ls.protocol.notify), "mirror-owner")
        elif isinstance(event, SupervisionTaken):
            self._told_elsewhere = False
            self.show(types.MessageType.Info, f"MCP: {self.file.name}: {describe(event)}")

    def _server_failed(self, event: ServerFailed) -> None:
        message = f"MCP server '{event.name}' failed: {event.reason}"
        if self.options.views:  # the client offers Restart / Show Logs and handles them itself
            params = ServerFailedParams(
                name=event.name, reason=event.reason, message=message, stderr_tail=list(event.stderr_tail)
            )
            self.ls.protocol.notify(SERVER_FAILED, params.to_dict())
        else:
            self.spawn(self._prompt_failed(event.name, message), f"prompt-failed-{event.name}")

    async def _prompt_failed(self, name: str, message: str) -> None:
        choice = await self.ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Error,
                message=message,
                actions=[types.MessageActionItem(title=RESTART), types.MessageActionItem(title=SHOW_LOGS)],
            )
        )
        if choice is not None and choice.title == RESTART:
            await self.supervisor.require_orchestrator().restart(name)
        elif choice is not None and choice.title == SHOW_LOGS:
            self.show_logs(name)

    def _snapshot(self, name: str) -> Any:
        orchestrator = self.supervisor.orchestrator
        if orchestrator is None:
            return None
        try:
            return orchestrator.get(name)
        except UserError:  # removed by a reload meanwhile
            return None

    # --- diagnostics -------------------------------------------------------------------------

    def validate_disk(self) -> None:
        """Diagnostics for the file as saved (the editor closed its buffer)."""
        self.diagnostics.publish(load_workspace(self.file).problems)

    def validate_buffer(self, text: str) -> None:
        """Diagnostics for unsaved editor text; never applied."""
        self.diagnostics.publish(load_workspace(self.file, text=text).problems)

    # --- used by commands --------------------------------------------------------------------

    def show_logs(self, name: str) -> list[str]:
        """A server's stderr tail; a client that does not render logs itself also gets it in
        its log (``window/logMessage``)."""
        lines = list(self.supervisor.require_orchestrator().stderr_tail(name))
        if not self.options.views:
            body = "\n".join(lines) if lines else "(no output)"
            self.log(types.MessageType.Info, f"[{name}] last {len(lines)} stderr lines:\n{body}")
        return lines

    def log(self, kind: types.MessageType, text: str) -> None:
        self.ls.window_log_message(types.LogMessageParams(type=kind, message=text))

    def show(self, kind: types.MessageType, text: str) -> None:
        self.ls.window_show_message(types.ShowMessageParams(type=kind, message=text))
