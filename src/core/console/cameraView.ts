// The Cameras tree as plain data: one node per federation, area and camera of
// the registry snapshot, with its check box (the selection) and what is
// published. Ids are the entity's kind and id only (never its state), so a
// refresh keeps the tree's expansion and selection. The index is built once
// per registry snapshot; a tree asks for children lazily, so 10,000 cameras
// cost one pass, not one per expanded node.
import type { CameraRegistrySnapshot, CameraTreeNode } from '../registry/cameraRegistry';
import type { SelectionKind } from '../registry/registrySelection';
import { plural } from './viewFormat';

/** Every text a view model gives is plain text: the UI shows it as it is, never as markdown or HTML. */
export type TextFormat = 'plain';

export const KIND_LABELS: Readonly<Record<SelectionKind, string>> = { camera: 'Camera', area: 'Area', federation: 'Federation' };

/** The view id of a registry entity: `camera:<id>`, `area:<id>`, `federation:<id>`. */
export function cameraNodeId(kind: SelectionKind, id: string): string {
  return `${kind}:${id}`;
}

export interface CameraNode {
  /** Stable: `camera:<id>`, `area:<id>` or `federation:<id>`. */
  id: string;
  kind: SelectionKind;
  /** The site's id of the camera, area or federation (for selection.add / selection.remove). */
  entityId: string;
  label: string;
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  /** Published because it, its area or its federation is selected. */
  checked: boolean;
  /** False when lockedBy: unchecking it is refused, the box must spring back. */
  checkable: boolean;
  /** Explicitly in the selection. */
  selected: boolean;
  /** The selected area or federation holding it; nodeId is that node's view id. */
  lockedBy?: { kind: SelectionKind; id: string; name: string; nodeId: string };
  /** Cameras: in the service's registry as of the last discovery answer. */
  published?: boolean;
  /** `camera`, `area` or `federation`, then ` selected` and ` locked` when they apply (for `viewItem =~ /\blocked\b/`). */
  contextValue: string;
  parentId?: string;
  childIds: string[];
}

/** A node with its (filtered) children nested. */
export interface CameraTreeView extends CameraNode {
  children: CameraTreeView[];
}

interface Counts {
  cameras: number;
  published: number;
}

function cameraDescription(n: CameraTreeNode): string {
  if (n.included) return n.published ? 'published' : 'selected, not yet published';
  return n.published ? 'deselected, still published' : '';
}

function cameraStateLine(n: CameraTreeNode): string {
  if (n.included) return n.published ? 'Published to Clearance' : 'Selected; not yet published to Clearance';
  return n.published ? "Deselected; still in Clearance's registry until the next publication" : 'Not selected';
}

function lockLine(n: CameraTreeNode): string | undefined {
  if (!n.lockedBy) return undefined;
  const holder = KIND_LABELS[n.lockedBy.kind].toLowerCase();
  return `Part of the selected ${holder} "${n.lockedBy.name}": remove that ${holder} to remove this ${n.kind}.`;
}

function groupDescription(n: CameraTreeNode, c: Counts): string {
  const state = n.selected ? 'selected' : n.lockedBy ? `selected with ${n.lockedBy.name}` : '';
  const count = c.published > 0 ? `${c.published} of ${c.cameras} published` : plural(c.cameras, 'camera');
  return state ? `${state} · ${count}` : count;
}

function groupTooltip(n: CameraTreeNode, c: Counts): string {
  const lines = [
    n.name,
    `${KIND_LABELS[n.kind]} · ${plural(c.cameras, 'camera')}, ${c.published} published`,
    n.selected ? `Selected: every camera in this ${n.kind} is published.` : n.lockedBy ? '' : 'Not selected',
    lockLine(n),
  ];
  return lines.filter((l): l is string => !!l).join('\n');
}

function cameraTooltip(n: CameraTreeNode): string {
  const lines = [n.name, n.location ? `Camera · ${n.location}` : 'Camera', cameraStateLine(n), lockLine(n)];
  return lines.filter((l): l is string => !!l).join('\n');
}

const normalize = (filter: string | undefined): string => (filter ?? '').trim().toLowerCase();

/**
 * The nodes of one registry snapshot by view id. Build one per snapshot (the
 * role sends a new one when the registry changes) and answer the tree from it.
 */
export class CameraIndex {
  private readonly nodes = new Map<string, CameraNode>();
  private readonly names = new Map<string, string>();
  private readonly rootIds: string[] = [];
  /** Cameras whose description and tooltip are not written yet: a tree asks for few of 10,000 at first. */
  private readonly unwritten = new Map<string, CameraTreeNode>();
  private cameras = 0;
  private lastFilter: { text: string; kept: ReadonlySet<string> } | undefined;

  constructor(readonly registry: CameraRegistrySnapshot) {
    for (const root of registry.tree) {
      if (this.add(root, undefined)) this.rootIds.push(cameraNodeId(root.kind, root.id));
    }
  }

  /** Nodes of every kind. */
  get size(): number {
    return this.nodes.size;
  }

  get cameraCount(): number {
    return this.cameras;
  }

  /** Cameras in the service's registry (the view's badge). */
  get publishedCount(): number {
    return publishedCount(this.registry);
  }

  node(id: string): CameraNode | undefined {
    const node = this.nodes.get(id);
    if (node) this.write(node);
    return node;
  }

  /** Every node id, in tree order. */
  ids(): IterableIterator<string> {
    return this.nodes.keys();
  }

  /**
   * The tree's shape (which nodes, under which parent, in which order), not
   * their check state or description: two indexes with the same key differ
   * only inside items, so a view can refresh items instead of the whole tree.
   */
  get structureKey(): string {
    let key = this.rootIds.join('\n');
    for (const n of this.nodes.values()) if (n.childIds.length) key += `\n${n.id}>${n.childIds.join(',')}`;
    return key;
  }

  /** For TreeDataProvider.getParent (reveal). */
  parent(id: string): CameraNode | undefined {
    const parentId = this.nodes.get(id)?.parentId;
    return parentId === undefined ? undefined : this.node(parentId);
  }

  roots(filter?: string): CameraNode[] {
    return this.pick(this.rootIds, filter);
  }

  /** The children of a node (none for an unknown id), filtered like roots. */
  children(id: string, filter?: string): CameraNode[] {
    return this.pick(this.nodes.get(id)?.childIds ?? [], filter);
  }

  /**
   * Whether a node shows under a filter (case-insensitive, on names): a node whose
   * name matches shows with everything inside it; an area or federation shows
   * when something inside it matches. An empty filter shows everything.
   */
  isVisible(id: string, filter?: string): boolean {
    const kept = this.kept(filter);
    return kept ? kept.has(id) : this.nodes.has(id);
  }

  /** The whole (filtered) tree, nested. */
  tree(filter?: string): CameraTreeView[] {
    const nest = (n: CameraNode): CameraTreeView => ({ ...n, children: this.children(n.id, filter).map(nest) });
    return this.roots(filter).map(nest);
  }

  private pick(ids: readonly string[], filter: string | undefined): CameraNode[] {
    const kept = this.kept(filter);
    const out: CameraNode[] = [];
    for (const id of ids) {
      if (kept && !kept.has(id)) continue;
      const n = this.node(id);
      if (n) out.push(n);
    }
    return out;
  }

  private write(node: CameraNode): void {
    const source = this.unwritten.get(node.id);
    if (!source) return;
    this.unwritten.delete(node.id);
    node.description = cameraDescription(source);
    node.tooltip = cameraTooltip(source);
  }

  /** Ids shown under a filter; undefined when nothing is filtered. Computed once per filter text. */
  private kept(filter: string | undefined): ReadonlySet<string> | undefined {
    const text = normalize(filter);
    if (!text) return undefined;
    if (this.lastFilter?.text === text) return this.lastFilter.kept;
    const kept = new Set<string>();
    const keepAll = (id: string): void => {
      kept.add(id);
      for (const c of this.nodes.get(id)?.childIds ?? []) keepAll(c);
    };
    const visit = (id: string): boolean => {
      if (this.names.get(id)!.toLowerCase().includes(text)) {
        keepAll(id);
        return true;
      }
      let any = false;
      for (const c of this.nodes.get(id)!.childIds) any = visit(c) || any;
      if (any) kept.add(id);
      return any;
    };
    for (const id of this.rootIds) visit(id);
    this.lastFilter = { text, kept };
    return kept;
  }

  /** Adds a node and its subtree; returns the counts below it, or undefined for a repeated id (skipped). */
  private add(n: CameraTreeNode, parentId: string | undefined): Counts | undefined {
    const id = cameraNodeId(n.kind, n.id);
    if (this.nodes.has(id)) return undefined;
    // Built field by field, without spreads: 10,000 of these make the tree's first render.
    const node: CameraNode = {
      id,
      kind: n.kind,
      entityId: n.id,
      label: n.name,
      description: '',
      tooltip: '',
      textFormat: 'plain',
      checked: n.included,
      checkable: !n.lockedBy,
      selected: n.selected,
      contextValue: n.selected ? (n.lockedBy ? `${n.kind} selected locked` : `${n.kind} selected`) : n.lockedBy ? `${n.kind} locked` : n.kind,
      childIds: [],
    };
    if (n.lockedBy) node.lockedBy = { kind: n.lockedBy.kind, id: n.lockedBy.id, name: n.lockedBy.name, nodeId: cameraNodeId(n.lockedBy.kind, n.lockedBy.id) };
    if (n.kind === 'camera') node.published = n.published === true;
    if (parentId !== undefined) node.parentId = parentId;
    this.nodes.set(id, node);
    this.names.set(id, n.name);
    const counts: Counts = { cameras: 0, published: 0 };
    if (n.kind === 'camera') {
      this.cameras++;
      counts.cameras = 1;
      counts.published = n.published ? 1 : 0;
      this.unwritten.set(id, n);
    }
    for (const child of n.children) {
      const below = this.add(child, id);
      if (!below) continue;
      node.childIds.push(cameraNodeId(child.kind, child.id));
      counts.cameras += below.cameras;
      counts.published += below.published;
    }
    if (n.kind !== 'camera') {
      node.description = groupDescription(n, counts);
      node.tooltip = groupTooltip(n, counts);
    }
    return counts;
  }
}

/** The Cameras tree, nested, filtered case-insensitively on names (see CameraIndex.isVisible). */
export function cameraNodes(registry: CameraRegistrySnapshot, filter?: string): CameraTreeView[] {
  return new CameraIndex(registry).tree(filter);
}

/** Cameras in the service's registry as of its last discovery answer (the Cameras view's badge). */
export function publishedCount(registry: CameraRegistrySnapshot): number {
  return registry.published?.cameras.length ?? 0;
}
