/**
 * The extension's side of the contract against the real `mcp-marshal lsp`: the same
 * initializationOptions (built by the same function), the same MarshalApi the tree and palette
 * use, over stdio with vscode-languageserver-protocol's Node connection (see realServer.ts).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from "vscode-languageserver-protocol/node";
import { buildInitializationOptions } from "../src/initializationOptions";
import { MarshalApi } from "../src/marshalApi";
import { Commands, Notifications, SERVER_STATES, type LockChangedParams, type ServerStateChangedParams } from "../src/protocol";
import { parseServerLogLine } from "../src/serverLogs";
import { BIN, FAKE_SERVER, lspMissingReason, PYTHON } from "./realServer";

const missing = lspMissingReason();
if (missing) console.warn(`skipping the LSP integration test: ${missing}`);

/** Notifications as they arrive, with waiters that resolve on the first match (no polling). */
class Inbox {
  readonly items: Array<{ method: string; params: unknown; at: number }> = [];
  private waiters: Array<{ match: (method: string, params: unknown) => boolean; resolve: (p: unknown) => void }> = [];

  push(method: string, params: unknown): void {
    this.items.push({ method, params, at: performance.now() });
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(method, params)) return true;
      w.resolve(params);
      return false;
    });
  }

  /** Resolves with the first notification (already received or future) that matches. */
  waitFor<T>(match: (method: string, params: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
    const seen = this.items.find((i) => match(i.method, i.params as T));
    if (seen) return Promise.resolve(seen.params as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${this.summary()}`)), timeoutMs);
      this.waiters.push({
        match: (m, p) => match(m, p as T),
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p as T);
        },
      });
    });
  }

  /** Wait for a state of one server that arrives after `from` notifications. */
  state(name: string, state: string, from = 0): Promise<ServerStateChangedParams> {
    return this.waitFor<ServerStateChangedParams>(
      (m, p) => m === Notifications.serverStateChanged && p.name === name && p.state === state && this.items.findIndex((i) => i.params === p) >= from,
      `${name} → ${state}`,
    );
  }

  summary(): string {
    return this.items
      .filter((i) => i.method === Notifications.serverStateChanged)
      .map((i) => `${(i.params as ServerStateChangedParams).name}:${(i.params as ServerStateChangedParams).state}`)
      .join(", ");
  }
}

describe.skipIf(missing !== undefined)("mcp-marshal lsp speaks the extension's contract", () => {
  let dir: string;
  let proc: ChildProcessWithoutNullStreams;
  let connection: MessageConnection;
  let api: MarshalApi;
  const inbox = new Inbox();
  const prompts: Array<{ message: string; actions: string[] }> = [];
  let promptAnswer: string | null = "Restart";
  let firstReadyMs = Number.NaN;
  let initializeResult: { capabilities: { executeCommandProvider?: { commands: string[] } } };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcpm-vscode-"));
    const server = (name: string, env: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
      command: PYTHON,
      args: [FAKE_SERVER],
      env: { FAKE_NAME: name, FAKE_STDERR: `${name} says hello`, ...env },
      ...extra,
    });
    const workspaceFile = join(dir, "it.code-workspace");
    writeFileSync(
      workspaceFile,
      JSON.stringify({
        folders: [{ path: "." }],
        settings: {
          "mcpMarshal.servers": {
            alpha: server("alpha"),
            beta: server("beta", {}, { dependsOn: ["alpha"] }),
            crashy: server("crashy", { FAKE_CRASH_AT_START: "1" }, { restart: { maxRestarts: 0 } }),
          },
          "mcpMarshal.health": { pingIntervalMs: 0 },
          "mcpMarshal.stop": { stdinGraceMs: 500, termGraceMs: 1000 },
        },
      }),
    );

    proc = spawn(BIN, ["lsp"], {
      cwd: dir,
      env: { ...process.env, MCP_MARSHAL_STATE_DIR: join(dir, "state") },
      stdio: "pipe",
    });
    proc.stderr.on("data", () => undefined); // the server's own log; drained so it never blocks
    connection = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
    connection.onNotification((method: string, params: unknown) => inbox.push(method, params));
    connection.onRequest("window/showMessageRequest", (params: { message: string; actions?: Array<{ title: string }> }) => {
      prompts.push({ message: params.message, actions: (params.actions ?? []).map((a) => a.title) });
      const answer = promptAnswer;
      promptAnswer = null; // answer "Restart" once, then dismiss
      return answer === null ? null : { title: answer };
    });
    connection.onRequest("window/workDoneProgress/create", () => null);
    connection.onRequest("client/registerCapability", () => null);
    connection.onRequest("workspace/configuration", (params: { items: unknown[] }) => params.items.map(() => null));
    connection.listen();
    api = new MarshalApi(connection);

    const initializationOptions = buildInitializationOptions({
      workspaceFile: { scheme: "file", toString: () => pathToFileURL(workspaceFile).href },
      isTrusted: true,
      isTelemetryEnabled: false,
    });
    const sentAt = performance.now();
    initializeResult = await connection.sendRequest("initialize", {
      processId: process.pid,
      clientInfo: { name: "Visual Studio Code", version: "1.91.0" },
      rootUri: pathToFileURL(dir).href,
      workspaceFolders: [{ uri: pathToFileURL(dir).href, name: "it" }],
      capabilities: {
        window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: true } } },
        workspace: { executeCommand: { dynamicRegistration: true }, workspaceFolders: true, configuration: true },
      },
      initializationOptions,
    });
    await connection.sendNotification("initialized", {});
    await inbox.state("alpha", "ready");
    const readyAt = inbox.items.find((i) => (i.params as ServerStateChangedParams).state === "ready")?.at ?? Number.NaN;
    firstReadyMs = readyAt - sentAt;
    console.log(`activation-to-first-state: initialize sent → first ready state in ${firstReadyMs.toFixed(0)} ms`);
  }, 60_000);

  afterAll(async () => {
    if (connection) {
      await connection.sendRequest("shutdown").catch(() => undefined);
      await connection.sendNotification("exit").catch(() => undefined);
    }
    if (proc && proc.exitCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          proc.kill("SIGKILL");
          resolve();
        }, 10_000);
        proc.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    connection?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("advertises every command the extension maps", () => {
    const advertised = initializeResult.capabilities.executeCommandProvider?.commands ?? [];
    for (const command of Object.values(Commands)) expect(advertised).toContain(command);
  });

  it("reaches ready quickly after initialize (activation-to-first-state)", () => {
    expect(firstReadyMs).toBeGreaterThan(0);
    expect(firstReadyMs).toBeLessThan(20_000);
  });

  it("sends serverStateChanged with the event fields and a snapshot the tree can draw", async () => {
    const ready = await inbox.state("beta", "ready");
    expect(ready).toMatchObject({ name: "beta", state: "ready" });
    expect(typeof ready.ts).toBe("number");
    expect(ready.previous).toBe("starting");
    expect(ready.pid).toBeGreaterThan(0);
    expect(ready.server).toMatchObject({ name: "beta", state: "ready", depends_on: ["alpha"] });
    for (const item of inbox.items.filter((i) => i.method === Notifications.serverStateChanged)) {
      expect(SERVER_STATES as readonly string[]).toContain((item.params as ServerStateChangedParams).state);
    }
  });

  it("listServers returns the snapshot fields of the contract", async () => {
    await inbox.state("beta", "ready");
    const { servers } = await api.listServers();
    expect(servers.map((s) => s.name).sort()).toEqual(["alpha", "beta", "crashy"]);
    const alpha = servers.find((s) => s.name === "alpha");
    for (const key of ["name", "type", "state", "pid", "restarts", "uptime_s", "last_exit_code", "last_signal", "last_error", "handshake_ms", "protocol_version", "server_info", "stderr_tail", "depends_on"]) {
      expect(alpha, key).toHaveProperty(key);
    }
    expect(alpha).toMatchObject({ type: "stdio", state: "ready" });
  });

  it("a failed server prompts Restart / Show Logs, and the Restart answer restarts it", async () => {
    await inbox.state("crashy", "failed");
    await inbox.waitFor(() => prompts.length > 0, "the failure prompt");
    expect(prompts[0].actions).toEqual(["Restart", "Show Logs"]);
    expect(prompts[0].message).toContain("crashy");
    const failedAt = inbox.items.findIndex(
      (i) => (i.params as ServerStateChangedParams).name === "crashy" && (i.params as ServerStateChangedParams).state === "failed",
    );
    await inbox.state("crashy", "starting", failedAt + 1);
  });

  it("stop, start, restart and showLogs drive the states the tree shows", async () => {
    await inbox.state("alpha", "ready");
    let mark = inbox.items.length;
    await api.stopServer("alpha");
    await inbox.state("alpha", "stopped", mark);

    mark = inbox.items.length;
    await api.startServer("alpha");
    const started = await inbox.state("alpha", "ready", mark);
    expect(started.pid).toBeGreaterThan(0);

    mark = inbox.items.length;
    const beforePid = started.pid;
    await api.restartServer("alpha");
    const restarted = await inbox.state("alpha", "ready", mark);
    expect(restarted.pid).not.toBe(beforePid);

    const lines = await api.showLogs("alpha");
    // the line is the value of alpha's env var FAKE_STDERR, and env values are secrets
    expect(lines).toContain("<redacted>");
    expect(lines.join("\n")).not.toContain("alpha says hello");
  });

  it("prefixes server log lines with the name, as the per-server output channels expect", async () => {
    const log = await inbox.waitFor<{ message: string }>(
      (m, p) => m === "window/logMessage" && parseServerLogLine(p.message, ["alpha", "beta", "crashy"]) !== undefined,
      "a server-prefixed log line",
    );
    expect(parseServerLogLine(log.message, ["alpha", "beta", "crashy"])?.name).toMatch(/^(alpha|beta|crashy)$/);
  });

  it("acquires, lists, renews and releases a task lock, with lockChanged for the Task Locks view", async () => {
    const got = (await api.acquireLock("it-task", "vscode")) as { acquired: boolean; lease: { token: number; expires_at: number } };
    expect(got).toMatchObject({ acquired: true, lease: { task: "it-task", owner: "vscode" } });
    const acquired = await inbox.waitFor<LockChangedParams>(
      (m, p) => m === Notifications.lockChanged && p.event === "LeaseAcquired" && p.task === "it-task",
      "lockChanged LeaseAcquired",
    );
    expect(acquired).toMatchObject({ owner: "vscode", token: got.lease.token });

    const { locks } = await api.listLocks();
    expect(locks).toEqual([got.lease]);

    const denied = await api.acquireLock("it-task", "someone-else", 5_000);
    expect(denied).toMatchObject({ acquired: false, holder: { owner: "vscode", token: got.lease.token } });

    const renewed = await api.renewLock("it-task", "vscode", got.lease.token, 900_000);
    expect(renewed).toMatchObject({ renewed: true, lease: { token: got.lease.token } });

    await expect(api.releaseLock("it-task", "vscode", got.lease.token)).resolves.toEqual({ released: true });
    await inbox.waitFor<LockChangedParams>(
      (m, p) => m === Notifications.lockChanged && p.event === "LeaseReleased" && p.task === "it-task",
      "lockChanged LeaseReleased",
    );
    expect((await api.listLocks()).locks).toEqual([]);
    await expect(api.releaseLock("it-task", "vscode", got.lease.token)).resolves.toEqual({ released: false });
  });

  it("rejects bad lock arguments with an error", async () => {
    await expect(api.acquireLock("it-task", "vscode", 0)).rejects.toThrow(/TTL must be a whole number of milliseconds from 1/);
    await expect(api.execute("mcpMarshal.renewLock", "it-task", "vscode")).rejects.toThrow(/missing TOKEN/);
  });

  it("rejects an unknown server name with an error, which the UI shows instead of crashing", async () => {
    await expect(api.restartServer("nope")).rejects.toThrow();
  });
});
