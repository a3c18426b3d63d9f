// The Cameras view: federations › areas › cameras of the role's registry, a check
// box per node for the registry selection (the role decides; a refused change
// springs back), a name filter, and the published count as the badge.
// Every text comes from the view model (CameraIndex) and is plain text.
import * as vscode from 'vscode';
import { CameraIndex, type CameraNode } from '../../core';
import type { ConnectionSlot } from './connectionSlot';
import { ConsoleTree, type Handle } from './consoleTree';
import { runReported } from '../report';

export const CAMERAS_VIEW_ID = 'clearance.cameras';
/** True while a name filter narrows the Cameras view (for the Clear Filter button). */
export const CAMERAS_FILTERED_CONTEXT = 'clearance.camerasFiltered';

export class CamerasTree extends ConsoleTree<CameraIndex> {
  readonly view: vscode.TreeView<Handle>;
  private filter: string | undefined;
  private indexed: { registry: object; index: CameraIndex } | undefined;

  constructor(
    connection: ConnectionSlot,
    private readonly output: vscode.LogOutputChannel,
  ) {
    super(connection, ['registry']);
    this.view = vscode.window.createTreeView(CAMERAS_VIEW_ID, { treeDataProvider: this, manageCheckboxStateManually: true, showCollapseAll: true });
    this.disposables.push(
      this.view,
      this.view.onDidChangeCheckboxState((e) => {
        void this.applyCheckboxes(e.items);
      }),
    );
    this.refresh();
  }

  /** The name filter (case-insensitive); undefined or blank shows everything. */
  get currentFilter(): string | undefined {
    return this.filter;
  }

  setFilter(text: string | undefined): void {
    const next = text?.trim() ? text.trim() : undefined;
    if (next === this.filter) return;
    this.filter = next;
    void vscode.commands.executeCommand('setContext', CAMERAS_FILTERED_CONTEXT, next !== undefined).then(undefined, (e: unknown) =>
      this.output.warn(`Could not set ${CAMERAS_FILTERED_CONTEXT}: ${String(e)}`),
    );
    this.refresh();
  }

  /** The node of a handle, as the tree shows it now. */
  node(element: Handle): CameraNode | undefined {
    return this.model()?.node(element.id);
  }

  getTreeItem(element: Handle): vscode.TreeItem {
    const node = this.node(element);
    if (!node) return new vscode.TreeItem(element.id);
    const item = new vscode.TreeItem(node.label, this.collapsible(node));
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip; // plain string: never a MarkdownString (names come from the service)
    item.contextValue = node.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.kind === 'camera' ? 'device-camera' : node.kind === 'area' ? 'folder' : 'organization');
    const state = node.checked ? vscode.TreeItemCheckboxState.Checked : vscode.TreeItemCheckboxState.Unchecked;
    item.checkboxState = node.lockedBy
      ? { state, tooltip: `Published with ${node.lockedBy.name}: remove that ${node.lockedBy.kind} to remove this ${node.kind}.` }
      : { state, tooltip: node.checked ? `Remove this ${node.kind} from the registry selection` : `Publish this ${node.kind} to Clearance` };
    return item;
  }

  getChildren(element?: Handle): Handle[] {
    const index = this.model();
    if (!index) return [];
    return this.handlesOf(element ? index.children(element.id, this.filter) : index.roots(this.filter));
  }

  getParent(element: Handle): Handle | undefined {
    const parent = this.model()?.parent(element.id);
    return parent ? this.handle(parent.id) : undefined;
  }

  // ---------------------------------------------------------------------------

  /** Under a filter, a group shown for what is inside it opens; one whose own name matches stays closed. */
  private collapsible(node: CameraNode): vscode.TreeItemCollapsibleState {
    if (node.childIds.length === 0) return vscode.TreeItemCollapsibleState.None;
    const shownForChildren = this.filter !== undefined && !node.label.toLowerCase().includes(this.filter.toLowerCase());
    return shownForChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
  }

  protected build(): CameraIndex | undefined {
    const registry = this.connection.role?.snapshot.registry;
    if (!registry) return undefined;
    if (this.indexed?.registry !== registry) this.indexed = { registry, index: new CameraIndex(registry) };
    return this.indexed.index;
  }

  // A registry change usually changes check states and descriptions only: refresh
  // those items, not the root (a root refresh drops a check box ticked meanwhile).
  protected override structure(index: CameraIndex | undefined): string | undefined {
    return index ? `${this.filter ?? ''}\n${index.structureKey}` : '';
  }

  protected override onStateChange(): void {
    const index = this.model();
    if (index) this.refreshItems(index.ids());
    else this.refresh();
  }

  protected override rendered(index: CameraIndex | undefined): void {
    const published = index?.publishedCount ?? 0;
    this.view.badge = published > 0 ? { value: published, tooltip: `${published} ${published === 1 ? 'camera' : 'cameras'} published to Clearance` } : undefined;
    this.view.description = this.filter ? `filter: ${this.filter}` : undefined;
    this.view.message = index && this.filter && index.roots(this.filter).length === 0 ? `No federation, area or camera name contains "${this.filter}".` : undefined;
  }

  /** Sends each changed box to the role, in order; a refused one springs back to the state. */
  async applyCheckboxes(items: ReadonlyArray<readonly [Handle, vscode.TreeItemCheckboxState]>): Promise<void> {
    for (const [element, state] of items) {
      const node = this.node(element);
      if (!node) continue;
      const add = state === vscode.TreeItemCheckboxState.Checked;
      if (add === node.checked) continue;
      const kind = node.kind;
      const title = add ? `Publish ${kind} "${node.label}"` : `Remove ${kind} "${node.label}" from the selection`;
      await runReported(this.output, title, async () => {
        try {
          await this.connection.request(add ? 'selection.add' : 'selection.remove', { kind, id: node.entityId });
        } catch (error) {
          this.rerender([element]);
          throw error;
        }
      });
    }
  }
}

/** clearance.filterCameras and clearance.clearCameraFilter. */
export function registerCameraCommands(tree: CamerasTree, output: vscode.LogOutputChannel): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('clearance.filterCameras', (given?: unknown) =>
      runReported(output, 'Filter cameras', async () => {
        const text = typeof given === 'string' ? given : await vscode.window.showInputBox({
          title: 'Filter Cameras',
          prompt: 'Show the federations, areas and cameras whose name contains this text (empty: show all).',
          placeHolder: 'e.g. Lobby',
          value: tree.currentFilter ?? '',
        });
        if (text !== undefined) tree.setFilter(text);
      }),
    ),
    vscode.commands.registerCommand('clearance.clearCameraFilter', () => tree.setFilter(undefined)),
  ];
}
