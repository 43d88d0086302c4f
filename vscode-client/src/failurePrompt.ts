import * as vscode from "vscode";

export interface MessageActionItem {
  title: string;
}

export interface ShowMessageRequestParams {
  type: number;
  message: string;
  actions?: MessageActionItem[];
}

/** LSP MessageType → the matching VS Code notification. */
function show(type: number) {
  switch (type) {
    case 1:
      return vscode.window.showErrorMessage;
    case 2:
      return vscode.window.showWarningMessage;
    default:
      return vscode.window.showInformationMessage;
  }
}

/** The server whose name the message mentions (longest match, so "db" loses to "db-replica"). */
export function serverInMessage(message: string, names: readonly string[]): string | undefined {
  const mentioned = names.filter((name) => new RegExp(`(^|[^\\w-])${escape(name)}($|[^\\w-])`).test(message));
  return mentioned.sort((a, b) => b.length - a.length)[0];
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * `window/showMessageRequest` as vscode-languageclient would handle it (the chosen action goes
 * back to the server, which restarts the server on "Restart"), plus one local step: "Show Logs"
 * also opens that server's output channel, which only the editor can do.
 */
export async function handleShowMessageRequest(
  params: ShowMessageRequestParams,
  serverNames: () => readonly string[],
  showLogs: (name: string) => Promise<void>,
): Promise<MessageActionItem | null> {
  const actions = params.actions ?? [];
  const chosen = await show(params.type)(params.message, ...actions);
  if (chosen?.title === "Show Logs") {
    const name = serverInMessage(params.message, serverNames());
    if (name !== undefined) void showLogs(name).catch(() => undefined);
  }
  return chosen ?? null;
}
