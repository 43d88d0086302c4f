import * as vscode from "vscode";
import type { MarshalApi } from "./marshalApi";
import type { LockInfo } from "./protocol";
import type { ServerLogs } from "./serverLogs";
import type { LockStore, ServerStore, ServerView } from "./serverStore";
import { approvalDescription } from "./serverTree";

/** Palette / view commands. Ids differ from the server's own `mcpMarshal.*` commands, which
 * vscode-languageclient registers itself from the server's `executeCommandProvider`. */
export const UiCommands = {
  listServers: "mcpMarshal.ui.listServers",
  startServer: "mcpMarshal.ui.startServer",
  stopServer: "mcpMarshal.ui.stopServer",
  restartServer: "mcpMarshal.ui.restartServer",
  restartAll: "mcpMarshal.ui.restartAll",
  showLogs: "mcpMarshal.ui.showLogs",
  reloadConfig: "mcpMarshal.ui.reloadConfig",
  trustWorkspace: "mcpMarshal.ui.trustWorkspace",
  acquireLock: "mcpMarshal.ui.acquireLock",
  renewLock: "mcpMarshal.ui.renewLock",
  releaseLock: "mcpMarshal.ui.releaseLock",
  listLocks: "mcpMarshal.ui.listLocks",
  flushTelemetry: "mcpMarshal.ui.flushTelemetry",
  refresh: "mcpMarshal.ui.refresh",
  showOutput: "mcpMarshal.ui.showOutput",
  restartLanguageServer: "mcpMarshal.ui.restartLanguageServer",
  openServerSettings: "mcpMarshal.ui.openServerSettings",
  approveServer: "mcpMarshal.ui.approveServer",
} as const;

export interface CommandContext {
  /** The running server's API, or undefined while it is not running. */
  api(): MarshalApi | undefined;
  servers: ServerStore;
  locks: LockStore;
  logs: ServerLogs;
  refresh(): Promise<void>;
  showOutput(): void;
  restartLanguageServer(): Promise<void>;
  /** The settings that choose the language server (the Remote settings in a remote window). */
  openServerSettings(): Thenable<unknown>;
}

type ServerAction = "restart" | "stop" | "start" | "showLogs" | "approve";

const ACTION_LABELS: Record<ServerAction, string> = {
  restart: "$(debug-restart) Restart",
  stop: "$(debug-stop) Stop",
  start: "$(debug-start) Start",
  showLogs: "$(output) Show Logs",
  approve: "$(shield) Approve and Start",
};

const STOPPED_STATES = new Set(["stopped", "failed", "exited", "blocked"]);

/**
 * The actions that make sense for a server in its current state, in menu order. A server that
 * needs approval cannot start (or restart) before the user approves its launch.
 */
export function actionsFor(state: string, needsApproval = false): ServerAction[] {
  if (needsApproval) return ["approve", "showLogs"];
  return STOPPED_STATES.has(state) ? ["start", "restart", "showLogs"] : ["restart", "stop", "showLogs"];
}

export function registerUiCommands(ctx: CommandContext): vscode.Disposable[] {
  const withApi =
    (run: (api: MarshalApi, ...args: unknown[]) => Promise<unknown>) =>
    async (...args: unknown[]): Promise<unknown> => {
      const api = ctx.api();
      if (!api) {
        void vscode.window.showWarningMessage("MCP Marshal: the language server is not running.");
        return undefined;
      }
      try {
        return await run(api, ...args);
      } catch (err) {
        void vscode.window.showErrorMessage(`MCP Marshal: ${errorText(err)}`);
        return undefined;
      }
    };

  const serverCommand = (action: ServerAction) =>
    withApi(async (api, arg) => {
      const question = `${ACTION_LABELS[action].replace(/^\$\([^)]*\) /, "")} which server?`;
      const name = serverName(arg) ?? (await pickServer(ctx.servers, question, action === "approve"));
      if (name === undefined) return undefined;
      return runServerAction(ctx, api, action, name);
    });

  /** Renew / release: the tree row's lease (else a picked one), then the refreshed lock list. */
  const heldLockCommand = (placeHolder: string, run: (api: MarshalApi, lock: LockInfo) => Promise<unknown>) =>
    withApi(async (api, arg) => {
      const lock = asLock(arg) ?? (await pickLock(ctx, api, placeHolder));
      if (!lock) return undefined;
      const result = await run(api, lock);
      await refreshLocks(ctx, api);
      return result;
    });

  const register = vscode.commands.registerCommand;
  return [
    register(UiCommands.restartServer, serverCommand("restart")),
    register(UiCommands.stopServer, serverCommand("stop")),
    register(UiCommands.startServer, serverCommand("start")),
    register(UiCommands.showLogs, serverCommand("showLogs")),
    register(UiCommands.approveServer, serverCommand("approve")),
    register(
      UiCommands.listServers,
      withApi(async (api) => {
        const name = await pickServer(ctx.servers, "MCP servers");
        if (name === undefined) return undefined;
        const server = ctx.servers.get(name);
        const state = server?.state ?? "stopped";
        const needsApproval = server?.needs_approval === true;
        const picked = await vscode.window.showQuickPick(
          actionsFor(state, needsApproval).map((action) => ({ label: ACTION_LABELS[action], action })),
          { title: `${name} (${needsApproval ? "needs approval" : state})`, placeHolder: "Action" },
        );
        return picked ? runServerAction(ctx, api, picked.action, name) : undefined;
      }),
    ),
    register(UiCommands.restartAll, withApi((api) => api.restartAll())),
    register(
      UiCommands.reloadConfig,
      withApi(async (api) => {
        const result = await api.reloadConfig();
        await ctx.refresh(); // the reload may have removed servers: re-seed from listServers
        return result;
      }),
    ),
    register(
      UiCommands.trustWorkspace,
      withApi(async (api) => {
        // VS Code's own trust decides; granting it there makes the host send trustWorkspace.
        if (!vscode.workspace.isTrusted) return vscode.commands.executeCommand("workbench.trust.manage");
        return api.trustWorkspace();
      }),
    ),
    register(UiCommands.flushTelemetry, withApi((api) => api.flushTelemetry())),
    register(
      UiCommands.acquireLock,
      withApi(async (api) => {
        const task = await vscode.window.showInputBox({ title: "Acquire task lock", prompt: "Task" });
        if (!task) return undefined;
        const owner = await vscode.window.showInputBox({ title: `Lock "${task}"`, prompt: "Owner", value: "vscode" });
        if (!owner) return undefined;
        const result = await api.acquireLock(task, owner);
        void vscode.window.showInformationMessage(describeLease(task, result, "acquired"));
        await refreshLocks(ctx, api);
        return result;
      }),
    ),
    register(
      UiCommands.renewLock,
      heldLockCommand("Renew which lock?", async (api, lock) => {
        const result = await api.renewLock(lock.task, lock.owner, lock.token);
        void vscode.window.showInformationMessage(describeLease(lock.task, result, "renewed"));
        return result;
      }),
    ),
    register(
      UiCommands.releaseLock,
      heldLockCommand("Release which lock?", (api, lock) => api.releaseLock(lock.task, lock.owner, lock.token)),
    ),
    register(
      UiCommands.listLocks,
      withApi(async (api) => {
        const lock = await pickLock(ctx, api, "Task locks");
        if (!lock) return undefined;
        return vscode.commands.executeCommand(UiCommands.releaseLock, lock);
      }),
    ),
    register(UiCommands.refresh, () => ctx.refresh()),
    register(UiCommands.showOutput, () => ctx.showOutput()),
    register(UiCommands.restartLanguageServer, () => ctx.restartLanguageServer()),
    register(UiCommands.openServerSettings, () => ctx.openServerSettings()),
  ];
}

async function runServerAction(ctx: CommandContext, api: MarshalApi, action: ServerAction, name: string) {
  switch (action) {
    case "restart":
      return api.restartServer(name);
    case "stop":
      return api.stopServer(name);
    case "start":
      return api.startServer(name);
    case "showLogs": {
      const lines = await api.showLogs(name);
      ctx.logs.showTail(name, lines);
      return lines;
    }
    case "approve": {
      const result = await api.approveServers(name);
      await ctx.refresh(); // a server that does not autoStart sends no state change: re-seed the rows
      return result;
    }
  }
}

async function pickServer(store: ServerStore, placeHolder: string, needingApproval = false): Promise<string | undefined> {
  const servers = store.all().filter((s) => !needingApproval || s.needs_approval);
  if (servers.length === 0) {
    const none = needingApproval ? "no MCP server needs approval." : "no MCP servers are configured in this workspace.";
    void vscode.window.showInformationMessage(`MCP Marshal: ${none}`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    servers.map((s) => ({
      label: s.name,
      description: s.needs_approval ? approvalDescription(s.changed) : s.state,
      detail: s.last_error || undefined,
    })),
    { placeHolder },
  );
  return picked?.label;
}

async function pickLock(ctx: CommandContext, api: MarshalApi, placeHolder: string): Promise<LockInfo | undefined> {
  await refreshLocks(ctx, api);
  const locks = ctx.locks.all();
  if (locks.length === 0) {
    void vscode.window.showInformationMessage("MCP Marshal: no task locks are held.");
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    locks.map((lock) => ({ label: lock.task, description: `${lock.owner} · token ${lock.token}`, lock })),
    { placeHolder },
  );
  return picked?.lock;
}

async function refreshLocks(ctx: CommandContext, api: MarshalApi): Promise<void> {
  const result = await api.listLocks();
  ctx.locks.replaceAll(result?.locks ?? []);
}

/** A tree row passes its element; the palette passes nothing; other extensions pass a name. */
function serverName(arg: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  if (arg !== null && typeof arg === "object" && typeof (arg as ServerView).name === "string") {
    return (arg as ServerView).name;
  }
  return undefined;
}

function asLock(arg: unknown): LockInfo | undefined {
  if (arg !== null && typeof arg === "object" && "task" in arg && "owner" in arg && "token" in arg) {
    return arg as LockInfo;
  }
  return undefined;
}

/** Wording for an acquire/renew result: `{token}` or `{lease: {token}}` means granted. */
export function describeLease(task: string, result: unknown, verb: string): string {
  const record = (result ?? {}) as Record<string, unknown>;
  const lease = (typeof record.lease === "object" && record.lease !== null ? record.lease : record) as Record<
    string,
    unknown
  >;
  if (lease.token !== undefined && lease.token !== null && record.ok !== false && record.acquired !== false) {
    return `MCP Marshal: lock "${task}" ${verb} (fencing token ${JSON.stringify(lease.token)}).`;
  }
  // The LSP answers a refused acquire with the current lease as `holder` ({owner, token, ...}).
  const held = record.holder as { owner?: unknown } | string | undefined;
  const owner = typeof held === "string" ? held : typeof held?.owner === "string" ? held.owner : undefined;
  const holder = owner !== undefined ? ` (held by ${owner})` : "";
  return `MCP Marshal: lock "${task}" not ${verb}${holder}.`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
