// What the integration suites share: the console's test API as they see it,
// and small helpers to wait for the role and to run the bundled CLIs.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
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


/** The local service (dist/emulator.js) in a child process on loopback, and its account's connection file. */
export async function startService(root: string, location: string): Promise<{ process: ChildProcess; connectionFile: string }> {
  const proc = spawn(process.execPath, [path.join(root, 'dist', 'emulator.js'), 'start', '--location', location, '--port', '0'], {
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: 'ignore',
  });
  const runtime = await until('the local service', () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(location, 'emulator.json'), 'utf8')) as { connectionFilePath: string };
    } catch {
      return undefined;
    }
  }, 60_000);
  return { process: proc, connectionFile: runtime.connectionFilePath };
}

/** Stops whichever role holds the site (the test's runner or one the console started), then the service, and removes the folder. */
export async function stopAll(site: string, service: ChildProcess | undefined, dir: string): Promise<void> {
  const lock = path.join(site, '.clearance-role.lock');
  try {
    process.kill((JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number }).pid, 'SIGTERM');
  } catch {
    /* already stopped */
  }
  await until('the role stopped', () => !fs.existsSync(lock), 60_000).catch(() => undefined);
  service?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 2000));
  fs.rmSync(dir, { recursive: true, force: true });
}
