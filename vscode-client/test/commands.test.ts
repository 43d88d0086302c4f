import { beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import { UiCommands, actionsFor, describeLease, registerUiCommands } from "../src/commands";
import { SERVER_STATES } from "../src/protocol";
import { fake } from "./fake/vscode";
import { makeHost, manifest, resetEditor, snapshot } from "./harness";

beforeEach(resetEditor);

async function setup() {
  const h = makeHost({ servers: [snapshot("memory", "ready", { pid: 1 }), snapshot("files", "failed", { last_error: "exit 1" })] });
  registerUiCommands({
    api: () => h.host.currentApi(),
    servers: h.servers,
    locks: h.locks,
    logs: h.logs,
    refresh: () => h.host.refresh(),
    showOutput: () => h.output.show(),
    restartLanguageServer: () => h.host.restart(),
    openServerSettings: () => Promise.resolve(),
  });
  await h.host.start();
  h.client().requests.length = 0;
  return h;
}

describe("palette and tree commands → workspace/executeCommand", () => {
  it.each([
    [UiCommands.restartServer, "mcpMarshal.restartServer"],
    [UiCommands.stopServer, "mcpMarshal.stopServer"],
    [UiCommands.startServer, "mcpMarshal.startServer"],
    [UiCommands.showLogs, "mcpMarshal.showLogs"],
  ])("%s on a tree row sends %s NAME", async (uiCommand, serverCommand) => {
    const h = await setup();
    await vscode.commands.executeCommand(uiCommand, h.servers.get("files"));
    expect(h.client().commands()).toEqual([[serverCommand, "files"]]);
    expect(fake.quickPicks).toHaveLength(0);
  });

  it.each([
    [UiCommands.restartAll, "mcpMarshal.restartAll"],
    [UiCommands.trustWorkspace, "mcpMarshal.trustWorkspace"],
    [UiCommands.flushTelemetry, "mcpMarshal.flushTelemetry"],
  ])("%s sends %s", async (uiCommand, serverCommand) => {
    const h = await setup();
    await vscode.commands.executeCommand(uiCommand);
    expect(h.client().commands()).toEqual([[serverCommand]]);
  });

  it("Reload Configuration sends reloadConfig, then re-seeds the views so removed servers leave", async () => {
    const h = await setup();
    h.setServerList([snapshot("memory", "ready", { pid: 1 })]); // the reload removed "files"
    await vscode.commands.executeCommand(UiCommands.reloadConfig);
    expect(h.client().commands()).toEqual([["mcpMarshal.reloadConfig"], ["mcpMarshal.listServers"], ["mcpMarshal.listLocks"]]);
    expect(h.servers.names()).toEqual(["memory"]);
  });

  it("Restart Server… from the palette asks which server, showing states and errors", async () => {
    const h = await setup();
    fake.answers.quickPick = (items) => items.find((i) => i.label === "files");
    await vscode.commands.executeCommand(UiCommands.restartServer);
    expect(fake.quickPicks[0].items).toEqual([
      { label: "memory", description: "ready", detail: undefined },
      { label: "files", description: "failed", detail: "exit 1" },
    ]);
    expect(h.client().commands()).toEqual([["mcpMarshal.restartServer", "files"]]);
  });

  it("Approve on a row sends approveServers NAME and re-seeds the rows", async () => {
    const h = await setup();
    await vscode.commands.executeCommand(UiCommands.approveServer, h.servers.get("files"));
    expect(h.client().commands()).toEqual([["mcpMarshal.approveServers", "files"], ["mcpMarshal.listServers"], ["mcpMarshal.listLocks"]]);
  });

  it("Approve Server… from the palette offers only the servers that need approval", async () => {
    const h = await setup();
    h.client().notify("mcpMarshal/serverStateChanged", {
      ts: 1,
      name: "files",
      state: "stopped",
      previous: "failed",
      server: snapshot("files", "stopped", { needs_approval: true, changed: ["command"] }),
    });
    fake.answers.quickPick = (items) => items[0];
    await vscode.commands.executeCommand(UiCommands.approveServer);
    expect(fake.quickPicks[0].items).toEqual([{ label: "files", description: "needs approval · command changed", detail: undefined }]);
    expect(h.client().commands()[0]).toEqual(["mcpMarshal.approveServers", "files"]);
  });

  it("List Servers… offers Approve and Start (and logs) for a server that needs approval, and approves it", async () => {
    const h = await setup();
    h.setServerList([snapshot("db", "stopped", { needs_approval: true, changed: ["new"] })]);
    await h.host.refresh();
    h.client().requests.length = 0;
    fake.answers.quickPick = (items, options) => (options?.placeHolder === "Action" ? items[0] : items.find((i) => i.label === "db"));
    await vscode.commands.executeCommand(UiCommands.listServers);
    expect(fake.quickPicks[1].options?.title).toBe("db (needs approval)");
    expect(fake.quickPicks[1].items.map((i) => i.label)).toEqual(["$(shield) Approve and Start", "$(output) Show Logs"]);
    expect(h.client().commands()[0]).toEqual(["mcpMarshal.approveServers", "db"]);
  });

  it("does nothing when the pick is dismissed", async () => {
    const h = await setup();
    await vscode.commands.executeCommand(UiCommands.stopServer);
    expect(h.client().commands()).toEqual([]);
  });

  it("the status bar flow picks a server, then one of the actions that fit its state", async () => {
    const h = await setup();
    const answers = ["files", "$(debug-start) Start"];
    fake.answers.quickPick = (items) => items.find((i) => i.label === answers[0] && answers.shift() !== undefined);
    await vscode.commands.executeCommand(UiCommands.listServers);
    expect(fake.quickPicks[1].items.map((i) => i.label)).toEqual(["$(debug-start) Start", "$(debug-restart) Restart", "$(output) Show Logs"]);
    expect(fake.quickPicks[1].options?.title).toBe("files (failed)");
    expect(h.client().commands()).toEqual([["mcpMarshal.startServer", "files"]]);
  });

  it("Show Logs fills the server's output channel with the stderr tail and shows it", async () => {
    await setup();
    await vscode.commands.executeCommand(UiCommands.showLogs, "memory");
    const channel = fake.channel("MCP Marshal: memory");
    expect(channel?.lines).toEqual(["── last 2 stderr line(s) of memory ──", "memory stderr 1", "memory stderr 2"]);
    expect(channel?.shown).toBe(1);
  });

  it("shows a server's error instead of throwing", async () => {
    const h = await setup();
    h.client().respond = () => {
      throw new Error('unknown server "nope"');
    };
    await vscode.commands.executeCommand(UiCommands.restartServer, "nope");
    expect(fake.messages.at(-1)).toMatchObject({ severity: "error", message: 'MCP Marshal: unknown server "nope"' });
  });

  it("says so when the language server is not running", async () => {
    const h = await setup();
    await h.host.stop();
    await vscode.commands.executeCommand(UiCommands.restartAll);
    expect(fake.messages.at(-1)?.message).toContain("not running");
  });

  it("in an untrusted workspace, Trust opens VS Code's trust editor instead of bypassing it", async () => {
    const h = await setup();
    fake.trusted = false;
    let opened = false;
    vscode.commands.registerCommand("workbench.trust.manage", () => (opened = true));
    await vscode.commands.executeCommand(UiCommands.trustWorkspace);
    expect(opened).toBe(true);
    expect(h.client().commands()).toEqual([]);
  });
});

describe("lock commands", () => {
  it("acquire asks for task and owner, then shows the fencing token", async () => {
    const h = await setup();
    const inputs = ["build", "me"];
    fake.answers.inputBox = () => inputs.shift();
    h.client().respond = (command) =>
      command === "mcpMarshal.acquireLock" ? { lease: { task: "build", owner: "me", token: 12 } } : { locks: [] };
    await vscode.commands.executeCommand(UiCommands.acquireLock);
    expect(h.client().commands()).toEqual([["mcpMarshal.acquireLock", "build", "me"], ["mcpMarshal.listLocks"]]);
    expect(fake.messages.at(-1)?.message).toBe('MCP Marshal: lock "build" acquired (fencing token 12).');
  });

  it("release picks a held lock and sends task, owner and token", async () => {
    const h = await setup();
    h.client().respond = (command) =>
      command === "mcpMarshal.listLocks" ? { locks: [{ task: "build", owner: "me", token: 12 }] } : { released: true };
    fake.answers.quickPick = (items) => items[0];
    await vscode.commands.executeCommand(UiCommands.releaseLock);
    expect(h.client().commands()).toEqual([
      ["mcpMarshal.listLocks"],
      ["mcpMarshal.releaseLock", "build", "me", 12],
      ["mcpMarshal.listLocks"],
    ]);
  });

  it("renew from a tree row sends the row's lease", async () => {
    const h = await setup();
    await vscode.commands.executeCommand(UiCommands.renewLock, { task: "build", owner: "me", token: 12 });
    expect(h.client().commands()[0]).toEqual(["mcpMarshal.renewLock", "build", "me", 12]);
  });

  it("describes granted and denied leases", () => {
    expect(describeLease("t", { token: 3 }, "renewed")).toBe('MCP Marshal: lock "t" renewed (fencing token 3).');
    expect(describeLease("t", null, "acquired")).toBe('MCP Marshal: lock "t" not acquired.');
    expect(describeLease("t", { acquired: false, holder: "bob" }, "acquired")).toBe('MCP Marshal: lock "t" not acquired (held by bob).');
    const lease = { task: "t", owner: "carol", token: 7, acquired_at: 1, expires_at: 2 };
    expect(describeLease("t", { acquired: false, holder: lease }, "acquired")).toBe(
      'MCP Marshal: lock "t" not acquired (held by carol).',
    );
  });
});

describe("manifest ↔ code", () => {
  it("contributes exactly the commands the extension registers, each titled and categorised", async () => {
    await setup();
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    expect(contributed).toEqual(Object.values(UiCommands).sort());
    expect(contributed).toEqual([...fake.commands.keys()].sort());
    for (const c of manifest.contributes.commands) expect(c.category).toBe("MCP Marshal");
  });

  it("offers one inline action set per server state that matches actionsFor", () => {
    const inline = manifest.contributes.menus["view/item/context"].filter((m) => m.group?.startsWith("inline"));
    const matches = (when: string | undefined, state: string) => {
      const re = /viewItem =~ \/(.*)\/$/.exec(when ?? "");
      return re ? new RegExp(re[1]).test(`mcpServer.${state}`) : false;
    };
    for (const state of SERVER_STATES) {
      const offered = inline.filter((m) => matches(m.when, state)).map((m) => m.command.replace("mcpMarshal.ui.", ""));
      const expected = actionsFor(state).map((a) => `${a}Server`.replace("showLogsServer", "showLogs"));
      if (state === "stopping") expected.splice(expected.indexOf("stopServer"), 1);
      expect(new Set(offered), state).toEqual(new Set(expected));
    }
  });

  it("offers Approve and Show Logs, and nothing that would start it, on a row that needs approval", () => {
    const inline = manifest.contributes.menus["view/item/context"].filter((m) => m.group?.startsWith("inline"));
    for (const state of SERVER_STATES) {
      const value = `mcpServer.${state}.needsApproval`;
      const offered = inline
        .filter((m) => {
          const re = /viewItem =~ \/(.*)\/$/.exec(m.when ?? "");
          return re ? new RegExp(re[1]).test(value) : false;
        })
        .map((m) => m.command.replace("mcpMarshal.ui.", ""));
      expect(new Set(offered), state).toEqual(new Set(["approveServer", "showLogs"]));
    }
  });

  it("writes the MCP Servers welcome as plain text (no literal backticks) naming the setting that chose the command", () => {
    const welcome = manifest.contributes.viewsWelcome.filter((w) => w.view === "mcpMarshal.servers");
    for (const w of welcome) expect(w.contents, w.when).not.toContain("`");
    const failed = (source: string) =>
      welcome.filter((w) => {
        const when = w.when ?? "";
        if (!when.includes("mcpMarshal.serverState == failed")) return false;
        const is = /mcpMarshal\.launchSource == '([^']+)'/.exec(when)?.[1];
        const isNot = [...when.matchAll(/mcpMarshal\.launchSource != '([^']+)'/g)].map((m) => m[1]);
        return is !== undefined ? is === source : !isNot.includes(source);
      });
    for (const source of ["mcpMarshal.server.path", "mcpMarshal.server.python", "pythonExtension", "default"]) {
      const shown = failed(source);
      expect(shown, source).toHaveLength(1);
      expect(shown[0].contents).toContain(source.startsWith("mcpMarshal.") ? source : "Neither mcpMarshal.server.path nor mcpMarshal.server.python is set");
      expect(shown[0].contents).toContain("(command:mcpMarshal.ui.openServerSettings)");
    }
  });
});
