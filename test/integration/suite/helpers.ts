// What the integration suites share: the console's test API as they see it,
// and small helpers to wait for the role and to run the bundled CLIs.
import { spawn } from 'node:child_process';
import type * as vscode from 'vscode';

export const EXTENSION_ID = 'clearance-console.clearance-console';

export interface Handle {
  id: string;
}
export interface Tree {
  getChildren(element?: Handle): Handle[];
  getTreeItem(element: Handle): vscode.TreeItem;
  view: vscode.TreeView<Handle>;
}
export interface Api {
  role: {
    state(): string;
    signedInUser(): string | undefined;
    statusBar(): { text: string; tooltip: string };
    reconnect(): Promise<void>;
    toasts(): readonly string[];
    toastTexts(): readonly string[];
    callOuts(): readonly string[];
  };
  trees: {
    cameras: Tree & { applyCheckboxes(items: ReadonlyArray<readonly [Handle, vscode.TreeItemCheckboxState]>): Promise<void>; currentFilter: string | undefined };
    requests: Tree;
    uploads: Tree;
    activities: Tree;
  };
  panels: {
    get(kind: 'properties' | 'notifications' | 'request' | 'activities'): { panel: vscode.WebviewPanel; posted: readonly { type: string; ok?: boolean; result?: unknown; data?: unknown }[]; dispose(): void } | undefined;
  };
}

/** Every handle of a tree, depth first. */
export function walk(tree: Tree, element?: Handle): Handle[] {
  return tree.getChildren(element).flatMap((h) => [h, ...walk(tree, h)]);
}

export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function node(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

