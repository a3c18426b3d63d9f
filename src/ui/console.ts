import * as vscode from 'vscode';
import { reviewFolderFor, roleStateDirFor, uploadsInFlight } from '../core';
import { AttachCallOuts } from './attachCallOuts';
import { NotReady, registerCommands } from './commands';
import { registerPanels, type PanelRegistry } from './panels';
import { RequestToasts } from './requestToasts';
import { RoleClient } from './roleClient';
import { ConsoleStatusBar } from './statusBar';
import { RoleAlreadyRunning, resolveFfmpeg, roleRunning, startRoleProcess, waitForRoleExit } from './roleProcess';
import { registerRoleTask } from './roleTask';
import { registerTrees, type ConsoleTrees } from './trees';

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
    /** Request ids this window raised a toast for. */
    toasts(): readonly string[];
    /** The texts of those toasts. */
    toastTexts(): readonly string[];
    /** What the console said on attaching (a started role, overdue requests). */
    callOuts(): readonly string[];
  };
  /** For tests: the tree providers. */
  trees: ConsoleTrees;
  /** For tests: the open panels and what each was told. */
  panels: PanelRegistry;
}

export const VIEW_IDS = ['clearance.cameras', 'clearance.requests', 'clearance.uploads', 'clearance.activities'] as const;

export async function activateConsole(context: vscode.ExtensionContext): Promise<ConsoleApi> {
  const output = vscode.window.createOutputChannel('Clearance', { log: true });
  context.subscriptions.push(output);

  const client = new RoleClient(context, output);
  context.subscriptions.push(client);
  const status = new ConsoleStatusBar();
  context.subscriptions.push(status, client.onDidChangeConnection((c) => status.follow(c, client.siteDir)));

  const panels = registerPanels(context, {
    extensionUri: context.extensionUri,
    output,
    connection: () => client.connection,
    onDidChangeConnection: client.onDidChangeConnection,
    reviewFolder: () => {
      const site = client.configuredSite();
      return site ? vscode.Uri.file(reviewFolderFor(roleStateDirFor(site))) : undefined;
    },
    signedIn: async () => {
      const c = client.connection;
      if (!c || c.state !== 'signedIn') throw new NotReady('Sign in first: run Clearance: Sign In.');
      return c;
    },
  });
  const trees = registerTrees(context, client.connection, output, (requestId) => panels.show('request').update('open', { requestId }));
  const toasts = new RequestToasts(output);
  context.subscriptions.push(
    toasts,
    client.onDidChangeConnection((c) => {
      trees.setConnection(c);
      toasts.follow(c);
    }),
  );

  // Not awaited: activation stays synchronous up to the attach below, which then starts at once
  // (a round trip to the workbench costs a fraction of a second on a busy machine); context
  // keys are applied in the order they are set, so a later `true` still wins.
  void vscode.commands.executeCommand('setContext', 'clearance.accountConnected', false);

  const inFlight = (): number => uploadsInFlight(client.connection?.role?.uploads ?? []).count;
  /** Starts the site's role in the background (or finds it already running). */
  const startRole = async (): Promise<void> => {
    const site = client.configuredSite();
    if (!site) throw new NotReady('No site folder is set: set clearance.site.folder to the folder of your site (site.json and recordings/).');
    const ffmpeg = await resolveFfmpeg(vscode.workspace.getConfiguration('clearance').get<string>('ffmpegPath'));
    if (ffmpeg.warning) output.warn(ffmpeg.warning);
    if (ffmpeg.source === 'none') output.warn(ffmpeg.message); // the runner still tries /usr/bin/ffmpeg and the npm package
    try {
      await startRoleProcess({ extensionPath: context.extensionPath, siteDir: site, ...(ffmpeg.path ? { ffmpegPath: ffmpeg.path } : {}), log: (l) => output.info(l) });
    } catch (error) {
      if (!(error instanceof RoleAlreadyRunning)) throw error;
      output.info(error.message); // attach to it instead
    }
  };

  const callOuts = new AttachCallOuts({
    output,
    startRole: async () => {
      await startRole();
      await client.reconnect();
    },
  });
  context.subscriptions.push(callOuts, client.onDidChangeConnection((c) => callOuts.follow(c, client.siteDir)));

  registerCommands(context, {
    output,
    client,
    refresh: () => trees.refreshAll(),
    startRole,
    extensionPath: context.extensionPath,
    panels: () => panels,
  });

  context.subscriptions.push(
    registerRoleTask(context, {
      siteDir: () => client.configuredSite(),
      isRunning: async () => {
        const site = client.configuredSite();
        return site !== undefined && (await roleRunning(site));
      },
      start: async () => {
        await startRole();
        await client.reconnect();
      },
      confirmStop: async () =>
        inFlight() === 0 ||
        (await vscode.window.showWarningMessage(`${inFlight()} upload(s) are in flight. Stop the role? They resume from the last acknowledged block at the next start.`, { modal: true }, 'Stop Role')) === 'Stop Role',
      stopRole: async () => {
        const c = client.connection;
        const site = client.configuredSite();
        if (!c || c.state !== 'signedIn' || !site) throw new NotReady('Sign in first (Clearance: Sign In): stopping the role needs View plugin configuration.');
        await c.request('role.stop');
        if (!(await waitForRoleExit(site, 120_000))) throw new Error('the role did not stop within 120 s');
      },
      log: (l) => output.info(l),
    }),
  );
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
      toasts: () => toasts.shown,
      toastTexts: () => toasts.texts,
      callOuts: () => callOuts.shown,
    },
    trees,
    panels,
  };
}
