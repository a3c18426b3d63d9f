// The activity trail: an append-only, hash-chained record of everything the role
// does with evidence, for audit. One JSON line per record; each record carries the
// hash of the one before, so an edited, deleted or reordered record is detected.
// A head file (seq + hash of the last record) lets verify notice a truncated tail.
// The chain has no key: it proves the trail was not changed piecemeal, not that
// someone able to rewrite both files from the start did not do so.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { Emitter } from '../events';
import { dailyUploads, searchActivities, type ActivitySearch, type ActivitySearchResult, type DailyUploads, type DailyUploadsQuery } from './activitySearch';

export const ACTIVITY_TYPES = [
  'roleStarted',
  'roleStopped',
  'privilegesCreated',
  'signIn',
  'accountImported',
  'accountDisconnected',
  'configurationChanged',
  'cameraSelectionChanged',
  'registryPublished',
  'snapshotSent',
  'requestReceived',
  'requestRefused',
  'requestStatusChanged',
  'requestReviewed',
  'exportCompleted',
  'exportFailed',
  'exportWaiting',
  'uploadQueued',
  'uploadCompleted',
  'uploadFailed',
  'uploadCanceled',
  'uploadStartedOver',
  'userSignedIn',
  'userSignedOut',
  'signInRefused',
  'commandRefused',
  'passwordChanged',
  'signInLockoutCleared',
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export interface ActivityFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface ActivityInput {
  type: ActivityType;
  /** What happened, in an operator's words. Never a secret. */
  summary: string;
  user?: string;
  cameras?: string[];
  requestId?: string;
  caseId?: string;
  evidenceId?: string;
  files?: ActivityFile[];
  details?: Record<string, string | number | boolean>;
}

export interface ActivityRecord extends ActivityInput {
  seq: number;
  time: string;
  prevHash: string;
  hash: string;
}

export interface ActivityQuery {
  from?: Date;
  to?: Date;
  types?: ActivityType[];
  user?: string;
  camera?: string;
}

export type TrailProblemKind = 'malformed' | 'edited' | 'deleted' | 'reordered' | 'truncated';
export interface TrailProblem {
  kind: TrailProblemKind;
  /** 1-based line in the trail file. */
  line: number;
  seq?: number;
  message: string;
}
export interface TrailVerification {
  ok: boolean;
  records: number;
  problems: TrailProblem[];
}


/** JSON with sorted keys, so a record hashes the same however it was parsed. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function hashRecord(record: Omit<ActivityRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
}

/** The record with its hash: the one way a record is sealed (append uses it; so may tools that write a trail file). */
export function sealActivityRecord(content: Omit<ActivityRecord, 'hash'>): ActivityRecord {
  return { ...content, hash: hashRecord(content) };
}

/** The hash every trail starts from (the `prevHash` of record 1). */
export const GENESIS_HASH = '0'.repeat(64);

/** Checks a trail's text (and its head, when known) and lists every problem found. */
export function verifyTrailText(text: string, head?: { seq: number; hash: string }): TrailVerification {
  const problems: TrailProblem[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parsed = lines.map((line) => {
    try {
      const record = JSON.parse(line) as ActivityRecord;
      return typeof record.seq === 'number' && typeof record.hash === 'string' ? record : undefined;
    } catch {
      return undefined;
    }
  });
  // Seqs present anywhere in the file tell a gap that was moved (reordered) from one that was removed.
  const present = new Set(parsed.flatMap((r) => (r ? [r.seq] : [])));
  let prev: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  parsed.forEach((record, i) => {
    if (!record) {
      problems.push({ kind: 'malformed', line: i + 1, message: `Line ${i + 1} is not a trail record.` });
      return;
    }
    count++;
    const { hash, ...content } = record;
    if (hashRecord(content) !== hash) {
      problems.push({ kind: 'edited', line: i + 1, seq: record.seq, message: `Record ${record.seq} (line ${i + 1}) was changed after it was written.` });
    }
    if (record.seq <= prev.seq) {
      problems.push({ kind: 'reordered', line: i + 1, seq: record.seq, message: `Record ${record.seq} (line ${i + 1}) comes after record ${prev.seq}: records were reordered.` });
    } else if (record.seq > prev.seq + 1) {
      const gap = Array.from({ length: record.seq - prev.seq - 1 }, (_, k) => prev.seq + 1 + k);
      const missing = gap.filter((seq) => !present.has(seq));
      problems.push(
        missing.length === 0
          ? { kind: 'reordered', line: i + 1, seq: record.seq, message: `Record ${record.seq} (line ${i + 1}) comes before record ${gap[0]}: records were reordered.` }
          : { kind: 'deleted', line: i + 1, seq: record.seq, message: `${missing.length} record(s) missing before record ${record.seq} (line ${i + 1}): ${missing.join(', ')}.` },
      );
    } else if (record.prevHash !== prev.hash) {
      problems.push({ kind: 'edited', line: i + 1, seq: record.seq, message: `Record ${record.seq} (line ${i + 1}) does not chain to the record before it.` });
    }
    prev = { seq: record.seq, hash };
  });
  if (head && (head.seq !== prev.seq || head.hash !== prev.hash)) {
    problems.push({
      kind: 'truncated',
      line: lines.length,
      seq: prev.seq,
      message: head.seq > prev.seq
        ? `The trail ends at record ${prev.seq}, but ${head.seq} were written: records were removed from its end.`
        : `The trail's last record (${prev.seq}) is not the last one written (${head.seq}).`,
    });
  }
  return { ok: problems.length === 0, records: count, problems };
}

/** What the file on disk says of one record: is it there, unchanged, and linked to the record before it? */
export interface RecordCheck {
  seq: number;
  /** 1-based line of the record in the trail file; undefined when no line holds it. */
  line?: number;
  /** The hash stored with the record on disk. */
  hash?: string;
  /** The hash the record links back to (its prevHash on disk). */
  prevHash?: string;
  /** Its content hashes to its stored hash, and that is the hash the role holds in memory. */
  intact: boolean;
  /** Its seq follows the line before it by one, and its prevHash is that line's hash (the genesis hash for the first). */
  linked: boolean;
}

/**
 * Checks the records `seqs` against the trail's text, one by one: each is found by
 * seq, re-hashed, and its link to the line before it checked. `known` (seq → hash,
 * what the role holds) makes a record that differs from the role's copy not intact.
 */
export function checkTrailRecords(text: string, seqs: readonly number[], known?: ReadonlyMap<number, string>): RecordCheck[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parsed = lines.map((line): ActivityRecord | undefined => {
    try {
      const r = JSON.parse(line) as ActivityRecord;
      return r && typeof r.seq === 'number' && typeof r.hash === 'string' ? r : undefined;
    } catch {
      return undefined;
    }
  });
  const lineOf = new Map<number, number>();
  parsed.forEach((r, i) => {
    if (r && !lineOf.has(r.seq)) lineOf.set(r.seq, i);
  });
  return seqs.map((seq): RecordCheck => {
    const i = lineOf.get(seq);
    const record = i === undefined ? undefined : parsed[i];
    if (i === undefined || !record) return { seq, intact: false, linked: false };
    const { hash, ...content } = record;
    const intact = hashRecord(content) === hash && (known?.get(seq) ?? hash) === hash;
    const before = i === 0 ? { seq: 0, hash: GENESIS_HASH } : parsed[i - 1];
    const linked = before !== undefined && record.seq === before.seq + 1 && record.prevHash === before.hash;
    return { seq, line: i + 1, hash, prevHash: record.prevHash, intact, linked };
  });
}

/** Keeps a value harmless when a spreadsheet opens the CSV (formula injection). */
function csvCell(value: string | number | boolean | null | undefined): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/**
 * An instant as ISO 8601 in local time with its offset (`2026-12-01T14:05:09.120+01:00`),
 * at `offsetMinutes` east of UTC or the machine's offset at that instant.
 */
export function isoWithOffset(iso: string, offsetMinutes?: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const offset = offsetMinutes ?? -new Date(t).getTimezoneOffset();
  const local = new Date(t + offset * 60_000).toISOString().slice(0, -1); // drop the Z
  const abs = Math.abs(offset);
  const sign = offset < 0 ? '-' : '+';
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** `time` is the recorded UTC instant (part of the hash chain); `localTime` the same instant in local time. */
export const CSV_COLUMNS = ['seq', 'time', 'localTime', 'type', 'user', 'summary', 'cameras', 'requestId', 'caseId', 'evidenceId', 'files', 'sha256', 'bytes', 'hash'] as const;

export function activitiesToCsv(records: readonly ActivityRecord[], offsetMinutes?: number): string {
  const rows = records.map((r) => [
    r.seq,
    r.time,
    isoWithOffset(r.time, offsetMinutes),
    r.type,
    r.user,
    r.summary,
    r.cameras?.join(' '),
    r.requestId,
    r.caseId,
    r.evidenceId,
    r.files?.map((f) => f.name).join(' '),
    r.files?.map((f) => f.sha256).join(' '),
    r.files?.map((f) => f.bytes).join(' '),
    r.hash,
  ].map(csvCell));
  return stringify([[...CSV_COLUMNS], ...rows]);
}

async function readHead(headFile: string): Promise<{ seq: number; hash: string } | undefined> {
  return fs
    .readFile(headFile, 'utf8')
    .then((t) => JSON.parse(t) as { seq: number; hash: string })
    .catch(() => undefined);
}

/**
 * A crash between syncing a record and writing the head leaves the head one record
 * behind: move it forward, but only over that one intact record that links to it.
 * Anything else is left for verify() to report.
 */
async function catchUpHead(headFile: string, records: ActivityRecord[]): Promise<void> {
  const last = records.at(-1);
  if (!last) return;
  const head = await readHead(headFile);
  const behindByOne = head ? last.seq === head.seq + 1 && last.prevHash === head.hash : last.seq === 1 && last.prevHash === GENESIS_HASH;
  if (!behindByOne) return;
  const { hash, ...content } = last;
  if (hashRecord(content) !== hash) return;
  await writeAtomically(headFile, JSON.stringify({ seq: last.seq, hash: last.hash }));
}

export class ActivityTrail {
  private readonly appended = new Emitter<ActivityRecord>();
  readonly onDidAppend = this.appended.event;
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly headFile: string,
    private readonly all: ActivityRecord[],
    private readonly clock: () => Date,
  ) {}

  /** Opens (or creates) the trail in `folder`. A torn last line from a crash is set aside, never silently dropped. */
  static async open(folder: string, clock: () => Date = () => new Date()): Promise<ActivityTrail> {
    await fs.mkdir(folder, { recursive: true, mode: 0o700 });
    const file = path.join(folder, 'activity-trail.jsonl');
    const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
    const records: ActivityRecord[] = [];
    const lines = text.split('\n');
    const torn = lines.pop(); // '' when the file ends with a newline
    for (const line of lines) {
      try {
        records.push(JSON.parse(line) as ActivityRecord);
      } catch {
        // Kept in the file: verify() will report it as malformed.
      }
    }
    if (torn) {
      // A write cut short by a crash: keep the bytes aside for inspection and end the file cleanly.
      await fs.appendFile(path.join(folder, 'activity-trail.torn'), torn + '\n');
      await fs.truncate(file, Buffer.byteLength(text) - Buffer.byteLength(torn));
    }
    const headFile = path.join(folder, 'activity-trail.head');
    await catchUpHead(headFile, records);
    return new ActivityTrail(file, headFile, records, clock);
  }

  get path(): string {
    return this.file;
  }

  records(): readonly ActivityRecord[] {
    return this.all;
  }

  /** Appends a record and returns it once it is on disk (fsync). Appends are serialised. */
  append(input: ActivityInput): Promise<ActivityRecord> {
    const next = this.writing.then(async () => {
      const last = this.all.at(-1);
      const content: Omit<ActivityRecord, 'hash'> = {
        ...input,
        seq: (last?.seq ?? 0) + 1,
        time: this.clock().toISOString(),
        prevHash: last?.hash ?? GENESIS_HASH,
      };
      const record = sealActivityRecord(content);
      const handle = await fs.open(this.file, 'a', 0o600);
      try {
        await handle.appendFile(JSON.stringify(record) + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await writeAtomically(this.headFile, JSON.stringify({ seq: record.seq, hash: record.hash }));
      this.all.push(record);
      this.appended.fire(record);
      return record;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** `limit` records before seq `before` (default: the newest), oldest first; `next` pages further back. */
  page(before: number | undefined, limit: number): { records: ActivityRecord[]; count: number; next?: number } {
    const end = before === undefined ? this.all.length : Math.max(0, Math.min(this.all.length, before - 1));
    const start = Math.max(0, end - limit);
    const records = this.all.slice(start, end);
    return { records, count: this.all.length, ...(start > 0 && records[0] ? { next: records[0].seq } : {}) };
  }

  query(q: ActivityQuery = {}): ActivityRecord[] {
    return this.all.filter((r) => {
      const t = Date.parse(r.time);
      if (q.from && t < q.from.getTime()) return false;
      if (q.to && t > q.to.getTime()) return false;
      if (q.types && !q.types.includes(r.type)) return false;
      if (q.user && r.user !== q.user) return false;
      if (q.camera && !r.cameras?.includes(q.camera)) return false;
      return true;
    });
  }

  /** A filtered, sorted page of records and how many match (see activitySearch.ts). */
  search(q: ActivitySearch = {}): ActivitySearchResult {
    return searchActivities(this.all, q);
  }

  /** Completed uploads per local day, for a chart (see activitySearch.ts). */
  dailyUploads(q: DailyUploadsQuery = {}): DailyUploads[] {
    return dailyUploads(this.all, q);
  }

  /**
   * Re-reads the file from disk: the whole chain's verification (as verify()), and
   * each of the records `seqs` checked on its own (found, unchanged, linked).
   */
  async verifyRecords(seqs: readonly number[]): Promise<{ chain: TrailVerification; records: RecordCheck[] }> {
    await this.writing;
    const text = await fs.readFile(this.file, 'utf8').catch(() => '');
    const known = new Map(this.all.map((r) => [r.seq, r.hash] as const));
    return { chain: verifyTrailText(text, await readHead(this.headFile)), records: checkTrailRecords(text, seqs, known) };
  }

  /** Re-reads the file from disk and checks every link of the chain and the head. */
  async verify(): Promise<TrailVerification> {
    await this.writing;
    const text = await fs.readFile(this.file, 'utf8').catch(() => '');
    return verifyTrailText(text, await readHead(this.headFile));
  }

  dispose(): void {
    this.appended.dispose();
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}
