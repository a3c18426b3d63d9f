// A new video request raises one toast, with Approve and Open, in each window
// whose signed-in user is on the role's Request notifications list. Nothing
// else interrupts the operator.
import * as vscode from 'vscode';
import { formatLocal, type RoleConnection, type VideoRequest } from '../core';
import { plainMessage, runReported } from './report';

export class RequestToasts implements vscode.Disposable {
  private sub: { dispose(): void } | undefined;
  /** Request ids toasted in this window (for tests and to never toast twice). */
  readonly shown: string[] = [];
  /** The texts of those toasts, as the operator read them. */
  readonly texts: string[] = [];

  constructor(private readonly output: vscode.LogOutputChannel) {}

  follow(connection: RoleConnection | undefined): void {
    this.sub?.dispose();
    this.sub = connection?.onDidChange((change) => {
      const n = change.notification;
      const me = connection.user?.user.id;
      if (!n || !me || !n.userIds.includes(me) || this.shown.includes(n.request.requestId)) return;
      this.shown.push(n.request.requestId);
      void this.toast(n.request);
    });
  }

  dispose(): void {
    this.sub?.dispose();
  }

  private async toast(request: VideoRequest): Promise<void> {
    const cameras = request.cameras.map((c) => c.name).join(', ');
    // Names and comments come from the service: plain text, no links.
    const text = plainMessage(`New video request for ${cameras} (${formatLocal(request.fromUtc)} – ${formatLocal(request.toUtc)}).`);
    this.texts.push(text);
    const pick = await vscode.window.showInformationMessage(text, 'Approve', 'Open');
    if (pick === 'Approve') {
      // The button is the operator's decision: no second question.
      await runReported(this.output, 'Approve video request', () => vscode.commands.executeCommand('clearance.approveRequest', { requestId: request.requestId, confirmed: true }));
    } else if (pick === 'Open') {
      await runReported(this.output, 'Open video request', () => vscode.commands.executeCommand('clearance.openRequest', request.requestId));
    }
  }
}
