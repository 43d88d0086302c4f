"""Core events → what the editor sees: live state, server logs, removals, lease changes, and
one line of text per event (``describe``) in the output (``window/logMessage``).

A bus listener, called synchronously: it only sends notifications, never awaits the user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mcp_marshal.describe import describe
from mcp_marshal.events import (
    ApprovalNeeded,
    Event,
    GatewayServing,
    LeaseEvent,
    LeaseExpired,
    ServerLog,
    ServerRemoved,
    ServersApproved,
    ServerStateChanged,
    ServiceDegraded,
)
from mcp_marshal.token_bucket import TokenBucket
from mcp_marshal.wire import (
    GATEWAY_CHANGED,
    LOCK_CHANGED,
    SERVER_LOG,
    SERVER_REMOVED,
    SERVER_STATE_CHANGED,
    GatewayChangedParams,
    LockChangedParams,
    ServerLogParams,
    ServerRemovedParams,
    ServerSnapshot,
    ServerStateChangedParams,
)

#: Quiet time after which the count of suppressed stderr lines is reported on its own.
SUPPRESSED_REPORT_S = 1.0


class EventForwarder:
    """``snapshot(name)``: the server's current snapshot (None once it is gone). ``views``: the
    client renders server logs itself (``mcpMarshal/serverLog``), so they are not log lines."""

    def __init__(
        self, ls: LanguageServer, *, snapshot: Callable[[str], ServerSnapshot | None], views: bool = False
    ) -> None:
        self._ls = ls
        self._snapshot = snapshot
        self._views = views
        self._buckets: dict[str, TokenBucket] = {}
        self._flush_scheduled: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, ServerStateChanged):
            params = ServerStateChangedParams(
                ts=event.ts,
                name=event.name,
                state=event.state,
                previous=event.previous,
                pid=event.pid,
                restarts=event.restarts,
                detail=event.detail,
                server=self._snapshot(event.name),
            )
            self._ls.protocol.notify(SERVER_STATE_CHANGED, params.to_dict())
        elif isinstance(event, ServerLog):
            self._forward_log(event)
        elif isinstance(event, ServerRemoved):
            self._ls.protocol.notify(SERVER_REMOVED, ServerRemovedParams(name=event.name).to_dict())
        elif isinstance(event, ApprovalNeeded | ServersApproved):  # rows say "needs approval", or stop saying it
            names = [name for name, _ in event.servers] if isinstance(event, ApprovalNeeded) else list(event.names)
            for name in names:
                if (snapshot := self._snapshot(name)) is not None:
                    params = ServerStateChangedParams(
                        ts=event.ts, name=name, state=snapshot.state, previous=snapshot.state, pid=snapshot.pid,
                        restarts=snapshot.restarts, detail=describe(event) or "", server=snapshot,
                    )  # fmt: skip
                    self._ls.protocol.notify(SERVER_STATE_CHANGED, params.to_dict())
        elif isinstance(event, GatewayServing):
            params = GatewayChangedParams(url=event.url, servers=list(event.servers))
            self._ls.protocol.notify(GATEWAY_CHANGED, params.to_dict())
        elif isinstance(event, LeaseEvent):
            fields = {
                "event": event.kind,
                "ts": event.ts,
                "task": event.task,
                "owner": event.owner,
                "token": event.token,
                "expires_at": event.expires_at,
            }
            self._ls.protocol.notify(LOCK_CHANGED, LockChangedParams.model_validate(fields).to_dict())
            if isinstance(event, LeaseExpired):  # someone's work on that task stopped without saying so
                self._show(types.MessageType.Info, f"MCP: {describe(event)}")
        elif isinstance(event, ServiceDegraded):
            self._show(types.MessageType.Warning, f"MCP: {describe(event)}")
        if (line := describe(event)) is not None:
            self._log(types.MessageType.Log, f"MCP: {line}")

    def _forward_log(self, event: ServerLog) -> None:
        if self._views:
            fields = {"name": event.name, "stream": event.stream, "line": event.line}
            self._ls.protocol.notify(SERVER_LOG, ServerLogParams.model_validate(fields).to_dict())
            return
        bucket = self._buckets.setdefault(event.name, TokenBucket())
        if not bucket.take(time.monotonic()):
            if event.name not in self._flush_scheduled:
                self._flush_scheduled.add(event.name)
                asyncio.get_running_loop().call_later(SUPPRESSED_REPORT_S, self._report_suppressed, event.name)
            return
        self._report_suppressed(event.name)
        self._log(types.MessageType.Log, f"[{event.name}] {event.line}")  # the core redacted the line

    def _report_suppressed(self, name: str) -> None:
        self._flush_scheduled.discard(name)
        count = self._buckets[name].drain_suppressed()
        if count:
            self._log(types.MessageType.Log, f"[{name}] … {count} lines suppressed")

    def _show(self, kind: types.MessageType, text: str) -> None:
        self._ls.window_show_message(types.ShowMessageParams(type=kind, message=text))

    def _log(self, kind: types.MessageType, text: str) -> None:
        self._ls.window_log_message(types.LogMessageParams(type=kind, message=text))
