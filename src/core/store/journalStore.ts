// A keyv 5 storage adapter over an append-only JSON-lines journal.
//
// Every write is appended and fsync'ed before its promise resolves, so an
// acknowledged write survives kill -9 or a power cut. Opening the journal
// replays it, drops a torn last line (a crash in the middle of an append), and
// compacts it: the live entries are written to a temp file, fsync'ed, and
// renamed over the journal. Pure JS on purpose: the same store persists the
// extension's upload queue, and nothing native may go into that bundle.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One journal line. */
type JournalEntry =
  | { op: 'set'; k: string; v: unknown; e?: number } // e: absolute expiry, ms since epoch
  | { op: 'del'; k: string }
  | { op: 'clear'; ns: string | null };

interface StoredValue {
  value: unknown;
  expires?: number;
}

export interface JournalStoreOptions {
  /** File of the journal; its folder is created if missing. */
  path: string;
  /** Clock for store-level ttl (keyv itself also checks expiry in its envelope). */
  now?: () => number;
}

export interface JournalOpenReport {
  /** Lines replayed from the journal. */
  linesRead: number;
  /** True when the last line was torn (incomplete) and dropped. */
  tornTail: boolean;
  /** Live keys after replay. */
  liveKeys: number;
}

/**
 * The live entries of a journal file, read without opening it for writing (no
 * repair, no compaction): what `JournalStore` would load. A console peeks with
 * it at the state of a role that is not running.
 */
export function readJournal(file: string, now: () => number = Date.now): { entries: Map<string, StoredValue>; report: JournalOpenReport } {
  const entries = new Map<string, StoredValue>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries, report: { linesRead: 0, tornTail: false, liveKeys: 0 } };
    throw err;
  }
  const lines = text.split('\n');
  // Text after the last newline was never acknowledged: the append that wrote
  // it had not returned from fsync.
  const tail = lines.pop() ?? '';
  let tornTail = tail.length > 0;
  let linesRead = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    let entry: JournalEntry;
    try {
      entry = JSON.parse(line) as JournalEntry;
    } catch {
      // A torn append followed only by blank padding is still the tail.
      if (lines.slice(i + 1).every((l) => l.trim() === '')) {
        tornTail = true;
        break;
      }
      throw new Error(`journal ${file}: line ${i + 1} is not valid JSON (corrupt journal, not a torn tail)`);
    }
    applyEntry(entries, entry);
    linesRead++;
  }
  const at = now();
  for (const [k, v] of entries) if (v.expires !== undefined && v.expires <= at) entries.delete(k);
  return { entries, report: { linesRead, tornTail, liveKeys: entries.size } };
}

function applyEntry(entries: Map<string, StoredValue>, entry: JournalEntry): void {
  switch (entry.op) {
    case 'set':
      entries.set(entry.k, entry.e === undefined ? { value: entry.v } : { value: entry.v, expires: entry.e });
      break;
    case 'del':
      entries.delete(entry.k);
      break;
    case 'clear':
      if (entry.ns === null) entries.clear();
      else for (const k of [...entries.keys()]) if (k.startsWith(`${entry.ns}:`)) entries.delete(k);
      break;
  }
}

/**
 * The file and the in-memory index, shared by every adapter view over the same
 * journal (one view per keyv namespace).
 */
class Journal {
  readonly entries = new Map<string, StoredValue>();
  readonly report: JournalOpenReport;
  private fd: number;
  private pending: { line: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing = false;
  private closed = false;

  constructor(
    readonly file: string,
    readonly now: () => number,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.report = this.replay();
    this.compact();
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  private replay(): JournalOpenReport {
    const { entries, report } = readJournal(this.file, this.now);
    for (const [k, v] of entries) this.entries.set(k, v);
    return report;
  }

  private apply(entry: JournalEntry): void {
    applyEntry(this.entries, entry);
  }

  /** Rewrites the journal with only the live entries (temp + fsync + rename). */
  private compact(): void {
    const tmp = `${this.file}.compact-${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      const chunks: string[] = [];
      for (const [k, v] of this.entries) {
        const entry: JournalEntry = v.expires === undefined ? { op: 'set', k, v: v.value } : { op: 'set', k, v: v.value, e: v.expires };
        chunks.push(JSON.stringify(entry) + '\n');
        if (chunks.length >= 1024) fs.writeSync(fd, chunks.splice(0).join(''));
      }
      if (chunks.length) fs.writeSync(fd, chunks.join(''));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    syncDirectory(path.dirname(this.file));
  }

  /** Applies the entry in memory, appends it, and resolves after fsync. */
  append(entry: JournalEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`journal ${this.file} is closed`));
    const line = JSON.stringify(entry) + '\n';
    this.apply(entry);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  // Group commit: every write that arrives while an fsync runs shares the next one.
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0);
        try {
          const buf = Buffer.from(batch.map((b) => b.line).join(''), 'utf8');
          await writeAll(this.fd, buf);
          await new Promise<void>((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(e) : res())));
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.pending.length) await new Promise((r) => setImmediate(r));
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      fs.write(fd, buf, offset, buf.length - offset, null, (err, written) => {
        if (err) return reject(err);
        if (offset + written < buf.length) step(offset + written);
        else resolve();
      });
    };
    step(0);
  });
}

function syncDirectory(dir: string): void {
  // The rename is durable only once the directory entry is; not every
  // platform lets a directory be opened for fsync, and then there is nothing to do.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * keyv 5 storage adapter (`new Keyv({ store })`). Keys arrive already prefixed
 * by keyv with `<namespace>:`; `clear()` clears only this adapter's namespace.
 * Use `view()` to get an adapter for another keyv namespace over the same file.
 */
export class JournalStore extends EventEmitter {
  /** keyv reads `opts`; `dialect` names this adapter (not one keyv iterates itself). */
  readonly opts: { dialect: 'journal'; url: string };
  namespace?: string;
  private readonly journal: Journal;

  constructor(options: JournalStoreOptions | Journal) {
    super();
    this.journal = options instanceof Journal ? options : new Journal(path.resolve(options.path), options.now ?? Date.now);
    this.opts = { dialect: 'journal', url: `journal://${this.journal.file}` };
  }

  /** What opening the journal found (torn tail, replayed lines). */
  get openReport(): JournalOpenReport {
    return this.journal.report;
  }

  /** Another adapter over the same journal, for a second keyv namespace. */
  /** The journal file. */
  get path(): string {
    return this.journal.file;
  }

  view(): JournalStore {
    return new JournalStore(this.journal);
  }

  private live(key: string): StoredValue | undefined {
    const v = this.journal.entries.get(key);
    if (!v) return undefined;
    if (v.expires !== undefined && v.expires <= this.journal.now()) return undefined;
    return v;
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    return this.live(key)?.value as Value | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<(Value | undefined)[]> {
    return keys.map((k) => this.live(k)?.value as Value | undefined);
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    if (typeof key !== 'string') throw new TypeError('journal store: key must be a string');
    const entry: JournalEntry =
      typeof ttl === 'number' && ttl > 0 ? { op: 'set', k: key, v: value, e: this.journal.now() + ttl } : { op: 'set', k: key, v: value };
    await this.journal.append(entry);
    return true;
  }

  async setMany(values: { key: string; value: unknown; ttl?: number }[]): Promise<void> {
    await Promise.all(values.map((v) => this.set(v.key, v.value, v.ttl)));
  }

  async delete(key: string): Promise<boolean> {
    const existed = this.live(key) !== undefined;
    if (!this.journal.entries.has(key)) return false;
    await this.journal.append({ op: 'del', k: key });
    return existed;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const results = await Promise.all(keys.map((k) => this.delete(k)));
    return results.every(Boolean);
  }

  async clear(): Promise<void> {
    await this.journal.append({ op: 'clear', ns: this.namespace ?? null });
  }

  async has(key: string): Promise<boolean> {
    return this.live(key) !== undefined;
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((k) => this.live(k) !== undefined);
  }

  /** Yields [prefixedKey, storedValue] of the given namespace (all keys when none). */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    const prefix = namespace ? `${namespace}:` : '';
    for (const [k] of [...this.journal.entries]) {
      if (!k.startsWith(prefix)) continue;
      const v = this.live(k);
      if (v) yield [k, v.value as Value];
    }
  }

  /** Waits for pending writes and closes the file. Shared by every view. */
  async disconnect(): Promise<void> {
    await this.journal.close();
  }
}
