// The window's attachment to the role of the configured site: one
// RoleConnection, re-made when `clearance.site.folder` changes, its session
// kept in SecretStorage (per site), and the context keys that hide what the
// signed-in user may not do. The role checks every command again.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RoleConnection, type RoleAction, type SessionKeeper } from '../core';

const ACTIONS: readonly RoleAction[] = [
  'viewCameraSelection',
  'changeCameraSelection',
  'viewConfiguration',
  'changeConfiguration',
  'viewRequests',
  'decideRequest',
  'sendEvidence',
  'sendSnapshot',
  'viewRequestApprovers',
];

/** The session token of one site, in VS Code's SecretStorage (never in settings or state). */
class SecretSession implements SessionKeeper {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly key: string,
  ) {}
  async get(): Promise<string | undefined> {
    return this.secrets.get(this.key);
  }
  async set(token: string | undefined): Promise<void> {
    if (token) await this.secrets.store(this.key, token);
    else await this.secrets.delete(this.key);
  }
}

export class RoleClient implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RoleConnection | undefined>();
  /** A new connection (the site folder changed), or none. */
  readonly onDidChangeConnection = this.changed.event;
  private current: RoleConnection | undefined;
  private currentSite: string | undefined;
  private readonly subs: vscode.Disposable[] = [];
  private connectionSubs: { dispose(): void }[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.subs.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('clearance.site.folder')) void this.reconnect();
      }),
    );
  }

  get connection(): RoleConnection | undefined {
    return this.current;
  }

  get siteDir(): string | undefined {
    return this.currentSite;
  }

  /** The configured site folder (absolute), if any. */
  configuredSite(): string | undefined {
    const folder = vscode.workspace.getConfiguration('clearance').get<string>('site.folder')?.trim();
    if (!folder) return undefined;
    if (path.isAbsolute(folder)) return folder;
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return root ? path.join(root, folder) : undefined;
  }

  /** Attaches to the configured site's role (again). */
  async reconnect(): Promise<void> {
    const site = this.configuredSite();
    if (site === this.currentSite && this.current) return this.current.attach();
    await this.drop();
    this.currentSite = site;
    if (!site) {
      await this.updateContext();
      this.changed.fire(undefined);
      return;
    }
    const connection = new RoleConnection({
      siteDir: site,
      client: 'vscode',
      sessions: new SecretSession(this.context.secrets, `clearance.session:${site}`),
      log: (line) => this.output.info(line),
    });
    this.current = connection;
    this.connectionSubs = [
      connection.onDidChangeAttachment((state) => {
        void this.updateContext();
        if (state === 'attached') void this.useTicket(connection);
      }),
      connection.onDidChange((c) => c.parts.has('account') && void this.updateContext()),
    ];
    this.changed.fire(connection);
    await connection.attach();
    if (connection.state === 'attached') await this.useTicket(connection);
    await this.updateContext();
  }

  /**
   * Signs in with the one-time ticket named by `clearance.signInTicketFile`, if
   * that file exists (`npm start` leaves one for the sample administrator). The
   * file is deleted first: a ticket is used once, whatever the role answers.
   */
  private async useTicket(connection: RoleConnection): Promise<void> {
    const setting = vscode.workspace.getConfiguration('clearance').get<string>('signInTicketFile')?.trim();
    if (!setting || connection !== this.current) return;
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const file = path.isAbsolute(setting) ? setting : root ? path.join(root, setting) : undefined;
    if (!file) return;
    let ticket: string;
    try {
      ticket = (await fs.readFile(file, 'utf8')).trim();
      await fs.rm(file, { force: true });
    } catch {
      return; // no ticket (used already): sign in by hand
    }
    try {
      const view = await connection.signInWithTicket(ticket);
      this.output.info(`Signed in as ${view.user.name} with the one-time ticket ${file}.`);
    } catch (error) {
      this.output.warn(`The sign-in ticket ${file} was not accepted: ${(error as Error).message}. Sign in with Clearance: Sign In.`);
    }
  }

  async dispose(): Promise<void> {
    for (const s of this.subs) s.dispose();
    await this.drop();
    this.changed.dispose();
  }

  private async drop(): Promise<void> {
    for (const s of this.connectionSubs) s.dispose();
    this.connectionSubs = [];
    const old = this.current;
    this.current = undefined;
    await old?.dispose();
  }

  /** Context keys for menus and welcome views; the role still checks every command. */
  private async updateContext(): Promise<void> {
    const c = this.current;
    const set = (key: string, value: unknown) => vscode.commands.executeCommand('setContext', key, value);
    const signedIn = c?.state === 'signedIn';
    await set('clearance.siteConfigured', this.currentSite !== undefined);
    await set('clearance.roleAttached', c?.state === 'attached' || signedIn);
    await set('clearance.signedIn', signedIn);
    await set('clearance.accountConnected', signedIn && c?.role?.snapshot.account !== undefined);
    const actions = new Set(signedIn ? (c?.user?.actions ?? []) : []);
    for (const a of ACTIONS) await set(`clearance.may.${a}`, actions.has(a));
  }
}
