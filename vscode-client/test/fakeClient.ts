import { Disposable } from "vscode";
import type { ClientHooks, LanguageClientLike } from "../src/languageServer";
import type { InitializationOptions } from "../src/protocol";
import type { LaunchCommand } from "../src/launch";

type Handler = (params: never) => unknown;

/**
 * Stands in for vscode-languageclient's `LanguageClient`: same registration surface, and a
 * scripted server (`respond`) answering `workspace/executeCommand`.
 */
export class FakeLanguageClient implements LanguageClientLike {
  readonly requests: Array<{ method: string; params: unknown }> = [];
  readonly notificationHandlers = new Map<string, Handler>();
  readonly requestHandlers = new Map<string, Handler>();
  readonly telemetryListeners = new Set<(data: unknown) => void>();
  started = false;
  stopped = false;
  initializationOptions: InitializationOptions | undefined;

  constructor(
    readonly launch: Pick<LaunchCommand, "command" | "args"> & Partial<LaunchCommand>,
    private readonly initOptions: () => InitializationOptions,
    public respond: (command: string, args: unknown[]) => unknown = () => ({}),
    private readonly failStart = false,
    readonly hooks: ClientHooks = { onClosed: () => undefined },
  ) {}

  start(): Promise<void> {
    if (this.failStart) return Promise.reject(new Error("spawn python3 ENOENT"));
    this.initializationOptions = this.initOptions();
    this.started = true;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  sendRequest<R>(method: string, params: unknown): Promise<R> {
    this.requests.push({ method, params });
    if (method !== "workspace/executeCommand") return Promise.reject(new Error(`unexpected ${method}`));
    const { command, arguments: args } = params as { command: string; arguments: unknown[] };
    try {
      return Promise.resolve(this.respond(command, args) as R);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The `workspace/executeCommand` calls so far, as `[command, ...args]`. */
  commands(): unknown[][] {
    return this.requests
      .filter((r) => r.method === "workspace/executeCommand")
      .map((r) => {
        const { command, arguments: args } = r.params as { command: string; arguments: unknown[] };
        return [command, ...args];
      });
  }

  onNotification(method: string, handler: Handler): Disposable {
    this.notificationHandlers.set(method, handler);
    return new Disposable(() => this.notificationHandlers.delete(method));
  }

  onRequest(method: string, handler: Handler): Disposable {
    this.requestHandlers.set(method, handler);
    return new Disposable(() => this.requestHandlers.delete(method));
  }

  onTelemetry(listener: (data: unknown) => void): Disposable {
    this.telemetryListeners.add(listener);
    return new Disposable(() => this.telemetryListeners.delete(listener));
  }

  /** The server sends a notification. */
  notify(method: string, params: unknown): void {
    const handler = this.notificationHandlers.get(method);
    if (!handler) throw new Error(`no handler for ${method}`);
    handler(params as never);
  }

  /** The server sends a request; resolves with the client's answer. */
  async request(method: string, params: unknown): Promise<unknown> {
    const handler = this.requestHandlers.get(method);
    if (!handler) throw new Error(`no handler for ${method}`);
    return await handler(params as never);
  }

  /** The server process goes away on its own (crash, kill): what vscode-languageclient reports. */
  crash(): void {
    this.hooks.onClosed();
  }

  telemetry(data: unknown): void {
    for (const l of this.telemetryListeners) l(data);
  }
}
