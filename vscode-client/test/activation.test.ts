import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as vscode from "vscode";
import { UiCommands } from "../src/commands";
import { MarshalLanguageClient, activate, deactivate } from "../src/extension";
import { FakeLanguageClient } from "./fakeClient";
import { fake, type FakeTreeView } from "./fake/vscode";
import { manifest, resetEditor, snapshot } from "./harness";

const created: Array<{ id: string; serverOptions: unknown; clientOptions: Record<string, unknown>; client: FakeLanguageClient }> = [];

const clientErrors: Array<{ message: string; show: unknown }> = [];

vi.mock("vscode-languageclient/node", () => ({
  TransportKind: { stdio: 0, ipc: 1, pipe: 2, socket: 3 },
  RevealOutputChannelOn: { Debug: 0, Info: 1, Warn: 2, Error: 3, Never: 4 },
  ErrorAction: { Continue: 1, Shutdown: 2 },
  CloseAction: { DoNotRestart: 1, Restart: 2 },
  LanguageClient: class {
    /** vscode-languageclient's logger: it pops up a notification when `show` is true or "force". */
    error(message: string, _data?: unknown, show: unknown = true): void {
      clientErrors.push({ message, show });
    }
    constructor(id: string, _name: string, serverOptions: { command: string; args: string[] }, clientOptions: Record<string, unknown>) {
      const init = clientOptions.initializationOptions as () => never;
      const client = new FakeLanguageClient(serverOptions, init, (command) =>
        command === "mcpMarshal.listServers" ? { servers: [snapshot("memory", "ready", { uptime_s: 5 })] } : { locks: [] },
      );
      created.push({ id, serverOptions, clientOptions, client });
      // The extension sees the fake in place of the real client (the class only lends `error`).
      return client as unknown as this;
    }
  },
}));

function context(): vscode.ExtensionContext {
  return { subscriptions: [] as vscode.Disposable[] } as unknown as vscode.ExtensionContext;
}

beforeEach(() => {
  resetEditor();
  created.length = 0;
});

describe("activate", () => {
  it("starts the server on stdio with the settings' interpreter and wires views and commands", async () => {
    fake.setSetting("mcpMarshal.server.python", "/venv/bin/python");
    const ctx = context();
    await activate(ctx);
    expect(fake.contexts.get("mcpMarshal.active")).toBe(true);
    expect(created).toHaveLength(1);
    expect(created[0].id).toBe("mcpMarshal");
    expect(created[0].serverOptions).toEqual({ command: "/venv/bin/python", args: ["-m", "mcp_marshal", "lsp"] });
    expect(created[0].client.initializationOptions).toEqual({
      workspaceFile: "file:///work/demo/demo.code-workspace",
      trusted: true,
      telemetry: true,
      syntaxDiagnostics: false,
    });
    expect([...fake.treeViews.keys()].sort()).toEqual(["mcpMarshal.locks", "mcpMarshal.servers"]);
    expect((await fake.treeItems("mcpMarshal.servers")).map((i) => i.label)).toEqual(["memory"]);
    expect(fake.statusBarItems[0].text).toBe("$(server-process) MCP 1/1");
    for (const command of Object.values(UiCommands)) expect(fake.commands.has(command), command).toBe(true);
    expect([...fake.mcpProviders.keys()]).toEqual(["mcpMarshal.servers"]);

    for (const d of ctx.subscriptions) d.dispose();
    await deactivate();
    expect(fake.commands.size).toBe(0);
    expect(fake.mcpProviders.size).toBe(0);
    expect(created[0].client.stopped).toBe(true);
  });

  it("turns off vscode-languageclient's own pop-ups and restarts: the host reports a failure once", async () => {
    const ctx = context();
    await activate(ctx);
    const options = created[0].clientOptions as {
      revealOutputChannelOn: number;
      initializationFailedHandler: (error: unknown) => boolean;
      errorHandler: { error: () => unknown; closed: () => unknown };
    };
    expect(options.revealOutputChannelOn).toBe(4); // Never
    expect(options.initializationFailedHandler(new Error("boom"))).toBe(false); // no retry, no pop-up
    expect(options.errorHandler.error()).toEqual({ action: 1, handled: true }); // Continue, silently
    expect(options.errorHandler.closed()).toEqual({ action: 1, handled: true }); // DoNotRestart, silently
    // The pop-ups vscode-languageclient forces ("couldn't create connection", "crashed 5 times")
    // become log lines.
    MarshalLanguageClient.prototype.error.call({}, "couldn't create connection to server.", undefined);
    expect(clientErrors).toEqual([{ message: "couldn't create connection to server.", show: false }]);
    for (const d of ctx.subscriptions) d.dispose();
    await deactivate();
  });

  it("stays idle without a workspace file", async () => {
    fake.workspaceFile = undefined;
    await activate(context());
    expect(fake.contexts.get("mcpMarshal.active")).toBe(false);
    expect(created).toHaveLength(0);
    expect(fake.statusBarItems).toHaveLength(0);
  });

  it("starts for a folder that holds a .code-workspace file (the server finds it)", async () => {
    fake.workspaceFile = undefined;
    const dir = mkdtempSync(join(tmpdir(), "mcpm-"));
    writeFileSync(join(dir, "demo.code-workspace"), "{}");
    fake.workspaceFolders = [{ uri: vscode.Uri.file(dir), name: "demo", index: 0 }];
    const ctx = context();
    await activate(ctx);
    expect(created).toHaveLength(1);
    expect(created[0].client.initializationOptions).toEqual({ trusted: true, telemetry: true, syntaxDiagnostics: false });
    for (const d of ctx.subscriptions) d.dispose();
    await deactivate();
  });

  it("follows the Python extension's interpreter only while no server setting (blank counts as unset) overrides it", async () => {
    const interpreterChanged = new vscode.EventEmitter<unknown>();
    fake.extensions.set("ms-python.python", {
      id: "ms-python.python",
      isActive: true,
      exports: {
        environments: {
          getActiveEnvironmentPath: () => ({ id: "venv", path: "/proj/.venv/bin/python" }),
          resolveEnvironment: () => Promise.resolve(undefined),
          onDidChangeActiveEnvironmentPath: interpreterChanged.event,
        },
      },
      activate: () => Promise.reject(new Error("already active")),
    });
    fake.setSetting("mcpMarshal.server.path", " ");
    fake.setSetting("mcpMarshal.server.python", "/venv/bin/python");
    const ctx = context();
    await activate(ctx);
    interpreterChanged.fire(undefined); // pinned: no restart
    fake.settings.delete("mcpMarshal.server.python"); // unpinned, without a configuration event
    interpreterChanged.fire(undefined); // the blank path does not pin: restart on the interpreter
    for (const d of ctx.subscriptions) d.dispose();
    await deactivate(); // waits for the restarts asked for so far
    expect(created.map((c) => (c.serverOptions as { command: string }).command)).toEqual([
      "/venv/bin/python",
      "/proj/.venv/bin/python",
    ]);
  });

  it("redraws the uptime every second while a server is under a minute old and the view is visible", async () => {
    vi.useFakeTimers();
    try {
      const ctx = context();
      await activate(ctx);
      const view = fake.treeViews.get("mcpMarshal.servers") as FakeTreeView<unknown>;
      let redraws = 0;
      view.treeDataProvider.onDidChangeTreeData?.(() => redraws++);
      expect((await fake.treeItems("mcpMarshal.servers"))[0].description).toBe("ready · up 5s");
      await vi.advanceTimersByTimeAsync(1_000);
      expect(redraws).toBe(1);
      expect((await fake.treeItems("mcpMarshal.servers"))[0].description).toBe("ready · up 6s");
      await vi.advanceTimersByTimeAsync(3_000);
      expect(redraws).toBe(4);

      view.setVisible(false); // hidden: no redraws at all
      await vi.advanceTimersByTimeAsync(120_000);
      expect(redraws).toBe(4);
      view.setVisible(true); // shown again: redrawn at once, then once a minute (it shows minutes now)
      expect(redraws).toBe(5);
      expect((await fake.treeItems("mcpMarshal.servers"))[0].description).toBe("ready · up 2m");
      await vi.advanceTimersByTimeAsync(59_000);
      expect(redraws).toBe(6);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(redraws).toBe(6);
      for (const d of ctx.subscriptions) d.dispose();
      await deactivate();
    } finally {
      vi.useRealTimers();
    }
  });

  it("is declared to activate on workspace files and after startup", () => {
    expect(manifest.activationEvents).toEqual(["workspaceContains:*.code-workspace", "onStartupFinished"]);
  });
});
