/**
 * The telemetry forwarder fed by the real `mcp-marshal lsp`: the record names and the drop count
 * it forwards are the server's own, not a hand-written batch. A queue of 3 and a flush interval
 * far longer than the start-up make the server drop records for sure, and say how many.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from "vscode-languageserver-protocol/node";
import { buildInitializationOptions } from "../src/initializationOptions";
import type { TelemetryBatch } from "../src/protocol";
import { TelemetryForwarder } from "../src/telemetry";
import { fake } from "./fake/vscode";
import { resetEditor } from "./harness";
import { BIN, FAKE_SERVER, lspMissingReason, PYTHON } from "./realServer";

const missing = lspMissingReason() !== undefined;

beforeEach(resetEditor);

describe.skipIf(missing)("telemetry from the real language server", () => {
  let dir: string;
  let proc: ChildProcessWithoutNullStreams | undefined;
  let connection: MessageConnection | undefined;

  afterAll(async () => {
    if (connection) {
      await connection.sendRequest("shutdown").catch(() => undefined);
      await connection.sendNotification("exit").catch(() => undefined);
    }
    if (proc && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc?.once("exit", resolve));
      const timer = setTimeout(() => proc?.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    connection?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("forwards the server's records under their event names, and its drop count", async () => {
    dir = mkdtempSync(join(tmpdir(), "mcpm-telemetry-"));
    const workspaceFile = join(dir, "t.code-workspace");
    const server = (name: string) => ({ command: PYTHON, args: [FAKE_SERVER], env: { FAKE_NAME: name } });
    writeFileSync(
      workspaceFile,
      JSON.stringify({
        folders: [{ path: "." }],
        settings: {
          "mcpMarshal.servers": { one: server("one"), two: server("two"), three: server("three") },
          "mcpMarshal.health": { pingIntervalMs: 0 },
          "mcpMarshal.telemetry": { batchSize: 1000, batchIntervalMs: 1500, maxQueue: 3 },
        },
      }),
    );
    proc = spawn(BIN, ["lsp"], { cwd: dir, env: { ...process.env, MCP_MARSHAL_STATE_DIR: join(dir, "state") }, stdio: "pipe" });
    proc.stderr.on("data", () => undefined);
    connection = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
    const batch = new Promise<TelemetryBatch>((resolve) => connection?.onNotification("telemetry/event", resolve));
    connection.onRequest("window/workDoneProgress/create", () => null);
    connection.onRequest("window/showMessageRequest", () => null);
    connection.onRequest("client/registerCapability", () => null);
    connection.onRequest("workspace/configuration", (params: { items: unknown[] }) => params.items.map(() => null));
    connection.listen();
    await connection.sendRequest("initialize", {
      processId: process.pid,
      rootUri: pathToFileURL(dir).href,
      capabilities: { window: { workDoneProgress: true } },
      initializationOptions: buildInitializationOptions({
        workspaceFile: { scheme: "file", toString: () => pathToFileURL(workspaceFile).href },
        isTrusted: true,
        isTelemetryEnabled: true,
      }),
    });
    await connection.sendNotification("initialized", {});

    const received = await batch;
    expect(received.records).toHaveLength(3); // a queue of three
    const dropped = Object.values(received.dropped ?? {}).reduce<number>((sum, n) => sum + (n ?? 0), 0);
    expect(dropped).toBeGreaterThan(0);
    const forwarder = new TelemetryForwarder(vscode.window.createOutputChannel("MCP Marshal Telemetry", { log: true }));
    forwarder.handleBatch(received);
    const lines = fake.channel("MCP Marshal Telemetry")?.lines ?? [];
    const names = (received.records ?? []).map((r) => r.name);
    expect(lines.map((l) => l.split(" ")[1])).toEqual([
      ...names.map((n) => `mcp-marshal.mcp-marshal/${n}`),
      "mcp-marshal.mcp-marshal/TelemetryDropped",
    ]);
    expect(lines.at(-1)).toBe(
      `[info] mcp-marshal.mcp-marshal/TelemetryDropped ${JSON.stringify({ count: dropped, ...received.dropped })}`,
    );
    expect(lines[0]).toContain('"name":"'); // the record's own fields, flattened
    for (const name of names) expect(name).toMatch(/^(Server[A-Z]\w+|StartPlanned|GatewayServing|Config\w+)$/);
  }, 60_000);
});
