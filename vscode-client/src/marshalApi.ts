import {
  Commands,
  type ApproveResult,
  type CommandName,
  type GatewayResult,
  type ListLocksResult,
  type ListServersResult,
} from "./protocol";

/** Anything that can send an LSP request: a `LanguageClient` or a jsonrpc `MessageConnection`. */
export interface RequestSender {
  sendRequest<R>(method: string, params: unknown): Promise<R>;
}

/**
 * The server's commands as typed calls; each one is a `workspace/executeCommand` request.
 * The tree, palette and integration test all go through this one mapping.
 */
export class MarshalApi {
  constructor(private readonly sender: RequestSender) {}

  execute<R = unknown>(command: CommandName, ...args: unknown[]): Promise<R> {
    return this.sender.sendRequest<R>("workspace/executeCommand", { command, arguments: args });
  }

  listServers(): Promise<ListServersResult> {
    return this.execute<ListServersResult>(Commands.listServers);
  }

  startServer(name: string): Promise<unknown> {
    return this.execute(Commands.startServer, name);
  }

  stopServer(name: string): Promise<unknown> {
    return this.execute(Commands.stopServer, name);
  }

  restartServer(name: string): Promise<unknown> {
    return this.execute(Commands.restartServer, name);
  }

  restartAll(): Promise<unknown> {
    return this.execute(Commands.restartAll);
  }

  /** The server's stderr tail; the result is `{lines: [...]}` or a bare list of lines. */
  async showLogs(name: string): Promise<string[]> {
    return logLines(await this.execute(Commands.showLogs, name));
  }

  reloadConfig(): Promise<unknown> {
    return this.execute(Commands.reloadConfig);
  }

  trustWorkspace(): Promise<unknown> {
    return this.execute(Commands.trustWorkspace);
  }

  acquireLock(task: string, owner: string, ttlMs?: number): Promise<unknown> {
    return ttlMs === undefined
      ? this.execute(Commands.acquireLock, task, owner)
      : this.execute(Commands.acquireLock, task, owner, ttlMs);
  }

  renewLock(task: string, owner: string, token: number | string, ttlMs?: number): Promise<unknown> {
    return ttlMs === undefined
      ? this.execute(Commands.renewLock, task, owner, token)
      : this.execute(Commands.renewLock, task, owner, token, ttlMs);
  }

  releaseLock(task: string, owner: string, token: number | string): Promise<unknown> {
    return this.execute(Commands.releaseLock, task, owner, token);
  }

  listLocks(): Promise<ListLocksResult> {
    return this.execute<ListLocksResult>(Commands.listLocks);
  }

  flushTelemetry(): Promise<unknown> {
    return this.execute(Commands.flushTelemetry);
  }

  /** Approve the current launch of the named servers (they start, if autoStart). */
  approveServers(...names: string[]): Promise<ApproveResult> {
    return this.execute<ApproveResult>(Commands.approveServers, ...names);
  }

  /** The gateway's endpoints and bearer token (keep the token out of logs and settings). */
  gateway(): Promise<GatewayResult> {
    return this.execute<GatewayResult>(Commands.gateway);
  }
}

/** Lines out of a `showLogs` result, whichever of the plausible shapes the server picked. */
function logLines(result: unknown): string[] {
  if (Array.isArray(result)) {
    return result.map(String);
  }
  if (result !== null && typeof result === "object") {
    const record = result as Record<string, unknown>;
    for (const key of ["lines", "stderr_tail", "logs"]) {
      const value = record[key];
      if (Array.isArray(value)) {
        return value.map(String);
      }
    }
  }
  return [];
}
