import * as vscode from 'vscode';

interface CommandDeps {
  output: vscode.LogOutputChannel;
  refresh(): void;
}

const NO_ACCOUNT = 'No Clearance account is connected. Import the connection file that Clearance generated for this integration first.';

/**
 * Tells the operator plainly why a command cannot run yet, with a way forward.
 * The notification is not awaited: a command must not hang until it is dismissed.
 */
function explainNoAccount(): void {
  void vscode.window.showWarningMessage(NO_ACCOUNT, 'Import Connection File').then((pick) => {
    if (pick) void vscode.commands.executeCommand('clearance.importConnectionFile');
  });
}

export function registerCommands(context: vscode.ExtensionContext, deps: CommandDeps): void {
  const register = (id: string, run: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, run));

  register('clearance.importConnectionFile', async () => {
    const picked = await vscode.window.showOpenDialog({
      title: 'Import Clearance Connection File',
      openLabel: 'Import',
      canSelectMany: false,
      filters: { 'Connection file': ['json'] },
    });
    if (!picked?.[0]) return;
    void vscode.window.showErrorMessage(
      `Cannot import ${picked[0].fsPath}: connection-file import is not available in this build yet. Nothing was changed.`,
    );
  });
  register('clearance.showAccount', explainNoAccount);
  register('clearance.disconnectAccount', explainNoAccount);
  register('clearance.openProperties', explainNoAccount);
  register('clearance.startRole', explainNoAccount);
  register('clearance.stopRole', () => {
    void vscode.window.showInformationMessage('The Clearance role is not running.');
  });
  register('clearance.selectCameras', explainNoAccount);
  register('clearance.pollNow', explainNoAccount);
  register('clearance.exportVideo', explainNoAccount);
  register('clearance.startLocalService', () => {
    void vscode.window.showInformationMessage(
      'The local Clearance service is started from a terminal in this repository: npm start.',
    );
  });
  register('clearance.verifyActivityTrail', () => {
    void vscode.window.showInformationMessage('The activity trail is empty: there is nothing to verify yet.');
  });
  register('clearance.exportActivitiesCsv', () => {
    void vscode.window.showInformationMessage('The activity trail is empty: there is nothing to export yet.');
  });
  register('clearance.refresh', () => {
    deps.refresh();
    deps.output.debug('Views refreshed.');
  });
}
