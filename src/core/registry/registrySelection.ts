// Which cameras the role publishes to the Clearance registry. Operators pick
// cameras, areas or federations; an area or federation once selected can only be
// removed whole, never one camera inside it (the vendor's rule: docs/clearance-api.md §1.4).
import type { Camera, SiteModel } from '../site/model';

export type SelectionKind = 'camera' | 'area' | 'federation';

export interface SelectionEntry {
  kind: SelectionKind;
  id: string;
}

export class SelectionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectionRefused';
  }
}

const sameEntry = (a: SelectionEntry, b: SelectionEntry) => a.kind === b.kind && a.id === b.id;

/** An immutable selection: every change returns a new one, so the caller owns persistence and publishing. */
export class RegistrySelection {
  private constructor(readonly entries: readonly SelectionEntry[]) {}

  static empty(): RegistrySelection {
    return new RegistrySelection([]);
  }

  /** Restores a persisted selection, dropping malformed entries and duplicates. */
  static fromJSON(value: unknown): RegistrySelection {
    const entries: SelectionEntry[] = [];
    if (Array.isArray(value)) {
      for (const item of value) {
        const e = item as Partial<SelectionEntry>;
        if ((e.kind === 'camera' || e.kind === 'area' || e.kind === 'federation') && typeof e.id === 'string' && e.id) {
          if (!entries.some((x) => sameEntry(x, e as SelectionEntry))) entries.push({ kind: e.kind, id: e.id });
        }
      }
    }
    return new RegistrySelection(entries);
  }

  toJSON(): SelectionEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  has(entry: SelectionEntry): boolean {
    return this.entries.some((e) => sameEntry(e, entry));
  }

  add(entry: SelectionEntry, site: SiteModel): RegistrySelection {
    describe(entry, site); // throws for an unknown id
    if (this.has(entry)) return this;
    return new RegistrySelection([...this.entries, { kind: entry.kind, id: entry.id }]);
  }

  /** Removes an entry; refuses a camera or area that a selected area or federation holds. */
  remove(entry: SelectionEntry, site: SiteModel): RegistrySelection {
    const holder = this.heldBy(entry, site);
    if (holder) {
      throw new SelectionRefused(
        `${describe(entry, site)} is part of ${describe(holder, site)}, which is in the selection: ` +
          `remove the whole ${holder.kind} instead.`,
      );
    }
    if (!this.has(entry)) return this;
    return new RegistrySelection(this.entries.filter((e) => !sameEntry(e, entry)));
  }

  /** The selected area or federation that holds `entry`, if any. */
  heldBy(entry: SelectionEntry, site: SiteModel): SelectionEntry | undefined {
    if (entry.kind === 'federation') return undefined;
    for (const e of this.entries) {
      if (e.kind === 'area' && entry.kind === 'camera') {
        if (site.areas.find((a) => a.id === e.id)?.cameraIds.includes(entry.id)) return e;
      }
      if (e.kind === 'federation') {
        const federation = site.federations.find((f) => f.id === e.id);
        if (entry.kind === 'camera' && federation?.cameraIds.includes(entry.id)) return e;
        if (entry.kind === 'area' && federation?.areaIds.includes(entry.id)) return e;
      }
    }
    return undefined;
  }

  /** The cameras published: the union of every entry, in site order. Unknown ids (removed from the site) are ignored. */
  effectiveCameras(site: SiteModel): Camera[] {
    const ids = new Set<string>();
    for (const e of this.entries) {
      if (e.kind === 'camera') ids.add(e.id);
      if (e.kind === 'area') site.areas.find((a) => a.id === e.id)?.cameraIds.forEach((id) => ids.add(id));
      if (e.kind === 'federation') site.federations.find((f) => f.id === e.id)?.cameraIds.forEach((id) => ids.add(id));
    }
    return site.cameras.filter((c) => ids.has(c.id));
  }
}

function describe(entry: SelectionEntry, site: SiteModel): string {
  const list = entry.kind === 'camera' ? site.cameras : entry.kind === 'area' ? site.areas : site.federations;
  const found = (list as { id: string; name: string }[]).find((x) => x.id === entry.id);
  if (!found) throw new SelectionRefused(`There is no ${entry.kind} with id ${JSON.stringify(entry.id)} on this site.`);
  return `${entry.kind} "${found.name}"`;
}
