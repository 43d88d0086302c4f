import * as vscode from "vscode";
import { handleShowMessageRequest, type ShowMessageRequestParams } from "./failurePrompt";
import { buildInitializationOptions } from "./initializationOptions";
import { resolveLaunch, type LaunchCommand, type LaunchSettings } from "./launch";
import { MarshalApi } from "./marshalApi";
import {
  Notifications,
  type InitializationOptions,
  type LockChangedParams,
  type ServerRemovedParams,
  type ServerStateChangedParams,
} from "./protocol";
import { parseServerLogLine, type ServerLogs } from "./serverLogs";
import type { LockStore, ServerStore } from "./serverStore";
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

export type ClientFactory = (
  launch: LaunchCommand,
  initializationOptions: () => InitializationOptions,
) => LanguageClientLike;

export interface HostParts {
  createClient: ClientFactory;
  servers: ServerStore;
  locks: LockStore;
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
 * Owns the language client: starts it, routes its notifications into the stores, re-sends
 * trust, and replaces the client when a `mcpMarshal.server.*` setting changes.
 */
export class LanguageServerHost implements vscode.Disposable {
  private client: LanguageClientLike | undefined;
  private clientSubscriptions: vscode.Disposable[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];
  private api: MarshalApi | undefined;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly parts: HostParts) {
    this.subscriptions.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        void this.api?.trustWorkspace().catch((err: unknown) => this.parts.output.error(`trustWorkspace: ${String(err)}`));
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("mcpMarshal.server")) void this.restart();
      }),
    );
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
    this.parts.servers.replaceAll(servers?.servers ?? []);
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

  private async doStart(): Promise<void> {
    const launch = resolveLaunch(readLaunchSettings(), await this.parts.interpreter());
    const client = this.parts.createClient(launch, currentInitializationOptions);
    this.clientSubscriptions = this.wire(client);
    this.client = client;
    try {
      await client.start();
    } catch (err) {
      this.parts.output.error(`could not start ${launch.command} ${launch.args.join(" ")}: ${String(err)}`);
      void vscode.window
        .showErrorMessage(
          `MCP Marshal: could not start the language server with "${launch.command}". Set mcpMarshal.server.python or mcpMarshal.server.path.`,
          "Open Settings",
        )
        .then((choice) => {
          if (choice === "Open Settings") {
            void vscode.commands.executeCommand("workbench.action.openSettings", "mcpMarshal.server");
          }
        });
      return;
    }
    this.api = new MarshalApi(client);
    await setContext("mcpMarshal.running", true);
    await this.refresh().catch((err: unknown) => this.parts.output.warn(`seeding the views failed: ${String(err)}`));
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.api = undefined;
    for (const s of this.clientSubscriptions) s.dispose();
    this.clientSubscriptions = [];
    // The client first: its stop sends LSP shutdown/exit, which stops the MCP servers. UI calls
    // come after and may fail (a closed window cancels them) without keeping the client alive.
    if (client) await client.stop().catch((err: unknown) => this.parts.output.warn(`stopping the language server: ${String(err)}`));
    await setContext("mcpMarshal.running", false);
  }

  private wire(client: LanguageClientLike): vscode.Disposable[] {
    const { servers, locks, logs, telemetry, output } = this.parts;
    return [
      client.onNotification(Notifications.serverStateChanged, (params: ServerStateChangedParams) =>
        servers.applyStateChange(params),
      ),
      client.onNotification(Notifications.serverRemoved, (params: ServerRemovedParams) => servers.remove(params.name)),
      client.onNotification(Notifications.lockChanged, (params: LockChangedParams) => locks.applyChange(params)),
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
