import { beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import { buildInitializationOptions } from "../src/initializationOptions";
import { resolveLaunch } from "../src/launch";
import { activeInterpreter } from "../src/pythonInterpreter";
import { fake } from "./fake/vscode";
import { makeHost, resetEditor, snapshot } from "./harness";

beforeEach(resetEditor);

describe("settings → launch command", () => {
  it("prefers server.path, then server.python, then the Python extension, then python3", () => {
    expect(resolveLaunch({ path: "/opt/bin/mcp-marshal", python: "/usr/bin/python3.12" }, "/venv/bin/python")).toEqual({
      command: "/opt/bin/mcp-marshal",
      args: ["lsp"],
    });
    expect(resolveLaunch({ path: " ", python: "/usr/bin/python3.12" }, "/venv/bin/python")).toEqual({
      command: "/usr/bin/python3.12",
      args: ["-m", "mcp_marshal", "lsp"],
    });
    expect(resolveLaunch({ path: "", python: "" }, "/venv/bin/python").command).toBe("/venv/bin/python");
    expect(resolveLaunch({}, undefined)).toEqual({ command: "python3", args: ["-m", "mcp_marshal", "lsp"] });
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
    expect(h.client().launch).toEqual({ command: "/venv/bin/python", args: ["-m", "mcp_marshal", "lsp"] });
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

  it("reports a server that cannot start and offers the settings", async () => {
    const h = makeHost({ failStart: true });
    fake.answers.message = () => undefined;
    await h.host.start();
    expect(h.host.currentApi()).toBeUndefined();
    expect(fake.messages[0]).toMatchObject({ severity: "error", items: ["Open Settings"] });
    expect(fake.messages[0].message).toContain('"python3"');
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
    expect(fake.channel("MCP Marshal")?.lines).toEqual(["[info] reloaded: 1 restarted"]);
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
