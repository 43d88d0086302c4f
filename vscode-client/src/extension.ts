import * as vscode from "vscode";
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";
import { registerUiCommands } from "./commands";
import { LanguageServerHost, readLaunchSettings, type ClientFactory, type LanguageClientLike } from "./languageServer";
import { LOCKS_VIEW, LockTreeProvider } from "./lockTree";
import { activeInterpreter, onInterpreterChanged } from "./pythonInterpreter";
import { ServerLogs } from "./serverLogs";
import { LockStore, ServerStore } from "./serverStore";
import { SERVERS_VIEW, ServerTreeProvider, UptimeTicker } from "./serverTree";
import { ServerStatusBar } from "./statusBar";
import { TelemetryForwarder } from "./telemetry";
import { hasWorkspaceFile } from "./workspaceDetection";

let host: LanguageServerHost | undefined;

/** The composition root: builds the views, the host and the commands, and wires them. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const active = hasWorkspaceFile();
  await vscode.commands.executeCommand("setContext", "mcpMarshal.active", active);
  if (!active) return;

  const output = vscode.window.createOutputChannel("MCP Marshal", { log: true });
  const servers = new ServerStore();
  const locks = new LockStore();
  const logs = new ServerLogs();
  const telemetry = new TelemetryForwarder(vscode.window.createOutputChannel("MCP Marshal Telemetry", { log: true }));
  const serverTree = new ServerTreeProvider(servers);
  const lockTree = new LockTreeProvider(locks);

  const createClient: ClientFactory = (launch, initializationOptions) => {
    // No `transport`: with TransportKind.stdio, vscode-languageclient appends `--stdio` to the
    // command line; without one it still speaks over stdio and passes our arguments unchanged.
    const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", pattern: "**/*.code-workspace" }],
      outputChannel: output,
      initializationOptions,
    };
    return new LanguageClient("mcpMarshal", "MCP Marshal", serverOptions, clientOptions) as unknown as LanguageClientLike;
  };

  host = new LanguageServerHost({ createClient, servers, locks, logs, telemetry, output, interpreter: () => activeInterpreter() });
  const serversView = vscode.window.createTreeView(SERVERS_VIEW, { treeDataProvider: serverTree });

  context.subscriptions.push(
    output,
    servers,
    locks,
    logs,
    telemetry,
    serverTree,
    lockTree,
    new ServerStatusBar(servers),
    serversView,
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
    }),
    host,
  );

  const interpreterWatch = await onInterpreterChanged(() => {
    // Only a server launched with the Python extension's interpreter follows it (see resolveLaunch).
    const { path, python } = readLaunchSettings();
    if (!path?.trim() && !python?.trim()) void host?.restart();
  });
  if (interpreterWatch) context.subscriptions.push(interpreterWatch);

  await host.start();
}

export async function deactivate(): Promise<void> {
  await host?.stop();
  host = undefined;
}
