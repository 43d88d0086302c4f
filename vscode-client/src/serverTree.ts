import * as vscode from "vscode";
import { changeText } from "./mcpDefinitions";
import type { ServerStore, ServerView, Supervisor } from "./serverStore";

export const SERVERS_VIEW = "mcpMarshal.servers";

const ICONS: Record<string, [icon: string, color?: string]> = {
  ready: ["pass-filled", "testing.iconPassed"],
  starting: ["loading~spin"],
  stopping: ["loading~spin"],
  unhealthy: ["warning", "list.warningForeground"],
  exited: ["debug-disconnect", "list.warningForeground"],
  backoff: ["history", "list.warningForeground"],
  failed: ["error", "list.errorForeground"],
  blocked: ["circle-slash", "disabledForeground"],
  stopped: ["circle-outline"],
};

export function stateIcon(state: string): vscode.ThemeIcon {
  const [icon, color] = ICONS[state] ?? ["question"];
  return color ? new vscode.ThemeIcon(icon, new vscode.ThemeColor(color)) : new vscode.ThemeIcon(icon);
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

/** Milliseconds until `formatDuration` shows another value for a server that has run `uptimeMs`. */
export function nextUptimeChangeMs(uptimeMs: number): number {
  const unit = uptimeMs < 60_000 ? 1_000 : uptimeMs < 86_400_000 ? 60_000 : 3_600_000;
  return unit - (uptimeMs % unit);
}

/** What the ticker needs of the view (a `vscode.TreeView`). */
export interface VisibleView {
  readonly visible: boolean;
  readonly onDidChangeVisibility: vscode.Event<unknown>;
}

/**
 * Redraws the uptimes when the text they show changes (each second under a minute, each minute
 * after), and only while the view is visible; shown again, the view is redrawn at once.
 */
export class UptimeTicker implements vscode.Disposable {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly store: ServerStore,
    private readonly view: VisibleView,
    private readonly redraw: () => void,
  ) {
    this.subscriptions = [
      store.onDidChange(() => this.schedule()),
      view.onDidChangeVisibility(() => {
        if (view.visible) this.redraw();
        this.schedule();
      }),
    ];
    this.schedule();
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subscriptions) s.dispose();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.view.visible) return;
    const waits = this.store
      .all()
      .map((server) => this.store.uptimeMs(server))
      .filter((ms): ms is number => ms !== undefined)
      .map(nextUptimeChangeMs);
    if (waits.length === 0) return;
    this.timer = setTimeout(() => {
      this.redraw();
      this.schedule();
    }, Math.min(...waits));
  }
}

/** The "MCP Servers" view: one row per server; `contextValue` drives the inline actions. */
export class ServerTreeProvider implements vscode.TreeDataProvider<ServerView>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly store: ServerStore) {
    this.subscription = store.onDidChange(() => this.changed.fire());
  }

  getChildren(element?: ServerView): ServerView[] {
    return element ? [] : this.store.all();
  }

  getTreeItem(server: ServerView): vscode.TreeItem {
    const item = new vscode.TreeItem(server.name, vscode.TreeItemCollapsibleState.None);
    item.id = server.name;
    const uptime = this.store.uptimeSeconds(server);
    if (server.needs_approval) {
      // Its launch is new or changed: nothing runs until the user approves it (Approve inline).
      item.iconPath = new vscode.ThemeIcon("shield", new vscode.ThemeColor("list.warningForeground"));
      item.contextValue = `mcpServer.${server.state}.needsApproval`;
      item.description = approvalDescription(server.changed);
      item.tooltip = tooltip(server, uptime);
      return item;
    }
    item.iconPath = stateIcon(server.state);
    item.contextValue = `mcpServer.${server.state}`;
    const parts: string[] = [server.state];
    if (server.pid) parts.push(`pid ${server.pid}`);
    if (server.restarts) parts.push(`↻ ${server.restarts}`);
    if (uptime !== undefined) parts.push(`up ${formatDuration(uptime)}`);
    item.description = parts.join(" · ");
    item.tooltip = tooltip(server, uptime);
    return item;
  }

  /** Redraw (uptimes move on even when no event arrives). */
  refresh(): void {
    this.changed.fire();
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/** The row's description while a server waits for approval: "needs approval · args, env changed". */
export function approvalDescription(changed: readonly string[] | undefined): string {
  const fields = (changed ?? []).filter((c) => c !== "new");
  if ((changed ?? []).includes("new") || fields.length === 0) return "needs approval · new";
  return `needs approval · ${fields.join(", ")} changed`;
}

/** The servers view's message when another process supervises the file, else undefined. */
export function supervisorMessage(supervisor: Supervisor | undefined): string | undefined {
  if (!supervisor) return undefined;
  const { kind, pid } = supervisor.owner;
  const who = `${kind || "another process"}${pid != null ? ` (pid ${pid})` : ""}`;
  const why = supervisor.reason ? ` Its servers cannot be listed now: ${supervisor.reason}.` : "";
  return `Supervised by ${who} in another window or terminal: these are its servers, this window starts no copies.${why}`;
}

/** Keeps the servers view's message in step with who supervises the file. */
export class SupervisorNote implements vscode.Disposable {
  private readonly subscription: vscode.Disposable;

  constructor(store: ServerStore, view: { message?: string }) {
    const update = () => {
      const message = supervisorMessage(store.supervisor);
      if (view.message !== message) view.message = message;
    };
    this.subscription = store.onDidChange(update);
    update();
  }

  dispose(): void {
    this.subscription.dispose();
  }
}

function tooltip(server: ServerView, uptime: number | undefined): string {
  const lines = [`${server.name} (${server.type ?? "stdio"}): ${server.state}`];
  if (server.needs_approval) lines.push(`needs approval: ${changeText(server.changed)}`);
  if (server.pid) lines.push(`pid ${server.pid}`);
  lines.push(`restarts ${server.restarts ?? 0}`);
  if (uptime !== undefined) lines.push(`uptime ${formatDuration(uptime)}`);
  if (server.handshake_ms != null) lines.push(`handshake ${Math.round(server.handshake_ms)} ms`);
  if (server.protocol_version) lines.push(`protocol ${server.protocol_version}`);
  if (server.depends_on?.length) lines.push(`depends on ${server.depends_on.join(", ")}`);
  if (server.last_exit_code != null) lines.push(`last exit code ${server.last_exit_code}`);
  if (server.last_signal != null) lines.push(`last signal ${server.last_signal}`);
  if (server.last_error) lines.push(`last error: ${server.last_error}`);
  return lines.join("\n");
}
