import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { PlaceholderTree } from './trees/placeholderTree';

export interface ConsoleApi {
  apiVersion: 1;
  /** Ids of the views this console contributes, in display order. */
  views: readonly string[];
}

export const VIEW_IDS = ['clearance.cameras', 'clearance.requests', 'clearance.uploads', 'clearance.activities'] as const;

export async function activateConsole(context: vscode.ExtensionContext): Promise<ConsoleApi> {
  const output = vscode.window.createOutputChannel('Clearance', { log: true });
  context.subscriptions.push(output);

  const trees = VIEW_IDS.map((id) => {
    const tree = new PlaceholderTree();
    context.subscriptions.push(vscode.window.registerTreeDataProvider(id, tree), tree);
    return tree;
  });

  await vscode.commands.executeCommand('setContext', 'clearance.accountConnected', false);

  const status = vscode.window.createStatusBarItem('clearance.status', vscode.StatusBarAlignment.Left, 10);
  status.name = 'Clearance';
  status.text = '$(shield) Clearance: not connected';
  status.tooltip = 'No Clearance account is connected. Click to import a connection file.';
  status.command = 'clearance.importConnectionFile';
  status.show();
  context.subscriptions.push(status);

  registerCommands(context, { output, refresh: () => trees.forEach((t) => t.refresh()) });
  output.info('Clearance Console activated.');
  return { apiVersion: 1, views: VIEW_IDS };
}
