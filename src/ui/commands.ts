// The palette commands: each a thin call of one role command through the
// window's connection. They take optional arguments so that scripts and tests
// can run them without dialogs; the role checks the session and the privilege
// of every one, whatever the menus showed.
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatLocal, uploadsInFlight, type ImportResult, type RoleConnection, type TrailVerification, type UploadJobSnapshot } from '../core';
import { queuedMessage, snapshotForm, videoForm, type SnapshotArgs, type VideoArgs } from './evidenceCommands';
import { pickText, plainMessage, runReported } from './report';
import type { PanelRegistry } from './panels';
import type { RoleClient } from './roleClient';
import { changeOwnPasswordForm, newPassword, pickUser } from './userCommands';

interface CommandDeps {
  output: vscode.LogOutputChannel;
  client: RoleClient;
  refresh(): void;
  startRole: () => Promise<void>;
  extensionPath: string;
  panels: () => PanelRegistry;
}

/** The terminal Start Local Service runs `npm start` in. */
export const LOCAL_SERVICE_TERMINAL = 'Clearance Local Service';

/** Largest connection file accepted (they are a few KB). */
export const MAX_CONNECTION_FILE_BYTES = 1024 * 1024;

export class NotReady extends Error {}

export function registerCommands(context: vscode.ExtensionContext, deps: CommandDeps): void {
  const { client, output } = deps;
  // Every command fails the same way: a plain message naming the fields, the details in the log.
  const register = <A extends unknown[]>(id: string, title: string, run: (...args: A) => Promise<unknown>) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, (...args: A) => runReported(output, title, () => run(...args))));

  /** The connection of a signed-in user, or a plain refusal with the way forward. */
  const signedIn = async (): Promise<RoleConnection> => {
    const site = client.configuredSite();
    if (!site) throw new NotReady('No site folder is set: set clearance.site.folder to the folder of your site (site.json and recordings/).');
    const c = client.connection;
    if (!c || c.state === 'detached' || c.state === 'closed') throw new NotReady(`No Clearance role is running for ${site}: run Clearance: Start Role.`);
    if (c.state !== 'signedIn') throw new NotReady('Sign in first: run Clearance: Sign In.');
    return c;
  };

  register('clearance.signIn', 'Sign in', async (given?: { user?: string; password?: string }) => {
    const c = client.connection;
    if (!c || c.state === 'detached') throw new NotReady(`No Clearance role is running${client.siteDir ? ` for ${client.siteDir}` : ''}: run Clearance: Start Role.`);
    let user = given?.user;
    if (!user) {
      const names = await c.userNames();
      const pick = await vscode.window.showQuickPick(
        names.map((u) => ({ label: pickText(u.name), description: pickText(u.displayName), name: u.name })),
        { title: 'Sign in to the Clearance role', placeHolder: 'Site user' },
      );
      if (!pick) return;
      user = pick.name;
    }
    const password = given?.password ?? (await vscode.window.showInputBox({ title: `Password of ${user}`, password: true, ignoreFocusOut: true }));
    if (password === undefined) return;
    const view = await c.signIn(user, password);
    deps.refresh();
    void vscode.window.showInformationMessage(plainMessage(`Signed in to the Clearance role as ${view.user.displayName}.`));
    return view;
  });

  register('clearance.signOut', 'Sign out', async () => {
    await client.connection?.signOut();
  });

  register('clearance.importConnectionFile', 'Import connection file', async (uri?: vscode.Uri) => {
    const c = await signedIn();
    const file = uri ?? (await vscode.window.showOpenDialog({ title: 'Import Clearance Connection File', openLabel: 'Import', canSelectMany: false, filters: { 'Connection file': ['json'] } }))?.[0];
    if (!file) return;
    const size = (await fs.stat(file.fsPath)).size;
    if (size > MAX_CONNECTION_FILE_BYTES) {
      throw new NotReady(`${file.fsPath} is ${size.toLocaleString('en')} bytes: a connection file is at most ${MAX_CONNECTION_FILE_BYTES.toLocaleString('en')} bytes. Nothing was changed.`);
    }
    // The file's text goes to the role only: its private key never lands in settings or the window's state.
    const result = await c.request<ImportResult & { ok: true }>('account.import', { text: await fs.readFile(file.fsPath, 'utf8'), source: file.fsPath.split(/[\\/]/).pop() });
    void vscode.window.showInformationMessage(plainMessage(`Account ${result.account.accountId} connected (integration ${result.account.integrationName}).`));
    return result.account;
  });

  register('clearance.showAccount', 'Show account', async () => {
    const c = await signedIn();
    const { account } = await c.request<{ account: { accountId: string; integrationName: string; publicKeyFingerprint: string; importedAt: string } | null }>('account.show');
    if (!account) throw new NotReady('No account is connected: run Clearance: Import Connection File.');
    void vscode.window.showInformationMessage(plainMessage(`Account ${account.accountId}, integration ${account.integrationName}, key ${account.publicKeyFingerprint}, imported ${formatLocal(account.importedAt)}.`));
    return account;
  });

  register('clearance.disconnectAccount', 'Disconnect account', async (confirmed?: boolean) => {
    const c = await signedIn();
    if (confirmed !== true) {
      const ok = await vscode.window.showWarningMessage('Disconnect the Clearance account? The role stops polling and uploading until an account is imported again.', { modal: true }, 'Disconnect');
      if (ok !== 'Disconnect') return;
    }
    await c.request('account.disconnect');
  });

  register('clearance.startRole', 'Start role', async () => {
    const c = client.connection;
    if (c && (c.state === 'attached' || c.state === 'signedIn')) {
      if (c.state === 'signedIn' && c.role?.snapshot.status !== 'running') await c.request('role.start');
      return;
    }
    await deps.startRole();
    await client.reconnect();
  });

  register('clearance.stopRole', 'Stop role', async (confirmed?: boolean) => {
    const c = await signedIn();
    const inFlight = c.role ? uploadsInFlight(c.role.uploads).count : 0;
    if (confirmed !== true && inFlight > 0) {
      const ok = await vscode.window.showWarningMessage(`${inFlight} upload(s) are in flight. Stop the role? They resume from the last acknowledged block at the next start.`, { modal: true }, 'Stop Role');
      if (ok !== 'Stop Role') return;
    }
    await c.request('role.stop');
  });

  register('clearance.pollNow', 'Check for video requests', async () => {
    await (await signedIn()).request('requests.poll');
  });

  register('clearance.selectCameras', 'Select cameras', async () => {
    await signedIn();
    await vscode.commands.executeCommand('clearance.cameras.focus');
  });

  register('clearance.verifyActivityTrail', 'Verify activity trail', async () => {
    const result = await (await signedIn()).request<TrailVerification & { anchors?: { ok: boolean; summary: string[] } }>('activities.verify');
    const anchors = result.anchors?.summary.join(' ') ?? '';
    if (result.ok && result.anchors?.ok === false) void vscode.window.showErrorMessage(plainMessage(`The activity trail's hash chain is intact, but it does NOT match the service's anchors: ${anchors}`));
    else if (result.ok) void vscode.window.showInformationMessage(`The activity trail verifies: ${result.records} record(s), chain intact. ${anchors}`.trim());
    else void vscode.window.showErrorMessage(plainMessage(`The activity trail does NOT verify: ${result.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ')}`));
    return result;
  });

  register('clearance.exportActivitiesCsv', 'Export activities', async (target?: vscode.Uri) => {
    const c = await signedIn();
    const file = target ?? (await vscode.window.showSaveDialog({ title: 'Export Activity Trail as CSV', filters: { CSV: ['csv'] }, saveLabel: 'Export' }));
    if (!file) return;
    const { csv } = await c.request<{ csv: string }>('activities.csv', {});
    await fs.writeFile(file.fsPath, csv, { mode: 0o600 });
    void vscode.window.showInformationMessage(`Activity trail exported to ${file.fsPath}.`);
    return file.fsPath;
  });

  // Asked first, so that a user without the privilege is refused (and recorded) before a panel opens.
  register('clearance.openProperties', 'Open role properties', async () => {
    await (await signedIn()).request('properties.get');
    deps.panels().show('properties');
  });

  register('clearance.openActivitiesReport', 'Open activities report', async () => {
    await (await signedIn()).request('activities.page', { limit: 1 });
    deps.panels().show('activities');
  });

  register('clearance.openNotifications', 'Open request notifications', async () => {
    await (await signedIn()).request('notifications.get');
    deps.panels().show('notifications');
  });

  register('clearance.exportVideo', 'Send video to Clearance', async (given?: VideoArgs) => {
    const c = await signedIn();
    const args = given ?? (await videoForm(c));
    const job = await c.request<UploadJobSnapshot>('export.video', args);
    void vscode.window.showInformationMessage(queuedMessage(job, 'Video'));
    return job;
  });

  register('clearance.sendSnapshot', 'Send snapshot', async (given?: SnapshotArgs) => {
    const c = await signedIn();
    const args = given ?? (await snapshotForm(c));
    const job = await c.request<UploadJobSnapshot>('export.snapshot', args);
    void vscode.window.showInformationMessage(queuedMessage(job, 'Snapshot'));
    return job;
  });

  register('clearance.pauseAllUploads', 'Pause all uploads', async () => {
    const { paused } = await (await signedIn()).request<{ paused: number }>('uploads.pauseAll');
    void vscode.window.setStatusBarMessage(`Clearance: ${paused} upload(s) paused`, 5000);
    return paused;
  });

  register('clearance.resumeAllUploads', 'Resume all uploads', async () => {
    const { resumed } = await (await signedIn()).request<{ resumed: number }>('uploads.resumeAll');
    void vscode.window.setStatusBarMessage(`Clearance: ${resumed} upload(s) resumed`, 5000);
    return resumed;
  });

  register('clearance.changePassword', 'Change password', async (given?: { current: string; next: string }) => {
    const c = await signedIn();
    await c.request('session.changePassword', given ?? (await changeOwnPasswordForm(c)));
    void vscode.window.showInformationMessage(`The password of ${c.user?.user.name ?? 'your site user'} is changed.`);
  });

  register('clearance.setUserPassword', 'Set a user\'s password', async (given?: { user: string; password: string }) => {
    const c = await signedIn();
    let args = given;
    if (!args) {
      const user = await pickUser(c, 'Set or reset the password of a site user');
      args = { user: user.name, password: await newPassword(`New password of ${user.name}`) };
    }
    await c.request('users.setPassword', args);
    void vscode.window.showInformationMessage(plainMessage(`The password of ${args.user} is set. Tell them in person, not by mail or chat.`));
  });

  register('clearance.clearLockout', 'Clear sign-in lockout', async (given?: { user: string }) => {
    const c = await signedIn();
    const user = given?.user ?? (await pickUser(c, 'Clear the sign-in lockout of a site user', (u) => u.locked || u.failures > 0)).name;
    const { cleared } = await c.request<{ cleared: boolean }>('users.clearLockout', { user });
    void vscode.window.showInformationMessage(plainMessage(cleared ? `${user} may sign in again.` : `${user} was not locked out.`));
    return cleared;
  });

  register('clearance.showLog', 'Show log', async () => {
    output.show(true);
  });

  register('clearance.startLocalService', 'Start local service', async (given?: { npmStartArgs?: string[] }) => {
    // A development checkout carries the local service (scripts/start.mjs); an installed .vsix does not.
    const checkout = deps.extensionPath;
    if (!existsSync(path.join(checkout, 'scripts', 'start.mjs'))) {
      throw new NotReady(
        'This installation carries no local Clearance service. To run one: clone the Clearance Console repository, then run `npm install && npm start -- --no-open` in it.',
      );
    }
    // npm itself is the terminal's process: the terminal ends (with npm's exit code) when the service stops.
    const terminal = vscode.window.createTerminal({
      name: LOCAL_SERVICE_TERMINAL,
      cwd: checkout,
      shellPath: process.platform === 'win32' ? 'npm.cmd' : 'npm',
      shellArgs: ['start', '--', ...(given?.npmStartArgs ?? ['--no-open'])],
    });
    terminal.show(true);
    return terminal;
  });

  register('clearance.refresh', 'Refresh', async () => {
    await client.reconnect();
    deps.refresh();
  });
}
