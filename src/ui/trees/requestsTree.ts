// The Requests view: video requests by status (Pending first and open), the
// pending count as the badge, and the operator's answers: approve (after a modal
// confirmation naming the cameras), deny (with a reason), video unavailable,
// open (the request's review panel). The role decides; the view shows its state.
import * as vscode from 'vscode';
import { pendingBadge, requestGroups, requestItem, type RequestGroup, type RequestItem, type RequestLike, type StateChange } from '../../core';
import { saveCustodyReport } from '../panels/requestPanel';
import type { ConnectionSlot } from './connectionSlot';
import { ConsoleTree, type Handle } from './consoleTree';
import { pickText, plainMessage, runReported } from '../report';

export const REQUESTS_VIEW_ID = 'clearance.requests';

interface RequestsModel {
  groups: RequestGroup[];
  groupById: Map<string, RequestGroup>;
  itemById: Map<string, { item: RequestItem; groupId: string }>;
  badge: { value: number; tooltip: string } | undefined;
}

const requestViewId = (requestId: string): string => `request:${requestId}`;

export class RequestsTree extends ConsoleTree<RequestsModel> {
  readonly view: vscode.TreeView<Handle>;

  constructor(connection: ConnectionSlot) {
    super(connection, ['requests']);
    this.view = vscode.window.createTreeView(REQUESTS_VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(this.view);
    this.refresh();
  }

  getTreeItem(element: Handle): vscode.TreeItem {
    const model = this.model();
    const group = model?.groupById.get(element.id);
    if (group) {
      const item = new vscode.TreeItem(group.label, group.expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
      item.id = group.id;
      item.description = group.description;
      item.tooltip = group.tooltip;
      item.contextValue = 'requestGroup';
      return item;
    }
    const found = model?.itemById.get(element.id);
    if (!found) return new vscode.TreeItem(element.id);
    const r = found.item;
    const item = new vscode.TreeItem(r.label, vscode.TreeItemCollapsibleState.None);
    item.id = r.id;
    item.description = r.description;
    item.tooltip = r.tooltip; // plain string: comments and camera names come from the service
    item.contextValue = r.contextValue;
    item.iconPath = new vscode.ThemeIcon(r.status === 'Pending' ? 'bell-dot' : r.status === 'Processing' ? 'sync~spin' : 'mail-read');
    return item;
  }

  getChildren(element?: Handle): Handle[] {
    const model = this.model();
    if (!model) return [];
    if (!element) return this.handlesOf(model.groups);
    return this.handlesOf(model.groupById.get(element.id)?.items ?? []);
  }

  getParent(element: Handle): Handle | undefined {
    const groupId = this.model()?.itemById.get(element.id)?.groupId;
    return groupId ? this.handle(groupId) : undefined;
  }

  /** The request a command was given: a tree element, a request id, or nothing (the selection). */
  request(arg: unknown): RequestLike {
    let requestId: string | undefined;
    if (typeof arg === 'string') requestId = arg;
    else if (isHandle(arg) && arg.id.startsWith('request:')) requestId = arg.id.slice('request:'.length);
    else {
      const selected = this.view.selection.find((h) => h.id.startsWith('request:'));
      requestId = selected?.id.slice('request:'.length);
    }
    if (requestId === undefined) throw new NoRequestChosen('Choose a video request in the Requests view first.');
    const request = this.connection.role?.requests.find((r) => r.requestId === requestId);
    if (!request) throw new Error(`Video request ${requestId} is not in this console's list (sign in, or refresh the Requests view).`);
    return request;
  }

  /**
   * As request(), but from the palette with nothing chosen: a quick pick of the
   * requests `which` keeps (Pending ones for a decision).
   */
  async chooseRequest(arg: unknown, title: string, which: (r: RequestLike) => boolean): Promise<RequestLike> {
    try {
      return this.request(arg);
    } catch (error) {
      if (!(error instanceof NoRequestChosen)) throw error;
    }
    const now = new Date();
    const list = (this.connection.role?.requests ?? []).filter(which);
    if (list.length === 0) throw new Error('No video request to choose from: none is in that state.');
    const pick = await vscode.window.showQuickPick(
      list.map((r) => {
        const item = requestItem(r, now);
        return { label: pickText(item.label), description: pickText(item.description), detail: pickText(r.comments.slice(0, 200)), requestId: r.requestId };
      }),
      { title, placeHolder: 'Video request', matchOnDescription: true, matchOnDetail: true },
    );
    if (!pick) throw new vscode.CancellationError();
    return this.request(pick.requestId);
  }

  // ---------------------------------------------------------------------------

  protected build(): RequestsModel | undefined {
    const requests = this.connection.role?.requests ?? [];
    const groups = requestGroups(requests, new Date());
    const groupById = new Map(groups.map((g) => [g.id, g]));
    const itemById = new Map<string, { item: RequestItem; groupId: string }>();
    for (const g of groups) for (const item of g.items) itemById.set(item.id, { item, groupId: g.id });
    return { groups, groupById, itemById, badge: pendingBadge(requests) };
  }

  protected override structure(model: RequestsModel | undefined): string | undefined {
    return model ? JSON.stringify(model.groups.map((g) => [g.id, g.description, g.items.map((i) => i.id)])) : '';
  }

  protected override onStateChange(change: StateChange): void {
    this.refreshItems(change.requestIds.map(requestViewId));
  }

  protected override rendered(model: RequestsModel | undefined): void {
    this.view.badge = model?.badge;
  }
}

/** `{ requestId, reason }` as scripts pass it, else undefined (a tree element, an id, nothing). */
function withReason(arg: unknown): { requestId: string; reason?: string } | undefined {
  const a = arg as { requestId?: unknown; reason?: unknown } | undefined;
  if (typeof a !== 'object' || a === null || typeof a.requestId !== 'string') return undefined;
  return { requestId: a.requestId, ...(typeof a.reason === 'string' ? { reason: a.reason } : {}) };
}

class NoRequestChosen extends Error {}

const pending = (r: RequestLike): boolean => r.status === 'Pending';

function isHandle(arg: unknown): arg is Handle {
  return typeof arg === 'object' && arg !== null && typeof (arg as Handle).id === 'string';
}

const cameraNames = (r: RequestLike): string => r.cameras.map((c) => c.name || c.id).join(', ') || 'no camera';

/** clearance.approveRequest, denyRequest, videoUnavailable, openRequest (each takes a tree element or a request id). */
export function registerRequestCommands(
  tree: RequestsTree,
  connection: ConnectionSlot,
  output: vscode.LogOutputChannel,
  openPanel: (requestId: string) => void,
): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('clearance.approveRequest', (arg: unknown) =>
      runReported(output, 'Approve video request', async () => {
        // Scripts (and a toast's Approve button, which already asked) pass { requestId, confirmed: true }.
        const given = arg as { requestId?: unknown; confirmed?: unknown } | undefined;
        const confirmed = typeof given === 'object' && given !== null && given.confirmed === true && typeof given.requestId === 'string';
        const request = confirmed ? tree.request(given.requestId) : await tree.chooseRequest(arg, 'Approve a video request', pending);
        if (confirmed) {
          await connection.request('requests.approve', { request: request.requestId });
          return;
        }
        const approve = 'Approve';
        const answer = await vscode.window.showWarningMessage(
          plainMessage(`Approve the video request for ${cameraNames(request)}?`),
          { modal: true, detail: plainMessage(`${requestItem(request, new Date()).tooltip}\n\nThe role exports the recorded video of these cameras and uploads it to Clearance.`) },
          approve,
        );
        if (answer !== approve) return;
        await connection.request('requests.approve', { request: request.requestId });
      }),
    ),
    vscode.commands.registerCommand('clearance.denyRequest', (arg: unknown) =>
      runReported(output, 'Deny video request', async () => {
        // Scripts pass { requestId, reason }.
        const given = withReason(arg);
        const request = given ? tree.request(given.requestId) : await tree.chooseRequest(arg, 'Deny a video request', pending);
        const reason =
          given?.reason ??
          (await vscode.window.showInputBox({
            title: `Deny the video request for ${cameraNames(request)}`,
            prompt: 'Why is it denied? The investigator reads this reason.',
            placeHolder: 'Reason (required)',
            ignoreFocusOut: true,
            validateInput: (v) => (v.length > 1000 ? 'At most 1000 characters.' : !v.trim() ? 'Tell the investigator why.' : undefined),
          }));
        if (reason === undefined) return;
        await connection.request('requests.deny', { request: request.requestId, reason: reason.trim() });
      }),
    ),
    vscode.commands.registerCommand('clearance.videoUnavailable', (arg: unknown) =>
      runReported(output, 'Answer video unavailable', async () => {
        // Scripts pass { requestId, reason? }: an empty reason takes the role's default wording.
        const given = withReason(arg);
        const request = given ? tree.request(given.requestId) : await tree.chooseRequest(arg, 'Answer "video unavailable" to a video request', pending);
        const reason =
          given?.reason ??
          (await vscode.window.showInputBox({
            title: `Answer "video unavailable" for ${cameraNames(request)}`,
            prompt: 'The site has no recordings for this request. Optional note for the investigator (why, for example "camera offline that night").',
            placeHolder: 'Note (optional)',
            ignoreFocusOut: true,
            validateInput: (v) => (v.length > 1000 ? 'At most 1000 characters.' : undefined),
          }));
        if (reason === undefined) return;
        await connection.request('requests.videoUnavailable', { request: request.requestId, ...(reason.trim() ? { reason: reason.trim() } : {}) });
      }),
    ),
    vscode.commands.registerCommand('clearance.custodyReport', (arg: unknown, target?: vscode.Uri) =>
      runReported(output, 'Save custody report', async () => {
        const request = await tree.chooseRequest(arg, 'Chain-of-custody report of a video request', () => true);
        const saved = await saveCustodyReport(connection, request.requestId, target);
        if (saved) void vscode.window.showInformationMessage(`Custody report saved: ${saved.html} (and ${saved.json}).`);
        return saved;
      }),
    ),
    vscode.commands.registerCommand('clearance.openRequest', (arg: unknown) =>
      runReported(output, 'Open video request', async () => openPanel((await tree.chooseRequest(arg, 'Open a video request', () => true)).requestId)),
    ),
  ];
}
