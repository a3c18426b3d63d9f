// What the console does when it finds (or does not find) the site's role: it
// starts a role for a site that already has an account (a setting turns that
// off; the welcome views offer Start Role otherwise), and, once signed in,
// calls out requests that have waited too long. One message at most.
import * as vscode from 'vscode';
import { hasConnectedAccount, overduePendingCallOut, roleStateDirFor, type RoleConnection } from '../core';
import { plainMessage, runReported } from './report';
import { roleRunning } from './roleProcess';

export interface AttachCallOutDeps {
  output: vscode.LogOutputChannel;
  startRole(): Promise<void>;
}

export class AttachCallOuts implements vscode.Disposable {
  private subs: { dispose(): void }[] = [];
  /** Messages shown in this window (for tests). */
  readonly shown: string[] = [];
  private calledOut = false;

  constructor(private readonly deps: AttachCallOutDeps) {}

  /** Follows a new connection (a site folder was set or changed). */
  follow(connection: RoleConnection | undefined, siteDir: string | undefined): void {
    this.dispose();
    this.calledOut = false;
    if (!connection || !siteDir) return;
    const check = () => {
      if (connection.state !== 'signedIn') this.calledOut = false;
      else if (!this.calledOut && connection.role) {
        this.calledOut = true;
        this.callOutOverdue(connection);
      }
    };
    this.subs = [connection.onDidChangeAttachment(check), connection.onDidChange(check)];
    check();
    void runReported(this.deps.output, 'Start the Clearance role', () => this.startIfConnected(siteDir));
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.subs = [];
  }

  private show(text: string, ...actions: string[]): Thenable<string | undefined> {
    this.shown.push(text);
    return vscode.window.showInformationMessage(plainMessage(text), ...actions);
  }

  private callOutOverdue(connection: RoleConnection): void {
    const minutes = vscode.workspace.getConfiguration('clearance').get<number>('requests.pendingCallOutMinutes', 30);
    const text = overduePendingCallOut(connection.role?.requests ?? [], new Date(), minutes);
    if (!text) return;
    void this.show(text, 'Show Requests').then((pick) => pick && vscode.commands.executeCommand('clearance.requests.focus'));
  }

  private async startIfConnected(siteDir: string): Promise<void> {
    if (await roleRunning(siteDir)) return;
    const auto = vscode.workspace.getConfiguration('clearance').get<boolean>('role.startAutomatically', true);
    if (auto && hasConnectedAccount(roleStateDirFor(siteDir))) {
      this.deps.output.info(`No Clearance role runs for ${siteDir}; its account is connected, so the console starts it (setting clearance.role.startAutomatically).`);
      await this.deps.startRole();
      this.shown.push(`started the role for ${siteDir}`);
      return;
    }
    // Otherwise the welcome views offer Start Role: a toast would outlive the role starting.
  }
}
