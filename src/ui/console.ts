import * as vscode from 'vscode';
import { NotReady, registerCommands } from './commands';
import { RoleClient } from './roleClient';
import { ConsoleStatusBar } from './statusBar';
import { registerTrees, type ConsoleTrees } from './trees';
import { runReported } from './trees/report';

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
  /** For tests: the tree providers. */
  trees: ConsoleTrees;
}

export const VIEW_IDS = ['clearance.cameras', 'clearance.requests', 'clearance.uploads', 'clearance.activities'] as const;

export async function activateConsole(context: vscode.ExtensionContext): Promise<ConsoleApi> {
  const output = vscode.window.createOutputChannel('Clearance', { log: true });
  context.subscriptions.push(output);

  const client = new RoleClient(context, output);
  context.subscriptions.push(client);
  const status = new ConsoleStatusBar();
  context.subscriptions.push(status, client.onDidChangeConnection((c) => status.follow(c, client.siteDir)));

  const trees = registerTrees(context, client.connection, output);
  context.subscriptions.push(client.onDidChangeConnection((c) => trees.setConnection(c)));

  await vscode.commands.executeCommand('setContext', 'clearance.accountConnected', false);

  registerCommands(context, {
    output,
    client,
    refresh: () => trees.refreshAll(),
    reported: (title, fn) => (...args) => runReported(output, title, () => fn(...args)),
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
    trees,
  };
}
