/* Generated from server/mcp_marshal/wire.py: do not edit. To change the contract, edit the
 * models there and run: .venv/bin/python scripts/gen_protocol_schema.py && npm run gen:protocol -w vscode-client */

export interface AcquireLockResult {
  acquired: boolean;
  /**
   * Who holds the task when it was not acquired.
   */
  holder: Lease | null;
  lease: Lease | null;
}
/**
 * A held lease; times are epoch seconds. ``token`` is the fencing token.
 */
export interface Lease {
  acquired_at: number;
  expires_at: number;
  owner: string;
  task: string;
  token: number;
}
/**
 * ``approveServers``: which servers were approved (and started), and every server after.
 */
export interface ApproveResult {
  approved: string[];
  servers: ServerSnapshot[];
}
/**
 * One server as a user sees it (``listServers``, every state change, command results).
 */
export interface ServerSnapshot {
  auto_start: boolean;
  /**
   * What changed since its approval (new, command, args, env, envFile, cwd, url, headers).
   */
  changed: string[];
  depends_on: string[];
  handshake_ms: number | null;
  /**
   * Why it is not ready, redacted; empty when ready.
   */
  last_error: string;
  last_exit_code: number | null;
  last_signal: number | null;
  name: string;
  /**
   * Its launch changed since the user approved it: not started until approved.
   */
  needs_approval: boolean;
  pid: number | null;
  protocol_version: string | null;
  /**
   * Restarts since the last start someone asked for.
   */
  restarts: number;
  /**
   * serverInfo from its handshake, redacted.
   */
  server_info: {
    [k: string]: unknown | undefined;
  };
  /**
   * One of: stopped starting ready unhealthy exited backoff failed blocked stopping.
   */
  state: string;
  /**
   * Its last stderr lines, redacted.
   */
  stderr_tail: string[];
  type: "stdio" | "http" | "sse";
  /**
   * Seconds ready (or unhealthy) so far; null otherwise.
   */
  uptime_s: number | null;
}
/**
 * ``flushTelemetry``: what the flush delivered, and per sink.
 */
export interface FlushReport {
  complete: boolean;
  dropped: number;
  flushed: number;
  pending: number;
  reasons: {
    [k: string]: number | undefined;
  };
  sinks: {
    [k: string]: SinkReport | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface SinkReport {
  enabled: boolean;
  sent: number;
  [k: string]: unknown | undefined;
}
/**
 * ``mcpMarshal/gatewayChanged``: the gateway started, stopped or serves other servers; ask
 * ``mcpMarshal.gateway`` for the endpoints and token.
 */
export interface GatewayChangedParams {
  servers: string[];
  url: string | null;
}
export interface GatewayEndpoint {
  name: string;
  url: string;
}
/**
 * Another process supervises this workspace file; its gateway serves these servers.
 */
export interface GatewayOwner {
  kind: string;
  pid: number | null;
}
/**
 * ``mcpMarshal.gateway``: where agents reach the supervised servers. ``token`` is the bearer
 * token every request needs: hand it to an MCP client, never show or log it. ``url`` is null
 * while nothing serves (``reason`` says why).
 */
export interface GatewayResult {
  /**
   * The /mcp/marshal endpoint (servers and lease tools).
   */
  marshal: string | null;
  owner: GatewayOwner | null;
  reason: string | null;
  servers: GatewayEndpoint[];
  token: string | null;
  url: string | null;
}
/**
 * What the editor sends as ``initializationOptions`` (DESIGN §7); unknown keys are ignored
 * by the server, so old servers accept new clients.
 */
export interface InitializationOptions {
  /**
   * Report JSON syntax errors (false where the editor already does).
   */
  syntaxDiagnostics?: boolean;
  /**
   * The editor's telemetry opt-in for telemetry/event.
   */
  telemetry?: boolean;
  /**
   * The editor trusts the workspace: start servers without asking.
   */
  trusted?: boolean;
  /**
   * The client renders server logs and failures itself: send mcpMarshal/serverLog and mcpMarshal/serverFailed instead of window/logMessage lines and window/showMessageRequest prompts.
   */
  views?: boolean;
  /**
   * A file: URI or a path.
   */
  workspaceFile?: string | null;
}
export interface ListLocksResult {
  locks: Lease[];
}
/**
 * ``listServers``. ``owner``: another process supervises the file, and ``servers`` are its
 * (as it last answered; empty with ``reason`` when it cannot be asked).
 */
export interface ListServersResult {
  owner: GatewayOwner | null;
  reason: string | null;
  servers: ServerSnapshot[];
  trusted: boolean;
  workspaceFile: string | null;
}
/**
 * ``mcpMarshal/lockChanged``: a lease change by any process sharing the store.
 */
export interface LockChangedParams {
  event: "LeaseAcquired" | "LeaseRenewed" | "LeaseReleased" | "LeaseExpired" | "LeaseDenied";
  /**
   * Acquired and renewed: when it ends unless renewed.
   */
  expires_at: number | null;
  owner: string;
  task: string;
  token: number | null;
  ts: number;
}
export interface ReleaseLockResult {
  released: boolean;
}
/**
 * ``reloadConfig``: whether the plan changed anything, what, and why not.
 */
export interface ReloadResult {
  applied: boolean;
  /**
   * start / stop / restart / update / unchanged.
   */
  plan: {
    [k: string]: string[] | undefined;
  } | null;
  /**
   * Formatted problems (errors and warnings).
   */
  problems: string[];
  reason: string | null;
  summary: string | null;
}
export interface RenewLockResult {
  lease: Lease | null;
  renewed: boolean;
}
/**
 * ``mcpMarshal/resolveInput`` (server → client request): ask the user for ``${input:id}``.
 */
export interface ResolveInputParams {
  description: string;
  id: string;
  password: boolean;
}
export interface ResolveInputResult {
  value?: string | null;
}
/**
 * ``mcpMarshal/serverFailed`` (to clients that render failures themselves): the server's
 * restart budget is spent. ``message`` is the sentence to show; offer Restart and Show Logs.
 */
export interface ServerFailedParams {
  message: string;
  name: string;
  reason: string;
  stderr_tail: string[];
}
/**
 * ``mcpMarshal/serverLog``: one line a server wrote (redacted), for its own log channel.
 */
export interface ServerLogParams {
  line: string;
  name: string;
  /**
   * stdout: non-protocol noise on its stdout.
   */
  stream: "stderr" | "stdout";
}
/**
 * ``mcpMarshal/serverRemoved``: a reload removed the server (it was stopped first).
 */
export interface ServerRemovedParams {
  name: string;
}
/**
 * ``mcpMarshal/serverStateChanged``: the change, and the server's full snapshot after it
 * (null when the server is gone by the time the change is sent).
 */
export interface ServerStateChangedParams {
  detail: string;
  name: string;
  pid: number | null;
  previous: string;
  restarts: number;
  server: ServerSnapshot | null;
  state: string;
  ts: number;
}
/**
 * ``restartAll`` and ``trustWorkspace``: every server afterwards.
 */
export interface ServersResult {
  servers: ServerSnapshot[];
  trusted: boolean | null;
}
export interface ShowLogsResult {
  lines: string[];
  name: string;
}
/**
 * ``telemetry/event`` params: one batch. ``dropped`` counts records lost before this batch
 * by reason (queue full, a slow sink's backlog...).
 */
export interface TelemetryBatch {
  dropped: {
    [k: string]: number | undefined;
  };
  records: TelemetryRecord[];
  seq: number;
  v: number;
}
/**
 * One event as telemetry: ``name`` is the event kind, ``fields`` its fields, redacted.
 */
export interface TelemetryRecord {
  fields: {
    [k: string]: unknown | undefined;
  };
  name: string;
  ts: number;
}
