"""Core events → what the user sees: warnings, failure prompts, live state, forwarded stderr,
lease changes."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mcp_marshal.events import (
    Event,
    LeaseEvent,
    LeaseExpired,
    RestartScheduled,
    ServerExited,
    ServerFailed,
    ServerLog,
    ServerStateChanged,
)
from mcp_marshal.token_bucket import TokenBucket

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession

STATE_CHANGED = "mcpMarshal/serverStateChanged"
LOCK_CHANGED = "mcpMarshal/lockChanged"
RESTART = "Restart"
SHOW_LOGS = "Show Logs"
#: Free-text fields of a state change and its snapshot that may quote a server's output.
FREE_TEXT = ("detail", "stderr_tail", "last_error")
#: Quiet time after which the count of suppressed stderr lines is reported on its own.
SUPPRESSED_REPORT_S = 1.0


class EventForwarder:
    """A bus listener: called synchronously, it never awaits the user (prompts run as tasks)."""

    def __init__(self, ls: LanguageServer, session: WorkspaceSession) -> None:
        self._ls = ls
        self._session = session
        self._last_exit: dict[str, ServerExited] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._flush_scheduled: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, ServerStateChanged):
            self._state_changed(event)
        elif isinstance(event, ServerExited):
            self._last_exit[event.name] = event
        elif isinstance(event, RestartScheduled):
            self._show(types.MessageType.Warning, self._restart_text(event))
        elif isinstance(event, ServerFailed):
            self._session.spawn(self._prompt_failed(event), f"prompt-failed-{event.name}")
        elif isinstance(event, ServerLog):
            self._forward_log(event)
        elif isinstance(event, LeaseEvent):
            self._lease_changed(event)

    def _state_changed(self, event: ServerStateChanged) -> None:
        payload: dict[str, Any] = self._redact_free_text(event.to_dict())
        snapshot = self._session.snapshot_dict(event.name)
        payload["server"] = self._redact_free_text(snapshot) if snapshot is not None else None
        self._ls.protocol.notify(STATE_CHANGED, payload)

    def _lease_changed(self, event: LeaseEvent) -> None:
        """Every lease change, by any process sharing the store; an expiry is also worth a word
        to the user, since someone's work on that task stopped without saying so."""
        self._ls.protocol.notify(LOCK_CHANGED, event.to_dict())
        if isinstance(event, LeaseExpired):
            self._show(
                types.MessageType.Info,
                f"Lease on '{event.task}' held by {event.owner} expired without release (token {event.token})",
            )

    def _restart_text(self, event: RestartScheduled) -> str:
        exited = self._last_exit.get(event.name)
        if exited is None:
            how = "exited"
        elif exited.signal:
            how = f"was killed (signal {exited.signal})"
        else:
            how = f"exited (code {exited.code})"
        budget = f" ({event.attempt}/{event.max_restarts})" if event.max_restarts else f" (attempt {event.attempt})"
        return f"MCP server '{event.name}' {how}, restarting in {_duration(event.delay_ms)}{budget}"

    async def _prompt_failed(self, event: ServerFailed) -> None:
        choice = await self._ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Error,
                message=f"MCP server '{event.name}' failed: {self._session.redact(event.reason)}",
                actions=[types.MessageActionItem(title=RESTART), types.MessageActionItem(title=SHOW_LOGS)],
            )
        )
        if choice is None:
            return
        if choice.title == RESTART:
            await self._session.restart(event.name)
        elif choice.title == SHOW_LOGS:
            self._session.show_logs(event.name)

    def _forward_log(self, event: ServerLog) -> None:
        bucket = self._buckets.setdefault(event.name, TokenBucket())
        if not bucket.take(time.monotonic()):
            if event.name not in self._flush_scheduled:
                self._flush_scheduled.add(event.name)
                asyncio.get_running_loop().call_later(SUPPRESSED_REPORT_S, self._report_suppressed, event.name)
            return
        self._report_suppressed(event.name)
        self._log(f"[{event.name}] {event.line}")  # the core redacted the line before publishing it

    def _report_suppressed(self, name: str) -> None:
        self._flush_scheduled.discard(name)
        count = self._buckets[name].drain_suppressed()
        if count:
            self._log(f"[{name}] … {count} lines suppressed")

    def _redact_free_text(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Only the free text: names and states stay verbatim even when they equal an env value."""
        redactor = self._session.redactor
        if redactor is None:
            return fields
        return {k: redactor.redact_value(v) if k in FREE_TEXT else v for k, v in fields.items()}

    def _show(self, kind: types.MessageType, text: str) -> None:
        self._ls.window_show_message(types.ShowMessageParams(type=kind, message=text))

    def _log(self, text: str) -> None:
        self._ls.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=text))


def _duration(ms: int) -> str:
    """``2 s``, ``1.5 s`` or ``250 ms``: what a person reads, without jitter's false precision."""
    return f"{ms} ms" if ms < 1000 else f"{round(ms / 1000, 1):g} s"
