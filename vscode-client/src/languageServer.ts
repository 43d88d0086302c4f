import * as vscode from "vscode";
import { handleShowMessageRequest, type ShowMessageRequestParams } from "./failurePrompt";
import { buildInitializationOptions } from "./initializationOptions";
import {
  failureReason,
  isPinned,
  resolveLaunch,
  sameLaunch,
  settingToSearch,
  startFailureMessage,
  type LaunchCommand,
  type LaunchSettings,
} from "./launch";
import { MarshalApi } from "./marshalApi";
import {
  Notifications,
  type GatewayChangedParams,
  type InitializationOptions,
  type LockChangedParams,
  type ServerRemovedParams,
  type ServerStateChangedParams,
} from "./protocol";
import { parseServerLogLine, type ServerLogs } from "./serverLogs";
import type { GatewayStore, LockStore, ServerStore } from "./serverStore";
import type { TelemetryForwarder } from "./telemetry";

/** What the host needs of a `LanguageClient`; tests hand in a fake with the same surface. */
export interface LanguageClientLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  sendRequest<R>(method: string, params: unknown): Promise<R>;
  onNotification(method: string, handler: (params: never) => void): vscode.Disposable;
  onRequest(method: string, handler: (params: never) => unknown): vscode.Disposable;
  onTelemetry(listener: (data: unknown) => void): vscode.Disposable;
}

/** What the client tells the host beyond start/stop: the connection closed without a stop. */
export interface ClientHooks {
  onClosed(): void;
}

export type ClientFactory = (
  launch: LaunchCommand,
  initializationOptions: () => InitializationOptions,
  hooks: ClientHooks,
) => LanguageClientLike;

/** The language server's life as the views show it. */
export type HostState = "stopped" | "starting" | "running" | "failed";

export interface HostParts {
  createClient: ClientFactory;
  servers: ServerStore;
  locks: LockStore;
  gateway: GatewayStore;
  logs: ServerLogs;
  telemetry: TelemetryForwarder;
  output: vscode.LogOutputChannel;
  interpreter: () => Promise<string | undefined>;
}

export function readLaunchSettings(): LaunchSettings {
  const config = vscode.workspace.getConfiguration("mcpMarshal.server");
  return { path: config.get<string>("path"), python: config.get<string>("python") };
}

/** What the extension sends the server, computed at each (re)start. */
function currentInitializationOptions(): InitializationOptions {
  return buildInitializationOptions({
    workspaceFile: vscode.workspace.workspaceFile,
    isTrusted: vscode.workspace.isTrusted,
    isTelemetryEnabled: vscode.env.isTelemetryEnabled,
  });
}

/**
 * Opens the settings where `key` takes effect: in a remote window (code-server, Remote-SSH, WSL,
 * dev containers) the machine-overridable `mcpMarshal.server.*` are read from the Remote
 * settings only, so that is where the user must go; elsewhere the User settings.
 */
export function openServerSettings(key = "mcpMarshal.server"): Thenable<unknown> {
  return vscode.env.remoteName
    ? vscode.commands.executeCommand("workbench.action.openRemoteSettings", { query: key })
    : vscode.commands.executeCommand("workbench.action.openSettings", key);
}

/**
 * Owns the language client: starts it, routes its notifications into the stores, re-sends
 * trust, and replaces the client when a `mcpMarshal.server.*` setting changes what runs.
 */
export class LanguageServerHost implements vscode.Disposable {
  private client: LanguageClientLike | undefined;
  private clientSubscriptions: vscode.Disposable[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];
  private api: MarshalApi | undefined;
  private transition: Promise<void> = Promise.resolve();
  private launch: LaunchCommand | undefined;
  private currentState: HostState = "stopped";
  private currentFailure: string | undefined;
  private readonly stateChanged = new vscode.EventEmitter<void>();
  /** Fires when `state` (or `failure`) changes. */
  readonly onDidChangeState = this.stateChanged.event;

  constructor(private readonly parts: HostParts) {
    this.subscriptions.push(
      this.stateChanged,
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        void this.api?.trustWorkspace().catch((err: unknown) => this.parts.output.error(`trustWorkspace: ${String(err)}`));
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("mcpMarshal.server")) void this.restartIfLaunchChanged();
      }),
    );
  }

  get state(): HostState {
    return this.currentState;
  }

  /** Why the language server is not running, when `state` is `failed`. */
  get failure(): string | undefined {
    return this.currentFailure;
  }

  /** The running server's API, or undefined while none runs. */
  currentApi(): MarshalApi | undefined {
    return this.api;
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  /** Resolves once every start/stop/restart asked for so far has finished. */
  idle(): Promise<void> {
    return this.transition;
  }

  /** Seed the views with the server's current state (notifications keep them current after). */
  async refresh(): Promise<void> {
    const api = this.api;
    if (!api) return;
    const [servers, locks] = await Promise.all([api.listServers(), api.listLocks()]);
    const owner = servers?.owner;
    this.parts.servers.replaceAll(servers?.servers ?? [], owner ? { owner, reason: servers.reason ?? undefined } : undefined);
    this.parts.locks.replaceAll(locks?.locks ?? []);
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    void this.stop();
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }

  /** A settings change restarts the server only when it changes the command, or none runs. */
  private restartIfLaunchChanged(): Promise<void> {
    return this.serialize(async () => {
      const next = await this.resolveLaunchNow();
      if (this.currentState === "running" && this.launch && sameLaunch(next, this.launch)) return;
      await this.doStop();
      await this.doStart();
    });
  }

  /**
   * The command to run now. The Python extension is asked only when no setting pins the
   * command, and the settings are read again after asking: its activation can take seconds,
   * during which the configuration may change (in a remote window the Remote settings can
   * reach the extension host after activation), and a read from before would be stale.
   */
  private async resolveLaunchNow(): Promise<LaunchCommand> {
    const interpreter = isPinned(readLaunchSettings()) ? undefined : await this.parts.interpreter();
    return resolveLaunch(readLaunchSettings(), interpreter);
  }

  private setState(state: HostState, failure?: string): void {
    this.currentState = state;
    this.currentFailure = failure;
    void setContext("mcpMarshal.running", state === "running");
    void setContext("mcpMarshal.serverState", state);
    this.stateChanged.fire();
  }

  private async doStart(): Promise<void> {
    const launch = await this.resolveLaunchNow();
    this.launch = launch;
    void setContext("mcpMarshal.launchSource", launch.source);
    this.setState("starting");
    const client = this.parts.createClient(launch, currentInitializationOptions, { onClosed: () => this.closedUnexpectedly(client) });
    this.clientSubscriptions = this.wire(client);
    this.client = client;
    const commandLine = [launch.command, ...launch.args].join(" ");
    this.parts.output.info(`starting the language server: ${commandLine} (${launch.source})`);
    try {
      await client.start();
    } catch (err) {
      this.dropClient();
      const message = startFailureMessage(launch, failureReason(err), vscode.env.remoteName);
      this.parts.output.error(`${message} (${String(err)})`);
      this.setState("failed", message);
      this.offerHelp(message, settingToSearch(launch));
      return;
    }
    this.api = new MarshalApi(client);
    this.setState("running");
    await this.refresh().catch((err: unknown) => this.parts.output.warn(`seeding the views failed: ${String(err)}`));
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.dropClient();
    // The client first: its stop sends LSP shutdown/exit, which stops the MCP servers. UI calls
    // come after and may fail (a closed window cancels them) without keeping the client alive.
    if (client) await client.stop().catch((err: unknown) => this.parts.output.warn(`stopping the language server: ${String(err)}`));
    this.setState("stopped");
  }

  /** The server went away without being asked (crashed, killed): say so once, offer a restart. */
  private closedUnexpectedly(client: LanguageClientLike): void {
    if (client !== this.client || this.currentState !== "running") return; // a failed start reports itself
    this.dropClient();
    const message = "MCP Marshal: the language server stopped unexpectedly, and with it the MCP servers it supervised.";
    this.parts.output.error(message);
    this.setState("failed", message);
    void vscode.window.showErrorMessage(message, "Restart Language Server", "Show Output").then((choice) => {
      if (choice === "Restart Language Server") void this.restart();
      else if (choice === "Show Output") this.parts.output.show();
    });
  }

  /** Forget the client and what it told us: rows of a server that no longer runs are stale. */
  private dropClient(): void {
    this.client = undefined;
    this.api = undefined;
    for (const s of this.clientSubscriptions) s.dispose();
    this.clientSubscriptions = [];
    this.parts.servers.replaceAll([]);
    this.parts.locks.replaceAll([]);
    this.parts.gateway.forget();
  }

  private offerHelp(message: string, key: string): void {
    const settings = vscode.env.remoteName ? "Open Remote Settings" : "Open Settings";
    void vscode.window.showErrorMessage(message, settings, "Show Output").then((choice) => {
      if (choice === settings) void openServerSettings(key);
      else if (choice === "Show Output") this.parts.output.show();
    });
  }

  private wire(client: LanguageClientLike): vscode.Disposable[] {
    const { servers, locks, gateway, logs, telemetry, output } = this.parts;
    return [
      client.onNotification(Notifications.serverStateChanged, (params: ServerStateChangedParams) =>
        servers.applyStateChange(params),
      ),
      client.onNotification(Notifications.serverRemoved, (params: ServerRemovedParams) => servers.remove(params.name)),
      client.onNotification(Notifications.lockChanged, (params: LockChangedParams) => locks.applyChange(params)),
      client.onNotification(Notifications.gatewayChanged, (params: GatewayChangedParams) => gateway.apply(params)),
      client.onNotification("window/logMessage", (params: { type: number; message: string }) => {
        const routed = parseServerLogLine(params.message, servers.names());
        if (routed) logs.append(routed.name, routed.text);
        else logToChannel(output, params.type, params.message);
      }),
      client.onRequest("window/showMessageRequest", (params: ShowMessageRequestParams) =>
        handleShowMessageRequest(
          params,
          () => servers.names(),
          async (name) => {
            const lines = (await this.api?.showLogs(name)) ?? [];
            logs.showTail(name, lines);
          },
        ),
      ),
      client.onTelemetry((data) => telemetry.handleBatch(data)),
    ];
  }
}

/** A context key for `when` clauses; a window that is closing rejects it, which only the UI notices. */
async function setContext(key: string, value: unknown): Promise<void> {
  await Promise.resolve(vscode.commands.executeCommand("setContext", key, value)).catch(() => undefined);
}

function logToChannel(output: vscode.LogOutputChannel, type: number, message: string): void {
  switch (type) {
    case 1:
      output.error(message);
      break;
    case 2:
      output.warn(message);
      break;
    case 5:
      output.debug(message);
      break;
    default:
      output.info(message);
  }
}
