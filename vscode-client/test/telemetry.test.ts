import { beforeEach, describe, expect, it } from "vitest";
import * as vscode from "vscode";
import { TelemetryForwarder } from "../src/telemetry";
import { fake } from "./fake/vscode";
import { resetEditor } from "./harness";

beforeEach(resetEditor);

/** A batch as the server sends it (wire.py TelemetryBatch / TelemetryRecord). */
const batch = {
  v: 1,
  seq: 4,
  records: [
    { name: "ServerReady", ts: 1.5, fields: { name: "memory", handshake_ms: 31.2, server_info: { name: "mem" } } },
    { name: "ServerExited", ts: 2.5, fields: { name: "files", code: 1, signal: null } },
  ],
  dropped: { queue_full: 3 },
};

function makeForwarder() {
  const channel = vscode.window.createOutputChannel("MCP Marshal Telemetry", { log: true });
  return { forwarder: new TelemetryForwarder(channel), sent: () => fake.channel("MCP Marshal Telemetry")?.lines ?? [] };
}

describe("telemetry", () => {
  it("forwards each record (and the drop count) to VS Code's telemetry logger when enabled", () => {
    const { forwarder, sent } = makeForwarder();
    forwarder.handleBatch(batch);
    expect(sent()).toEqual([
      '[info] mcp-marshal.mcp-marshal/ServerReady {"ts":1.5,"name":"memory","handshake_ms":31.2,"server_info":"{\\"name\\":\\"mem\\"}"}',
      '[info] mcp-marshal.mcp-marshal/ServerExited {"ts":2.5,"name":"files","code":1}',
      '[info] mcp-marshal.mcp-marshal/TelemetryDropped {"count":3,"queue_full":3}',
    ]);
  });

  it("drops batches while the user has telemetry off, and follows the setting live", () => {
    fake.telemetryEnabled = false;
    const { forwarder, sent } = makeForwarder();
    forwarder.handleBatch(batch);
    expect(sent()).toEqual([]);
    expect(forwarder.droppedWhileDisabled).toBe(2);

    fake.setTelemetryEnabled(true);
    forwarder.handleBatch({ records: [{ name: "ServerReady", ts: 1, fields: { name: "a" } }] });
    expect(sent()).toHaveLength(1);

    fake.setTelemetryEnabled(false);
    forwarder.handleBatch(batch);
    expect(sent()).toHaveLength(1);
  });

  it("ignores malformed batches", () => {
    const { forwarder, sent } = makeForwarder();
    forwarder.handleBatch(null);
    forwarder.handleBatch({ records: [] });
    expect(sent()).toEqual([]);
  });
});
