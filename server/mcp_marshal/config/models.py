"""Typed configuration: the ``mcpMarshal.*`` settings as written (pydantic) and as resolved.

The pydantic models mirror the file (camelCase aliases, so validation errors point at the keys
the user wrote). ``Config`` and ``ServerSpec`` are the resolved, immutable form the supervisor
runs: variables substituted, paths absolute, policies merged with their global defaults.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.alias_generators import to_camel

from mcp_marshal.config.dag import DependencyGraph

#: Every setting of ours is ``mcpMarshal.<key>`` in the workspace's ``settings``.
PREFIX = "mcpMarshal."


class _Model(BaseModel):
    """Field descriptions are the user's documentation: ``vscode_schema`` makes the editor's
    hover text and completions of them (Markdown when they hold backticks)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


_IGNORED = "Accepted for compatibility with VS Code's own MCP entries; ignored."


def _override_of(section: str, policy: type[BaseModel], name: str) -> str:
    return f"Overrides `{PREFIX}{section}.{to_camel(name)}`: {policy.model_fields[name].description}"


# --- policies ----------------------------------------------------------------------------------


class RestartPolicy(_Model):
    """When and how often a server that exited unexpectedly is started again."""

    max_restarts: int = Field(default=5, ge=0, description="Restarts in a row before the server is `failed`.")
    initial_delay_ms: int = Field(default=1000, ge=0, description="Delay before the first restart; doubles each time.")
    max_delay_ms: int = Field(default=30000, ge=0, description="Upper bound of the restart delay.")
    reset_after_ms: int = Field(default=300000, ge=0, description="Time ready after which the restart count resets.")


class HealthPolicy(_Model):
    """How a server proves it is alive: a handshake in time, then periodic pings."""

    start_timeout_ms: int = Field(default=30000, gt=0, description="Spawn to completed MCP handshake.")
    ping_interval_ms: int = Field(default=10000, ge=0, description="Time between pings; 0 disables pinging.")
    ping_timeout_ms: int = Field(default=5000, gt=0, description="A ping without an answer by then is a miss.")
    failure_threshold: int = Field(default=3, ge=1, description="Misses in a row that make a server unhealthy.")


class StopPolicy(_Model):
    """The stop sequence: close stdin, wait, SIGTERM the group, wait, SIGKILL the group."""

    stdin_grace_ms: int = Field(default=2000, ge=0, description="Wait after closing stdin before SIGTERM.")
    term_grace_ms: int = Field(default=5000, ge=0, description="Wait after SIGTERM before SIGKILL.")


class LocksSettings(_Model):
    """Task leases (DESIGN §8)."""

    backend: Literal["sqlite", "redis", "memory"] = Field(
        default="sqlite",
        description="Where leases live.",
        json_schema_extra={
            "enumDescriptions": [
                "One database per workspace in the user state directory, shared by every window and CLI"
                " on the machine.",
                "A Redis server (`redisUrl`), for teams across machines.",
                "In the language server's memory only.",
            ]
        },
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db, for the redis backend.")
    default_ttl_ms: int = Field(default=600000, gt=0, description="Lease lifetime when none is given.")


class TelemetrySettings(_Model):
    """Telemetry batching (DESIGN §9)."""

    batch_size: int = Field(default=100, ge=1, description="Records that trigger a flush.")
    batch_interval_ms: int = Field(default=5000, ge=1, description="Flush this long after the first waiting record.")
    max_queue: int = Field(default=2048, ge=1, description="Records kept at most; the oldest are dropped beyond.")
    file: str | None = Field(default=None, description="JSONL file; default: the workspace's state directory.")


class GatewaySettings(_Model):
    """The gateway (DESIGN §10): every supervised server served to agents over MCP HTTP."""

    enabled: bool = Field(default=True, description="Serve the servers to agents over MCP Streamable HTTP.")
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Where to listen; loopback unless you mean otherwise."
    )
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port (written to gateway.json).")


class RestartOverride(_Model):
    """Per-server override of ``mcpMarshal.restart``; unset fields inherit."""

    max_restarts: int | None = Field(
        default=None, ge=0, description=_override_of("restart", RestartPolicy, "max_restarts")
    )
    initial_delay_ms: int | None = Field(
        default=None, ge=0, description=_override_of("restart", RestartPolicy, "initial_delay_ms")
    )
    max_delay_ms: int | None = Field(
        default=None, ge=0, description=_override_of("restart", RestartPolicy, "max_delay_ms")
    )
    reset_after_ms: int | None = Field(
        default=None, ge=0, description=_override_of("restart", RestartPolicy, "reset_after_ms")
    )


class HealthOverride(_Model):
    """Per-server override of ``mcpMarshal.health``; unset fields inherit."""

    start_timeout_ms: int | None = Field(
        default=None, gt=0, description=_override_of("health", HealthPolicy, "start_timeout_ms")
    )
    ping_interval_ms: int | None = Field(
        default=None, ge=0, description=_override_of("health", HealthPolicy, "ping_interval_ms")
    )
    ping_timeout_ms: int | None = Field(
        default=None, gt=0, description=_override_of("health", HealthPolicy, "ping_timeout_ms")
    )
    failure_threshold: int | None = Field(
        default=None, ge=1, description=_override_of("health", HealthPolicy, "failure_threshold")
    )


# --- servers as written ------------------------------------------------------------------------


class _ServerBase(_Model):
    depends_on: list[str] = Field(default_factory=list, description="Servers that must be ready first.")
    tier: int | None = Field(
        default=None, ge=0, description="Starts after every server of a lower tier is ready (an integer ≥ 0)."
    )
    auto_start: bool = Field(default=True, description="Start with the workspace (else only on demand).")
    shared: bool = Field(
        default=True,
        description="One process for every agent (false: each agent session gets its own, e.g. a browser).",
    )
    restart: RestartOverride | None = Field(
        default=None, description=f"Per-server override of `{PREFIX}restart`; unset fields inherit."
    )
    health: HealthOverride | None = Field(
        default=None, description=f"Per-server override of `{PREFIX}health`; unset fields inherit."
    )
    # Fields VS Code's own MCP entries may carry; accepted so entries can be copied, then ignored.
    dev: Any = Field(default=None, description=_IGNORED)
    gallery: Any = Field(default=None, description=_IGNORED)
    version: Any = Field(default=None, description=_IGNORED)
    sandbox_enabled: Any = Field(default=None, description=_IGNORED)


class StdioServerSettings(_ServerBase):
    """A server we spawn and speak to over its stdin/stdout."""

    type: Literal["stdio"] = Field(
        default="stdio",
        description="`stdio` (default when `command` is set): a process we spawn and speak to over stdin/stdout.",
    )
    command: str = Field(min_length=1, description="Executable, resolved on PATH.")
    args: list[str] = Field(default_factory=list, description="Arguments passed to the command.")
    env: dict[str, str | int | float | None] = Field(
        default_factory=dict,
        description="Environment variables for the process; a `null` value unsets an inherited variable.",
    )
    env_file: str | None = Field(
        default=None, description="A dotenv file loaded before `env`; relative to the workspace file."
    )
    cwd: str | None = Field(
        default=None,
        description="Working directory (default: the first workspace folder); relative to the workspace file.",
    )


class HttpServerSettings(_ServerBase):
    """A server someone else runs; we only check it with an MCP handshake over HTTP."""

    type: Literal["http", "sse"] = Field(  # inferred when ``url`` is set without ``command``
        "http",
        description="`http` (Streamable HTTP) or `sse`: a server someone else runs; checked with an MCP handshake.",
    )
    # A variable may supply the scheme; the resolved URL is checked again after substitution.
    url: str = Field(pattern=r"^(https?://|\$\{)", description="Streamable HTTP (or SSE) endpoint.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers sent with every request (values may use `${input:ID}` / `${env:NAME}`).",
    )
    oauth: Any = Field(default=None, description=_IGNORED)


def server_kind(value: Any) -> str | None:
    """Discriminator: VS Code infers ``stdio`` when ``command`` is set and ``http`` otherwise."""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if not isinstance(value, dict):
        return None
    entry = cast("dict[str, Any]", value)
    kind = entry.get("type")
    if kind is None:
        return "stdio" if "command" in entry or "url" not in entry else "http"
    if kind in ("http", "sse"):
        return "http"
    return kind if isinstance(kind, str) else None


ServerSettings = Annotated[
    Annotated[StdioServerSettings, Tag("stdio")] | Annotated[HttpServerSettings, Tag("http")],
    Discriminator(server_kind),
]


class InputSettings(_Model):
    """A value asked of the user at start (VS Code's ``inputs``); always treated as secret."""

    id: str = Field(min_length=1, description="Referenced as `${input:ID}`.")
    type: Literal["promptString", "pickString", "command"] = Field(
        default="promptString",
        description="How the value is asked for.",
        json_schema_extra={
            "enumDescriptions": ["Ask for a string.", "Pick one of `options`.", "Run a VS Code command."]
        },
    )
    description: str = Field(default="", description="Shown when the user is asked for the value.")
    password: bool = Field(default=False, description="Hide the typed value.")
    default: str | None = Field(default=None, description="Value offered by default.")
    options: list[str] | None = Field(default=None, description="Choices of a `pickString` input.")
    command: str | None = Field(default=None, description="Command of a `command` input.")
    args: Any = Field(default=None, description="Arguments of a `command` input.")


class MarshalSettings(_Model):
    """Every ``mcpMarshal.<key>`` of the workspace ``settings`` object, keyed without the prefix."""

    servers: dict[str, ServerSettings] = Field(
        default_factory=dict,
        description=(
            "The MCP servers of this workspace, by name. Same fields as VS Code's own MCP entries (`type`,"
            " `command`, `args`, `env`, `envFile`, `cwd`, `url`, `headers`) plus `dependsOn`, `tier`, `autoStart`"
            " and per-server `restart` / `health`. Variables: `${workspaceFolder}`, `${workspaceFolder:NAME}`,"
            " `${workspaceFolderBasename}`, `${userHome}`, `${env:NAME}`, `${input:ID}`."
        ),
        json_schema_extra={
            "defaultSnippets": [
                {
                    "label": "stdio server",
                    "body": {"${1:name}": {"command": "${2:npx}", "args": ["${3:-y}", "${4:package}"]}},
                },
                {
                    "label": "http server",
                    "body": {"${1:name}": {"type": "http", "url": "${2:http://127.0.0.1:8000/mcp}"}},
                },
            ]
        },
    )
    inputs: list[InputSettings] = Field(
        default_factory=list[InputSettings],
        description=(
            "Values asked of the user when a server that references `${input:ID}` starts (VS Code's `inputs`);"
            " always treated as secret."
        ),
    )
    restart: RestartPolicy = Field(
        default_factory=RestartPolicy,
        description=(
            "When and how often a server that exited unexpectedly is started again: delay"
            " `initialDelayMs × 2^k` (±10 % jitter) up to `maxDelayMs`, at most `maxRestarts` in a row."
        ),
    )
    health: HealthPolicy = Field(
        default_factory=HealthPolicy,
        description=(
            "How a server proves it is alive: an MCP handshake within `startTimeoutMs`, then a `ping` every"
            " `pingIntervalMs`."
        ),
    )
    stop: StopPolicy = Field(
        default_factory=StopPolicy,
        description=(
            "The stop sequence: close stdin, wait `stdinGraceMs`, SIGTERM the process group, wait `termGraceMs`,"
            " SIGKILL the group."
        ),
    )
    locks: LocksSettings = Field(
        default_factory=LocksSettings, description="Task leases (locks with fencing tokens) for agents."
    )
    telemetry: TelemetrySettings = Field(
        default_factory=TelemetrySettings,
        description="Telemetry batching. Batches reach VS Code only when VS Code telemetry is enabled.",
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings,
        description="The gateway: every supervised server served to agents over MCP Streamable HTTP on loopback.",
    )


# --- resolved form -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Folder:
    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class Launch:
    """How a server is launched or reached exactly as the file writes it (variables unresolved,
    relative paths relative, ``env`` numbers as JavaScript prints them): what a user approves
    when trusting it, and what a listing shows before trust. ``env`` and ``headers`` keep the
    file's order."""

    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = field(default=(), repr=False)  # a file may hold a literal token
    env_file: str | None = None
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def as_json(self) -> dict[str, Any]:
        """Each field as a JSON value, by the file's key (``env`` and ``headers`` as sorted
        mappings: reordering them is no change)."""
        return {
            "command": self.command,
            "args": list(self.args),
            "env": dict(sorted(self.env)),
            "envFile": self.env_file,
            "cwd": self.cwd,
            "url": self.url,
            "headers": dict(sorted(self.headers)),
        }

    def fingerprint(self) -> str:
        """A stable digest (hex SHA-256) of these fields: equal for equal launches on any
        machine and any Python, different when any field changes. ``env`` and ``headers`` count
        as mappings, so reordering them changes nothing."""
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(f"mcp-marshal launch v1\n{text}".encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ServerSpec:
    """One server, resolved and ready to run. Treat the mappings as read-only.

    ``env``/``headers``/``args`` may still hold ``${input:ID}`` placeholders (listed in
    ``inputs``); the supervisor resolves those just before start. ``env`` values of ``None``
    unset an inherited variable.
    """

    name: str
    type: Literal["stdio", "http", "sse"]
    # Every launch field may carry a substituted ${env:…} value, a secret: none is in the repr.
    command: str | None = field(default=None, repr=False)
    args: tuple[str, ...] = field(default=(), repr=False)
    env: Mapping[str, str | None] = field(default_factory=dict[str, str | None], repr=False)
    env_file: Path | None = field(default=None, repr=False)
    cwd: Path | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict[str, str], repr=False)
    depends_on: tuple[str, ...] = ()
    tier: int | None = None
    auto_start: bool = True
    shared: bool = True
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    stop: StopPolicy = field(default_factory=StopPolicy)
    inputs: tuple[str, ...] = ()
    written: Launch = field(default_factory=Launch, repr=False)
    """The launch fields as written in the file, before variables (per-server trust, listings)."""
    secrets: frozenset[str] = field(default_factory=frozenset[str], repr=False)
    """Every value that reaches the server from the file, the environment or an input, to be
    redacted wherever text is shown: each ``env`` and ``headers`` value as resolved (it may
    still hold ``${input:ID}``), and the value of each ``${env:…}`` used anywhere (``command``,
    ``args``, ``envFile``, ``cwd``, ``url``, ``env``, ``headers``); not the literal text of
    ``args``. Empty values are left out. Resolved ``${input:…}`` and ``envFile`` values join
    at start."""

    @property
    def spawned(self) -> bool:
        return self.type == "stdio"


@dataclass(frozen=True)
class Config:
    """A validated workspace configuration. ``deps`` says who waits for whom: every server's
    ``dependsOn`` plus, for a tiered server, every server of a lower tier."""

    file: Path
    folders: tuple[Folder, ...]
    servers: Mapping[str, ServerSpec]
    deps: DependencyGraph
    inputs: Mapping[str, InputSettings] = field(default_factory=dict[str, InputSettings])
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    stop: StopPolicy = field(default_factory=StopPolicy)
    locks: LocksSettings = field(default_factory=LocksSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
