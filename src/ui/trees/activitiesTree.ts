// The Activities view: the role's newest trail records (the snapshot carries the
// last 50), newest first, each with its icon. A new record refreshes the list.
import * as vscode from 'vscode';
import { activityItems, type ActivityItem } from '../../core';
import type { ConnectionSlot } from './connectionSlot';
import { ConsoleTree, type Handle } from './consoleTree';

export const ACTIVITIES_VIEW_ID = 'clearance.activities';

interface ActivitiesModel {
  items: ActivityItem[];
  byId: Map<string, ActivityItem>;
}

export class ActivitiesTree extends ConsoleTree<ActivitiesModel> {
  readonly view: vscode.TreeView<Handle>;

  constructor(connection: ConnectionSlot) {
    super(connection, ['activities']);
    this.view = vscode.window.createTreeView(ACTIVITIES_VIEW_ID, { treeDataProvider: this });
    this.disposables.push(this.view);
    this.refresh();
  }

  getTreeItem(element: Handle): vscode.TreeItem {
    const a = this.model()?.byId.get(element.id);
    if (!a) return new vscode.TreeItem(element.id);
    const item = new vscode.TreeItem(a.label, vscode.TreeItemCollapsibleState.None);
    item.id = a.id;
    item.description = a.description;
    item.tooltip = a.tooltip; // plain string
    item.contextValue = a.contextValue;
    item.iconPath = new vscode.ThemeIcon(a.icon);
    return item;
  }

  getChildren(element?: Handle): Handle[] {
    const model = this.model();
    return model && !element ? this.handlesOf(model.items) : [];
  }

  protected build(): ActivitiesModel | undefined {
    const recent = this.connection.role?.snapshot.activities?.recent;
    if (!recent) return undefined;
    const items = activityItems(recent);
    return { items, byId: new Map(items.map((i) => [i.id, i])) };
  }
}
