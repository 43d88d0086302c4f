import { describe, expect, it } from "vitest";
import type * as client from "../src/protocol";
import { Notifications } from "../src/protocol";
import * as wire from "../src/protocol.generated";

/**
 * The client's hand-written view of the contract (src/protocol.ts) against the declarations
 * generated from the server's pydantic models (src/protocol.generated.ts, kept current by a
 * pytest check): what the server sends must be assignable to what the client reads, and what
 * the client sends to what the server accepts. `tsc` (npm run typecheck) fails on a mismatch.
 */
type Fits<From, To> = [From] extends [To] ? true : false;

const contract: {
  serverSnapshot: Fits<wire.ServerSnapshot, client.ServerSnapshot>;
  serverStateChanged: Fits<wire.ServerStateChangedParams, client.ServerStateChangedParams>;
  serverRemoved: Fits<wire.ServerRemovedParams, client.ServerRemovedParams>;
  listServers: Fits<wire.ListServersResult, Partial<client.ListServersResult>>;
  gateway: Fits<wire.GatewayResult, client.GatewayResult>;
  gatewayChanged: Fits<wire.GatewayChangedParams, client.GatewayChangedParams>;
  gatewayOwner: Fits<wire.GatewayOwner, client.GatewayOwner>;
  approve: Fits<wire.ApproveResult, client.ApproveResult>;
  lease: Fits<wire.Lease, client.LockInfo>;
  listLocks: Fits<wire.ListLocksResult, client.ListLocksResult>;
  lockChanged: Fits<wire.LockChangedParams, client.LockChangedParams>;
  telemetryBatch: Fits<wire.TelemetryBatch, client.TelemetryBatch>;
  initializationOptions: Fits<client.InitializationOptions, wire.InitializationOptions>;
} = {
  serverSnapshot: true,
  serverStateChanged: true,
  serverRemoved: true,
  listServers: true,
  gateway: true,
  gatewayChanged: true,
  gatewayOwner: true,
  approve: true,
  lease: true,
  listLocks: true,
  lockChanged: true,
  telemetryBatch: true,
  initializationOptions: true,
};

describe("the wire contract generated from the server's models", () => {
  it("declares every notification the client listens to, under the same method name", () => {
    const methods: Record<string, string> = wire.Methods;
    for (const [key, method] of Object.entries(Notifications)) expect(methods[key], key).toBe(method);
  });

  it("is checked type by type against the client's declarations (by tsc)", () => {
    expect(Object.values(contract).every((fits) => fits)).toBe(true);
  });
});
