import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { UiCommands, registerUiCommands } from "./commands";
import {
  LanguageServerHost,
  openServerSettings,
  readLaunchSettings,
  type ClientFactory,
  type LanguageClientLike,
} from "./languageServer";
import { LOCKS_VIEW, LockTreeProvider } from "./lockTree";
import type { ReadinessAction } from "./mcpDefinitions";
import { McpDefinitionProvider, registerMcpProvider } from "./mcpProvider";
import { activeInterpreter, onInterpreterChanged } from "./pythonInterpreter";
import { ServerLogs } from "./serverLogs";
import { GatewayStore, LockStore, ServerStore } from "./serverStore";
import { SERVERS_VIEW, ServerTreeProvider, SupervisorNote, UptimeTicker } from "./serverTree";
import { ServerStatusBar } from "./statusBar";
import { TelemetryForwarder } from "./telemetry";
import { isPinned } from "./launch";
import { hasWorkspaceFile } from "./workspaceDetection";

let host: LanguageServerHost | undefined;

/** What a "cannot use this server" message of the MCP provider offers, as our own commands. */
const PROVIDER_ACTIONS: Record<Exclude<ReadinessAction, "restartLanguageServer">, string> = {
  approve: UiCommands.approveServer,
  start: UiCommands.startServer,
  showLogs: UiCommands.showLogs,
};

/**
 * vscode-languageclient forces a pop-up for a failed start, a lost connection and each restart
 * (about 20 for one bad command); the host shows one message of its own, so here errors only
 * go to the output channel.
 */
export class MarshalLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

/** The composition root: builds the views, the host and the commands, and wires them. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const active = hasWorkspaceFile();
  await vscode.commands.executeCommand("setContext", "mcpMarshal.active", active);
  if (!active) return;

  const output = vscode.window.createOutputChannel("MCP Marshal", { log: true });
  const servers = new ServerStore();
  const locks = new LockStore();
  const gateway = new GatewayStore();
  const logs = new ServerLogs();
  const telemetry = new TelemetryForwarder(vscode.window.createOutputChannel("MCP Marshal Telemetry", { log: true }));
  const serverTree = new ServerTreeProvider(servers);
  const lockTree = new LockTreeProvider(locks);

  const createClient: ClientFactory = (launch, initializationOptions, hooks) => {
    // No `transport`: with TransportKind.stdio, vscode-languageclient appends `--stdio` to the
    // command line; without one it still speaks over stdio and passes our arguments unchanged.
    const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", pattern: "**/*.code-workspace" }],
      outputChannel: output,
      initializationOptions,
      // One clear message from the host instead of the client's own pop-ups and restarts.
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationFailedHandler: () => false,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          hooks.onClosed();
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    return new MarshalLanguageClient("mcpMarshal", "MCP Marshal", serverOptions, clientOptions) as unknown as LanguageClientLike;
  };

  host = new LanguageServerHost({ createClient, servers, locks, gateway, logs, telemetry, output, interpreter: () => activeInterpreter() });
  const serversView = vscode.window.createTreeView(SERVERS_VIEW, { treeDataProvider: serverTree });
  const runningHost = host;
  // VS Code's own MCP client reaches the supervised servers through the gateway (DESIGN §12).
  const mcpProvider = new McpDefinitionProvider({
    api: () => runningHost.currentApi(),
    host: runningHost,
    servers,
    gateway,
    output,
    act: (action: ReadinessAction, name: string) =>
      action === "restartLanguageServer"
        ? runningHost.restart()
        : Promise.resolve(vscode.commands.executeCommand(PROVIDER_ACTIONS[action], name)),
  });
  const mcpRegistration = registerMcpProvider(mcpProvider);
  if (!mcpRegistration) output.info("this editor has no MCP server definition API (VS Code 1.101 or later): its chat does not get the servers from MCP Marshal");

  context.subscriptions.push(
    output,
    servers,
    locks,
    logs,
    telemetry,
    serverTree,
    lockTree,
    new ServerStatusBar(servers, host),
    gateway,
    serversView,
    new SupervisorNote(servers, serversView),
    mcpProvider,
    ...(mcpRegistration ? [mcpRegistration] : []),
    vscode.window.createTreeView(LOCKS_VIEW, { treeDataProvider: lockTree }),
    new UptimeTicker(servers, serversView, () => serverTree.refresh()),
    ...registerUiCommands({
      api: () => host?.currentApi(),
      servers,
      locks,
      logs,
      refresh: () => host?.refresh() ?? Promise.resolve(),
      showOutput: () => output.show(),
      restartLanguageServer: () => host?.restart() ?? Promise.resolve(),
      openServerSettings: () => openServerSettings(readLaunchSettings().path?.trim() ? "mcpMarshal.server.path" : "mcpMarshal.server"),
    }),
    host,
  );

  // Started first: a pinned server.path/python never waits for the Python extension to activate.
  const started = host.start();
  const interpreterWatch = await onInterpreterChanged(() => {
    // Only a server launched with the Python extension's interpreter follows it (see resolveLaunch).
    if (!isPinned(readLaunchSettings())) void host?.restart();
  });
  if (interpreterWatch) context.subscriptions.push(interpreterWatch);
  await started;
}

export async function deactivate(): Promise<void> {
  await host?.stop();
  host = undefined;
}
