import { beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import { buildInitializationOptions } from "../src/initializationOptions";
import { resolveLaunch } from "../src/launch";
import { activeInterpreter } from "../src/pythonInterpreter";
import { ServerStatusBar } from "../src/statusBar";
import { fake, type FakeStatusBarItem } from "./fake/vscode";
import { makeHost, resetEditor, snapshot } from "./harness";

beforeEach(resetEditor);

describe("settings → launch command", () => {
  it("prefers server.path, then server.python, then the Python extension, then python3", () => {
    expect(resolveLaunch({ path: "/opt/bin/mcp-marshal", python: "/usr/bin/python3.12" }, "/venv/bin/python")).toEqual({
      command: "/opt/bin/mcp-marshal",
      args: ["lsp"],
      source: "mcpMarshal.server.path",
    });
    expect(resolveLaunch({ path: " ", python: "/usr/bin/python3.12" }, "/venv/bin/python")).toEqual({
      command: "/usr/bin/python3.12",
      args: ["-m", "mcp_marshal", "lsp"],
      source: "mcpMarshal.server.python",
    });
    expect(resolveLaunch({ path: "", python: "" }, "/venv/bin/python")).toMatchObject({ command: "/venv/bin/python", source: "pythonExtension" });
    expect(resolveLaunch({}, undefined)).toEqual({ command: "python3", args: ["-m", "mcp_marshal", "lsp"], source: "default" });
  });

  it("reads the interpreter from the Python extension's environments API", async () => {
    fake.extensions.set("ms-python.python", {
      id: "ms-python.python",
      isActive: false,
      exports: undefined,
      activate: () =>
        Promise.resolve({
          environments: {
            getActiveEnvironmentPath: () => ({ id: "venv", path: "/proj/.venv" }),
            resolveEnvironment: () => Promise.resolve({ executable: { uri: vscode.Uri.file("/proj/.venv/bin/python") } }),
          },
        }),
    });
    expect(await activeInterpreter()).toBe("/proj/.venv/bin/python");
  });

  it("falls back when the Python extension is missing or throws", async () => {
    expect(await activeInterpreter()).toBeUndefined();
    fake.extensions.set("ms-python.python", {
      id: "ms-python.python",
      isActive: false,
      exports: undefined,
      activate: () => Promise.reject(new Error("boom")),
    });
    expect(await activeInterpreter()).toBeUndefined();
  });
});

describe("initializationOptions", () => {
  it("carries the workspace file URI, trust and the telemetry opt-in", () => {
    expect(
      buildInitializationOptions({
        workspaceFile: vscode.Uri.file("/work/demo/demo.code-workspace"),
        isTrusted: false,
        isTelemetryEnabled: true,
      }),
    ).toEqual({ workspaceFile: "file:///work/demo/demo.code-workspace", trusted: false, telemetry: true, syntaxDiagnostics: false });
  });

  it("omits an untitled workspace, which has no file on disk", () => {
    expect(
      buildInitializationOptions({ workspaceFile: vscode.Uri.parse("untitled:Untitled-1"), isTrusted: true, isTelemetryEnabled: false }),
    ).toEqual({ trusted: true, telemetry: false, syntaxDiagnostics: false });
  });

  it("are what the host's client starts with, read at each start", async () => {
    fake.trusted = false;
    fake.telemetryEnabled = false;
    const h = makeHost({ interpreter: "/venv/bin/python" });
    await h.host.start();
    expect(h.client().launch).toEqual({ command: "/venv/bin/python", args: ["-m", "mcp_marshal", "lsp"], source: "pythonExtension" });
    expect(h.client().initializationOptions).toEqual({
      workspaceFile: "file:///work/demo/demo.code-workspace",
      trusted: false,
      telemetry: false,
      syntaxDiagnostics: false,
    });
    fake.setTelemetryEnabled(true);
    await h.host.restart();
    expect(h.client().initializationOptions?.telemetry).toBe(true);
  });
});

describe("language server host", () => {
  it("seeds the views from listServers and listLocks after start", async () => {
    const h = makeHost({ servers: [snapshot("memory", "ready", { pid: 42, uptime_s: 5 }), snapshot("files", "starting")] });
    await h.host.start();
    expect(h.client().commands()).toEqual([["mcpMarshal.listServers"], ["mcpMarshal.listLocks"]]);
    expect(h.servers.names()).toEqual(["memory", "files"]);
    expect(fake.contexts.get("mcpMarshal.running")).toBe(true);
  });

  it("re-sends trust when the user grants it", async () => {
    fake.trusted = false;
    const h = makeHost();
    await h.host.start();
    fake.grantTrust();
    expect(h.client().commands()).toContainEqual(["mcpMarshal.trustWorkspace"]);
  });

  it("replaces the server when a mcpMarshal.server.* setting changes, and only then", async () => {
    const h = makeHost();
    await h.host.start();
    const first = h.client();
    fake.setSetting("mcpMarshal.restart", { maxRestarts: 1 });
    await h.host.idle();
    expect(h.clients).toHaveLength(1);
    fake.setSetting("mcpMarshal.server.python", "/usr/bin/python3.13");
    await h.host.idle();
    expect(h.clients).toHaveLength(2);
    expect(first.stopped).toBe(true);
    expect(h.clients[1].launch.command).toBe("/usr/bin/python3.13");
  });

  it("reports a start that fails once: the command, the setting that chose it, Open Settings and Show Output", async () => {
    vscode.commands.registerCommand("workbench.action.openSettings", (query: unknown) => opened.push(["user", query]));
    const opened: unknown[][] = [];
    fake.setSetting("mcpMarshal.server.path", "/opt/bin/mcp-marshal");
    const h = makeHost({ failStart: true });
    fake.answers.message = (shown) => shown.items[0];
    await h.host.start();
    expect(h.host.currentApi()).toBeUndefined();
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0]).toMatchObject({ severity: "error", items: ["Open Settings", "Show Output"] });
    expect(fake.messages[0].message).toBe(
      'MCP Marshal: the language server did not start: "/opt/bin/mcp-marshal lsp" failed (the command was not found). ' +
        "mcpMarshal.server.path chose it; correct it in the User settings.",
    );
    await h.host.idle();
    expect(opened).toEqual([["user", "mcpMarshal.server.path"]]);
  });

  it("in a remote window, points at the Remote settings, where machine-overridable settings are read", async () => {
    const opened: unknown[][] = [];
    vscode.commands.registerCommand("workbench.action.openRemoteSettings", (args: unknown) => opened.push(["remote", args]));
    fake.remoteName = "ssh-remote";
    const h = makeHost({ failStart: true });
    fake.answers.message = (shown) => shown.items[0];
    await h.host.start();
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0].items).toEqual(["Open Remote Settings", "Show Output"]);
    expect(fake.messages[0].message).toContain('"python3 -m mcp_marshal lsp" failed');
    expect(fake.messages[0].message).toContain(
      "Neither mcpMarshal.server.path nor mcpMarshal.server.python is set, so python3 was used; set mcpMarshal.server.path in the Remote settings (ssh-remote).",
    );
    await h.host.idle();
    expect(opened).toEqual([["remote", { query: "mcpMarshal.server" }]]);
  });

  it("shows a failed start in the status bar and in the view's welcome (state and the setting used)", async () => {
    fake.setSetting("mcpMarshal.server.path", "/opt/bin/mcp-marshal");
    const h = makeHost({ failStart: true });
    const bar = new ServerStatusBar(h.servers, h.host);
    const item = fake.statusBarItems.at(-1) as FakeStatusBarItem;
    await h.host.start();
    expect(item.text).toBe("$(error) MCP");
    expect(item.backgroundColor?.id).toBe("statusBarItem.errorBackground");
    expect(item.tooltip).toContain("the language server is not running");
    expect(item.tooltip).toContain('"/opt/bin/mcp-marshal lsp" failed');
    expect(item.command).toBe("mcpMarshal.ui.showOutput");
    expect(fake.contexts.get("mcpMarshal.serverState")).toBe("failed");
    expect(fake.contexts.get("mcpMarshal.launchSource")).toBe("mcpMarshal.server.path");
    expect(fake.contexts.get("mcpMarshal.running")).toBe(false);
    bar.dispose();
  });

  it("says once when a running language server goes away, clears its rows, and offers a restart", async () => {
    const h = makeHost({ servers: [snapshot("memory", "ready")] });
    fake.answers.message = () => undefined;
    await h.host.start();
    expect(h.servers.names()).toEqual(["memory"]);
    h.client().crash();
    expect(h.host.state).toBe("failed");
    expect(h.servers.names()).toEqual([]);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0].items).toEqual(["Restart Language Server", "Show Output"]);
  });

  it("reads the settings after the Python extension's lookup: Remote settings that arrive meanwhile win", async () => {
    let answer!: (python: string | undefined) => void;
    const h = makeHost({ lookup: () => new Promise((resolve) => (answer = resolve)) });
    const starting = h.host.start();
    await Promise.resolve();
    // In a remote window the Remote settings can reach the extension host after activation.
    fake.setSetting("mcpMarshal.server.path", "/remote/bin/mcp-marshal");
    answer(undefined);
    await starting;
    await h.host.idle();
    expect(h.clients.map((c) => c.launch.command)).toEqual(["/remote/bin/mcp-marshal"]);
  });

  it("never asks the Python extension when a setting pins the command", async () => {
    fake.setSetting("mcpMarshal.server.path", "/opt/bin/mcp-marshal");
    const h = makeHost({ lookup: () => new Promise(() => undefined) }); // a lookup that never answers
    await h.host.start();
    expect(h.lookups()).toBe(0);
    expect(h.client().launch.command).toBe("/opt/bin/mcp-marshal");
  });

  it("stops the client (LSP shutdown) even when the window is already gone", async () => {
    const h = makeHost({ servers: [snapshot("memory", "ready")] });
    await h.host.start();
    fake.windowGone = true; // setContext now rejects with "Canceled", as in a closed window
    await h.host.stop();
    expect(h.client().stopped).toBe(true);
  });

  it("routes server-prefixed log lines to per-server channels and the rest to the main channel", async () => {
    const h = makeHost({ servers: [snapshot("memory", "ready"), snapshot("files", "ready")] });
    await h.host.start();
    h.client().notify("window/logMessage", { type: 4, message: "[memory] listening on stdio" });
    h.client().notify("window/logMessage", { type: 4, message: "files: loaded 3 roots" });
    h.client().notify("window/logMessage", { type: 3, message: "reloaded: 1 restarted" });
    expect(fake.channel("MCP Marshal: memory")?.lines).toEqual(["listening on stdio"]);
    expect(fake.channel("MCP Marshal: files")?.lines).toEqual(["loaded 3 roots"]);
    expect(fake.channel("MCP Marshal")?.lines.slice(1)).toEqual(["[info] reloaded: 1 restarted"]);
  });

  it("answers a failure prompt with the chosen action and opens the logs for Show Logs", async () => {
    const h = makeHost({ servers: [snapshot("db", "failed"), snapshot("db-replica", "failed")] });
    await h.host.start();
    const params = {
      type: 1,
      message: 'Server "db-replica" failed: exited with code 1 (5 restarts)',
      actions: [{ title: "Restart" }, { title: "Show Logs" }],
    };
    fake.answers.message = (shown) => shown.items[0];
    expect(await h.client().request("window/showMessageRequest", params)).toEqual({ title: "Restart" });
    expect(fake.messages.at(-1)).toMatchObject({ severity: "error", message: params.message });

    fake.answers.message = (shown) => shown.items[1];
    expect(await h.client().request("window/showMessageRequest", params)).toEqual({ title: "Show Logs" });
    await vi_waitFor(() => fake.channel("MCP Marshal: db-replica")?.shown === 1);
    expect(h.client().commands()).toContainEqual(["mcpMarshal.showLogs", "db-replica"]);
    expect(fake.channel("MCP Marshal: db-replica")?.lines.slice(1)).toEqual(["db-replica stderr 1", "db-replica stderr 2"]);

    fake.answers.message = () => undefined;
    expect(await h.client().request("window/showMessageRequest", params)).toBeNull();
  });
});

/** Await a condition that settles within a few microtask turns (no timers involved). */
async function vi_waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !condition(); i++) await Promise.resolve();
  expect(condition()).toBe(true);
}
