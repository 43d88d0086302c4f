import * as fs from "node:fs";
import * as vscode from "vscode";

/**
 * Whether this window has a workspace file to supervise: a saved `.code-workspace` is open,
 * or the first folder holds `*.code-workspace` files (the server then picks the single one).
 */
export function hasWorkspaceFile(): boolean {
  const file = vscode.workspace.workspaceFile;
  if (file !== undefined && file.scheme === "file") return true;
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder === undefined || folder.uri.scheme !== "file") return false;
  try {
    return fs.readdirSync(folder.uri.fsPath).some((name) => name.endsWith(".code-workspace"));
  } catch {
    return false;
  }
}
