import * as vscode from "vscode";

/**
 * Split a `window/logMessage` line into server name and text. The server prefixes lines with
 * the server name as `[name] text` or `name: text`; the second form only counts for known names
 * so ordinary messages with a colon stay in the main channel.
 */
export function parseServerLogLine(
  message: string,
  knownNames: readonly string[],
): { name: string; text: string } | undefined {
  const bracket = /^\[([^\]\s]+)\]\s?(.*)$/s.exec(message);
  if (bracket && (knownNames.length === 0 || knownNames.includes(bracket[1]))) {
    return { name: bracket[1], text: bracket[2] };
  }
  const colon = /^([^\s:]+)(?::| \|) ?(.*)$/s.exec(message);
  if (colon && knownNames.includes(colon[1])) {
    return { name: colon[1], text: colon[2] };
  }
  return undefined;
}

/** One output channel per server ("MCP Marshal: <name>"), created on first use. */
export class ServerLogs implements vscode.Disposable {
  private readonly channels = new Map<string, vscode.OutputChannel>();

  channel(name: string): vscode.OutputChannel {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = vscode.window.createOutputChannel(`MCP Marshal: ${name}`);
      this.channels.set(name, channel);
    }
    return channel;
  }

  append(name: string, text: string): void {
    this.channel(name).appendLine(text);
  }

  /** Replace the channel's content with the server's retained stderr tail and show it. */
  showTail(name: string, lines: readonly string[]): void {
    const channel = this.channel(name);
    channel.clear();
    channel.appendLine(`── last ${lines.length} stderr line(s) of ${name} ──`);
    for (const line of lines) channel.appendLine(line);
    channel.show(true);
  }

  dispose(): void {
    for (const channel of this.channels.values()) channel.dispose();
    this.channels.clear();
  }
}
