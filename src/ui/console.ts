import * as vscode from 'vscode';
import { isControlError } from '../core';
import { NotReady, registerCommands } from './commands';
import { RoleClient } from './roleClient';
import { ConsoleStatusBar } from './statusBar';
import { PlaceholderTree } from './trees/placeholderTree';

export interface ConsoleApi {
  apiVersion: 1;
  /** Ids of the views this console contributes, in display order. */
  views: readonly string[];
  /** For tests and other extensions: the window's attachment to the role, and what the status bar shows. */
  role: {
    state(): string;
    signedInUser(): string | undefined;
    statusBar(): { text: string; tooltip: string };
    reconnect(): Promise<void>;
  };
}

export const VIEW_IDS = ['clearance.cameras', 'clearance.requests', 'clearance.uploads', 'clearance.activities'] as const;

export async function activateConsole(context: vscode.ExtensionContext): Promise<ConsoleApi> {
  const output = vscode.window.createOutputChannel('Clearance', { log: true });
  context.subscriptions.push(output);

  const client = new RoleClient(context, output);
  context.subscriptions.push(client);
  const status = new ConsoleStatusBar();
  context.subscriptions.push(status, client.onDidChangeConnection((c) => status.follow(c, client.siteDir)));

  const trees = VIEW_IDS.map((id) => {
    const tree = new PlaceholderTree();
    context.subscriptions.push(vscode.window.registerTreeDataProvider(id, tree), tree);
    return tree;
  });

  await vscode.commands.executeCommand('setContext', 'clearance.accountConnected', false);

  registerCommands(context, {
    output,
    client,
    refresh: () => trees.forEach((t) => t.refresh()),
    reported: (title, fn) => reported(output, title, fn),
    startRole: async () => {
      throw new NotReady('Starting the role from VS Code comes with the role task: run `clearance-role run --site <folder> --detach` in a terminal.');
    },
  });
  // Attaching waits for nothing: a role that is not there is retried in the background.
  void client.reconnect().catch((error: unknown) => output.error(`role: ${(error as Error).message}`));
  output.info('Clearance Console activated.');
  return {
    apiVersion: 1,
    views: VIEW_IDS,
    role: {
      state: () => client.connection?.state ?? 'noSite',
      signedInUser: () => client.connection?.user?.user.name,
      statusBar: () => ({ text: status.text, tooltip: status.tooltip }),
      reconnect: () => client.reconnect(),
    },
  };
}

/**
 * Every command runs inside this: a refusal is shown plainly (a field error names
 * its fields) and the details go to the Clearance log. The message is not awaited,
 * so a command never hangs on a notification.
 */
export function reported<A extends unknown[], R>(output: vscode.LogOutputChannel, title: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R | undefined> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (error) {
      const e = error as Error;
      const control = isControlError(error);
      // A validation error's message already lists its fields.
      const fields = control && error.issues.length ? error.issues.map((i) => `${i.field}: ${i.message}`).join('; ') : '';
      const message = error instanceof NotReady || (control && error.code === 'ValidationFailed') ? e.message : `${title} failed: ${e.message}`;
      output.error(`${title}: ${control ? `${error.code}: ` : ''}${e.message}${fields ? ` [${fields}]` : ''}`);
      void vscode.window.showErrorMessage(plainText(message.replace(/\n/g, '; ')), 'Show Log').then((pick) => pick && output.show());
      return undefined;
    }
  };
}

/** Notifications turn `[label](target)` into links: text from the site or the service must not. */
export function plainText(text: string): string {
  return text.replace(/\]\(/g, '] (');
}
