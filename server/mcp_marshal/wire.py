"""The typed wire contract: every custom notification, command result and telemetry batch the
language server sends a client (and the shapes the gateway's marshal tools return).

One pydantic model per message; their JSON Schema (``python -m mcp_marshal.wire``) generates
``vscode-client/src/protocol.generated.ts``, and a test fails when that file is stale. Field
names are what goes over the wire (snake_case, except the keys DESIGN §7 fixes in camelCase).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- method names ------------------------------------------------------------------------------

SERVER_STATE_CHANGED = "mcpMarshal/serverStateChanged"
SERVER_LOG = "mcpMarshal/serverLog"
SERVER_REMOVED = "mcpMarshal/serverRemoved"
SERVER_FAILED = "mcpMarshal/serverFailed"
LOCK_CHANGED = "mcpMarshal/lockChanged"
RESOLVE_INPUT = "mcpMarshal/resolveInput"
GATEWAY_CHANGED = "mcpMarshal/gatewayChanged"


class WireModel(BaseModel):
    # A field with a default is still always sent: the schema (and so the TypeScript) says so.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, by the wire names."""
        return self.model_dump(mode="json", by_alias=True)


# --- servers -----------------------------------------------------------------------------------


class ServerSnapshot(WireModel):
    """One server as a user sees it (``listServers``, every state change, command results)."""

    name: str
    type: Literal["stdio", "http", "sse"]
    state: str = Field(description="One of: stopped starting ready unhealthy exited backoff failed blocked stopping.")
    pid: int | None = None
    restarts: int = Field(default=0, description="Restarts since the last start someone asked for.")
    uptime_s: float | None = Field(default=None, description="Seconds ready (or unhealthy) so far; null otherwise.")
    last_exit_code: int | None = None
    last_signal: int | None = None
    last_error: str = Field(default="", description="Why it is not ready, redacted; empty when ready.")
    handshake_ms: float | None = None
    protocol_version: str | None = None
    server_info: dict[str, Any] = Field(default_factory=dict, description="serverInfo from its handshake, redacted.")
    stderr_tail: list[str] = Field(default_factory=list, description="Its last stderr lines, redacted.")
    depends_on: list[str] = Field(default_factory=list)
    auto_start: bool = True
    needs_approval: bool = Field(
        default=False, description="Its launch changed since the user approved it: not started until approved."
    )
    changed: list[str] = Field(
        default_factory=list,
        description="What changed since its approval (new, command, args, env, envFile, cwd, url, headers).",
    )


class ServerStateChangedParams(WireModel):
    """``mcpMarshal/serverStateChanged``: the change, and the server's full snapshot after it
    (null when the server is gone by the time the change is sent)."""

    ts: float
    name: str
    state: str
    previous: str
    pid: int | None = None
    restarts: int = 0
    detail: str = ""
    server: ServerSnapshot | None = None


class ServerLogParams(WireModel):
    """``mcpMarshal/serverLog``: one line a server wrote (redacted), for its own log channel."""

    name: str
    stream: Literal["stderr", "stdout"] = Field(description="stdout: non-protocol noise on its stdout.")
    line: str


class ServerRemovedParams(WireModel):
    """``mcpMarshal/serverRemoved``: a reload removed the server (it was stopped first)."""

    name: str


class ServerFailedParams(WireModel):
    """``mcpMarshal/serverFailed`` (to clients that render failures themselves): the server's
    restart budget is spent. ``message`` is the sentence to show; offer Restart and Show Logs."""

    name: str
    reason: str
    message: str
    stderr_tail: list[str] = Field(default_factory=list)


class GatewayOwner(WireModel):
    """Another process supervises this workspace file; its gateway serves these servers."""

    pid: int | None = None
    kind: str = ""


class ListServersResult(WireModel):
    """``listServers``. ``owner``: another process supervises the file, and ``servers`` are its
    (as it last answered; empty with ``reason`` when it cannot be asked)."""

    workspace_file: str | None = Field(default=None, alias="workspaceFile")
    trusted: bool = False
    servers: list[ServerSnapshot] = Field(default_factory=lambda: list[ServerSnapshot]())
    owner: GatewayOwner | None = None
    reason: str | None = None


class ServersResult(WireModel):
    """``restartAll`` and ``trustWorkspace``: every server afterwards."""

    servers: list[ServerSnapshot]
    trusted: bool | None = None


class ShowLogsResult(WireModel):
    name: str
    lines: list[str]


class ReloadResult(WireModel):
    """``reloadConfig``: whether the plan changed anything, what, and why not."""

    applied: bool
    summary: str | None = None
    plan: dict[str, list[str]] | None = Field(default=None, description="start / stop / restart / update / unchanged.")
    problems: list[str] = Field(default_factory=list, description="Formatted problems (errors and warnings).")
    reason: str | None = None


class ApproveResult(WireModel):
    """``approveServers``: which servers were approved (and started), and every server after."""

    approved: list[str]
    servers: list[ServerSnapshot]


# --- gateway -----------------------------------------------------------------------------------


class GatewayEndpoint(WireModel):
    name: str
    url: str


class GatewayResult(WireModel):
    """``mcpMarshal.gateway``: where agents reach the supervised servers. ``token`` is the bearer
    token every request needs: hand it to an MCP client, never show or log it. ``url`` is null
    while nothing serves (``reason`` says why)."""

    url: str | None = None
    token: str | None = None
    servers: list[GatewayEndpoint] = Field(default_factory=lambda: list[GatewayEndpoint]())
    marshal: str | None = Field(default=None, description="The /mcp/marshal endpoint (servers and lease tools).")
    owner: GatewayOwner | None = None
    reason: str | None = None


class GatewayChangedParams(WireModel):
    """``mcpMarshal/gatewayChanged``: the gateway started, stopped or serves other servers; ask
    ``mcpMarshal.gateway`` for the endpoints and token."""

    url: str | None = None
    servers: list[str] = Field(default_factory=list)


# --- leases ------------------------------------------------------------------------------------


class Lease(WireModel):
    """A held lease; times are epoch seconds. ``token`` is the fencing token."""

    task: str
    owner: str
    token: int
    acquired_at: float
    expires_at: float


class LockChangedParams(WireModel):
    """``mcpMarshal/lockChanged``: a lease change by any process sharing the store."""

    event: Literal["LeaseAcquired", "LeaseRenewed", "LeaseReleased", "LeaseExpired", "LeaseDenied"]
    ts: float
    task: str
    owner: str
    token: int | None = None
    expires_at: float | None = Field(default=None, description="Acquired and renewed: when it ends unless renewed.")


class AcquireLockResult(WireModel):
    acquired: bool
    lease: Lease | None = None
    holder: Lease | None = Field(default=None, description="Who holds the task when it was not acquired.")


class RenewLockResult(WireModel):
    renewed: bool
    lease: Lease | None = None


class ReleaseLockResult(WireModel):
    released: bool


class ListLocksResult(WireModel):
    locks: list[Lease]


# --- telemetry ---------------------------------------------------------------------------------


class TelemetryRecord(WireModel):
    """One event as telemetry: ``name`` is the event kind, ``fields`` its fields, redacted."""

    name: str
    ts: float
    fields: dict[str, Any]


class TelemetryBatch(WireModel):
    """``telemetry/event`` params: one batch. ``dropped`` counts records lost before this batch
    by reason (queue full, a slow sink's backlog...)."""

    v: int
    seq: int
    records: list[TelemetryRecord]
    dropped: dict[str, int] = Field(default_factory=dict)


class SinkReport(WireModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    enabled: bool = True
    sent: int = 0


class FlushReport(WireModel):
    """``flushTelemetry``: what the flush delivered, and per sink."""

    model_config = ConfigDict(extra="allow", frozen=True)
    flushed: int
    dropped: int
    pending: int
    complete: bool
    reasons: dict[str, int] = Field(default_factory=dict)
    sinks: dict[str, SinkReport] = Field(default_factory=dict)


# --- from the client ---------------------------------------------------------------------------


class InitializationOptions(WireModel):
    """What the editor sends as ``initializationOptions`` (DESIGN §7); unknown keys are ignored
    by the server, so old servers accept new clients."""

    # sent by the client, which may leave out any field
    model_config = ConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=False
    )
    workspace_file: str | None = Field(default=None, alias="workspaceFile", description="A file: URI or a path.")
    trusted: bool = Field(default=False, description="The editor trusts the workspace: start servers without asking.")
    telemetry: bool = Field(default=False, description="The editor's telemetry opt-in for telemetry/event.")
    syntax_diagnostics: bool = Field(
        default=True,
        alias="syntaxDiagnostics",
        description="Report JSON syntax errors (false where the editor already does).",
    )
    views: bool = Field(
        False,
        description="The client renders server logs and failures itself: send mcpMarshal/serverLog and "
        "mcpMarshal/serverFailed instead of window/logMessage lines and window/showMessageRequest prompts.",
    )


class ResolveInputParams(WireModel):
    """``mcpMarshal/resolveInput`` (server → client request): ask the user for ``${input:id}``."""

    id: str
    description: str = ""
    password: bool = False


class ResolveInputResult(WireModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)  # sent by the client
    value: str | None = None


#: Every model in the contract, by the name the TypeScript side uses.
MODELS: tuple[type[WireModel], ...] = (
    ServerSnapshot,
    ServerStateChangedParams,
    ServerLogParams,
    ServerRemovedParams,
    ServerFailedParams,
    ListServersResult,
    ServersResult,
    ShowLogsResult,
    ReloadResult,
    Lease,
    LockChangedParams,
    AcquireLockResult,
    RenewLockResult,
    ReleaseLockResult,
    ListLocksResult,
    TelemetryRecord,
    TelemetryBatch,
    SinkReport,
    FlushReport,
    InitializationOptions,
    ResolveInputParams,
    ResolveInputResult,
    ApproveResult,
    GatewayEndpoint,
    GatewayOwner,
    GatewayResult,
    GatewayChangedParams,
)


def schema() -> dict[str, Any]:
    """One JSON Schema document with every model under ``$defs`` (by alias, as sent)."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(m, "serialization") for m in MODELS], by_alias=True, title="mcp-marshal wire")
    methods = {
        "serverStateChanged": SERVER_STATE_CHANGED,
        "serverLog": SERVER_LOG,
        "serverRemoved": SERVER_REMOVED,
        "serverFailed": SERVER_FAILED,
        "lockChanged": LOCK_CHANGED,
        "resolveInput": RESOLVE_INPUT,
        "gatewayChanged": GATEWAY_CHANGED,
    }
    return {**top, "x-methods": methods}


if __name__ == "__main__":
    json.dump(schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
