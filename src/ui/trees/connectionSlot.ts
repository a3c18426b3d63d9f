// The trees' view of "the" role connection, which the console may replace (another
// site folder) or drop (no site): the same reading surface as RoleConnection, with
// its events forwarded from whichever connection is current. Swapping fires an
// attachment change, so every tree renders again.
import * as vscode from 'vscode';
import type { AttachmentState, ConsoleState, Disposable, RoleConnection, StateChange } from '../../core';

export class ConnectionSlot implements vscode.Disposable {
  private readonly changes = new vscode.EventEmitter<StateChange>();
  private readonly attachments = new vscode.EventEmitter<AttachmentState>();
  /** The current connection's state changed. */
  readonly onDidChange = this.changes.event;
  /** The current connection's attachment changed, or another connection took its place. */
  readonly onDidChangeAttachment = this.attachments.event;
  private connection: RoleConnection | undefined;
  private subscriptions: Disposable[] = [];

  constructor(connection?: RoleConnection) {
    this.set(connection);
  }

  get current(): RoleConnection | undefined {
    return this.connection;
  }

  /** 'detached' while there is no connection. */
  get state(): AttachmentState {
    return this.connection?.state ?? 'detached';
  }

  get role(): ConsoleState | undefined {
    return this.connection?.role;
  }

  set(connection: RoleConnection | undefined): void {
    if (connection === this.connection) return;
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.connection = connection;
    if (connection) {
      this.subscriptions.push(
        connection.onDidChange((c) => this.changes.fire(c)),
        connection.onDidChangeAttachment((a) => this.attachments.fire(a)),
      );
    }
    this.attachments.fire(this.state);
  }

  /** Runs a role command as the signed-in user of the current connection. */
  request<T = unknown>(command: string, args?: unknown): Promise<T> {
    if (!this.connection) return Promise.reject(new Error('No Clearance site is open: choose the site folder of the role first (setting clearance.site.folder).'));
    return this.connection.request<T>(command, args);
  }

  dispose(): void {
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.connection = undefined;
    this.changes.dispose();
    this.attachments.dispose();
  }
}
