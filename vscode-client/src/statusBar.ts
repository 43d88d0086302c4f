import * as vscode from "vscode";
import { UiCommands } from "./commands";
import type { ServerStore } from "./serverStore";

/** "MCP ready/total"; warning background when any server is failed; click → server picker. */
export class ServerStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly store: ServerStore) {
    this.item = vscode.window.createStatusBarItem("mcpMarshal.status", vscode.StatusBarAlignment.Left, 50);
    this.item.name = "MCP Marshal";
    this.item.command = UiCommands.listServers;
    this.subscription = store.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  render(): void {
    const servers = this.store.all();
    const ready = servers.filter((s) => s.state === "ready").length;
    const anyFailed = servers.some((s) => s.state === "failed");
    this.item.text = `$(server-process) MCP ${ready}/${servers.length}`;
    this.item.backgroundColor = anyFailed
      ? new vscode.ThemeColor("statusBarItem.warningBackground")
      : undefined;
    const lines = servers.map((s) => `${s.name}: ${s.state}`);
    this.item.tooltip = [`MCP servers: ${ready} of ${servers.length} ready`, ...lines].join("\n");
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
