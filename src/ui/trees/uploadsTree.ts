// The Uploads view: jobs still to do in queue order, finished ones under History,
// and the operator's controls (pause, resume, retry, cancel after a modal
// confirmation, clear finished, reveal the staging folder). Progress events
// refresh the one item that moved; a job changing place refreshes the tree.
import * as vscode from 'vscode';
import { uploadItems, type StateChange, type UploadAction, type UploadItem, type UploadRoot } from '../../core';
import type { ConnectionSlot } from './connectionSlot';
import { ConsoleTree, type Handle } from './consoleTree';
import { plainMessage, runReported } from '../report';

export const UPLOADS_VIEW_ID = 'clearance.uploads';
/** True when the signed-in user sees the role's archive (staging) folder. */
export const STAGING_FOLDER_CONTEXT = 'clearance.stagingFolderKnown';

interface UploadsModel {
  roots: UploadRoot[];
  byId: Map<string, { node: UploadRoot; parentId?: string }>;
  stagingFolder: string | undefined;
}

const uploadViewId = (jobId: string): string => `upload:${jobId}`;

export class UploadsTree extends ConsoleTree<UploadsModel> {
  readonly view: vscode.TreeView<Handle>;
  private stagingKnown: boolean | undefined;

  constructor(
    connection: ConnectionSlot,
    private readonly output: vscode.LogOutputChannel,
  ) {
    super(connection, ['uploads', 'properties']);
    this.view = vscode.window.createTreeView(UPLOADS_VIEW_ID, { treeDataProvider: this });
    this.disposables.push(this.view);
    this.refresh();
  }

  getTreeItem(element: Handle): vscode.TreeItem {
    const node = this.model()?.byId.get(element.id)?.node;
    if (!node) return new vscode.TreeItem(element.id);
    const item = new vscode.TreeItem(node.label, node.type === 'history' ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip; // plain string
    item.contextValue = node.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.icon);
    return item;
  }

  getChildren(element?: Handle): Handle[] {
    const model = this.model();
    if (!model) return [];
    if (!element) return this.handlesOf(model.roots);
    const node = model.byId.get(element.id)?.node;
    return node?.type === 'history' ? this.handlesOf(node.items) : [];
  }

  getParent(element: Handle): Handle | undefined {
    const parentId = this.model()?.byId.get(element.id)?.parentId;
    return parentId ? this.handle(parentId) : undefined;
  }

  /** The job a command was given: a tree element, a job id, or nothing (the selection). */
  job(arg: unknown): UploadItem {
    const model = this.model();
    if (!model) throw new Error('Sign in to the Clearance role first.');
    let viewId: string | undefined;
    if (typeof arg === 'string') viewId = uploadViewId(arg);
    else if (typeof arg === 'object' && arg !== null && typeof (arg as Handle).id === 'string') viewId = (arg as Handle).id;
    else viewId = this.view.selection.find((h) => h.id.startsWith('upload:'))?.id;
    const node = viewId === undefined ? undefined : model.byId.get(viewId)?.node;
    if (node?.type !== 'upload') throw new Error(viewId === undefined ? 'Choose an upload in the Uploads view first.' : 'This upload is no longer in the queue.');
    return node;
  }

  /** The role's archive destination folder, when this user may see the role properties. */
  get stagingFolder(): string | undefined {
    return this.model()?.stagingFolder;
  }

  // ---------------------------------------------------------------------------

  protected build(): UploadsModel | undefined {
    const role = this.connection.role;
    if (!role) return undefined;
    const roots = uploadItems(role.uploads);
    const byId = new Map<string, { node: UploadRoot; parentId?: string }>();
    for (const root of roots) {
      byId.set(root.id, { node: root });
      if (root.type === 'history') for (const item of root.items) byId.set(item.id, { node: item, parentId: root.id });
    }
    const folder = role.snapshot.properties?.archiveDestinationFolder;
    return { roots, byId, stagingFolder: folder ? folder : undefined };
  }

  protected override structure(model: UploadsModel | undefined): string | undefined {
    if (!model) return '';
    return JSON.stringify(model.roots.map((r) => (r.type === 'history' ? [r.id, r.description, r.items.map((i) => i.id)] : r.id)));
  }

  protected override onStateChange(change: StateChange): void {
    if (change.parts.has('properties')) this.refresh();
    else this.refreshItems(change.uploadIds.map(uploadViewId));
  }

  protected override rendered(model: UploadsModel | undefined): void {
    const known = model?.stagingFolder !== undefined;
    if (known === this.stagingKnown) return;
    this.stagingKnown = known;
    void vscode.commands.executeCommand('setContext', STAGING_FOLDER_CONTEXT, known).then(undefined, (e: unknown) =>
      this.output.warn(`Could not set ${STAGING_FOLDER_CONTEXT}: ${String(e)}`),
    );
  }
}

const ACTION_TITLES: Readonly<Record<Exclude<UploadAction, 'cancel'>, string>> = { pause: 'Pause upload', resume: 'Resume upload', retry: 'Retry upload' };

/** The upload commands; the job ones take a tree element or a job id. */
export function registerUploadCommands(tree: UploadsTree, connection: ConnectionSlot, output: vscode.LogOutputChannel): vscode.Disposable[] {
  const simple = (['pause', 'resume', 'retry'] as const).map((action) =>
    vscode.commands.registerCommand(`clearance.${action}Upload`, (arg: unknown) =>
      runReported(output, ACTION_TITLES[action], async () => {
        await connection.request(`uploads.${action}`, { id: tree.job(arg).jobId });
      }),
    ),
  );
  return [
    ...simple,
    vscode.commands.registerCommand('clearance.cancelUpload', (arg: unknown, confirmed?: unknown) =>
      runReported(output, 'Cancel upload', async () => {
        const job = tree.job(arg);
        // Scripts pass (jobId, true): they have asked already.
        if (confirmed === true) return connection.request('uploads.cancel', { id: job.jobId });
        const cancel = 'Stop Upload';
        const answer = await vscode.window.showWarningMessage(
          plainMessage(`Cancel the upload "${job.label}"?`),
          { modal: true, detail: 'The upload stops for good: its staged files are deleted and the incomplete evidence is removed from Clearance.' },
          cancel,
        );
        if (answer !== cancel) return undefined;
        return connection.request('uploads.cancel', { id: job.jobId });
      }),
    ),
    vscode.commands.registerCommand('clearance.clearFinishedUploads', () =>
      runReported(output, 'Clear finished uploads', async () => {
        const { cleared } = await connection.request<{ cleared: number }>('uploads.clearFinished');
        vscode.window.setStatusBarMessage(`Clearance: ${cleared} finished ${cleared === 1 ? 'upload' : 'uploads'} cleared`, 4000);
      }),
    ),
    vscode.commands.registerCommand('clearance.revealStagingFolder', () =>
      runReported(output, 'Reveal staging folder', async () => {
        const folder = tree.stagingFolder;
        if (!folder) throw new Error('The role does not show its staging folder to this site user (it needs the View plugin configuration privilege).');
        const uri = vscode.Uri.file(folder);
        await vscode.workspace.fs.stat(uri); // a clear error when it does not exist (yet)
        await vscode.commands.executeCommand('revealFileInOS', uri);
      }),
    ),
  ];
}
