import * as vscode from "vscode";
import type { LockInfo } from "./protocol";
import type { LockStore } from "./serverStore";
import { formatDuration } from "./serverTree";

export const LOCKS_VIEW = "mcpMarshal.locks";

/** The "Task Locks" view: one row per held lease. */
export class LockTreeProvider implements vscode.TreeDataProvider<LockInfo>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly store: LockStore,
    private readonly now: () => number = Date.now,
  ) {
    this.subscription = store.onDidChange(() => this.changed.fire());
  }

  getChildren(element?: LockInfo): LockInfo[] {
    return element ? [] : this.store.all();
  }

  getTreeItem(lock: LockInfo): vscode.TreeItem {
    const item = new vscode.TreeItem(lock.task, vscode.TreeItemCollapsibleState.None);
    item.id = `lock:${lock.task}`;
    item.iconPath = new vscode.ThemeIcon("lock");
    item.contextValue = "mcpLock";
    const parts = [lock.owner, `token ${lock.token}`];
    if (typeof lock.expires_at === "number") {
      // The server reports seconds since the epoch, like every event timestamp.
      const left = Math.round(lock.expires_at - this.now() / 1000);
      parts.push(left > 0 ? `expires in ${formatDuration(left)}` : "expired");
    }
    item.description = parts.join(" · ");
    item.tooltip = `${lock.task}\nowner ${lock.owner}\nfencing token ${lock.token}`;
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
