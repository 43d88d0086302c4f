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

// The payloads are generated from the Python wire models (server/mcp_marshal/wire.py), so the
// two sides cannot drift: see protocol.generated.ts.
export type {
  AcquireLockResult,
  ApproveResult,
  FlushReport,
  GatewayChangedParams,
  GatewayEndpoint,
  GatewayOwner,
  GatewayResult,
  InitializationOptions,
  Lease,
  ListLocksResult,
  ListServersResult,
  LockChangedParams,
  ReleaseLockResult,
  ReloadResult,
  RenewLockResult,
  ResolveInputParams,
  ResolveInputResult,
  ServerFailedParams,
  ServerLogParams,
  ServerRemovedParams,
  ServerSnapshot,
  ServerStateChangedParams,
  ServersResult,
  ShowLogsResult,
  TelemetryBatch,
  TelemetryRecord,
} from "./protocol.generated";

import type { Lease } from "./protocol.generated";

/** A lease as the Task Locks view knows it: a change notification carries no acquisition time. */
export type LockInfo = Pick<Lease, "task" | "owner" | "token"> & Partial<Pick<Lease, "acquired_at" | "expires_at">>;
