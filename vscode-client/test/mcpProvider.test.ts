import { beforeEach, describe, expect, it, vi } from "vitest";
import * as vscode from "vscode";
import { ServerVersions, changeText, endpoints, readiness, withToken } from "../src/mcpDefinitions";
import { MCP_PROVIDER_ID, McpDefinitionProvider, registerMcpProvider } from "../src/mcpProvider";
import type { GatewayResult } from "../src/protocol";
import { fake, type McpHttpServerDefinition } from "./fake/vscode";
import { makeHost, manifest, resetEditor, snapshot } from "./harness";

beforeEach(resetEditor);

const TOKEN = "s3cret-token";
const URL = "http://127.0.0.1:4711";

function gatewayOf(names: string[], extra: Partial<GatewayResult> = {}): GatewayResult {
  return {
    url: URL,
    token: TOKEN,
    servers: names.map((name) => ({ name, url: `${URL}/mcp/${name}` })),
    marshal: `${URL}/mcp/marshal`,
    owner: null,
    reason: null,
    ...extra,
  };
}

function stateChanged(name: string, state: string, previous: string, server: Record<string, unknown> = {}) {
  const pid = (server.pid as number | undefined) ?? null;
  return { ts: 1000, name, state, previous, pid, restarts: 0, detail: "", server: { ...snapshot(name, state), pid, ...server } };
}

async function setup(options: Parameters<typeof makeHost>[0] = {}, readyTimeoutMs = 2_000) {
  const h = makeHost({ gateway: gatewayOf(["alpha", "beta"]), ...options });
  const acted: Array<[string, string]> = [];
  const provider = new McpDefinitionProvider({
    api: () => h.host.currentApi(),
    host: h.host,
    servers: h.servers,
    gateway: h.gateway,
    output: h.output,
    act: (action, name) => {
      acted.push([action, name]);
      return h.host.currentApi()?.approveServers(name) ?? Promise.resolve();
    },
    readyTimeoutMs,
  });
  let fired = 0;
  provider.onDidChangeMcpServerDefinitions(() => fired++);
  await h.host.start();
  return { ...h, provider, acted, fired: () => fired };
}

const definition = (label: string) => new vscode.McpHttpServerDefinition(label, vscode.Uri.parse(`${URL}/mcp/${label}`), {}, "1");
const describeDefs = (defs: McpHttpServerDefinition[]) => defs.map((d) => [d.label, d.uri.toString(), JSON.stringify(d.headers), d.version]);

describe("endpoints (what VS Code is offered)", () => {
  it("offers each served server and marshal last, without the token", () => {
    const specs = endpoints(gatewayOf(["alpha", "marshal", "beta"]), () => "1");
    expect(specs).toEqual([
      { label: "alpha", uri: `${URL}/mcp/alpha`, version: "1" },
      { label: "beta", uri: `${URL}/mcp/beta`, version: "1" },
      { label: "marshal", uri: `${URL}/mcp/marshal`, version: "1" },
    ]);
    expect(JSON.stringify(specs)).not.toContain(TOKEN);
  });

  it("offers nothing while the gateway does not serve", () => {
    expect(endpoints(undefined, () => "1")).toEqual([]);
    expect(endpoints({ url: null, token: null, servers: [], marshal: null, owner: null, reason: "disabled" }, () => "1")).toEqual([]);
    expect(endpoints(gatewayOf(["alpha"], { token: null }), () => "1")).toEqual([]);
  });

  it("authenticates with a bearer header, keeping other headers", () => {
    expect(withToken({ "X-Other": "1" }, "t")).toEqual({ "X-Other": "1", Authorization: "Bearer t" });
  });
});

describe("ServerVersions", () => {
  it("moves a server's version on only when it is ready again under another pid", () => {
    const v = new ServerVersions();
    expect(v.observe([snapshot("a", "starting")])).toEqual([]);
    expect(v.observe([snapshot("a", "ready", { pid: 10 })])).toEqual([]);
    expect(v.version("a")).toBe("1");
    expect(v.observe([snapshot("a", "ready", { pid: 10 })])).toEqual([]); // the same process, again
    expect(v.observe([snapshot("a", "backoff")])).toEqual([]);
    expect(v.observe([snapshot("a", "ready", { pid: 11 })])).toEqual(["a"]);
    expect(v.version("a")).toBe("2");
    expect(v.version("never-seen")).toBe("1");
  });

  it("keeps the generation of a server that went away and came back", () => {
    const v = new ServerVersions();
    v.observe([snapshot("a", "ready", { pid: 1 })]);
    v.observe([snapshot("a", "ready", { pid: 2 })]);
    v.retain([]);
    expect(v.observe([snapshot("a", "ready", { pid: 3 })])).toEqual([]);
    expect(v.version("a")).toBe("2");
  });
});

describe("readiness", () => {
  const at = (state: string, extra = {}) => readiness("db", snapshot("db", state, extra), "running", true);

  it("connects to ready (and unhealthy) servers and waits for settling ones", () => {
    expect(at("ready").kind).toBe("ready");
    expect(at("unhealthy").kind).toBe("ready");
    for (const state of ["starting", "backoff", "exited", "stopping"]) expect(at(state).kind, state).toBe("wait");
  });

  it("says why it gives up, and what the user can do", () => {
    expect(at("failed", { last_error: "exited (code 1)" })).toEqual({ kind: "never", why: "db failed: exited (code 1)", action: "showLogs" });
    expect(at("stopped")).toEqual({ kind: "never", why: "db is stopped", action: "start" });
    expect(at("blocked", { last_error: "waits for api" })).toEqual({ kind: "never", why: "db is blocked: waits for api" });
    expect(at("stopped", { needs_approval: true, changed: ["args", "env"] })).toEqual({
      kind: "never",
      why: "db needs approval: its args and env changed since you approved it",
      action: "approve",
    });
    expect(readiness("db", undefined, "down", true)).toMatchObject({ kind: "never", action: "restartLanguageServer" });
  });

  it("waits for the language server, its gateway and a server it has not heard of yet, until the wait is over", () => {
    expect(readiness("db", undefined, "starting", true).kind).toBe("wait");
    expect(readiness("db", snapshot("db", "ready"), "running", false).kind).toBe("wait");
    expect(readiness("db", undefined, "running", true).kind).toBe("wait");
    expect(readiness("db", undefined, "running", true, true)).toEqual({ kind: "never", why: "db is not a server of this workspace (any more)" });
    expect(readiness("marshal", undefined, "running", true, true).kind).toBe("ready");
  });

  it("words what changed", () => {
    expect(changeText(["new"])).toBe("it is new since you last approved this workspace's servers");
    expect(changeText(["command"])).toBe("its command changed since you approved it");
    expect(changeText(["command", "args", "env"])).toBe("its command, args and env changed since you approved it");
  });
});

describe("McpDefinitionProvider", () => {
  it("is contributed and registered under the manifest's id, as VS Code requires", () => {
    expect(manifest.contributes.mcpServerDefinitionProviders).toEqual([{ id: MCP_PROVIDER_ID, label: "MCP Marshal" }]);
    const h = makeHost();
    const provider = new McpDefinitionProvider({ api: () => undefined, host: h.host, servers: h.servers, gateway: h.gateway, output: h.output, act: () => Promise.resolve() });
    const registration = registerMcpProvider(provider);
    expect(fake.mcpProviders.get(MCP_PROVIDER_ID)).toBe(provider);
    registration?.dispose();
    expect(fake.mcpProviders.size).toBe(0);
    // An editor without the API (older VS Code, a fork): nothing is registered, nothing throws.
    expect(registerMcpProvider(provider, { registerMcpServerDefinitionProvider: undefined })).toBeUndefined();
    expect(registerMcpProvider(provider, {})).toBeUndefined();
  });

  it("the engine and the API types allow the stable MCP API (VS Code 1.101)", () => {
    const [major, minor] = manifest.engines.vscode.replace(/^\^/, "").split(".").map(Number);
    expect(major * 1000 + minor).toBeGreaterThanOrEqual(1101);
    const [tmajor, tminor] = manifest.devDependencies["@types/vscode"].replace(/^[~^]/, "").split(".").map(Number);
    expect(tmajor * 1000 + tminor).toBeGreaterThanOrEqual(1101);
    expect(tmajor * 1000 + tminor).toBeLessThanOrEqual(major * 1000 + minor); // vsce refuses types newer than the engine
  });

  it("provides one HTTP definition per server plus marshal, with no token (VS Code stores them)", async () => {
    const h = await setup({ servers: [snapshot("alpha", "ready", { pid: 5 }), snapshot("beta", "starting")] });
    const defs = await h.provider.provideMcpServerDefinitions();
    expect(describeDefs(defs as unknown as McpHttpServerDefinition[])).toEqual([
      ["alpha", `${URL}/mcp/alpha`, "{}", "1"],
      ["beta", `${URL}/mcp/beta`, "{}", "1"],
      ["marshal", `${URL}/mcp/marshal`, "{}", "1"],
    ]);
    expect(JSON.stringify(defs)).not.toContain(TOKEN);
  });

  it("provides nothing while the language server does not run, and says when that changes", async () => {
    const h = await setup({ servers: [snapshot("alpha", "ready")] });
    const before = h.fired();
    await h.host.stop();
    expect(h.fired()).toBeGreaterThan(before);
    expect(await h.provider.provideMcpServerDefinitions()).toEqual([]);
    const stopped = h.fired();
    await h.host.start();
    expect(h.fired()).toBeGreaterThan(stopped);
    expect((await h.provider.provideMcpServerDefinitions()).map((d) => d.label)).toEqual(["alpha", "beta", "marshal"]);
  });

  it("resolves a ready server with the gateway's endpoint and the bearer token", async () => {
    const h = await setup({ servers: [snapshot("alpha", "ready", { pid: 5 })] });
    h.setGateway(gatewayOf(["alpha"], { url: "http://127.0.0.1:5000", servers: [{ name: "alpha", url: "http://127.0.0.1:5000/mcp/alpha" }] }));
    const resolved = (await h.provider.resolveMcpServerDefinition(definition("alpha"))) as unknown as McpHttpServerDefinition;
    expect(resolved.uri.toString()).toBe("http://127.0.0.1:5000/mcp/alpha");
    expect(resolved.headers).toEqual({ Authorization: `Bearer ${TOKEN}` });
    const marshal = (await h.provider.resolveMcpServerDefinition(definition("marshal"))) as unknown as McpHttpServerDefinition;
    expect(marshal.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    expect(fake.messages).toEqual([]);
    expect(fake.outputChannels.flatMap((c) => c.lines).join("\n")).not.toContain(TOKEN);
  });

  it("waits for a starting server to become ready", async () => {
    const h = await setup({ servers: [snapshot("alpha", "starting")] });
    const pending = h.provider.resolveMcpServerDefinition(definition("alpha"));
    let settled = false;
    void pending.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("alpha", "ready", "starting", { pid: 9 }));
    const resolved = (await pending) as unknown as McpHttpServerDefinition;
    expect(resolved.headers.Authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("gives up on a server that stays starting, at the bound, saying so", async () => {
    const h = await setup({ servers: [snapshot("alpha", "starting")] }, 50);
    expect(await h.provider.resolveMcpServerDefinition(definition("alpha"))).toBeUndefined();
    expect(fake.messages.map((m) => m.message)).toEqual([
      "MCP Marshal: VS Code cannot use the MCP server alpha now: alpha is starting (waited 0 s).",
    ]);
  });

  it("refuses a server that needs approval, and Approve and Start approves it", async () => {
    const h = await setup({ servers: [snapshot("alpha", "stopped", { needs_approval: true, changed: ["command"] })] });
    fake.answers.message = (shown) => shown.items.find((i) => (typeof i === "string" ? i : i.title) === "Approve and Start");
    expect(await h.provider.resolveMcpServerDefinition(definition("alpha"))).toBeUndefined();
    expect(fake.messages[0].message).toBe(
      "MCP Marshal: VS Code cannot use the MCP server alpha now: alpha needs approval: its command changed since you approved it.",
    );
    await vi.waitFor(() => expect(h.acted).toEqual([["approve", "alpha"]]));
    expect(h.client().commands()).toContainEqual(["mcpMarshal.approveServers", "alpha"]);
  });

  it("refuses a failed server at once, offering its logs", async () => {
    const h = await setup({ servers: [snapshot("alpha", "failed", { last_error: "exited (code 1)" })] });
    expect(await h.provider.resolveMcpServerDefinition(definition("alpha"))).toBeUndefined();
    expect(fake.messages[0]).toMatchObject({
      severity: "warning",
      message: "MCP Marshal: VS Code cannot use the MCP server alpha now: alpha failed: exited (code 1).",
      items: ["Show Logs"],
    });
  });

  it("says why once while nothing changes (chat may retry at every message), and again after a change", async () => {
    const h = await setup({ servers: [snapshot("alpha", "failed", { last_error: "exited (code 1)" })] });
    await h.provider.resolveMcpServerDefinition(definition("alpha"));
    await h.provider.resolveMcpServerDefinition(definition("alpha"));
    expect(fake.messages).toHaveLength(1);
    const said = (fake.channel("MCP Marshal")?.lines ?? []).filter((l) => l.includes("cannot use the MCP server alpha"));
    expect(said).toHaveLength(2);
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("alpha", "starting", "failed"));
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("alpha", "failed", "starting", { last_error: "exited (code 1)" }));
    await h.provider.resolveMcpServerDefinition(definition("alpha"));
    expect(fake.messages).toHaveLength(1); // failed again, for the same reason: not said again
    h.client().notify("mcpMarshal/serverStateChanged", stateChanged("alpha", "stopped", "failed"));
    await h.provider.resolveMcpServerDefinition(definition("alpha"));
    expect(fake.messages.map((m) => m.message)).toEqual([
      "MCP Marshal: VS Code cannot use the MCP server alpha now: alpha failed: exited (code 1).",
      "MCP Marshal: VS Code cannot use the MCP server alpha now: alpha is stopped.",
    ]);
  });

  it("tells VS Code when the gateway changes, servers come or go, or a server restarts as another process", async () => {
    const h = await setup({ servers: [snapshot("alpha", "starting"), snapshot("beta", "ready", { pid: 20 })] });
    const notify = (params: unknown) => h.client().notify("mcpMarshal/serverStateChanged", params);
    let seen = h.fired();
    h.client().notify("mcpMarshal/gatewayChanged", { url: "http://127.0.0.1:9", servers: ["alpha", "beta"] });
    expect(h.fired()).toBe(++seen);

    notify(stateChanged("alpha", "ready", "starting", { pid: 10 })); // first ready: nothing new for VS Code
    expect(h.fired()).toBe(seen);

    notify(stateChanged("gamma", "starting", "stopped")); // a new server
    expect(h.fired()).toBe(++seen);
    h.client().notify("mcpMarshal/serverRemoved", { name: "gamma" });
    expect(h.fired()).toBe(++seen);

    notify(stateChanged("alpha", "stopping", "ready", { pid: 10 }));
    notify(stateChanged("alpha", "starting", "stopping"));
    expect(h.fired()).toBe(seen);
    notify(stateChanged("alpha", "ready", "starting", { pid: 11 })); // restarted
    expect(h.fired()).toBe(++seen);
    const defs = await h.provider.provideMcpServerDefinitions();
    expect(defs.map((d) => [d.label, d.version])).toEqual([
      ["alpha", "2"],
      ["beta", "1"],
      ["marshal", "1"],
    ]);
  });
});
