/** How to start `mcp-marshal lsp`, from the `mcpMarshal.server.*` settings. No `vscode` import. */

export interface LaunchSettings {
  /** `mcpMarshal.server.path`: an `mcp-marshal` executable. */
  path?: string;
  /** `mcpMarshal.server.python`: an interpreter that has `mcp_marshal` installed. */
  python?: string;
}

export interface LaunchCommand {
  command: string;
  args: string[];
}

/**
 * `server.path` wins, then `server.python`, then the Python extension's interpreter, then
 * `python3`. Blank strings count as unset because VS Code users clear settings that way.
 */
export function resolveLaunch(settings: LaunchSettings, activeInterpreter?: string): LaunchCommand {
  const path = settings.path?.trim();
  if (path) {
    return { command: path, args: ["lsp"] };
  }
  const python = settings.python?.trim() || activeInterpreter?.trim() || "python3";
  return { command: python, args: ["-m", "mcp_marshal", "lsp"] };
}
