// End-to-end test of the packaged extension in a real VS Code: code-server serves the workbench,
// Debian's Chromium (driven by puppeteer-core) is the user. Every check reads the DOM, as a user
// would see it, and waits on DOM conditions with a timeout. Run through .ci/e2e-vscode, which
// installs the tools and passes their paths; `node run.mjs --help` lists the options.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");

const { values: opts } = parseArgs({
  options: {
    vsix: { type: "string", default: join(repo, "vscode-client", "mcp-marshal.vsix") },
    "code-server": { type: "string" },
    puppeteer: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "server-path": { type: "string", default: join(repo, ".venv", "bin", "mcp-marshal") },
    python: { type: "string", default: join(repo, ".venv", "bin", "python") },
    screenshots: { type: "string" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opts.help || !opts["code-server"] || !opts.puppeteer) {
  console.log(`usage: node run.mjs --code-server DIR --puppeteer DIR [--vsix FILE] [--server-path FILE] [--python FILE]
                   [--chromium FILE] [--screenshots DIR] [--keep]
  --code-server  folder with node_modules/code-server (installed by .ci/e2e-vscode)
  --puppeteer    folder with node_modules/puppeteer-core
  --screenshots  write servers-view.png, status-bar.png, failure-notification.png there
  --keep         keep the temporary profile, workspace and logs`);
  process.exit(opts.help ? 0 : 2);
}

/** Timeouts: the first paint of the workbench and the first activation are slow on 2 shared cores. */
const FIRST_MS = 120_000;
const STEP_MS = 30_000;
const STOP_MS = 20_000;
const SERVERS = ["alpha", "beta", "gamma", "crashy"];
/** What VS Code's own MCP client starts through our provider. */
const MCP_STARTED = ["alpha", "beta", "gamma", "marshal"];
const OUR_MCP_LABELS = [...SERVERS, "marshal"];
const STATUS_ID = "mcp-marshal.mcp-marshal.mcpMarshal.status";

const started = Date.now();
const say = (text) => console.log(`e2e: ${text}`);
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

// --- the throwaway profile and workspace -------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), "mcp-marshal-e2e-"));
const dirs = {
  profile: join(tmp, "profile"),
  extensions: join(tmp, "extensions"),
  workspace: join(tmp, "workspace"),
  pids: join(tmp, "pids"),
  logs: join(tmp, "logs"),
  state: join(tmp, "state"),
  chromium: join(tmp, "chromium"),
  xdg: join(tmp, "xdg"),
};
for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
const configYaml = join(tmp, "code-server.yaml");
// Port 0: code-server binds a free port and prints it.
writeFileSync(configYaml, "bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n");

const userSettings = {
  // A test profile: the workspace is ours, so Workspace Trust is off (servers start only when trusted).
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  // VS Code's MCP client (MCP: List Servers) is part of its AI features; no chat model is needed.
  "chat.disableAIFeatures": false,
  "chat.mcp.autostart": "never",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "json.schemaDownload.enable": false,
};
// mcpMarshal.server.* are machine-overridable: in a remote window (code-server is one) VS Code
// ignores them in User settings. A remote user sets them in the Remote settings, which
// code-server keeps in <user-data-dir>/Machine/settings.json.
const machineSettings = { "mcpMarshal.server.path": opts["server-path"] };
mkdirSync(join(dirs.profile, "User"), { recursive: true });
mkdirSync(join(dirs.profile, "Machine"), { recursive: true });
writeFileSync(join(dirs.profile, "User", "settings.json"), JSON.stringify(userSettings, null, 2));
writeFileSync(join(dirs.profile, "Machine", "settings.json"), JSON.stringify(machineSettings, null, 2));

const fixture = readFileSync(join(here, "e2e.code-workspace"), "utf8")
  .replaceAll("@PYTHON@", opts.python)
  .replaceAll("@FAKE_SERVER@", join(repo, "tests", "fixtures", "fake_server.py"))
  .replaceAll("@PIDS@", dirs.pids)
  .replaceAll("@LOGS@", dirs.logs);
const good = JSON.parse(fixture);
const workspaceFile = join(dirs.workspace, "e2e.code-workspace");
writeFileSync(workspaceFile, fixture);

/** Save as editors do: a temporary file renamed over the workspace file. */
function saveWorkspace(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2) + "\n";
  const temp = join(dirs.workspace, ".e2e.code-workspace.tmp");
  writeFileSync(temp, text);
  renameSync(temp, workspaceFile);
}

function withServers(edit) {
  const copy = structuredClone(good);
  edit(copy.settings["mcpMarshal.servers"]);
  return copy;
}

// --- code-server ---------------------------------------------------------------------------------

const codeServerEntry = join(opts["code-server"], "node_modules", "code-server", "out", "node", "entry.js");
const codeServerEnv = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
  // Where code-server and VS Code would otherwise write outside the profile.
  XDG_CONFIG_HOME: join(dirs.xdg, "config"),
  XDG_DATA_HOME: join(dirs.xdg, "data"),
  XDG_CACHE_HOME: join(dirs.xdg, "cache"),
  MCP_MARSHAL_STATE_DIR: dirs.state,
  // Inherited by every process of this run (extension host, language server, MCP servers), so
  // the leftover check can find them all in /proc.
  MCP_MARSHAL_E2E_RUN: tmp,
};
const profileArgs = ["--config", configYaml, "--user-data-dir", dirs.profile, "--extensions-dir", dirs.extensions];

function codeServerSync(args) {
  const run = spawnSync(process.execPath, [codeServerEntry, ...profileArgs, ...args], { env: codeServerEnv, encoding: "utf8" });
  return { status: run.status, out: `${run.stdout ?? ""}${run.stderr ?? ""}` };
}

const version = codeServerSync(["--version"]).out.trim().split("\n").at(-1) ?? "";
say(`code-server ${version}`);
const installed = codeServerSync(["--install-extension", opts.vsix, "--force"]);
if (installed.status !== 0 || !/successfully installed/i.test(installed.out)) {
  console.error(installed.out);
  throw new Error(`installing ${opts.vsix} failed`);
}
say(`installed ${opts.vsix} into ${dirs.extensions}`);

let codeServer;
let codeServerLog = "";
let browser;
const results = [];

function startCodeServer() {
  const args = [codeServerEntry, ...profileArgs, "--disable-telemetry", "--disable-update-check", "--disable-getting-started-override", "--ignore-last-opened"];
  // detached: its own process group, so cleanup can take down whatever it left.
  codeServer = spawn(process.execPath, args, { env: codeServerEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server printed no address in 60 s:\n${codeServerLog}`)), 60_000);
    const onData = (chunk) => {
      codeServerLog += chunk.toString();
      const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(codeServerLog);
      if (m) {
        clearTimeout(timer);
        resolvePort(m[1]);
      }
    };
    codeServer.stdout.on("data", onData);
    codeServer.stderr.on("data", onData);
    codeServer.on("exit", (code) => reject(new Error(`code-server exited (${code}):\n${codeServerLog}`)));
  });
}

// --- the page ------------------------------------------------------------------------------------

/** Runs in the page before the workbench loads: records every row text and toast ever shown. */
function recorder() {
  const rec = { rows: [], toasts: [] };
  window.__mcpE2E = rec;
  const lastRow = new Map();
  const lastToast = new WeakMap();
  const scan = () => {
    for (const row of document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')) {
      const name = row.querySelector(".label-name")?.textContent ?? "";
      const desc = row.querySelector(".label-description")?.textContent ?? "";
      if (name && lastRow.get(name) !== desc) {
        lastRow.set(name, desc);
        rec.rows.push({ t: Date.now(), name, desc });
      }
    }
    for (const message of document.querySelectorAll(".notifications-toasts .notification-list-item-message")) {
      const text = message.textContent ?? "";
      if (text && lastToast.get(message) !== text) {
        lastToast.set(message, text);
        rec.toasts.push({ t: Date.now(), text });
      }
    }
  };
  new MutationObserver(scan).observe(document, { subtree: true, childList: true, characterData: true });
}

/** Polls `fn` in the page until it returns something truthy; the error names the last value seen. */
async function waitFor(page, what, fn, arg, timeout = STEP_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg).catch((err) => ({ error: String(err) }));
    if (last && !last.error && (last.ok ?? true) && last.ok !== false) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${secs(timeout)}; last seen: ${JSON.stringify(last?.seen ?? last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runCommand(page, title) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("F1");
  await waitFor(page, "command palette", () => {
    const input = document.querySelector(".quick-input-widget input");
    return !!input && input === document.activeElement;
  });
  await page.keyboard.type(title);
  const { index, focused } = await waitFor(
    page,
    `palette entry "${title}"`,
    (t) => {
      const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")];
      const index = rows.findIndex((r) => (r.getAttribute("aria-label") ?? "").startsWith(t));
      const seen = rows.slice(0, 4).map((r) => r.getAttribute("aria-label"));
      return { ok: index >= 0, index, focused: index >= 0 && rows[index].classList.contains("focused"), seen };
    },
    title,
  );
  if (focused) {
    await page.keyboard.press("Enter");
    return;
  }
  // Another command that also matches (one recently used) has the focus: pick the one asked for.
  const rows = await page.$$(".quick-input-widget .monaco-list-row");
  await rows[index].click();
}

/** The rows of the quick pick on screen (none while it is hidden): label, description, aria-label. */
function quickRows(page) {
  return page.evaluate(() => {
    const widget = document.querySelector(".quick-input-widget");
    if (!widget || window.getComputedStyle(widget).display === "none") return [];
    return [...widget.querySelectorAll(".quick-input-list .monaco-list-row")].map((row) => ({
      label: row.querySelector(".quick-input-list-label .label-name")?.textContent?.trim() ?? "",
      description: row.querySelector(".quick-input-list-label .label-description")?.textContent?.trim() ?? "",
      aria: row.getAttribute("aria-label") ?? "",
    }));
  });
}

/** Click the quick pick row labelled `label` (a real mouse click, as the list wants). */
async function pickQuickRow(page, label) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const rows = await page.$$(".quick-input-widget .quick-input-list .monaco-list-row");
    for (const row of rows) {
      const text = await row.evaluate((r) => r.querySelector(".quick-input-list-label .label-name")?.textContent?.trim() ?? "");
      if (text === label) {
        await row.click();
        return;
      }
    }
    if (Date.now() > deadline) throw new Error(`no quick pick row "${label}"; rows: ${JSON.stringify(await quickRows(page))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Opens MCP: List Servers and waits until it lists `names` in the "MCP Marshal" group (the group
 * is named on its first row; the test profile has no other MCP servers); returns those rows.
 * Opened again if it closes meanwhile (VS Code shows a server's output as it starts it).
 */
async function openMcpList(page, names) {
  const deadline = Date.now() + STEP_MS;
  await runCommand(page, "MCP: List Servers");
  for (;;) {
    const rows = await quickRows(page);
    const first = rows.findIndex((r) => r.aria.endsWith(", MCP Marshal"));
    const ours = first < 0 ? [] : rows.slice(first).filter((r) => OUR_MCP_LABELS.includes(r.label));
    if (names.every((n) => ours.some((r) => r.label === n))) return ours;
    if (Date.now() > deadline) throw new Error(`MCP: List Servers has no MCP Marshal group with ${names.join(", ")}; rows: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 250));
    if (rows.length === 0) await runCommand(page, "MCP: List Servers");
  }
}

/**
 * Clicks the inline action `title` of our view's row `name` (shown on hover). Rows are redrawn
 * as states and uptimes change, so a row that went away meanwhile is looked up again.
 */
async function clickRowAction(page, name, title) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    try {
      for (const row of await page.$$('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')) {
        if ((await row.evaluate((r) => r.querySelector(".label-name")?.textContent)) !== name) continue;
        await row.hover();
        const action = await row.waitForSelector(`.actions .action-label[aria-label="${title}"]`, { visible: true, timeout: 2_000 });
        await action.click();
        return;
      }
      throw new Error(`no ${name} row`);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the ${title} action of ${name}: ${err instanceof Error ? err.message : String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Waits (bounded) until `count()` exceeds `above`. */
async function waitForCount(count, above, what) {
  const deadline = Date.now() + STEP_MS;
  while (count() <= above) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${count()} after ${secs(STEP_MS)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The text of the output channel on screen, and its name. */
function outputText(page) {
  return page.evaluate(() => {
    const panel = document.getElementById("workbench.parts.panel");
    const channel = panel?.querySelector("select")?.selectedOptions?.[0]?.textContent ?? "";
    const text = (panel?.querySelector(".monaco-editor .view-lines")?.innerText ?? "").replace(/\u00a0/g, " ");
    return { channel, text };
  });
}

/** MCP: List Servers → NAME → ACTION (Start Server, Show Output...). */
async function mcpServerAction(page, name, action) {
  await openMcpList(page, [name]);
  await pickQuickRow(page, name);
  await pickQuickRow(page, action);
}

/**
 * Waits until VS Code's list shows `name` in a state matching `pattern`; returns that state. The
 * list updates live; it is opened again when something else took the focus (VS Code shows a
 * server's output when it starts it, which closes the pick).
 */
async function waitForMcpState(page, name, pattern) {
  const deadline = Date.now() + STEP_MS;
  let row;
  for (;;) {
    const rows = await quickRows(page);
    if (!rows.some((r) => r.aria.endsWith(", MCP Marshal"))) await openMcpList(page, [name]);
    row = (await quickRows(page)).find((r) => r.label === name);
    if (row && pattern.test(row.description)) {
      await page.keyboard.press("Escape");
      return row.description;
    }
    if (Date.now() > deadline) throw new Error(`${name} in VS Code's MCP list: ${JSON.stringify(row)}, not ${pattern}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Our MCP Servers view: name → description. */
function serverRows(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')].map((row) => [
        row.querySelector(".label-name")?.textContent ?? "",
        row.querySelector(".label-description")?.textContent ?? "",
      ]),
    ),
  );
}

async function shoot(page, name, boxFn, arg, pad = 0) {
  if (!opts.screenshots) return;
  const box = await page.evaluate(boxFn, arg);
  if (!box) throw new Error(`screenshot ${name}: element not found`);
  mkdirSync(opts.screenshots, { recursive: true });
  const clip = { x: Math.max(0, box.x - pad), y: Math.max(0, box.y - pad), width: box.width + 2 * pad, height: box.height + 2 * pad };
  await page.screenshot({ path: join(opts.screenshots, `${name}.png`), clip });
}

async function check(id, title, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ id, ok: true });
    console.log(`✓ ${id} — ${title}${detail ? `: ${detail}` : ""} (${secs(Date.now() - t0)})`);
  } catch (err) {
    results.push({ id, ok: false, why: err instanceof Error ? err.message : String(err) });
    console.log(`✗ ${id} — ${title}: ${err instanceof Error ? err.message : String(err)} (${secs(Date.now() - t0)})`);
  }
}

const pidsOf = (name) =>
  existsSync(join(dirs.pids, name)) ? readFileSync(join(dirs.pids, name), "utf8").split("\n").filter(Boolean).map(Number) : [];
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
};
/** Every live process that inherited this run's marker (see codeServerEnv). */
function markedProcesses() {
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(`MCP_MARSHAL_E2E_RUN=${tmp}`) && alive(Number(entry))) {
        found.push(`${entry} ${readFileSync(`/proc/${entry}/cmdline`, "latin1").split("\0").join(" ").trim().slice(0, 120)}`);
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Live processes of the fake server named `name` (FAKE_NAME in their environment), by /proc. */
function serverProcesses(name) {
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1");
      if (!cmdline.includes("fake_server.py")) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1").split("\0");
      if (environ.includes(`FAKE_NAME=${name}`) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

const fakeLog = (name) => (existsSync(join(dirs.logs, name)) ? readFileSync(join(dirs.logs, name), "utf8") : "");
/** How many tools/list requests every process of `name` received (FAKE_LOG): the supervisor sends none, agents' come through the gateway. */
const toolLists = (name) => fakeLog(name).split("\n").filter((line) => line.includes('"tools/list"')).length;

async function main() {
  const createRequireFrom = createRequire(join(opts.puppeteer, "package.json"));
  const puppeteer = createRequireFrom("puppeteer-core");
  const url = await startCodeServer();
  say(`code-server at ${url} (profile ${dirs.profile})`);

  browser = await puppeteer.launch({
    executablePath: opts.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${dirs.chromium}`,
    ],
    defaultViewport: { width: 1280, height: 800 },
  });
  say(`chromium ${await browser.version()}`);
  const page = await browser.newPage();
  await page.evaluateOnNewDocument(recorder);
  await page.goto(`${url}/?workspace=${encodeURIComponent(workspaceFile)}`, { waitUntil: "domcontentloaded" });
  await waitFor(page, "the workbench", () => !!document.querySelector(".monaco-workbench .part.sidebar .pane-header"), undefined, FIRST_MS);

  // Collapse the folder tree and open the MCP Servers view (the Explorer shows it collapsed).
  await waitFor(page, "the MCP Servers view header", () => !!document.querySelector('.pane-header[aria-label="MCP Servers Section"]'), undefined, FIRST_MS)
    .then(() =>
      page.evaluate(() => {
        const folders = document.querySelector('.pane-header[aria-label^="Explorer Section"]');
        if (folders?.getAttribute("aria-expanded") === "true") folders.click();
        const servers = document.querySelector('.pane-header[aria-label="MCP Servers Section"]');
        if (servers?.getAttribute("aria-expanded") !== "true") servers.click();
      }),
    )
    .catch((err) => say(`no MCP Servers view: ${err.message}`));

  await check("servers-view", "the MCP Servers view shows every server with its state", async () => {
    const { seen } = await waitFor(
      page,
      "alpha/beta/gamma ready and crashy failed",
      () => {
        const rows = [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')].map((row) => [
          row.querySelector(".label-name")?.textContent ?? "",
          row.querySelector(".label-description")?.textContent ?? "",
        ]);
        const state = Object.fromEntries(rows.map(([name, desc]) => [name, desc.split(" ")[0]]));
        const ok =
          rows.length === 4 && state.alpha === "ready" && state.beta === "ready" && state.gamma === "ready" && state.crashy === "failed";
        return { ok, seen: rows.map(([n, d]) => `${n} ${d}`) };
      },
      undefined,
      FIRST_MS,
    );
    await shoot(page, "servers-view", () => {
      const header = document.querySelector('.pane-header[aria-label="MCP Servers Section"]');
      const pane = header?.closest(".pane");
      const rows = [...(pane?.querySelectorAll(".monaco-list-row") ?? [])];
      if (!header || rows.length === 0) return null;
      const top = header.getBoundingClientRect();
      const last = rows[rows.length - 1].getBoundingClientRect();
      return { x: top.x, y: top.y, width: top.width, height: last.bottom - top.y + 6 };
    });
    return seen.join(", ");
  });

  await check("first-start-setting", "the first start used mcpMarshal.server.path from the Remote settings (no fallback to python3)", async () => {
    const toasts = await page.evaluate(() => window.__mcpE2E.toasts.map((t) => t.text));
    const failed = toasts.filter((text) => /did not start|could not start|couldn.t create connection|python3/.test(text));
    if (failed.length) throw new Error(`the language server first failed to start: ${JSON.stringify(failed)}`);
    return "no start failure shown before the servers came up";
  });

  await check("status-bar", "the status bar item reads MCP 3/4", async () => {
    const { seen } = await waitFor(
      page,
      '"MCP 3/4"',
      (id) => {
        const text = document.getElementById(id)?.textContent?.trim() ?? "";
        return { ok: text === "MCP 3/4", seen: text || "(no item)" };
      },
      STATUS_ID,
    );
    await shoot(
      page,
      "status-bar",
      (id) => {
        const item = document.getElementById(id)?.getBoundingClientRect();
        const bar = document.getElementById("workbench.parts.statusbar")?.getBoundingClientRect();
        return item && bar ? { x: bar.x, y: bar.y, width: Math.min(bar.width, item.right + 160), height: bar.height } : null;
      },
      STATUS_ID,
    );
    return seen;
  });

  const clickedAt = { t: 0, pids: 0 };
  await check("failure-notification", "one notification for the failed server, with Restart", async () => {
    const { seen } = await waitFor(page, "a notification that crashy failed with a Restart button", () => {
      const toasts = [...document.querySelectorAll(".notifications-toasts .notification-toast")].map((toast) => ({
        message: toast.querySelector(".notification-list-item-message")?.textContent ?? "",
        buttons: [...toast.querySelectorAll(".monaco-button")].map((b) => b.textContent ?? ""),
      }));
      const hit = toasts.find((t) => t.message.includes("crashy") && /fail/i.test(t.message) && t.buttons.includes("Restart"));
      return { ok: !!hit, seen: hit ?? toasts };
    });
    await shoot(
      page,
      "failure-notification",
      () => {
        const toast = [...document.querySelectorAll(".notifications-toasts .notification-toast")].find((t) =>
          (t.textContent ?? "").includes("crashy"),
        );
        const r = toast?.getBoundingClientRect();
        return r ? { x: r.x, y: r.y, width: r.width, height: r.height } : null;
      },
      undefined,
      4,
    );
    return `"${seen.message}" [${seen.buttons.join(", ")}]`;
  });

  await check("no-restart-toast", "a crash the supervisor restarts raises no notification (only failed does)", async () => {
    const toasts = await page.evaluate(() => window.__mcpE2E.toasts.map((t) => t.text));
    const restarts = toasts.filter((text) => text.includes("crashy") && !/fail/i.test(text));
    if (restarts.length) throw new Error(`restart notifications shown: ${JSON.stringify(restarts)}`);
    return `${toasts.length} notification(s): ${JSON.stringify(toasts)}`;
  });

  await check("restart-action", "Restart in the notification starts the server again", async () => {
    clickedAt.pids = pidsOf("crashy").length;
    clickedAt.t = await page.evaluate(() => {
      const toast = [...document.querySelectorAll(".notifications-toasts .notification-toast")].find((t) =>
        (t.textContent ?? "").includes("crashy"),
      );
      const button = [...(toast?.querySelectorAll(".monaco-button") ?? [])].find((b) => b.textContent === "Restart");
      if (!button) return 0;
      button.click();
      return Date.now();
    });
    if (!clickedAt.t) throw new Error("no Restart button to click");
    const { seen } = await waitFor(
      page,
      "crashy's row leaving failed after the click",
      (t) => {
        const after = window.__mcpE2E.rows.filter((r) => r.name === "crashy" && r.t >= t);
        return { ok: after.some((r) => !r.desc.startsWith("failed")), seen: after.map((r) => r.desc) };
      },
      clickedAt.t,
    );
    return `crashy went ${seen.join(" → ")}; ${pidsOf("crashy").length - clickedAt.pids} new process(es)`;
  });

  await check("palette-command", 'the palette runs "MCP Marshal: List Servers…" and it lists the servers', async () => {
    await runCommand(page, "MCP Marshal: List Servers");
    const { seen } = await waitFor(page, "a server pick with the four servers", (names) => {
      const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")].map((r) => r.getAttribute("aria-label") ?? "");
      return { ok: names.every((n) => rows.some((r) => r.startsWith(`${n}, `))), seen: rows };
    }, SERVERS);
    await page.keyboard.press("Escape");
    return seen.join(" | ");
  });

  await check("output-channel", "the MCP Marshal output channel logs the start plan and readiness", async () => {
    await runCommand(page, "MCP Marshal: Show Language Server Output");
    const { seen } = await waitFor(page, "the MCP Marshal channel with the servers' start and readiness", (names) => {
      const panel = document.getElementById("workbench.parts.panel");
      const channel = panel?.querySelector("select")?.selectedOptions?.[0]?.textContent ?? "";
      const text = (panel?.querySelector(".monaco-editor .view-lines")?.innerText ?? "").replace(/\u00a0/g, " ").trim();
      const ok = channel === "MCP Marshal" && names.every((n) => text.includes(n)) && /ready/i.test(text);
      return { ok, seen: `${channel}: ${JSON.stringify(text.slice(-600))}` };
    }, SERVERS);
    return `${seen.split("\\n").length} line(s)`;
  });

  // --- VS Code's own MCP client, fed by our McpServerDefinitionProvider ---------------------------

  await check("mcp-list", "VS Code's MCP: List Servers shows the supervised servers (and marshal) under MCP Marshal", async () => {
    const rows = await openMcpList(page, [...SERVERS, "marshal"]);
    await page.keyboard.press("Escape");
    return rows.map((r) => `${r.label} (${r.description})`).join(", ");
  });

  const vscodeStarted = {};
  await check("mcp-start", "VS Code starts alpha, beta, gamma and marshal through the provider: Running, tools from the gateway", async () => {
    for (const name of MCP_STARTED) {
      await mcpServerAction(page, name, "Start Server");
      vscodeStarted[name] = await waitForMcpState(page, name, /^Running/);
    }
    return MCP_STARTED.map((n) => `${n} ${vscodeStarted[n]}`).join(", ");
  });

  // The bearer token, as the supervisor keeps it (mode 0600 in its state directory): it must reach
  // VS Code's connections only, never a file of the editor's (checked after code-server stops).
  const gatewayToken = findFile(dirs.state, "gateway.token").map((f) => readFileSync(f, "utf8").trim()).find(Boolean);

  await check("mcp-tools", "alpha's VS Code output channel shows its 3 tools, listed by our alpha process", async () => {
    await mcpServerAction(page, "alpha", "Show Output");
    const { seen } = await waitFor(page, 'the "MCP: alpha" channel with Discovered 3 tools', () => {
      const panel = document.getElementById("workbench.parts.panel");
      const channel = panel?.querySelector("select")?.selectedOptions?.[0]?.textContent ?? "";
      const text = (panel?.querySelector(".monaco-editor .view-lines")?.innerText ?? "").replace(/\u00a0/g, " ");
      const vscodeChannel = channel.includes("alpha") && !channel.startsWith("MCP Marshal");
      return { ok: vscodeChannel && /Discovered 3 tools/.test(text), seen: `${channel}: ${JSON.stringify(text.slice(-400))}` };
    });
    const listed = toolLists("alpha");
    if (listed === 0) throw new Error(`alpha's process received no tools/list (${fakeLog("alpha")})`);
    return `${seen.split(":")[0]}; alpha received ${listed} tools/list request(s)`;
  });

  await check("mcp-no-duplicates", "exactly one process per supervised server while VS Code's MCP uses them (ours)", async () => {
    const counts = Object.fromEntries(SERVERS.map((name) => [name, serverProcesses(name)]));
    const problems = [];
    for (const name of ["alpha", "beta", "gamma"]) {
      if (counts[name].length !== 1) problems.push(`${name}: ${counts[name].length} processes ${JSON.stringify(counts[name])}`);
    }
    if (counts.crashy.length !== 0) problems.push(`crashy (failed): ${counts.crashy.length} processes`);
    const rows = await serverRows(page);
    for (const name of ["alpha", "beta", "gamma"]) {
      const pid = /pid (\d+)/.exec(rows[name] ?? "")?.[1];
      if (counts[name].length === 1 && String(counts[name][0]) !== pid) problems.push(`${name}: process ${counts[name][0]}, our row says ${rows[name]}`);
    }
    if (problems.length) throw new Error(problems.join("; "));
    return SERVERS.map((n) => `${n} ${counts[n].length}${counts[n].length ? ` (pid ${counts[n].join(",")})` : ""}`).join(", ");
  });

  await check("mcp-refused", "VS Code cannot start the failed crashy through the provider: our message says why and offers its logs", async () => {
    const since = await page.evaluate(() => Date.now());
    await mcpServerAction(page, "crashy", "Start Server");
    const { seen } = await waitFor(page, "a notification that VS Code cannot use crashy", (t) => {
      const toast = [...document.querySelectorAll(".notifications-toasts .notification-toast")]
        .map((el) => ({
          message: el.querySelector(".notification-list-item-message")?.textContent ?? "",
          buttons: [...el.querySelectorAll(".monaco-button")].map((b) => b.textContent ?? ""),
        }))
        .find((n) => n.message.includes("cannot use the MCP server crashy"));
      return { ok: !!toast && toast.buttons.includes("Show Logs"), seen: toast ?? window.__mcpE2E.toasts.filter((x) => x.t >= t) };
    }, since);
    const state = await waitForMcpState(page, "crashy", /^Stopped/);
    if (serverProcesses("crashy").length) throw new Error(`crashy processes: ${JSON.stringify(serverProcesses("crashy"))}`);
    return `"${seen.message}" [${seen.buttons.join(", ")}]; VS Code: ${state}; no crashy process`;
  });

  await check("mcp-after-restart", "after MCP Marshal restarts alpha, VS Code's entry still works (it lists the new process's tools)", async () => {
    const before = (await serverRows(page)).alpha;
    const oldPid = /pid (\d+)/.exec(before ?? "")?.[1];
    const listedBefore = toolLists("alpha");
    await runCommand(page, "MCP Marshal: Restart Server…");
    await pickQuickRow(page, "alpha");
    const { seen } = await waitFor(page, "alpha ready under a new pid", (old) => {
      const row = [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')].find(
        (r) => r.querySelector(".label-name")?.textContent === "alpha",
      );
      const desc = row?.querySelector(".label-description")?.textContent ?? "";
      const pid = /pid (\d+)/.exec(desc)?.[1];
      return { ok: desc.startsWith("ready") && !!pid && pid !== old, seen: desc };
    }, oldPid);
    // The gateway keeps VS Code's session across the restart and says tools/list_changed: VS Code
    // lists the new process's tools on the same session.
    await waitForCount(() => toolLists("alpha"), listedBefore, "tools/list requests reaching the restarted alpha");
    // The provider then gives alpha a new version; VS Code stops that connection and starts it
    // again on the next use (a tool call, or Start here).
    const stopped = await waitForMcpState(page, "alpha", /^Stopped/).catch(async (err) => {
      await mcpServerAction(page, "alpha", "Show Output");
      const { channel, text } = await outputText(page);
      throw new Error(`${err.message}; ${channel}: ${JSON.stringify(text.slice(-1200))}`);
    });
    const listedAfterRestart = toolLists("alpha");
    await mcpServerAction(page, "alpha", "Start Server");
    const state = await waitForMcpState(page, "alpha", /^Running/);
    await waitForCount(() => toolLists("alpha"), listedAfterRestart, "tools/list requests from VS Code's new connection");
    const processes = serverProcesses("alpha");
    if (processes.length !== 1) throw new Error(`${processes.length} alpha processes after the restart: ${JSON.stringify(processes)}`);
    if (String(processes[0]) === oldPid) throw new Error(`alpha still runs as ${oldPid}`);
    return `ours: ${before} → ${seen}; VS Code: refreshed on list_changed, ${stopped} on the new version, ${state} again; tools/list ${listedBefore} → ${toolLists("alpha")}; 1 alpha process`;
  });

  await check("approval", "a changed launch makes the row say needs approval (env changed); the inline Approve, then the palette's Approve Server…, start it", async () => {
    const rowOf = (name) =>
      waitFor(page, `the ${name} row`, (n) => {
        const row = [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')].find(
          (r) => r.querySelector(".label-name")?.textContent === n,
        );
        return { ok: !!row, desc: row?.querySelector(".label-description")?.textContent ?? "" };
      }, name);
    const waitDesc = (name, pattern, what) =>
      waitFor(page, what, ([n, source]) => {
        const row = [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row')].find(
          (r) => r.querySelector(".label-name")?.textContent === n,
        );
        const desc = row?.querySelector(".label-description")?.textContent ?? "";
        return { ok: new RegExp(source).test(desc), seen: desc };
      }, [name, pattern.source]);
    const before = (await rowOf("gamma")).desc;
    saveWorkspace(withServers((s) => (s.gamma.env.FAKE_E2E_EDIT = "1")));
    const pending = (await waitDesc("gamma", /^needs approval · env changed$/, "gamma needing approval")).seen;
    await clickRowAction(page, "gamma", "Approve Server…");
    const approved = (await waitDesc("gamma", /^ready · pid \d+/, "gamma ready after Approve")).seen;
    // Back to the file as it was: a launch changed again, approved from the palette this time.
    saveWorkspace(good);
    await waitDesc("gamma", /^needs approval · env changed$/, "gamma needing approval again");
    await runCommand(page, "MCP Marshal: Approve Server…");
    await pickQuickRow(page, "gamma");
    const again = (await waitDesc("gamma", /^ready · pid \d+/, "gamma ready after Approve Server…")).seen;
    if (serverProcesses("gamma").length !== 1) throw new Error(`gamma processes: ${JSON.stringify(serverProcesses("gamma"))}`);
    return `${before} → ${pending} → (inline Approve) ${approved} → ${"needs approval"} → (palette) ${again}`;
  });

  await check("invalid-edit", 'an invalid edit ("tier": -1) shows an mcp-marshal problem', async () => {
    saveWorkspace(withServers((s) => (s.beta.tier = -1)));
    await runCommand(page, "View: Focus Problems (Errors, Warnings, Infos)");
    const { seen } = await waitFor(page, "a Problems row from mcp-marshal about tier", () => {
      const rows = [...document.querySelectorAll(".markers-panel .monaco-list-row")].map((r) => r.getAttribute("aria-label") ?? "");
      const hit = rows.find((r) => r.includes("generated by mcp-marshal") && r.includes("tier"));
      return { ok: !!hit, seen: hit ?? rows };
    });
    return seen;
  });

  await check("problem-cleared", "fixing the file clears the problem and keeps the servers", async () => {
    saveWorkspace(good);
    await waitFor(page, "no mcp-marshal row in Problems", () => {
      const rows = [...document.querySelectorAll(".markers-panel .monaco-list-row")].map((r) => r.getAttribute("aria-label") ?? "");
      return { ok: !rows.some((r) => r.includes("generated by mcp-marshal")), seen: rows };
    });
    const { seen } = await waitFor(page, '"MCP 3/4" after the fix', (id) => {
      const text = document.getElementById(id)?.textContent?.trim() ?? "";
      return { ok: text === "MCP 3/4", seen: text };
    }, STATUS_ID);
    return seen;
  });

  await check("syntax-error-once", "a JSON syntax error in the open file is reported once (by VS Code's JSON checker)", async () => {
    await runCommand(page, "Go to File");
    await page.keyboard.type("e2e.code-workspace");
    await waitFor(page, "e2e.code-workspace in quick open", () => {
      const first = document.querySelector(".quick-input-widget .monaco-list-row")?.getAttribute("aria-label") ?? "";
      return { ok: first.includes("e2e.code-workspace"), seen: first };
    });
    await page.keyboard.press("Enter");
    await waitFor(page, "the workspace file in an editor", () => !!document.querySelector('.tabs-container .tab[aria-label^="e2e.code-workspace"]'));
    // First a problem only we report, so its disappearance shows that we have read the next text.
    saveWorkspace(withServers((s) => (s.beta.tier = -1)));
    await runCommand(page, "View: Focus Problems (Errors, Warnings, Infos)");
    await waitFor(page, "the tier problem", () =>
      [...document.querySelectorAll(".markers-panel .monaco-list-row")].some((r) => (r.getAttribute("aria-label") ?? "").includes("tier")),
    );
    saveWorkspace(JSON.stringify(good, null, 2).replace('"beta": {', '"beta": {,'));
    const { seen } = await waitFor(page, "VS Code's syntax problem, and ours gone or replaced", () => {
      const rows = [...document.querySelectorAll(".markers-panel .monaco-list-row")]
        .map((r) => r.getAttribute("aria-label") ?? "")
        .filter((r) => r.includes(" generated by "));
      const ours = rows.filter((r) => r.includes("generated by mcp-marshal"));
      const theirs = rows.filter((r) => !r.includes("generated by mcp-marshal"));
      return { ok: theirs.length > 0 && !ours.some((r) => r.includes("tier")), seen: { ours, theirs } };
    });
    saveWorkspace(good);
    await runCommand(page, "View: Close All Editors");
    if (seen.ours.length) throw new Error(`reported twice: ours ${JSON.stringify(seen.ours)} and VS Code's ${JSON.stringify(seen.theirs)}`);
    return `VS Code only: ${JSON.stringify(seen.theirs)}`;
  });

  await check("remove-server", "removing a server from the file removes its row", async () => {
    await waitFor(page, '"MCP 3/4" before the removal', (id) => document.getElementById(id)?.textContent?.trim() === "MCP 3/4", STATUS_ID);
    saveWorkspace(withServers((s) => delete s.beta));
    const { seen } = await waitFor(page, "rows alpha, gamma, crashy", () => {
      const names = [...document.querySelectorAll('.monaco-list[aria-label="MCP Servers"] .monaco-list-row .label-name')].map((n) => n.textContent);
      return { ok: names.join(",") === "alpha,gamma,crashy", seen: names };
    });
    return seen.join(", ");
  });

  await check("remove-status", "the status bar count follows the removal (MCP 2/3)", async () => {
    const { seen } = await waitFor(page, '"MCP 2/3"', (id) => {
      const text = document.getElementById(id)?.textContent?.trim() ?? "";
      return { ok: text === "MCP 2/3", seen: text };
    }, STATUS_ID);
    return seen;
  });

  await check("output-reload", "the output channel logs the reloads", async () => {
    await runCommand(page, "MCP Marshal: Show Language Server Output");
    const { seen } = await waitFor(page, "a reload line in the MCP Marshal channel", () => {
      const panel = document.getElementById("workbench.parts.panel");
      const text = (panel?.querySelector(".monaco-editor .view-lines")?.innerText ?? "").replace(/\u00a0/g, " ");
      const line = text.split("\n").reverse().find((l) => /reload/i.test(l));
      return { ok: !!line, seen: line ?? text.slice(-600) };
    });
    return seen.trim();
  });

  // A misconfigured mcpMarshal.server.path, as a remote user would set it in the Remote settings.
  const badPath = `${opts["server-path"]}-missing`;
  const badAt = await page.evaluate(() => Date.now());
  writeFileSync(join(dirs.profile, "Machine", "settings.json"), JSON.stringify({ "mcpMarshal.server.path": badPath }, null, 2));

  await check("bad-path-one-message", "a server.path that cannot start gives one message naming the command and the setting", async () => {
    const { seen } = await waitFor(page, "a notification that the language server did not start", (path) => {
      const toast = [...document.querySelectorAll(".notifications-toasts .notification-toast")]
        .map((t) => ({
          message: t.querySelector(".notification-list-item-message")?.textContent ?? "",
          buttons: [...t.querySelectorAll(".monaco-button")].map((b) => b.textContent ?? ""),
        }))
        .find((t) => t.message.includes(path));
      return { ok: !!toast, seen: toast ?? window.__mcpE2E.toasts.slice(-3) };
    }, badPath);
    // Observed for a while (not a wait): vscode-languageclient's own pop-ups come within seconds.
    await new Promise((r) => setTimeout(r, 5_000));
    const after = await page.evaluate((t) => window.__mcpE2E.toasts.filter((x) => x.t >= t).map((x) => x.text), badAt);
    const problems = [];
    if (after.length !== 1) problems.push(`${after.length} notifications: ${JSON.stringify(after)}`);
    if (!seen.message.includes("mcpMarshal.server.path")) problems.push(`does not name mcpMarshal.server.path: "${seen.message}"`);
    if (!seen.buttons.includes("Open Remote Settings") || !seen.buttons.includes("Show Output")) problems.push(`buttons ${JSON.stringify(seen.buttons)}`);
    if (problems.length) throw new Error(problems.join("; "));
    return `"${seen.message}" [${seen.buttons.join(", ")}]`;
  });

  await check("bad-path-status-bar", "the status bar shows that the language server is not running", async () => {
    const { seen } = await waitFor(page, "an error status item", (id) => {
      const item = document.getElementById(id);
      const label = item?.getAttribute("aria-label") ?? "";
      return { ok: !!item && /not running/.test(label) && item.className.includes("error-kind"), seen: { text: item?.textContent, label, kind: item?.className } };
    }, STATUS_ID);
    return JSON.stringify(seen.label.split("\n")[0]);
  });

  await check("bad-path-welcome", "the MCP Servers view says so, naming mcpMarshal.server.path, without literal backticks", async () => {
    const { seen } = await waitFor(page, "the welcome text of the MCP Servers view", () => {
      const header = document.querySelector('.pane-header[aria-label="MCP Servers Section"]');
      const text = header?.closest(".pane")?.querySelector(".welcome-view-content")?.innerText ?? "";
      return { ok: /did not start|not running/.test(text), seen: text };
    });
    if (seen.includes("`")) throw new Error(`literal backticks: ${JSON.stringify(seen)}`);
    if (!seen.includes("mcpMarshal.server.path")) throw new Error(`does not name mcpMarshal.server.path: ${JSON.stringify(seen)}`);
    return JSON.stringify(seen.split("\n")[0]);
  });

  await check("open-remote-settings", "the message's Open Remote Settings opens the Remote settings at mcpMarshal.server.path", async () => {
    const clicked = await page.evaluate((path) => {
      const toast = [...document.querySelectorAll(".notifications-toasts .notification-toast")].find((t) => (t.textContent ?? "").includes(path));
      const button = [...(toast?.querySelectorAll(".monaco-button") ?? [])].find((b) => b.textContent === "Open Remote Settings");
      button?.click();
      return !!button;
    }, badPath);
    if (!clicked) throw new Error("no Open Remote Settings button");
    const { seen } = await waitFor(page, "the settings editor on the Remote tab with mcpMarshal.server.path", () => {
      const editor = document.querySelector(".settings-editor");
      const tab = editor?.querySelector(".settings-tabs-widget .checked")?.textContent ?? "";
      const search = (editor?.querySelector(".settings-header .view-lines")?.textContent ?? "").replace(/\u00a0/g, " ");
      const rows = [...(editor?.querySelectorAll(".setting-item-contents .setting-item-label") ?? [])].map((l) => l.textContent);
      return { ok: tab.startsWith("Remote") && search.includes("mcpMarshal.server"), seen: { tab, search, rows } };
    });
    await runCommand(page, "View: Close All Editors");
    return `${seen.tab}: "${seen.search}" → ${seen.rows.join(", ")}`;
  });

  writeFileSync(join(dirs.profile, "Machine", "settings.json"), JSON.stringify(machineSettings, null, 2));
  await check("setting-fixed", "correcting the Remote setting starts the language server again", async () => {
    const { seen } = await waitFor(page, '"MCP 2/3" again', (id) => {
      const text = document.getElementById(id)?.textContent?.trim() ?? "";
      return { ok: text === "MCP 2/3", seen: text };
    }, STATUS_ID);
    return seen;
  });

  await browser.close();
  browser = undefined;

  await check("no-leftovers", "after code-server stops, no process of the workspace is left", async () => {
    const pids = SERVERS.flatMap(pidsOf);
    codeServer.kill("SIGTERM");
    const exited = await new Promise((r) => {
      if (codeServer.exitCode !== null || codeServer.signalCode !== null) return r(true);
      const timer = setTimeout(() => r(false), STOP_MS);
      codeServer.once("exit", () => {
        clearTimeout(timer);
        r(true);
      });
    });
    if (!exited) throw new Error(`code-server did not exit within ${secs(STOP_MS)} of SIGTERM`);
    const deadline = Date.now() + STOP_MS;
    let left = [];
    for (;;) {
      left = markedProcesses();
      if (left.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const servers = pids.filter(alive);
    if (servers.length || left.length) throw new Error(`still alive ${secs(STOP_MS)} after code-server exited: MCP servers ${JSON.stringify(servers)}; processes ${JSON.stringify(left)}`);
    return `${pids.length} MCP server process(es) started in the run, none left`;
  });

  await check("token-private", "the gateway token is in no file VS Code or code-server wrote (settings, logs, storage)", async () => {
    if (!gatewayToken) throw new Error(`no gateway.token under ${dirs.state}`);
    const roots = [dirs.profile, dirs.extensions, dirs.xdg, dirs.chromium, dirs.workspace];
    const files = roots.flatMap((root) => findFile(root, () => true));
    const holding = (needle) =>
      files.filter((file) => {
        try {
          return readFileSync(file).includes(needle);
        } catch {
          return false;
        }
      });
    const leaks = holding(gatewayToken);
    if (leaks.length) throw new Error(`the token is in ${leaks.map((f) => f.slice(tmp.length + 1)).join(", ")}`);
    // For contrast: where the definitions VS Code keeps (mcp.extCachedServers) name an endpoint.
    const stored = holding("/mcp/alpha").map((f) => f.slice(tmp.length + 1));
    return `${files.length} files searched; the alpha endpoint is in ${stored.length ? stored.join(", ") : "none"}, the token in none`;
  });
}

/** Files under `root` named `name` (or for which `name(path)` holds). */
function findFile(root, name) {
  const found = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && (typeof name === "function" ? name(path) : entry.name === name)) found.push(path);
    }
  };
  walk(root);
  return found;
}

function logTails() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/MCP Marshal\.log$|remoteexthost\.log$|exthost\.log$/.test(entry.name)) found.push(path);
    }
  };
  try {
    walk(join(dirs.profile, "logs"));
  } catch {
    return;
  }
  for (const path of found) {
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    console.log(`── ${path.slice(tmp.length + 1)} (last ${Math.min(lines.length, 25)} of ${lines.length} lines)`);
    for (const line of lines.slice(-25)) console.log(`   ${line}`);
  }
}

let fatal;
try {
  await main();
} catch (err) {
  fatal = err;
  console.log(`✗ harness: ${err instanceof Error ? err.stack : String(err)}`);
} finally {
  await browser?.close().catch(() => undefined);
  if (codeServer && codeServer.exitCode === null && codeServer.signalCode === null) {
    try {
      process.kill(-codeServer.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const line of markedProcesses()) {
    try {
      process.kill(Number(line.split(" ")[0]), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

const failed = results.filter((r) => !r.ok);
if (failed.length || fatal) logTails();
say(`${(Date.now() - started) / 1000} s in all (VS Code per code-server: ${version})`);
if (opts.keep) say(`kept ${tmp}`);
else rmSync(tmp, { recursive: true, force: true });
if (failed.length) say(`failed: ${failed.map((r) => r.id).join(", ")}`);
console.log(`e2e: ${results.length - failed.length} passed, ${failed.length + (fatal ? 1 : 0)} failed`);
process.exit(failed.length || fatal ? 1 : 0);
