// The role's side of the Clearance registry: the operator's selection (kept in
// the role state, so it survives a restart), what was last published to the
// service (the answer to its last discovery job), and a tree of the site's
// cameras for a UI to render.
import type Keyv from 'keyv';
import type { DiscoveredCamera, DiscoveryJobResult } from '../clearance/api';
import { ValidationError } from '../config/fieldErrors';
import { Emitter } from '../events';
import type { Camera, Site, SiteModel } from '../site/model';
import { RegistrySelection, type SelectionEntry, type SelectionKind } from './registrySelection';

const SELECTION_KEY = 'registry.selection';
const PUBLISHED_KEY = 'registry.published';

export interface PublishedRegistry {
  /** The cameras the service was told about, in site order. */
  cameras: DiscoveredCamera[];
  at: string;
  jobId: string;
}

export interface SelectionChange {
  kind: 'added' | 'removed';
  entry: SelectionEntry;
  /** Display name of the entry. */
  name: string;
  /** Effective cameras that joined or left the registry set. */
  camerasAdded: string[];
  camerasRemoved: string[];
}

export type CameraRegistryEvent = { kind: 'selection'; change: SelectionChange } | { kind: 'published'; published: PublishedRegistry };

export interface CameraTreeNode {
  kind: SelectionKind;
  id: string;
  name: string;
  location?: string;
  /** Explicitly in the selection. */
  selected: boolean;
  /** Published because it, its area or its federation is selected. */
  included: boolean;
  /** The selected area or federation holding it: it can only be removed with that one. */
  lockedBy?: { kind: SelectionKind; id: string; name: string };
  /** Cameras: in the service's registry as of the last discovery answer. */
  published?: boolean;
  children: CameraTreeNode[];
}

export interface CameraRegistrySnapshot {
  entries: SelectionEntry[];
  effectiveCameraIds: string[];
  published?: PublishedRegistry;
  /** The selection changed since the last discovery answer. */
  publishPending: boolean;
  tree: CameraTreeNode[];
}

export class CameraRegistry {
  private readonly events = new Emitter<CameraRegistryEvent>();
  readonly onDidChange = this.events.event;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly state: Keyv,
    private readonly site: Site,
    private current: RegistrySelection,
    private published: PublishedRegistry | undefined,
  ) {}

  static async open(state: Keyv, site: Site): Promise<CameraRegistry> {
    const selection = RegistrySelection.fromJSON(await state.get(SELECTION_KEY));
    const published = (await state.get(PUBLISHED_KEY)) as PublishedRegistry | undefined;
    return new CameraRegistry(state, site, selection, published);
  }

  get selection(): RegistrySelection {
    return this.current;
  }

  get lastPublished(): PublishedRegistry | undefined {
    return this.published;
  }

  /** Adds a camera, area or federation. Throws SelectionRefused for an unknown id; changes nothing then. */
  add(entry: SelectionEntry): Promise<SelectionChange | undefined> {
    return this.change('added', entry, (s, model) => s.add(entry, model));
  }

  /** Removes an entry; SelectionRefused for a camera or area held by a selected area or federation. */
  remove(entry: SelectionEntry): Promise<SelectionChange | undefined> {
    return this.change('removed', entry, (s, model) => s.remove(entry, model));
  }

  /** A selection entry by id or name; an unknown one is a field error. */
  async resolveEntry(kind: SelectionKind, text: string): Promise<SelectionEntry> {
    const model = await this.site.model();
    const list: { id: string; name: string }[] = kind === 'camera' ? model.cameras : kind === 'area' ? model.areas : model.federations;
    const found = list.find((x) => x.id === text) ?? list.find((x) => x.name === text);
    if (!found) throw new ValidationError(`The ${kind}`, [{ field: 'id', message: `no ${kind} ${JSON.stringify(text)} on this site` }]);
    return { kind, id: found.id };
  }

  async effectiveCameras(): Promise<Camera[]> {
    return this.current.effectiveCameras(await this.site.model());
  }

  async includes(cameraId: string): Promise<boolean> {
    return (await this.effectiveCameras()).some((c) => c.id === cameraId);
  }

  /** The answer to a discovery job: every camera of the selection. */
  async discoveryResult(): Promise<DiscoveryJobResult> {
    return {
      cameras: (await this.effectiveCameras()).map((c) => (c.location ? { id: c.id, name: c.name, location: c.location } : { id: c.id, name: c.name })),
    };
  }

  /** Records what the service accepted. */
  markPublished(jobId: string, result: DiscoveryJobResult, at: Date): Promise<PublishedRegistry> {
    return this.serialize(async () => {
      const published: PublishedRegistry = { cameras: result.cameras, at: at.toISOString(), jobId };
      await this.save(PUBLISHED_KEY, published);
      this.published = published;
      this.events.fire({ kind: 'published', published });
      return published;
    });
  }

  async publishPending(): Promise<boolean> {
    const effective = (await this.discoveryResult()).cameras;
    const last = this.published?.cameras;
    if (!last) return true;
    return JSON.stringify(effective) !== JSON.stringify(last);
  }

  async snapshot(): Promise<CameraRegistrySnapshot> {
    const model = await this.site.model();
    const effective = this.current.effectiveCameras(model).map((c) => c.id);
    return {
      entries: this.current.toJSON(),
      effectiveCameraIds: effective,
      ...(this.published ? { published: this.published } : {}),
      publishPending: await this.publishPending(),
      tree: buildTree(model, this.current, new Set(effective), new Set(this.published?.cameras.map((c) => c.id) ?? [])),
    };
  }

  dispose(): void {
    this.events.dispose();
  }

  private change(
    kind: SelectionChange['kind'],
    entry: SelectionEntry,
    apply: (s: RegistrySelection, model: SiteModel) => RegistrySelection,
  ): Promise<SelectionChange | undefined> {
    return this.serialize(async () => {
      const model = await this.site.model();
      const next = apply(this.current, model);
      if (next === this.current) return undefined;
      const before = new Set(this.current.effectiveCameras(model).map((c) => c.id));
      const after = new Set(next.effectiveCameras(model).map((c) => c.id));
      await this.save(SELECTION_KEY, next.toJSON());
      this.current = next;
      const change: SelectionChange = {
        kind,
        entry: { kind: entry.kind, id: entry.id },
        name: nameOf(entry, model),
        camerasAdded: [...after].filter((id) => !before.has(id)),
        camerasRemoved: [...before].filter((id) => !after.has(id)),
      };
      this.events.fire({ kind: 'selection', change });
      return change;
    });
  }

  private async save(key: string, value: unknown): Promise<void> {
    if (!(await this.state.set(key, value))) throw new Error(`Could not save ${key} in the role state.`);
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function nameOf(entry: SelectionEntry, model: SiteModel): string {
  const list: { id: string; name: string }[] = entry.kind === 'camera' ? model.cameras : entry.kind === 'area' ? model.areas : model.federations;
  return list.find((x) => x.id === entry.id)?.name ?? entry.id;
}

function buildTree(model: SiteModel, selection: RegistrySelection, effective: Set<string>, published: Set<string>): CameraTreeNode[] {
  const holder = (entry: SelectionEntry): CameraTreeNode['lockedBy'] => {
    const h = selection.heldBy(entry, model);
    return h ? { kind: h.kind, id: h.id, name: nameOf(h, model) } : undefined;
  };
  const cameraNode = (c: Camera): CameraTreeNode => {
    const entry: SelectionEntry = { kind: 'camera', id: c.id };
    const lockedBy = holder(entry);
    return {
      kind: 'camera',
      id: c.id,
      name: c.name,
      ...(c.location ? { location: c.location } : {}),
      selected: selection.has(entry),
      included: effective.has(c.id),
      ...(lockedBy ? { lockedBy } : {}),
      published: published.has(c.id),
      children: [],
    };
  };
  const camerasById = new Map(model.cameras.map((c) => [c.id, c]));
  const areaNode = (areaId: string): CameraTreeNode | undefined => {
    const a = model.areas.find((x) => x.id === areaId);
    if (!a) return undefined;
    const entry: SelectionEntry = { kind: 'area', id: a.id };
    const lockedBy = holder(entry);
    const selected = selection.has(entry);
    return {
      kind: 'area',
      id: a.id,
      name: a.name,
      selected,
      included: selected || lockedBy !== undefined,
      ...(lockedBy ? { lockedBy } : {}),
      children: a.cameraIds.flatMap((id) => (camerasById.has(id) ? [cameraNode(camerasById.get(id)!)] : [])),
    };
  };
  const roots: CameraTreeNode[] = [];
  for (const f of model.federations) {
    const selected = selection.has({ kind: 'federation', id: f.id });
    roots.push({
      kind: 'federation',
      id: f.id,
      name: f.name,
      selected,
      included: selected,
      children: [
        ...f.areaIds.flatMap((id) => {
          const n = areaNode(id);
          return n ? [n] : [];
        }),
        ...f.directCameraIds.flatMap((id) => (camerasById.has(id) ? [cameraNode(camerasById.get(id)!)] : [])),
      ],
    });
  }
  for (const a of model.areas.filter((x) => !x.federationId)) {
    const n = areaNode(a.id);
    if (n) roots.push(n);
  }
  for (const c of model.cameras.filter((x) => !x.areaId && !x.federationId)) roots.push(cameraNode(c));
  return roots;
}
