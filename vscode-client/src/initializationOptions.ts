import type { InitializationOptions } from "./protocol";

/** The parts of the editor the options come from (`vscode.workspace` / `vscode.env`). */
export interface EditorFacts {
  workspaceFile?: { scheme: string; toString(): string } | undefined;
  isTrusted: boolean;
  isTelemetryEnabled: boolean;
}

/**
 * `initializationOptions` for `mcp-marshal lsp`. Untitled workspaces have no file on disk, so
 * they send no `workspaceFile` and the server falls back to the first folder's workspace file.
 * VS Code's JSON language service already reports syntax errors in the open workspace file, so
 * the server is asked not to report them a second time.
 */
export function buildInitializationOptions(facts: EditorFacts): InitializationOptions {
  const file = facts.workspaceFile;
  const options: InitializationOptions = {
    trusted: facts.isTrusted,
    telemetry: facts.isTelemetryEnabled,
    syntaxDiagnostics: false,
  };
  if (file !== undefined && file.scheme === "file") {
    options.workspaceFile = file.toString();
  }
  return options;
}
