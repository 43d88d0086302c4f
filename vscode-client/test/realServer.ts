/**
 * Where the tests that drive the real `mcp-marshal lsp` find it, and why they skip when they
 * cannot (no venv yet).
 *
 * MCP_MARSHAL_BIN    the mcp-marshal executable (default <repo>/.venv/bin/mcp-marshal)
 * MCP_MARSHAL_PYTHON the Python that runs tests/fixtures/fake_server.py (default: beside it)
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

export const REPO = join(__dirname, "..", "..");
export const BIN = process.env.MCP_MARSHAL_BIN ?? join(REPO, ".venv", "bin", "mcp-marshal");
export const PYTHON = process.env.MCP_MARSHAL_PYTHON ?? join(dirname(BIN), "python");
export const FAKE_SERVER = join(REPO, "tests", "fixtures", "fake_server.py");

/** Why the real language server cannot run here, or undefined when it can. */
export function lspMissingReason(): string | undefined {
  if (!existsSync(BIN)) return `${BIN} does not exist (set MCP_MARSHAL_BIN)`;
  const probe = spawnSync(PYTHON, ["-c", "import mcp_marshal.lsp.server"], { encoding: "utf8" });
  if (probe.status !== 0) return `mcp-marshal lsp is not available yet: ${probe.stderr.trim().split("\n").pop() ?? ""}`;
  return undefined;
}
