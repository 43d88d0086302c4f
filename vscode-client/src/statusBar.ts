import * as vscode from "vscode";
import { UiCommands } from "./commands";
import type { HostState } from "./languageServer";
import type { ServerStore } from "./serverStore";

/** What the status bar needs of the language server host. */
export interface LanguageServerStatus {
  readonly state: HostState;
  readonly failure: string | undefined;
  readonly onDidChangeState: vscode.Event<void>;
}

/**
 * "MCP ready/total" while the language server runs (warning background when a server is
 * failed; click → server picker); an error item when the language server is not running.
 */
export class ServerStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly store: ServerStore,
    private readonly host: LanguageServerStatus,
  ) {
    this.item = vscode.window.createStatusBarItem("mcpMarshal.status", vscode.StatusBarAlignment.Left, 50);
    this.item.name = "MCP Marshal";
    this.subscriptions = [store.onDidChange(() => this.render()), host.onDidChangeState(() => this.render())];
    this.render();
    this.item.show();
  }

  render(): void {
    switch (this.host.state) {
      case "running":
        return this.renderServers();
      case "starting":
        return this.set("$(loading~spin) MCP", "MCP Marshal: starting the language server…", undefined, UiCommands.showOutput);
      case "failed":
        return this.set(
          "$(error) MCP",
          `MCP Marshal: the language server is not running.\n${this.host.failure ?? ""}\nClick to show its output.`,
          "statusBarItem.errorBackground",
          UiCommands.showOutput,
        );
      case "stopped":
        return this.set("$(circle-slash) MCP", "MCP Marshal: the language server is stopped. Click to start it.", undefined, UiCommands.restartLanguageServer);
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }

  private renderServers(): void {
    const servers = this.store.all();
    const ready = servers.filter((s) => s.state === "ready").length;
    const anyFailed = servers.some((s) => s.state === "failed");
    const lines = servers.map((s) => `${s.name}: ${s.state}`);
    this.set(
      `$(server-process) MCP ${ready}/${servers.length}`,
      [`MCP servers: ${ready} of ${servers.length} ready`, ...lines].join("\n"),
      anyFailed ? "statusBarItem.warningBackground" : undefined,
      UiCommands.listServers,
    );
  }

  private set(text: string, tooltip: string, background: string | undefined, command: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = background ? new vscode.ThemeColor(background) : undefined;
    this.item.command = command;
  }
}
