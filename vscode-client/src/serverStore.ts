import * as vscode from "vscode";
import type {
  GatewayChangedParams,
  GatewayOwner,
  LockChangedParams,
  LockInfo,
  ServerSnapshot,
  ServerStateChangedParams,
} from "./protocol";

/** A server as the views show it: the last snapshot plus when it became ready (epoch ms). */
/** A server as the view knows it: the last snapshot, or what state changes told before one came. */
export type ServerView = Partial<ServerSnapshot> & Pick<ServerSnapshot, "name" | "state"> & { readyAtMs?: number };

const RUNNING = new Set(["ready", "unhealthy"]);

/** Another process supervises the workspace file: the servers listed are its servers. */
export interface Supervisor {
  owner: GatewayOwner;
  /** Why its servers could not be listed, if they could not. */
  reason?: string;
}

/**
 * What the server last told us, kept in the server's order. Seeded by `listServers`, updated
 * by `mcpMarshal/serverStateChanged`; views redraw on `onDidChange`.
 */
export class ServerStore implements vscode.Disposable {
  private readonly servers = new Map<string, ServerView>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private supervisedBy: Supervisor | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Set when another process supervises the file (listServers said so), else undefined. */
  get supervisor(): Supervisor | undefined {
    return this.supervisedBy;
  }

  all(): ServerView[] {
    return [...this.servers.values()];
  }

  get(name: string): ServerView | undefined {
    return this.servers.get(name);
  }

  names(): string[] {
    return [...this.servers.keys()];
  }

  /** Forget a server the workspace file no longer declares (`mcpMarshal/serverRemoved`). */
  remove(name: string): void {
    if (this.servers.delete(name)) this.changed.fire();
  }

  /** Exactly the servers listed: rows the server no longer lists are dropped. */
  replaceAll(snapshots: readonly ServerSnapshot[], supervisor?: Supervisor): void {
    const now = this.now();
    this.supervisedBy = supervisor;
    this.servers.clear();
    for (const snapshot of snapshots) {
      const view: ServerView = { ...snapshot };
      if (RUNNING.has(snapshot.state) && typeof snapshot.uptime_s === "number") {
        view.readyAtMs = now - snapshot.uptime_s * 1000;
      }
      this.servers.set(snapshot.name, view);
    }
    this.changed.fire();
  }

  /** Apply one state change; a snapshot in the notification (nested or merged) wins field by field. */
  applyStateChange(params: ServerStateChangedParams): void {
    const previous = this.servers.get(params.name);
    const nested = params.server ?? undefined;
    const merged: ServerView = {
      ...previous,
      ...pickSnapshotFields(params),
      ...nested,
      name: params.name,
      state: params.state,
    };
    if (params.pid !== undefined) merged.pid = params.pid;
    if (params.restarts !== undefined) merged.restarts = params.restarts;
    if (params.state === "failed" && params.detail) merged.last_error = params.detail;
    if (RUNNING.has(params.state)) {
      const wasRunning = previous !== undefined && RUNNING.has(previous.state);
      merged.readyAtMs = wasRunning && previous.readyAtMs !== undefined ? previous.readyAtMs : this.eventTimeMs(params);
    } else {
      delete merged.readyAtMs;
    }
    this.servers.set(params.name, merged);
    this.changed.fire();
  }

  /** Whole seconds since the server became ready (as a clock shows them), or undefined when it is not running. */
  uptimeSeconds(server: ServerView): number | undefined {
    const ms = this.uptimeMs(server);
    return ms === undefined ? undefined : Math.floor(ms / 1000);
  }

  uptimeMs(server: ServerView): number | undefined {
    if (server.readyAtMs === undefined) return undefined;
    return Math.max(0, this.now() - server.readyAtMs);
  }

  dispose(): void {
    this.changed.dispose();
  }

  private eventTimeMs(params: ServerStateChangedParams): number {
    return typeof params.ts === "number" ? Math.min(params.ts * 1000, this.now()) : this.now();
  }
}

const EVENT_ONLY = new Set(["event", "ts", "previous", "detail", "server", "snapshot"]);

function pickSnapshotFields(params: ServerStateChangedParams): Partial<ServerSnapshot> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (!EVENT_ONLY.has(key)) out[key] = value;
  }
  return out;
}

/**
 * Where the gateway serves, as `mcpMarshal/gatewayChanged` last said: `url` undefined until it
 * says anything, null while nothing serves. The endpoints and token come from `mcpMarshal.gateway`.
 */
export class GatewayStore implements vscode.Disposable {
  private current: GatewayChangedParams | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  get url(): string | null | undefined {
    return this.current === undefined ? undefined : (this.current.url ?? null);
  }

  apply(params: GatewayChangedParams): void {
    this.current = params;
    this.changed.fire();
  }

  /** The language server went away: nothing is known about its gateway any more. */
  forget(): void {
    if (this.current === undefined) return;
    this.current = undefined;
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** Task leases as last reported: the list, then each `mcpMarshal/lockChanged` applied to it. */
export class LockStore implements vscode.Disposable {
  private locks = new Map<string, LockInfo>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  all(): LockInfo[] {
    return [...this.locks.values()].sort((a, b) => a.task.localeCompare(b.task));
  }

  replaceAll(locks: readonly LockInfo[]): void {
    this.locks = new Map(locks.map((lock) => [lock.task, lock]));
    this.changed.fire();
  }

  applyChange(params: LockChangedParams): void {
    const gone = ["LeaseReleased", "LeaseExpired"].includes(params.event ?? "");
    if (gone) {
      const held = this.locks.get(params.task);
      // A late release of an older lease must not hide the newer holder.
      if (held === undefined || params.token == null || held.token === params.token) {
        this.locks.delete(params.task);
      }
    } else if (params.event !== "LeaseDenied" && params.token != null) {
      const held = this.locks.get(params.task);
      this.locks.set(params.task, {
        ...(held?.token === params.token ? held : { acquired_at: params.ts }),
        task: params.task,
        owner: params.owner,
        token: params.token,
        expires_at: params.expires_at ?? undefined,
      });
    }
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
