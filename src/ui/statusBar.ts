// The status bar item: uploads in flight and pending requests at a glance, the
// signed-in user and the role's state in the tooltip, a warning background
// while the service cannot be reached. A click opens the Requests view.
import * as vscode from 'vscode';
import { statusBarText, statusBarTooltip, statusBarWarning, type RoleConnection } from '../core';

export class ConsoleStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('clearance.status', vscode.StatusBarAlignment.Left, 10);
  private subs: { dispose(): void }[] = [];

  constructor() {
    this.item.name = 'Clearance';
    this.item.show();
    this.show(undefined, undefined);
  }

  /** Follows a connection (or shows that none is configured). */
  follow(connection: RoleConnection | undefined, site: string | undefined): void {
    for (const s of this.subs) s.dispose();
    this.subs = [];
    if (connection) {
      const render = (): void => this.show(connection, site);
      this.subs.push(connection.onDidChange(render), connection.onDidChangeAttachment(render));
    }
    this.show(connection, site);
  }

  get text(): string {
    return this.item.text;
  }

  get tooltip(): string {
    return typeof this.item.tooltip === 'string' ? this.item.tooltip : '';
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }

  private show(connection: RoleConnection | undefined, site: string | undefined): void {
    if (!site) {
      this.item.text = '$(shield) Clearance: no site';
      this.item.tooltip = 'No site folder is set. Set clearance.site.folder to the folder of your site (site.json and recordings/).';
      this.item.command = { title: 'Open Settings', command: 'workbench.action.openSettings', arguments: ['clearance.site.folder'] };
      this.item.backgroundColor = undefined;
      return;
    }
    const state = connection?.state ?? 'detached';
    if (state === 'detached' || state === 'closed') {
      this.item.text = '$(debug-disconnect) Clearance: role not running';
      this.item.tooltip = `No Clearance role is running for ${site}. Run the task "Run Clearance Role" or the command Clearance: Start Role.`;
      this.item.command = 'clearance.startRole';
      this.item.backgroundColor = undefined;
      return;
    }
    if (state === 'attached') {
      this.item.text = '$(account) Clearance: sign in';
      this.item.tooltip = `The role for ${site} is running. Sign in as a site user to see and steer it.`;
      this.item.command = 'clearance.signIn';
      this.item.backgroundColor = undefined;
      return;
    }
    const role = connection?.role;
    // Plain text only: names in it come from the site and the service.
    this.item.text = statusBarText(role);
    this.item.tooltip = statusBarTooltip(role?.snapshot, connection?.user, state, {}, connection?.roleProcess);
    this.item.command = 'clearance.requests.focus';
    this.item.backgroundColor = statusBarWarning(role?.snapshot.connection.state) ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }
}
