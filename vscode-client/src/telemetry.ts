import * as vscode from "vscode";
import type { TelemetryBatch } from "./protocol";

/**
 * Forwards the server's `telemetry/event` batches to a VS Code `TelemetryLogger`, which applies
 * the user's telemetry level and VS Code's PII cleaning. The sender only writes to a local log
 * channel: this extension has no collection endpoint, and nothing leaves the machine.
 * Batches are dropped unread while `vscode.env.isTelemetryEnabled` is false.
 */
export class TelemetryForwarder implements vscode.Disposable {
  private readonly logger: vscode.TelemetryLogger;
  /** Records dropped because the user opted out (for the tests and the log). */
  droppedWhileDisabled = 0;

  constructor(channel: vscode.LogOutputChannel) {
    const sender: vscode.TelemetrySender = {
      sendEventData: (eventName, data) => channel.info(`${eventName} ${JSON.stringify(data ?? {})}`),
      sendErrorData: (error, data) => channel.error(`${error.message} ${JSON.stringify(data ?? {})}`),
    };
    this.logger = vscode.env.createTelemetryLogger(sender);
  }

  handleBatch(batch: unknown): void {
    const { records = [], dropped = {} } = (batch ?? {}) as TelemetryBatch;
    if (!vscode.env.isTelemetryEnabled) {
      this.droppedWhileDisabled += records.length;
      return;
    }
    for (const record of records) {
      const name = typeof record.name === "string" ? record.name : "record";
      this.logger.logUsage(name, flatten({ ts: record.ts, ...record.fields }));
    }
    const reasons = Object.entries(dropped).filter(([, n]) => typeof n === "number" && n > 0);
    const count = reasons.reduce((sum, [, n]) => sum + n, 0);
    if (count > 0) this.logger.logUsage("TelemetryDropped", { count, ...Object.fromEntries(reasons) });
  }

  dispose(): void {
    this.logger.dispose();
  }
}

/** Telemetry data is a flat bag of primitives; nested values go in as JSON text. */
function flatten(record: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    out[key] = typeof value === "object" ? JSON.stringify(value) : (value as string | number | boolean);
  }
  return out;
}
