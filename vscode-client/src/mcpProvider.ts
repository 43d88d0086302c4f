import * as vscode from "vscode";
import type { HostState } from "./languageServer";
import type { MarshalApi } from "./marshalApi";
import {
  MARSHAL,
  ServerVersions,
  endpoints,
  readiness,
  withToken,
  type HostPhase,
  type Readiness,
  type ReadinessAction,
} from "./mcpDefinitions";
import type { GatewayResult } from "./protocol";
import type { GatewayStore, ServerStore } from "./serverStore";

/** The id under `contributes.mcpServerDefinitionProviders`. */
export const MCP_PROVIDER_ID = "mcpMarshal.servers";

/** How long a resolve waits for a server (or the language server) to become ready. */
export const READY_TIMEOUT_MS = 30_000;

export interface McpProviderParts {
  /** The running language server's API, or undefined while none runs. */
  api(): MarshalApi | undefined;
  host: { readonly state: HostState; readonly onDidChangeState: vscode.Event<void> };
  servers: ServerStore;
  gateway: GatewayStore;
  /** Do what the user picked in a "cannot use this server" message. */
  act(action: ReadinessAction, name: string): Promise<unknown>;
  output: vscode.LogOutputChannel;
  readyTimeoutMs?: number;
}

const ACTION_TITLES: Record<ReadinessAction, string> = {
  approve: "Approve and Start",
  start: "Start",
  showLogs: "Show Logs",
  restartLanguageServer: "Restart Language Server",
};

/**
 * VS Code's MCP client gets the supervised servers from here (DESIGN §12): one HTTP definition
 * per gateway endpoint plus `marshal`, so VS Code chat spawns no copy of its own. Definitions
 * change when the gateway does, when servers come or go, and when a server restarts (its
 * version moves on); resolving one waits for the server to be ready and adds the bearer token.
 */
export class McpDefinitionProvider implements vscode.McpServerDefinitionProvider<vscode.McpHttpServerDefinition>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeMcpServerDefinitions = this.changed.event;
  private readonly versions = new ServerVersions();
  private readonly subscriptions: vscode.Disposable[];
  private names = "";
  private hostWasRunning = false;
  /** What was last said about a server VS Code could not use, and in which state it was. */
  private readonly refused = new Map<string, { why: string; state: string | undefined }>();

  constructor(private readonly parts: McpProviderParts) {
    this.subscriptions = [
      this.changed,
      parts.gateway.onDidChange(() => this.changed.fire()),
      parts.host.onDidChangeState(() => {
        const running = parts.host.state === "running";
        if (running !== this.hostWasRunning) {
          this.hostWasRunning = running;
          this.changed.fire();
        }
      }),
      parts.servers.onDidChange(() => this.serversChanged()),
    ];
  }

  async provideMcpServerDefinitions(): Promise<vscode.McpHttpServerDefinition[]> {
    await this.until(() => this.parts.host.state !== "starting" && this.parts.host.state !== "stopped");
    const gateway = await this.gateway();
    return endpoints(gateway, (name) => this.versions.version(name)).map(
      (spec) => new vscode.McpHttpServerDefinition(spec.label, vscode.Uri.parse(spec.uri), {}, spec.version),
    );
  }

  async resolveMcpServerDefinition(
    server: vscode.McpHttpServerDefinition,
    token?: vscode.CancellationToken,
  ): Promise<vscode.McpHttpServerDefinition | undefined> {
    const name = server.label;
    let verdict = this.readinessNow(name, "waiting");
    if (verdict.kind === "wait") {
      await this.until(() => this.readinessNow(name, "waiting").kind !== "wait", token);
      verdict = this.readinessNow(name, "final");
    }
    if (verdict.kind === "wait") {
      verdict = { kind: "never", why: `${verdict.why} (waited ${Math.round(this.timeoutMs() / 1000)} s)` };
    }
    if (verdict.kind === "never") return this.refuse(name, verdict);
    const gateway = await this.gateway();
    const endpoint = name === MARSHAL ? gateway?.marshal : gateway?.servers?.find((s) => s.name === name)?.url;
    if (!gateway?.token || !endpoint) {
      return this.refuse(name, { why: gateway?.reason ?? `the gateway does not serve ${name}` });
    }
    server.uri = vscode.Uri.parse(endpoint);
    server.headers = withToken(server.headers, gateway.token);
    return server;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }

  private serversChanged(): void {
    const all = this.parts.servers.all();
    const names = all.map((s) => s.name).join("\n");
    this.versions.retain(all.map((s) => s.name));
    const bumped = this.versions.observe(all);
    if (names !== this.names || bumped.length > 0) {
      this.names = names;
      this.changed.fire();
    }
  }

  private async gateway(): Promise<GatewayResult | undefined> {
    const api = this.parts.api();
    if (!api) return undefined;
    try {
      return await api.gateway();
    } catch (err) {
      this.parts.output.warn(`mcpMarshal.gateway: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  /** `waiting`: a stopped host may be about to start; `final`: stopped means down. */
  private readinessNow(name: string, when: "waiting" | "final"): Readiness {
    const state = this.parts.host.state;
    const phase: HostPhase =
      state === "running" ? "running" : state === "starting" || (state === "stopped" && when === "waiting") ? "starting" : "down";
    const gatewayUp = this.parts.gateway.url !== null;
    return readiness(name, this.parts.servers.get(name), phase, gatewayUp, when === "final");
  }

  private refuse(name: string, verdict: { why: string; action?: ReadinessAction }): undefined {
    const message = `MCP Marshal: VS Code cannot use the MCP server ${name} now: ${verdict.why}.`;
    this.parts.output.warn(message);
    // Chat may try again at every message: say it once until the server's state moves on.
    const state = this.parts.servers.get(name)?.state;
    const last = this.refused.get(name);
    if (last && last.why === verdict.why && last.state === state) return undefined;
    this.refused.set(name, { why: verdict.why, state });
    const action = verdict.action;
    const shown = action
      ? vscode.window.showWarningMessage(message, ACTION_TITLES[action])
      : vscode.window.showWarningMessage(message);
    void Promise.resolve(shown).then((choice) => {
      if (action && choice === ACTION_TITLES[action]) {
        void this.parts.act(action, name).catch((err: unknown) => this.parts.output.error(`${action} ${name}: ${String(err)}`));
      }
    });
    return undefined;
  }

  private timeoutMs(): number {
    return this.parts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  }

  /** Resolves once `done()` holds (re-checked on every store and host change), or at the timeout. */
  private until(done: () => boolean, token?: vscode.CancellationToken): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const subscriptions: vscode.Disposable[] = [];
      const finish = () => {
        clearTimeout(timer);
        for (const s of subscriptions) s.dispose();
        resolve();
      };
      const check = () => {
        if (done()) finish();
      };
      const timer = setTimeout(finish, this.timeoutMs());
      subscriptions.push(this.parts.servers.onDidChange(check), this.parts.host.onDidChangeState(check), this.parts.gateway.onDidChange(check));
      if (token) subscriptions.push(token.onCancellationRequested(finish));
    });
  }
}

/** Registers the provider where the editor has the API (VS Code ≥ 1.101); elsewhere does nothing. */
export function registerMcpProvider(
  provider: McpDefinitionProvider,
  lm: Partial<typeof vscode.lm> | undefined = (vscode as { lm?: Partial<typeof vscode.lm> }).lm,
): vscode.Disposable | undefined {
  if (typeof lm?.registerMcpServerDefinitionProvider !== "function") return undefined;
  return lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, provider);
}
