import { beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import { LockTreeProvider } from "../src/lockTree";
import { ServerStatusBar } from "../src/statusBar";
import { SERVER_STATES } from "../src/protocol";
import { ServerTreeProvider, SupervisorNote, stateIcon } from "../src/serverTree";
import { fake, type FakeStatusBarItem, type ThemeColor, type ThemeIcon } from "./fake/vscode";
import { makeHost, resetEditor, snapshot } from "./harness";

beforeEach(resetEditor);

async function started(servers = [snapshot("memory", "starting"), snapshot("files", "stopped")]) {
  const h = makeHost({ servers });
  const tree = new ServerTreeProvider(h.servers);
  const view = vscode.window.createTreeView("mcpMarshal.servers", { treeDataProvider: tree });
  const bar = new ServerStatusBar(h.servers, h.host);
  let redraws = 0;
  tree.onDidChangeTreeData(() => redraws++);
  await h.host.start();
  return { ...h, tree, view, bar, redraws: () => redraws, item: fake.statusBarItems.at(-1) as FakeStatusBarItem };
}

function stateChanged(name: string, state: string, previous: string, extra: Record<string, unknown> = {}) {
  return { event: "ServerStateChanged", ts: 999.5, name, state, previous, pid: null, restarts: 0, detail: "", ...extra };
}

describe("MCP Servers tree", () => {
  it("shows each server with its state icon, pid, restarts and uptime, live from notifications", async () => {
    const h = await started();
    const before = h.redraws();
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("memory", "ready", "starting", { pid: 4242, restarts: 2 }));
    expect(h.redraws()).toBe(before + 1);
    h.clock.advance(125_000);
    const [memory, files] = await fake.treeItems("mcpMarshal.servers");
    expect(memory.label).toBe("memory");
    expect(memory.id).toBe("memory");
    expect(memory.description).toBe("ready · pid 4242 · ↻ 2 · up 2m");
    expect((memory.iconPath as ThemeIcon).id).toBe("pass-filled");
    expect(((memory.iconPath as ThemeIcon).color as ThemeColor).id).toBe("testing.iconPassed");
    expect(memory.contextValue).toBe("mcpServer.ready");
    expect(memory.collapsibleState).toBe(vscode.TreeItemCollapsibleState.None);
    expect(files.description).toBe("stopped");
    expect(files.contextValue).toBe("mcpServer.stopped");
  });

  it("puts the last error in the tooltip of a failed server", async () => {
    const h = await started();
    h.client().notify(
      "mcpMarshal/serverStateChanged",
      stateChanged("files", "failed", "backoff", { restarts: 5, detail: "exited with code 1", server: snapshot("files", "failed", { last_exit_code: 1, stderr_tail: ["boom"] }) }),
    );
    const [, files] = await fake.treeItems("mcpMarshal.servers");
    expect((files.iconPath as ThemeIcon).id).toBe("error");
    expect(files.tooltip).toContain("last error: exited with code 1");
    expect(files.tooltip).toContain("last exit code 1");
    expect(files.tooltip).toContain("restarts 5");
  });

  it("adds servers it first hears of in a notification and keeps the server's order", async () => {
    const h = await started();
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("search", "starting", "stopped"));
    expect((await fake.treeItems("mcpMarshal.servers")).map((i) => i.label)).toEqual(["memory", "files", "search"]);
  });

  it("drops a server's row on mcpMarshal/serverRemoved, and the status bar count follows", async () => {
    const h = await started([snapshot("memory", "ready"), snapshot("files", "stopped"), snapshot("search", "ready")]);
    const bar = fake.statusBarItems.at(-1) as FakeStatusBarItem;
    expect(bar.text).toBe("$(server-process) MCP 2/3");
    h.client().notify("mcpMarshal/serverRemoved", { name: "search" });
    expect((await fake.treeItems("mcpMarshal.servers")).map((i) => i.label)).toEqual(["memory", "files"]);
    expect(bar.text).toBe("$(server-process) MCP 1/2");
    h.client().notify("mcpMarshal/serverRemoved", { name: "unknown" }); // nothing to drop, no error
    expect(h.servers.names()).toEqual(["memory", "files"]);
  });

  it("re-seeding from listServers (a reconnect, a refresh) drops rows the server no longer lists", async () => {
    const h = await started([snapshot("memory", "ready"), snapshot("files", "ready")]);
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("late", "starting", "stopped"));
    h.setServerList([snapshot("files", "ready")]);
    await h.host.refresh();
    expect(h.servers.names()).toEqual(["files"]);
    h.setServerList([snapshot("memory", "ready"), snapshot("files", "ready")]);
    await h.host.restart(); // a new language server is seeded from scratch
    expect(h.servers.names()).toEqual(["memory", "files"]);
  });

  it("takes uptime from listServers and drops it when the server stops", async () => {
    const h = await started([snapshot("memory", "ready", { uptime_s: 3700, pid: 7 })]);
    expect((await fake.treeItems("mcpMarshal.servers"))[0].description).toBe("ready · pid 7 · up 1h 1m");
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("memory", "stopping", "ready", { pid: 7 }));
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("memory", "stopped", "stopping"));
    expect((await fake.treeItems("mcpMarshal.servers"))[0].description).toBe("stopped");
  });

  it("shows a server that needs approval as such, with what changed, and the Approve action", async () => {
    const h = await started([
      snapshot("memory", "stopped", { needs_approval: true, changed: ["args", "env"] }),
      snapshot("files", "stopped", { needs_approval: true, changed: ["new"] }),
    ]);
    const [memory, files] = await fake.treeItems("mcpMarshal.servers");
    expect(memory.description).toBe("needs approval · args, env changed");
    expect(memory.contextValue).toBe("mcpServer.stopped.needsApproval");
    expect((memory.iconPath as ThemeIcon).id).toBe("shield");
    expect(memory.tooltip).toContain("needs approval: its args and env changed since you approved it");
    expect(files.description).toBe("needs approval · new");
    // Approved: the server starts and its (full) snapshot no longer needs approval.
    const approved = snapshot("memory", "starting", { needs_approval: false, changed: [] });
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("memory", "starting", "stopped", { server: approved }));
    const [after] = await fake.treeItems("mcpMarshal.servers");
    expect(after.description).toBe("starting");
    expect(after.contextValue).toBe("mcpServer.starting");
  });

  it("says so at the top of the view when another window supervises the file", async () => {
    const h = makeHost({
      servers: [snapshot("memory", "ready")],
      listExtra: { owner: { pid: 4242, kind: "the MCP Marshal language server" } },
    });
    const tree = new ServerTreeProvider(h.servers);
    const view = vscode.window.createTreeView("mcpMarshal.servers", { treeDataProvider: tree });
    const note = new SupervisorNote(h.servers, view);
    await h.host.start();
    expect(view.message).toBe(
      "Supervised by the MCP Marshal language server (pid 4242) in another window or terminal: these are its servers, this window starts no copies.",
    );
    h.setListExtra({ owner: { pid: 4242, kind: "" }, reason: "its gateway does not answer" });
    await h.host.refresh();
    expect(view.message).toBe(
      "Supervised by another process (pid 4242) in another window or terminal: these are its servers, this window starts no copies. Its servers cannot be listed now: its gateway does not answer.",
    );
    h.setListExtra({});
    await h.host.refresh();
    expect(view.message).toBeUndefined();
    note.dispose();
  });

  it("has an icon for every state of the contract", () => {
    const ids = SERVER_STATES.map((s) => stateIcon(s).id);
    expect(ids).not.toContain("question");
  });
});

describe("status bar", () => {
  it("counts ready servers and turns to the warning colour while one is failed", async () => {
    const h = await started([snapshot("a", "ready"), snapshot("b", "ready"), snapshot("c", "starting")]);
    expect(h.item.text).toBe("$(server-process) MCP 2/3");
    expect(h.item.backgroundColor).toBeUndefined();
    expect(h.item.command).toBe("mcpMarshal.ui.listServers");
    expect(h.item.visible).toBe(true);

    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("c", "failed", "backoff"));
    expect(h.item.text).toBe("$(server-process) MCP 2/3");
    expect(h.item.backgroundColor?.id).toBe("statusBarItem.warningBackground");
    expect(h.item.tooltip).toContain("c: failed");

    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("c", "ready", "starting"));
    expect(h.item.text).toBe("$(server-process) MCP 3/3");
    expect(h.item.backgroundColor).toBeUndefined();
  });
});

describe("Task Locks tree", () => {
  it("follows lockChanged events", async () => {
    const h = makeHost();
    const tree = new LockTreeProvider(h.locks, () => 1_000_000);
    vscode.window.createTreeView("mcpMarshal.locks", { treeDataProvider: tree });
    await h.host.start();
    h.client().notify("mcpMarshal/lockChanged", { event: "LeaseAcquired", task: "build", owner: "agent-1", token: 7, expires_at: 1_600 });
    let [item] = await fake.treeItems("mcpMarshal.locks");
    expect(item.label).toBe("build");
    expect(item.description).toBe("agent-1 · token 7 · expires in 10m");
    expect(item.contextValue).toBe("mcpLock");

    // A stale release (older token) leaves the newer holder in place.
    h.client().notify("mcpMarshal/lockChanged", { event: "LeaseReleased", task: "build", owner: "agent-0", token: 6 });
    expect(await fake.treeItems("mcpMarshal.locks")).toHaveLength(1);
    h.client().notify("mcpMarshal/lockChanged", { event: "LeaseExpired", task: "build", owner: "agent-1", token: 7 });
    expect(await fake.treeItems("mcpMarshal.locks")).toHaveLength(0);

    h.client().notify("mcpMarshal/lockChanged", { event: "LeaseAcquired", ts: 1, task: "deploy", owner: "ci", token: 3, expires_at: 2 });
    [item] = await fake.treeItems("mcpMarshal.locks");
    expect(item.description).toBe("ci · token 3 · expired");
  });
});
