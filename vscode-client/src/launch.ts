/** How to start `mcp-marshal lsp`, from the `mcpMarshal.server.*` settings. No `vscode` import. */

export interface LaunchSettings {
  /** `mcpMarshal.server.path`: an `mcp-marshal` executable. */
  path?: string;
  /** `mcpMarshal.server.python`: an interpreter that has `mcp_marshal` installed. */
  python?: string;
}

/** What chose the command: one of the two settings, the Python extension, or the default. */
export type LaunchSource = "mcpMarshal.server.path" | "mcpMarshal.server.python" | "pythonExtension" | "default";

export interface LaunchCommand {
  command: string;
  args: string[];
  source: LaunchSource;
}

/** Whether a setting names the command, so the Python extension is not consulted. */
export function isPinned(settings: LaunchSettings): boolean {
  return Boolean(settings.path?.trim() || settings.python?.trim());
}

/**
 * `server.path` wins, then `server.python`, then the Python extension's interpreter, then
 * `python3`. Blank strings count as unset because VS Code users clear settings that way.
 */
export function resolveLaunch(settings: LaunchSettings, activeInterpreter?: string): LaunchCommand {
  const path = settings.path?.trim();
  if (path) {
    return { command: path, args: ["lsp"], source: "mcpMarshal.server.path" };
  }
  const args = ["-m", "mcp_marshal", "lsp"];
  const python = settings.python?.trim();
  if (python) return { command: python, args, source: "mcpMarshal.server.python" };
  const interpreter = activeInterpreter?.trim();
  if (interpreter) return { command: interpreter, args, source: "pythonExtension" };
  return { command: "python3", args, source: "default" };
}

export function sameLaunch(a: LaunchCommand, b: LaunchCommand): boolean {
  return a.command === b.command && a.args.join("\0") === b.args.join("\0");
}

/** The setting a user should look at for this launch (the one that chose it, else both). */
export function settingToSearch(launch: LaunchCommand): string {
  return launch.source === "mcpMarshal.server.path" || launch.source === "mcpMarshal.server.python"
    ? launch.source
    : "mcpMarshal.server";
}

/** A failed start's error in a user's words (vscode-languageclient speaks JSON-RPC). */
export function failureReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/ENOENT/.test(text)) return "the command was not found";
  if (/EACCES/.test(text)) return "the command is not executable";
  if (/connection got disposed|-32097|closed|exited/i.test(text)) return "it exited before answering; its error is in the output";
  return text;
}

/**
 * The one message shown when the language server does not start: the command that ran, the
 * setting that chose it, and where to set it (in a remote window, the Remote settings).
 */
export function startFailureMessage(launch: LaunchCommand, reason: string, remoteName?: string): string {
  const ran = `"${[launch.command, ...launch.args].join(" ")}"`;
  const where = remoteName ? `the Remote settings (${remoteName})` : "the User settings";
  let why: string;
  switch (launch.source) {
    case "mcpMarshal.server.path":
    case "mcpMarshal.server.python":
      why = `${launch.source} chose it; correct it in ${where}.`;
      break;
    case "pythonExtension":
      why = `Neither mcpMarshal.server.path nor mcpMarshal.server.python is set, so the Python extension's interpreter was used; set mcpMarshal.server.path in ${where}.`;
      break;
    case "default":
      why = `Neither mcpMarshal.server.path nor mcpMarshal.server.python is set, so python3 was used; set mcpMarshal.server.path in ${where}.`;
      break;
  }
  return `MCP Marshal: the language server did not start: ${ran} failed (${reason}). ${why}`;
}
