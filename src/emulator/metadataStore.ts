// The metadata persistence layer: named collections of JSON records, each a
// keyv namespace over one journal file. Reads come from an in-memory mirror
// loaded at open; every write is awaited through keyv (fsync'ed by the
// journal) before a route acknowledges it.
import * as path from 'node:path';
import Keyv from 'keyv';
import { JournalStore } from '../core/store/journalStore';

export class Collection<T> {
  private readonly items = new Map<string, T>();

  constructor(private readonly keyv: Keyv) {}

  /** Loads the records already in the journal. */
  async load(store: JournalStore, namespace: string): Promise<void> {
    for await (const [key, raw] of store.iterator<string>(namespace)) {
      const data = await this.keyv.deserializeData<T>(raw);
      if (data && data.value !== undefined) this.items.set(key.slice(namespace.length + 1), data.value as T);
    }
  }

  get(id: string): T | undefined {
    const v = this.items.get(id);
    return v === undefined ? undefined : structuredClone(v);
  }

  all(): T[] {
    return [...this.items.values()].map((v) => structuredClone(v));
  }

  entries(): [string, T][] {
    return [...this.items].map(([k, v]) => [k, structuredClone(v)]);
  }

  /** The live records, not copied: for scans that only read (a sweep on every request). */
  *scan(): IterableIterator<[string, Readonly<T>]> {
    yield* this.items;
  }

  size(): number {
    return this.items.size;
  }

  async put(id: string, value: T): Promise<void> {
    const copy = structuredClone(value);
    const ok = await this.keyv.set(id, copy);
    if (!ok) throw new Error(`could not persist ${this.keyv.namespace}/${id}`);
    this.items.set(id, copy);
  }

  async delete(id: string): Promise<void> {
    if (!this.items.has(id)) return;
    await this.keyv.delete(id);
    this.items.delete(id);
  }
}

export class MetadataStore {
  private readonly collections = new Map<string, Collection<unknown>>();

  private constructor(private readonly root: JournalStore) {}

  static open(location: string): MetadataStore {
    return new MetadataStore(new JournalStore({ path: path.join(location, 'metadata', 'metadata.journal') }));
  }

  get openReport(): JournalStore['openReport'] {
    return this.root.openReport;
  }

  async collection<T>(name: string): Promise<Collection<T>> {
    const existing = this.collections.get(name);
    if (existing) return existing as Collection<T>;
    const store = this.root.view();
    const keyv = new Keyv({ store, namespace: name, throwOnErrors: true });
    const c = new Collection<T>(keyv);
    await c.load(store, name);
    this.collections.set(name, c as Collection<unknown>);
    return c;
  }

  async close(): Promise<void> {
    await this.root.disconnect();
  }
}
