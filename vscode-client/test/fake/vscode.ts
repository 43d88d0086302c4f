/**
 * A faithful fake of the parts of the `vscode` API the extension uses, with the real API's
 * behaviour (events, defaults, duplicate-command errors, telemetry gating). Tests steer it through
 * `fake` (answers to prompts, settings, trust, telemetry) and inspect what the extension did.
 */

type Listener<T> = (e: T) => unknown;

export class Disposable {
  private done = false;
  constructor(private readonly callOnDispose: () => unknown) {}
  dispose(): void {
    if (!this.done) {
      this.done = true;
      this.callOnDispose();
    }
  }
}

export interface Event<T> {
  (listener: Listener<T>, thisArgs?: unknown, disposables?: Disposable[]): Disposable;
}

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  private disposed = false;
  readonly event: Event<T> = (listener, thisArgs, disposables) => {
    const bound: Listener<T> = (e) => listener.call(thisArgs, e);
    this.listeners.add(bound);
    const d = new Disposable(() => this.listeners.delete(bound));
    disposables?.push(d);
    return d;
  };
  fire(data: T): void {
    if (this.disposed) return;
    for (const l of [...this.listeners]) l(data);
  }
  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly authority = "",
  ) {}
  static file(path: string): Uri {
    return new Uri("file", path);
  }
  static parse(value: string): Uri {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?(.*)$/.exec(value);
    if (!m) return new Uri("file", value);
    return m[1] === "file" ? new Uri("file", decodeURIComponent(m[3])) : new Uri(m[1], m[3], m[2] ?? "");
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    if (this.scheme === "file") return `file://${encodeURI(this.path)}`;
    return this.authority ? `${this.scheme}://${this.authority}${this.path}` : `${this.scheme}:${this.path}`;
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class TreeItem {
  id?: string;
  description?: string | boolean;
  tooltip?: string;
  iconPath?: ThemeIcon | Uri;
  contextValue?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  resourceUri?: Uri;
  label?: string;
  constructor(
    labelOrUri: string | Uri,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {
    if (typeof labelOrUri === "string") this.label = labelOrUri;
    else this.resourceUri = labelOrUri;
  }
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}

// --- window ------------------------------------------------------------------------------------

export class FakeStatusBarItem {
  text = "";
  tooltip: string | undefined;
  color: string | ThemeColor | undefined;
  backgroundColor: ThemeColor | undefined;
  command: string | { command: string; title: string; arguments?: unknown[] } | undefined;
  name: string | undefined;
  visible = false;
  disposed = false;
  constructor(
    readonly id: string | undefined,
    readonly alignment: StatusBarAlignment,
    readonly priority: number | undefined,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
    this.disposed = true;
  }
}

export class FakeOutputChannel {
  lines: string[] = [];
  private partial = "";
  shown = 0;
  disposed = false;
  readonly logLevel = LogLevel.Info;
  readonly onDidChangeLogLevel = new EventEmitter<LogLevel>().event;
  constructor(
    readonly name: string,
    readonly log: boolean,
  ) {}
  append(value: string): void {
    const parts = (this.partial + value).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
  }
  appendLine(value: string): void {
    this.append(value + "\n");
  }
  replace(value: string): void {
    this.clear();
    this.append(value);
  }
  clear(): void {
    this.lines = [];
    this.partial = "";
  }
  show(): void {
    this.shown++;
  }
  hide(): void {}
  dispose(): void {
    this.disposed = true;
  }
  // LogOutputChannel
  trace(message: string): void {
    this.appendLine(`[trace] ${message}`);
  }
  debug(message: string): void {
    this.appendLine(`[debug] ${message}`);
  }
  info(message: string): void {
    this.appendLine(`[info] ${message}`);
  }
  warn(message: string): void {
    this.appendLine(`[warning] ${message}`);
  }
  error(message: string | Error): void {
    this.appendLine(`[error] ${String(message)}`);
  }
}

export class FakeTreeView<T> {
  message: string | undefined;
  description: string | undefined;
  title: string | undefined;
  badge: { value: number; tooltip: string } | undefined;
  visible = true;
  disposed = false;
  private readonly visibility = new EventEmitter<{ visible: boolean }>();
  readonly onDidChangeVisibility = this.visibility.event;
  constructor(
    readonly viewId: string,
    readonly treeDataProvider: TreeDataProvider<T>,
  ) {}
  dispose(): void {
    this.disposed = true;
  }
  reveal(): Promise<void> {
    return Promise.resolve();
  }
  /** The user collapses / expands the view (or switches the side bar away and back). */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.visibility.fire({ visible });
  }
}

export interface TreeDataProvider<T> {
  onDidChangeTreeData?: Event<T | T[] | undefined | null | void>;
  getTreeItem(element: T): TreeItem | Thenable<TreeItem>;
  getChildren(element?: T): T[] | undefined | null | Thenable<T[] | undefined | null>;
}

export interface QuickPickItem {
  label: string;
  description?: string;
  detail?: string;
  kind?: number;
}

export interface QuickPickOptions {
  title?: string;
  placeHolder?: string;
  canPickMany?: boolean;
}

export interface InputBoxOptions {
  title?: string;
  prompt?: string;
  value?: string;
  placeHolder?: string;
  validateInput?(value: string): string | undefined | null | Thenable<string | undefined | null>;
}

type MessageItem = string | { title: string };
export interface ShownMessage {
  severity: "info" | "warning" | "error";
  message: string;
  items: MessageItem[];
}

/** Tests answer prompts with these; each returns what the user picks (undefined = Escape). */
export interface Answers {
  quickPick: (items: readonly QuickPickItem[], options?: QuickPickOptions) => QuickPickItem | undefined;
  message: (shown: ShownMessage) => MessageItem | undefined;
  inputBox: (options?: InputBoxOptions) => string | undefined;
}

function showMessage(severity: ShownMessage["severity"]) {
  return (message: string, ...rest: unknown[]): Promise<MessageItem | undefined> => {
    // Real signature: (message, options?, ...items); options is a non-item object.
    const items = rest.filter(
      (r): r is MessageItem => typeof r === "string" || (typeof r === "object" && r !== null && "title" in r),
    );
    const shown = { severity, message, items };
    fake.messages.push(shown);
    return Promise.resolve(fake.answers.message(shown));
  };
}

export const window = {
  createStatusBarItem(
    idOrAlignment?: string | StatusBarAlignment,
    alignmentOrPriority?: StatusBarAlignment | number,
    priority?: number,
  ): FakeStatusBarItem {
    const item =
      typeof idOrAlignment === "string"
        ? new FakeStatusBarItem(idOrAlignment, alignmentOrPriority ?? StatusBarAlignment.Left, priority)
        : new FakeStatusBarItem(undefined, idOrAlignment ?? StatusBarAlignment.Left, alignmentOrPriority);
    fake.statusBarItems.push(item);
    return item;
  },
  createTreeView<T>(viewId: string, options: { treeDataProvider: TreeDataProvider<T> }): FakeTreeView<T> {
    if (!fake.declaredViews.has(viewId)) {
      throw new Error(`No view is registered with id: ${viewId}`);
    }
    const view = new FakeTreeView(viewId, options.treeDataProvider);
    fake.treeViews.set(viewId, view);
    return view;
  },
  createOutputChannel(name: string, options?: string | { log: true }): FakeOutputChannel {
    const channel = new FakeOutputChannel(name, typeof options === "object" && options.log === true);
    fake.outputChannels.push(channel);
    return channel;
  },
  showQuickPick<T extends QuickPickItem>(items: readonly T[] | Thenable<readonly T[]>, options?: QuickPickOptions) {
    return Promise.resolve(items).then((resolved) => {
      fake.quickPicks.push({ items: resolved, options });
      return fake.answers.quickPick(resolved, options) as T | undefined;
    });
  },
  showInputBox(options?: InputBoxOptions): Promise<string | undefined> {
    fake.inputBoxes.push(options);
    return Promise.resolve(fake.answers.inputBox(options));
  },
  showInformationMessage: showMessage("info"),
  showWarningMessage: showMessage("warning"),
  showErrorMessage: showMessage("error"),
};

// --- commands ----------------------------------------------------------------------------------

type CommandHandler = (...args: unknown[]) => unknown;

export const commands = {
  registerCommand(command: string, callback: CommandHandler, thisArg?: unknown): Disposable {
    if (fake.commands.has(command)) {
      throw new Error(`command '${command}' already exists`);
    }
    fake.commands.set(command, (...args) => callback.apply(thisArg, args));
    return new Disposable(() => fake.commands.delete(command));
  },
  executeCommand<T = unknown>(command: string, ...rest: unknown[]): Promise<T> {
    if (command === "setContext") {
      // Once the window is gone, the workbench cancels every call the extension host makes.
      if (fake.windowGone) return Promise.reject(new Error("Canceled"));
      fake.contexts.set(String(rest[0]), rest[1]);
      return Promise.resolve(undefined as T);
    }
    const handler = fake.commands.get(command);
    if (!handler) {
      return Promise.reject(new Error(`command '${command}' not found`));
    }
    try {
      return Promise.resolve(handler(...rest) as T);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
};

// --- workspace ---------------------------------------------------------------------------------

export interface ConfigurationChangeEvent {
  affectsConfiguration(section: string, scope?: unknown): boolean;
}

class FakeConfiguration {
  constructor(private readonly section: string | undefined) {}
  private full(key: string): string {
    return this.section ? `${this.section}.${key}` : key;
  }
  get<T>(key: string, defaultValue?: T): T | undefined {
    const full = this.full(key);
    if (fake.settings.has(full)) return fake.settings.get(full) as T;
    if (fake.defaults.has(full)) return fake.defaults.get(full) as T;
    return defaultValue;
  }
}

const configurationChanged = new EventEmitter<ConfigurationChangeEvent>();
const trustGranted = new EventEmitter<void>();

export const workspace = {
  getConfiguration(section?: string): FakeConfiguration {
    return new FakeConfiguration(section);
  },
  onDidChangeConfiguration: configurationChanged.event,
  onDidGrantWorkspaceTrust: trustGranted.event,
  get isTrusted(): boolean {
    return fake.trusted;
  },
  get workspaceFile(): Uri | undefined {
    return fake.workspaceFile;
  },
  get workspaceFolders(): Array<{ uri: Uri; name: string; index: number }> | undefined {
    return fake.workspaceFolders;
  },
};

// --- env ---------------------------------------------------------------------------------------

export interface TelemetrySender {
  sendEventData(eventName: string, data?: Record<string, unknown>): void;
  sendErrorData(error: Error, data?: Record<string, unknown>): void;
  flush?(): void | Thenable<void>;
}

const telemetryChanged = new EventEmitter<boolean>();

/** Like VS Code's logger: gated on the user's setting, event names prefixed with the extension id. */
class FakeTelemetryLogger {
  constructor(private readonly sender: TelemetrySender) {}
  get isUsageEnabled(): boolean {
    return fake.telemetryEnabled;
  }
  logUsage(eventName: string, data?: Record<string, unknown>): void {
    if (this.isUsageEnabled) this.sender.sendEventData(`${fake.extensionId}/${eventName}`, data);
  }
  dispose(): void {
    void this.sender.flush?.();
  }
}

export const env = {
  /** Set in a remote window (code-server, Remote-SSH, WSL, dev containers), e.g. "ssh-remote". */
  get remoteName(): string | undefined {
    return fake.remoteName;
  },
  get isTelemetryEnabled(): boolean {
    return fake.telemetryEnabled;
  },
  onDidChangeTelemetryEnabled: telemetryChanged.event,
  createTelemetryLogger(sender: TelemetrySender): FakeTelemetryLogger {
    return new FakeTelemetryLogger(sender);
  },
};

// --- lm (MCP server definitions) --------------------------------------------------------------

export interface CancellationToken {
  isCancellationRequested: boolean;
  onCancellationRequested: Event<unknown>;
}

export class McpHttpServerDefinition {
  constructor(
    readonly label: string,
    public uri: Uri,
    public headers: Record<string, string> = {},
    public version?: string,
  ) {}
}

export interface McpServerDefinitionProvider<T> {
  onDidChangeMcpServerDefinitions?: Event<void>;
  provideMcpServerDefinitions(token: CancellationToken): T[] | undefined | Thenable<T[] | undefined>;
  resolveMcpServerDefinition?(server: T, token: CancellationToken): T | undefined | Thenable<T | undefined>;
}

export const lm = {
  /** Like VS Code: the id must be declared under contributes.mcpServerDefinitionProviders. */
  registerMcpServerDefinitionProvider(id: string, provider: McpServerDefinitionProvider<unknown>): Disposable {
    if (!fake.declaredMcpProviders.has(id)) {
      throw new Error(`MCP configuration providers must be registered in the contributes.mcpServerDefinitionProviders array within your package.json, but "${id}" was not`);
    }
    fake.mcpProviders.set(id, provider);
    return new Disposable(() => fake.mcpProviders.delete(id));
  },
};

// --- extensions --------------------------------------------------------------------------------

export interface FakeExtension {
  id: string;
  isActive: boolean;
  exports: unknown;
  activate(): Promise<unknown>;
}

export const extensions = {
  getExtension(id: string): FakeExtension | undefined {
    return fake.extensions.get(id);
  },
};

// --- test control ------------------------------------------------------------------------------

function defaultAnswers(): Answers {
  return { quickPick: () => undefined, message: () => undefined, inputBox: () => undefined };
}

export const fake = {
  extensionId: "mcp-marshal.mcp-marshal",
  settings: new Map<string, unknown>(),
  defaults: new Map<string, unknown>(),
  trusted: true,
  telemetryEnabled: true,
  /** The window closed (or the browser tab of code-server): UI calls such as setContext reject. */
  windowGone: false,
  remoteName: undefined as string | undefined,
  workspaceFile: undefined as Uri | undefined,
  workspaceFolders: undefined as Array<{ uri: Uri; name: string; index: number }> | undefined,
  declaredViews: new Set<string>(),
  declaredMcpProviders: new Set<string>(),
  mcpProviders: new Map<string, McpServerDefinitionProvider<unknown>>(),
  commands: new Map<string, CommandHandler>(),
  contexts: new Map<string, unknown>(),
  statusBarItems: [] as FakeStatusBarItem[],
  outputChannels: [] as FakeOutputChannel[],
  treeViews: new Map<string, FakeTreeView<unknown>>(),
  messages: [] as ShownMessage[],
  quickPicks: [] as Array<{ items: readonly QuickPickItem[]; options?: QuickPickOptions }>,
  inputBoxes: [] as Array<InputBoxOptions | undefined>,
  extensions: new Map<string, FakeExtension>(),
  answers: defaultAnswers(),

  /** Back to a fresh editor; `manifest` supplies setting defaults and declared views. */
  reset(manifest?: {
    contributes?: {
      configuration?: { properties?: Record<string, { default?: unknown }> };
      views?: Record<string, Array<{ id: string }>>;
      mcpServerDefinitionProviders?: Array<{ id: string; label: string }>;
    };
  }): void {
    this.settings.clear();
    this.defaults.clear();
    this.commands.clear();
    this.contexts.clear();
    this.treeViews.clear();
    this.extensions.clear();
    this.declaredViews.clear();
    this.declaredMcpProviders.clear();
    this.mcpProviders.clear();
    this.statusBarItems = [];
    this.outputChannels = [];
    this.messages = [];
    this.quickPicks = [];
    this.inputBoxes = [];
    this.trusted = true;
    this.telemetryEnabled = true;
    this.windowGone = false;
    this.remoteName = undefined;
    this.workspaceFile = undefined;
    this.workspaceFolders = undefined;
    this.answers = defaultAnswers();
    for (const [key, schema] of Object.entries(manifest?.contributes?.configuration?.properties ?? {})) {
      if ("default" in schema) this.defaults.set(key, schema.default);
    }
    for (const views of Object.values(manifest?.contributes?.views ?? {})) {
      for (const view of views) this.declaredViews.add(view.id);
    }
    for (const provider of manifest?.contributes?.mcpServerDefinitionProviders ?? []) this.declaredMcpProviders.add(provider.id);
  },
  setSetting(key: string, value: unknown): void {
    if (value === undefined) this.settings.delete(key);
    else this.settings.set(key, value);
    configurationChanged.fire({
      affectsConfiguration: (section: string) => key === section || key.startsWith(`${section}.`),
    });
  },
  grantTrust(): void {
    if (this.trusted) return;
    this.trusted = true;
    trustGranted.fire();
  },
  setTelemetryEnabled(enabled: boolean): void {
    if (this.telemetryEnabled === enabled) return;
    this.telemetryEnabled = enabled;
    telemetryChanged.fire(enabled);
  },
  channel(name: string): FakeOutputChannel | undefined {
    return this.outputChannels.find((c) => c.name === name && !c.disposed);
  },
  async treeItems<T>(viewId: string): Promise<TreeItem[]> {
    const view = this.treeViews.get(viewId) as FakeTreeView<T> | undefined;
    if (!view) throw new Error(`no tree view ${viewId}`);
    const provider = view.treeDataProvider;
    const children = (await provider.getChildren()) ?? [];
    return Promise.all(children.map((c) => Promise.resolve(provider.getTreeItem(c))));
  },
};
