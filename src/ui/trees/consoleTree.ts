// What the four trees share: stable element handles, a model rebuilt from the
// role's state after a (debounced) change, and the rule that nothing shows while
// nobody is signed in (the view's welcome content shows instead).
//
// Elements are handles `{ id }` kept by view id, never the view-model objects:
// VS Code refreshes one element by identity, so firing the handle it got from
// getChildren re-renders that item from the newest model.
import * as vscode from 'vscode';
import type { StateChange, StatePart } from '../../core';
import type { ConnectionSlot } from './connectionSlot';

/** A tree element: the view model's stable id (`camera:…`, `request:…`, `upload:…`). */
export interface Handle {
  readonly id: string;
}

export const REFRESH_DELAY_MS = 100;

export abstract class ConsoleTree<M> implements vscode.TreeDataProvider<Handle>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Handle | Handle[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  protected readonly disposables: vscode.Disposable[] = [this.changed];
  private readonly handles = new Map<string, Handle>();
  private cache: { model: M | undefined; role: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pendingFull = false;
  private readonly pendingIds = new Set<string>();

  constructor(
    protected readonly connection: ConnectionSlot,
    /** The state parts this tree shows. */
    private readonly parts: readonly StatePart[],
  ) {
    this.disposables.push(
      connection.onDidChange((change) => {
        if (change.parts.size > 0 && this.parts.some((p) => change.parts.has(p))) this.onStateChange(change);
      }),
      connection.onDidChangeAttachment(() => this.refresh()),
    );
  }

  /** Rebuilds everything (soon: changes within REFRESH_DELAY_MS render once). */
  refresh(): void {
    this.pendingFull = true;
    this.schedule();
  }

  abstract getTreeItem(element: Handle): vscode.TreeItem;
  abstract getChildren(element?: Handle): Handle[];

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  // ---------------------------------------------------------------------------

  protected get signedIn(): boolean {
    return this.connection.state === 'signedIn' && this.connection.role !== undefined;
  }

  /** The model of the current state; undefined while nobody is signed in. Built once per render. */
  protected model(): M | undefined {
    // A new subscription (signed in again) is a new ConsoleState: never answer from the old one.
    const role = this.signedIn ? this.connection.role : undefined;
    if (!this.cache || this.cache.role !== role) this.cache = { model: role ? this.build() : undefined, role };
    return this.cache.model;
  }

  /** Builds the model from `this.connection.role` (called only when signed in). */
  protected abstract build(): M | undefined;

  /**
   * What decides whether a change can refresh single items: the ids in display
   * order. A change that alters it (an item added, removed, moved to another
   * group) refreshes the whole tree. Default: always the whole tree.
   */
  protected structure(_model: M | undefined): string | undefined {
    return undefined;
  }

  /** After every render: badges, messages, context keys. */
  protected rendered(_model: M | undefined): void {}

  /** Default: the whole tree. Trees that can refresh items call refreshItems. */
  protected onStateChange(_change: StateChange): void {
    this.refresh();
  }

  /** Refreshes these items (view ids) soon, or the whole tree if its structure changed meanwhile. */
  protected refreshItems(ids: Iterable<string>): void {
    for (const id of ids) this.pendingIds.add(id);
    this.schedule();
  }

  /** The handle of a view id: the same object every time, so VS Code can refresh it alone. */
  protected handle(id: string): Handle {
    let h = this.handles.get(id);
    if (!h) {
      h = { id };
      this.handles.set(id, h);
    }
    return h;
  }

  protected handlesOf(nodes: readonly { id: string }[]): Handle[] {
    return nodes.map((n) => this.handle(n.id));
  }

  /** Renders these elements again now, from the current model (e.g. a check box that must spring back). */
  protected rerender(elements: Handle[]): void {
    if (elements.length > 0) this.changed.fire(elements);
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, REFRESH_DELAY_MS);
  }

  private flush(): void {
    const full = this.pendingFull;
    const ids = [...this.pendingIds];
    this.pendingFull = false;
    this.pendingIds.clear();
    const before = this.cache;
    this.cache = undefined;
    const model = this.model();
    const shape = this.structure(model);
    if (full || !before || shape === undefined || shape !== this.structure(before.model)) {
      // VS Code forgets its elements on a root refresh; so do we.
      this.handles.clear();
      this.changed.fire(undefined);
    } else {
      const known = ids.map((id) => this.handles.get(id)).filter((h): h is Handle => h !== undefined);
      if (known.length > 0) this.changed.fire(known);
    }
    this.rendered(model);
  }
}

/** A handle's view-model item, or an error naming what to choose. */
export function required<T>(item: T | undefined, what: string): T {
  if (item === undefined) throw new Error(`Choose ${what} in its view first.`);
  return item;
}
