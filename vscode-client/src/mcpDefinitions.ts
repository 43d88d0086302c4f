/**
 * What VS Code's MCP client is told about the supervised servers, decided without the editor:
 * which endpoints to offer, under which version, and whether a server can be connected to now.
 * No `vscode` import; `mcpProvider.ts` is the shell that feeds these and talks to the editor.
 */
import type { GatewayResult } from "./protocol";
import type { ServerView } from "./serverStore";

/** The gateway's own MCP server (server and lease tools), always offered beside the servers. */
export const MARSHAL = "marshal";

/** One endpoint as VS Code gets it: an `McpHttpServerDefinition` without the editor's class. */
export interface EndpointSpec {
  label: string;
  uri: string;
  version: string;
}

/**
 * The endpoints the gateway serves, in its order, `marshal` last. None while it serves nothing.
 * The bearer token is not part of them: VS Code persists provided definitions in its storage,
 * so the token is added only when VS Code resolves a server to connect (`withToken`).
 */
export function endpoints(gateway: GatewayResult | undefined, version: (name: string) => string): EndpointSpec[] {
  if (!gateway?.url || !gateway.token) return [];
  const specs = (gateway.servers ?? [])
    .filter((s) => s.name !== MARSHAL)
    .map((s) => ({ label: s.name, uri: s.url, version: version(s.name) }));
  const marshal = gateway.marshal ?? `${gateway.url}/mcp/${MARSHAL}`;
  return [...specs, { label: MARSHAL, uri: marshal, version: version(MARSHAL) }];
}

/** The request headers that authenticate to the gateway. */
export function withToken(headers: Record<string, string> | undefined, token: string): Record<string, string> {
  return { ...headers, Authorization: `Bearer ${token}` };
}

/**
 * A version per server that changes when the server VS Code reaches is a new process: a server
 * that becomes ready again under another pid (a restart, a crash and recovery) gets the next
 * generation, so VS Code reloads its tools instead of trusting its cache.
 */
export class ServerVersions {
  private readonly readyPid = new Map<string, number | null>();
  private readonly generation = new Map<string, number>();

  version(name: string): string {
    return String(this.generation.get(name) ?? 1);
  }

  /** Take the servers' current snapshots; returns the names whose version changed. */
  observe(servers: readonly ServerView[]): string[] {
    const bumped: string[] = [];
    for (const server of servers) {
      if (server.state !== "ready") continue;
      const pid = server.pid ?? null;
      const before = this.readyPid.get(server.name);
      this.readyPid.set(server.name, pid);
      if (before !== undefined && before !== pid) {
        this.generation.set(server.name, (this.generation.get(server.name) ?? 1) + 1);
        bumped.push(server.name);
      }
    }
    return bumped;
  }

  /** Forget servers that are gone (their next appearance starts from the same generation). */
  retain(names: readonly string[]): void {
    for (const name of [...this.readyPid.keys()]) if (!names.includes(name)) this.readyPid.delete(name);
  }
}

/** What a resolve does next: connect, wait for the server to settle, or give up saying why. */
export type Readiness =
  | { kind: "ready" }
  | { kind: "wait"; why: string }
  | { kind: "never"; why: string; action?: ReadinessAction };

/** The one thing the user can do about a server that cannot be connected to. */
export type ReadinessAction = "approve" | "start" | "showLogs" | "restartLanguageServer";

/** What the language server's host is doing, as far as a resolve cares. */
export type HostPhase = "starting" | "running" | "down";

/** Settling states: a wait for them ends in ready, failed or stopped. */
const SETTLING = new Set(["starting", "backoff", "exited", "stopping"]);

/**
 * Whether `name` can be connected to now. `server` is its row in the store (undefined: not
 * heard of, which right after a start only means not heard of yet); `gatewayUp` says whether
 * the gateway serves; `final`: the wait is over, so what is still unknown is not there.
 */
export function readiness(
  name: string,
  server: ServerView | undefined,
  host: HostPhase,
  gatewayUp: boolean,
  final = false,
): Readiness {
  if (host === "down") {
    return { kind: "never", why: "the MCP Marshal language server is not running", action: "restartLanguageServer" };
  }
  if (host === "starting") return { kind: "wait", why: "the MCP Marshal language server is starting" };
  if (!gatewayUp) return { kind: "wait", why: "the gateway is not serving yet" };
  if (name === MARSHAL) return { kind: "ready" };
  if (server === undefined) {
    return final
      ? { kind: "never", why: `${name} is not a server of this workspace (any more)` }
      : { kind: "wait", why: `${name} is not known yet` };
  }
  if (server.needs_approval) {
    return { kind: "never", why: `${name} needs approval: ${changeText(server.changed)}`, action: "approve" };
  }
  const error = server.last_error ? `: ${server.last_error}` : "";
  switch (server.state) {
    case "ready":
    case "unhealthy":
      return { kind: "ready" };
    case "failed":
      return { kind: "never", why: `${name} failed${error}`, action: "showLogs" };
    case "blocked":
      return { kind: "never", why: `${name} is blocked${error}` };
    case "stopped":
      return { kind: "never", why: `${name} is stopped`, action: "start" };
    default:
      return SETTLING.has(server.state)
        ? { kind: "wait", why: `${name} is ${server.state}` }
        : { kind: "never", why: `${name} is ${server.state}${error}` };
  }
}

/** "its command and args changed since you approved it", or "it is new since ...". */
export function changeText(changed: readonly string[] | undefined): string {
  const fields = (changed ?? []).filter((c) => c !== "new");
  if ((changed ?? []).includes("new") || fields.length === 0) return "it is new since you last approved this workspace's servers";
  const list = fields.length === 1 ? fields[0] : `${fields.slice(0, -1).join(", ")} and ${fields.at(-1)}`;
  return `its ${list} changed since you approved it`;
}
