/**
 * The LSP contract with `mcp-marshal lsp` (DESIGN §7): command names, notification names and
 * the shapes of their payloads. No `vscode` import, so the Node integration test can use it.
 */

export const Commands = {
  listServers: "mcpMarshal.listServers",
  startServer: "mcpMarshal.startServer",
  stopServer: "mcpMarshal.stopServer",
  restartServer: "mcpMarshal.restartServer",
  restartAll: "mcpMarshal.restartAll",
  showLogs: "mcpMarshal.showLogs",
  reloadConfig: "mcpMarshal.reloadConfig",
  trustWorkspace: "mcpMarshal.trustWorkspace",
  acquireLock: "mcpMarshal.acquireLock",
  renewLock: "mcpMarshal.renewLock",
  releaseLock: "mcpMarshal.releaseLock",
  listLocks: "mcpMarshal.listLocks",
  flushTelemetry: "mcpMarshal.flushTelemetry",
  approveServers: "mcpMarshal.approveServers",
  gateway: "mcpMarshal.gateway",
} as const;

export type CommandName = (typeof Commands)[keyof typeof Commands];

export const Notifications = {
  serverStateChanged: "mcpMarshal/serverStateChanged",
  lockChanged: "mcpMarshal/lockChanged",
  serverRemoved: "mcpMarshal/serverRemoved",
  gatewayChanged: "mcpMarshal/gatewayChanged",
} as const;

export const SERVER_STATES = [
  "stopped",
  "starting",
  "ready",
  "unhealthy",
  "exited",
  "backoff",
  "failed",
  "blocked",
  "stopping",
] as const;

/** One server as `mcpMarshal.listServers` reports it. */
export interface ServerSnapshot {
  name: string;
  type?: string;
  /** One of SERVER_STATES; unknown states from newer servers are shown as they are. */
  state: string;
  pid?: number | null;
  restarts?: number;
  uptime_s?: number | null;
  last_exit_code?: number | null;
  last_signal?: number | null;
  last_error?: string | null;
  handshake_ms?: number | null;
  protocol_version?: string | null;
  server_info?: Record<string, unknown> | null;
  stderr_tail?: string[];
  depends_on?: string[];
  auto_start?: boolean;
  /** Its launch is new or changed since the user approved it: it does not start until approved. */
  needs_approval?: boolean;
  /** What changed since its approval: new, command, args, env, envFile, cwd, url, headers. */
  changed?: string[];
}

/** `mcpMarshal/serverStateChanged`: the ServerStateChanged event plus (optionally) a snapshot. */
export interface ServerStateChangedParams {
  ts?: number;
  name: string;
  state: string;
  previous?: string;
  pid?: number | null;
  restarts?: number;
  detail?: string;
  /** The server's full snapshot, when the server sends one (null: the server is gone by then). */
  server?: ServerSnapshot | null;
  snapshot?: ServerSnapshot;
}

/** `mcpMarshal/serverRemoved`: a reload removed this server from the workspace file. */
export interface ServerRemovedParams {
  name: string;
}

/** Another process supervises this workspace file; its gateway serves these servers. */
export interface GatewayOwner {
  pid?: number | null;
  /** Who it is, in words ("the MCP Marshal language server", "mcp-marshal up"). */
  kind?: string;
}

export interface ListServersResult {
  workspaceFile?: string | null;
  trusted?: boolean;
  servers: ServerSnapshot[];
  /** Set when another process supervises the file: `servers` are its servers. */
  owner?: GatewayOwner | null;
  /** Why the owner's servers could not be listed (then `servers` may be empty). */
  reason?: string | null;
}

export interface GatewayEndpoint {
  name: string;
  url: string;
}

/**
 * `mcpMarshal.gateway`: where agents reach the supervised servers. `token` is the bearer token
 * every request needs: hand it to an MCP client, never show, log or store it. `url` is null
 * while nothing serves (`reason` says why).
 */
export interface GatewayResult {
  url?: string | null;
  token?: string | null;
  servers?: GatewayEndpoint[];
  /** The /mcp/marshal endpoint (server and lease tools). */
  marshal?: string | null;
  owner?: GatewayOwner | null;
  reason?: string | null;
}

/** `mcpMarshal/gatewayChanged`: the gateway started, stopped (url null) or serves other servers. */
export interface GatewayChangedParams {
  url?: string | null;
  servers?: string[];
}

/** `mcpMarshal.approveServers`: the servers approved (and started), and every server after. */
export interface ApproveResult {
  approved: string[];
  servers: ServerSnapshot[];
}

export interface LockInfo {
  task: string;
  owner: string;
  token: number | string;
  acquired_at?: number;
  expires_at?: number;
}

export interface ListLocksResult {
  locks: LockInfo[];
}

/** `mcpMarshal/lockChanged`: a Lease* event; `locks` is the full list when the server sends it. */
export interface LockChangedParams {
  event?: string;
  task?: string;
  owner?: string;
  /** null for LeaseDenied: no lease was granted. */
  token?: number | string | null;
  expires_at?: number;
  locks?: LockInfo[];
}

/** One telemetry record: `name` is the event kind, `fields` its (redacted) fields. */
export interface TelemetryRecord {
  name: string;
  ts?: number;
  fields?: Record<string, unknown>;
}

/** One `telemetry/event` batch; `dropped` counts records lost before it, by reason. */
export interface TelemetryBatch {
  v?: number;
  seq?: number;
  records?: TelemetryRecord[];
  dropped?: Record<string, number>;
}

/** What the extension sends as `initializationOptions` (DESIGN §7). */
export interface InitializationOptions {
  workspaceFile?: string;
  trusted: boolean;
  telemetry: boolean;
  /** false: leave JSON syntax errors to the editor's own JSON checker (VS Code has one). */
  syntaxDiagnostics?: boolean;
}
