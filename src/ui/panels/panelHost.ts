// One way to build a console panel: a webview with a strict policy (scripts by
// nonce only, no inline or eval, resources from the bundles and the media
// only), a typed request/reply protocol (webview/shared/protocol.ts) whose
// requests go to a table of handlers, `update`s posted only after the webview
// said `ready`, and a serializer so that a restored panel comes back. What the
// operator typed lives in the webview's own state (getState/setState).
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { isControlError } from '../../core';
import type { FieldIssue, PanelError, PanelKind, ToHost, ToWebview } from '../../../webview/shared/protocol';
import { PANEL_VIEW_TYPES } from '../../../webview/shared/protocol';
import { errorText, issuesOf } from '../report';

/** What a handler may use of its panel: its webview (for asWebviewUri) and a way to allow one more resource folder. */
export interface PanelContext {
  webview: vscode.Webview;
  allowResourceFolder(folder: vscode.Uri): void;
}

export type PanelHandlers = Record<string, (args: unknown, panel: PanelContext) => Promise<unknown>>;

export interface PanelSpec {
  kind: PanelKind;
  title: string;
  /** The bundle under dist/webview/ (without .js). */
  script: string;
  handlers: PanelHandlers;
  /** Extra folders the webview may load from (the review clips), besides dist/webview and media; they may hold video. */
  resourceRoots?: vscode.Uri[];
  /** Extra stylesheets under dist/webview/ (a chart library's). */
  styles?: string[];
}

/** The Content-Security-Policy of every panel. */
export function panelCsp(cspSource: string, nonce: string, media = false): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    ...(media ? [`media-src ${cspSource}`] : []),
  ].join('; ');
}

export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, spec: Pick<PanelSpec, 'title' | 'script' | 'resourceRoots' | 'styles'>, nonce = randomBytes(16).toString('base64')): string {
  const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  const csp = panelCsp(webview.cspSource, nonce, (spec.resourceRoots?.length ?? 0) > 0);
  const title = spec.title.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${uri('dist', 'webview', 'panel.css')}">
<link rel="stylesheet" href="${uri('dist', 'webview', 'codicon.css')}" id="vscode-codicon-stylesheet">
${(spec.styles ?? []).map((f) => `<link rel="stylesheet" href="${uri('dist', 'webview', f)}">`).join('\n')}
<title>${title}</title>
</head>
<body>
<main id="app" aria-busy="true"></main>
<script nonce="${nonce}" src="${uri('dist', 'webview', `${spec.script}.js`)}"></script>
</body>
</html>`;
}

function toPanelError(error: unknown): PanelError {
  const issues: FieldIssue[] = issuesOf(error).map((i) => ({ field: i.field, message: i.message }));
  const message = error instanceof Error ? error.message.split('\n')[0]! : errorText(error);
  return { message, ...(isControlError(error) ? { code: error.code } : {}), issues };
}

/** One open panel of a kind: its webview, its handlers, and the updates it waits for. */
export class ConsolePanel implements vscode.Disposable {
  private ready = false;
  private readonly queued: ToWebview[] = [];
  private readonly subs: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposed.event;
  /** Every message posted to the webview (for tests: what the webview was ever told). */
  readonly posted: ToWebview[] = [];

  constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly spec: PanelSpec,
    private readonly output: vscode.LogOutputChannel,
  ) {
    panel.webview.options = {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media'), ...(spec.resourceRoots ?? [])],
    };
    this.context = {
      webview: panel.webview,
      allowResourceFolder: (folder) => {
        const roots = panel.webview.options.localResourceRoots ?? [];
        if (roots.some((r) => r.fsPath === folder.fsPath)) return;
        panel.webview.options = { ...panel.webview.options, localResourceRoots: [...roots, folder] };
      },
    };
    panel.webview.html = panelHtml(panel.webview, extensionUri, spec);
    this.subs.push(
      panel.webview.onDidReceiveMessage((m: ToHost) => void this.receive(m)),
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        if (this.ready && panel.visible) for (const m of this.queued.splice(0)) this.post(m);
      }),
    );
  }

  private readonly context: PanelContext;

  /** Posts an update now, or once the webview is ready. */
  update(topic: string, data: unknown): void {
    this.post({ type: 'update', topic, data });
  }

  reveal(): void {
    this.panel.reveal();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.subs.length = 0;
    this.disposed.fire();
    this.disposed.dispose();
    this.panel.dispose();
  }

  private post(message: ToWebview): void {
    // A hidden panel's page is discarded and VS Code drops what is posted to it; the page
    // made when it shows again would miss the update (e.g. "open request B" while it
    // restores request A from its state). Updates wait, the latest of each topic.
    if (!this.ready || (message.type === 'update' && !this.panel.visible)) {
      if (message.type === 'update') {
        const topic = message.topic;
        const same = this.queued.findIndex((m) => m.type === 'update' && m.topic === topic);
        if (same >= 0) this.queued.splice(same, 1);
      }
      this.queued.push(message);
      return;
    }
    this.posted.push(message);
    void this.panel.webview.postMessage(message);
  }

  private async receive(message: ToHost): Promise<void> {
    if (!message || typeof message !== 'object') return;
    if (message.type === 'ready') {
      this.ready = true;
      for (const m of this.queued.splice(0)) this.post(m);
      return;
    }
    if (message.type !== 'request' || typeof message.id !== 'number' || typeof message.command !== 'string') return;
    const handler = Object.hasOwn(this.spec.handlers, message.command) ? this.spec.handlers[message.command] : undefined;
    if (!handler) {
      this.post({ type: 'reply', id: message.id, ok: false, error: { message: `The ${this.spec.title} panel cannot ask for ${message.command}.`, issues: [] } });
      return;
    }
    try {
      this.post({ type: 'reply', id: message.id, ok: true, result: (await handler(message.args, this.context)) ?? null });
    } catch (error) {
      const e = toPanelError(error);
      this.output.warn(`${this.spec.title}: ${message.command} failed: ${e.message}`);
      this.post({ type: 'reply', id: message.id, ok: false, error: e });
    }
  }
}

/** Opens (or reveals) the one panel of a kind, and brings it back after a restart. */
export class PanelRegistry implements vscode.Disposable {
  private readonly open = new Map<PanelKind, ConsolePanel>();
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly output: vscode.LogOutputChannel,
    private readonly specs: Record<PanelKind, () => PanelSpec>,
    private readonly onOpen: (kind: PanelKind, panel: ConsolePanel) => void,
  ) {
    for (const kind of Object.keys(specs) as PanelKind[]) {
      this.subs.push(
        vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPES[kind], {
          deserializeWebviewPanel: async (panel) => {
            this.adopt(kind, panel);
          },
        }),
      );
    }
  }

  get(kind: PanelKind): ConsolePanel | undefined {
    return this.open.get(kind);
  }

  show(kind: PanelKind): ConsolePanel {
    const existing = this.open.get(kind);
    if (existing) {
      existing.reveal();
      return existing;
    }
    const spec = this.specs[kind]();
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPES[kind], spec.title, vscode.ViewColumn.Active, {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: [],
    });
    return this.adopt(kind, panel);
  }

  private adopt(kind: PanelKind, panel: vscode.WebviewPanel): ConsolePanel {
    const spec = this.specs[kind]();
    panel.title = spec.title;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'clearance.svg');
    const console = new ConsolePanel(panel, this.extensionUri, spec, this.output);
    this.open.set(kind, console);
    console.onDidDispose(() => {
      if (this.open.get(kind) === console) this.open.delete(kind);
    });
    this.onOpen(kind, console);
    return console;
  }

  dispose(): void {
    for (const p of [...this.open.values()]) p.dispose();
    for (const s of this.subs) s.dispose();
  }
}
