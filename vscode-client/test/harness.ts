import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as vscode from "vscode";
import { LanguageServerHost } from "../src/languageServer";
import type { GatewayResult, ListServersResult, ServerSnapshot } from "../src/protocol";
import { ServerLogs } from "../src/serverLogs";
import { GatewayStore, LockStore, ServerStore } from "../src/serverStore";
import { TelemetryForwarder } from "../src/telemetry";
import { FakeLanguageClient } from "./fakeClient";
import { fake } from "./fake/vscode";

export const manifest = JSON.parse(
  readFileSync(join(__dirname, "..", "package.json"), "utf8"),
) as {
  contributes: {
    commands: Array<{ command: string; title: string; category?: string }>;
    configuration: { properties: Record<string, { default?: unknown }> };
    views: Record<string, Array<{ id: string }>>;
    menus: Record<string, Array<{ command: string; when?: string; group?: string }>>;
    viewsWelcome: Array<{ view: string; contents: string; when?: string }>;
    mcpServerDefinitionProviders: Array<{ id: string; label: string }>;
  };
  engines: { vscode: string };
  devDependencies: Record<string, string>;
  activationEvents: string[];
};

export function snapshot(name: string, state: string, extra: Partial<ServerSnapshot> = {}): ServerSnapshot {
  return {
    name,
    type: "stdio",
    state,
    pid: null,
    restarts: 0,
    uptime_s: null,
    last_exit_code: null,
    last_signal: null,
    last_error: "",
    handshake_ms: null,
    protocol_version: null,
    server_info: {},
    stderr_tail: [],
    depends_on: [],
    auto_start: true,
    needs_approval: false,
    changed: [],
    ...extra,
  };
}

/** A host wired to a fake client, the way `activate` wires the real one. */
export function makeHost(
  options: {
    servers?: ServerSnapshot[];
    interpreter?: string;
    /** Stands in for the Python extension's lookup (default: resolves to `interpreter` at once). */
    lookup?: () => Promise<string | undefined>;
    failStart?: boolean;
    /** What `mcpMarshal.gateway` answers (default: no gateway, with a reason). */
    gateway?: GatewayResult;
    /** Fields of `listServers` besides `servers` (e.g. `owner`, `reason`). */
    listExtra?: Partial<ListServersResult>;
  } = {},
) {
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const servers = new ServerStore(clock.now);
  const locks = new LockStore();
  const gateway = new GatewayStore();
  const logs = new ServerLogs();
  const output = vscode.window.createOutputChannel("MCP Marshal", { log: true });
  const telemetry = new TelemetryForwarder(vscode.window.createOutputChannel("MCP Marshal Telemetry", { log: true }));
  const clients: FakeLanguageClient[] = [];
  let serverList = options.servers ?? [];
  let gatewayAnswer: GatewayResult = options.gateway ?? {
    url: null,
    token: null,
    servers: [],
    marshal: null,
    owner: null,
    reason: "the gateway is disabled",
  };
  let listExtra = options.listExtra ?? {};
  let lookups = 0;
  const respond = (command: string, args: unknown[]): unknown => {
    switch (command) {
      case "mcpMarshal.listServers":
        return { ...listExtra, servers: serverList };
      case "mcpMarshal.gateway":
        return gatewayAnswer;
      case "mcpMarshal.listLocks":
        return { locks: [] };
      case "mcpMarshal.showLogs":
        return { name: args[0], lines: [`${String(args[0])} stderr 1`, `${String(args[0])} stderr 2`] };
      default:
        return { ok: true };
    }
  };
  const host = new LanguageServerHost({
    createClient: (launch, init, hooks) => {
      const client = new FakeLanguageClient(launch, init, respond, options.failStart, hooks);
      clients.push(client);
      return client;
    },
    servers,
    locks,
    gateway,
    logs,
    telemetry,
    output,
    interpreter: () => {
      lookups++;
      return options.lookup ? options.lookup() : Promise.resolve(options.interpreter);
    },
  });
  return {
    host,
    servers,
    locks,
    gateway,
    logs,
    telemetry,
    output,
    clock,
    clients,
    client: () => clients[clients.length - 1],
    /** How often the host asked the Python extension for its interpreter. */
    lookups: () => lookups,
    setServerList: (list: ServerSnapshot[]) => (serverList = list),
    setGateway: (answer: GatewayResult) => (gatewayAnswer = answer),
    setListExtra: (extra: Partial<ListServersResult>) => (listExtra = extra),
  };
}

export function resetEditor(): void {
  fake.reset(manifest);
  fake.workspaceFile = vscode.Uri.file("/work/demo/demo.code-workspace");
}
