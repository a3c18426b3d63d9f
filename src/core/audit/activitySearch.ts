// Reading the activity trail the way a console's table and chart do: a filtered,
// sorted page of records (with the total, for the pager), and the completed
// uploads per local day. Pure functions over the records in memory, written to
// stay quick over a trail of a hundred thousand records: no date parsing per
// record (the trail's times are all `toISOString()`, so they compare as text),
// no sort at all for the trail's own order, and each summary lower-cased once.
import type { ActivityRecord, ActivityType } from './activityTrail';

export const ACTIVITY_SORT_KEYS = ['seq', 'time', 'type', 'user'] as const;
export type ActivitySortKey = (typeof ACTIVITY_SORT_KEYS)[number];
export type SortDirection = 'asc' | 'desc';

export const DEFAULT_SEARCH_LIMIT = 100;
export const MAX_SEARCH_LIMIT = 500;

export interface ActivitySearch {
  /** Records at or after this instant. */
  from?: Date;
  /** Records at or before this instant. */
  to?: Date;
  /** Any of these types. */
  types?: readonly ActivityType[];
  /** This user exactly (as recorded: a login name, or "role"). */
  user?: string;
  /** Records naming this camera id. */
  camera?: string;
  /** A case-insensitive piece of the summary. */
  text?: string;
  /** Default: seq ascending (the trail's own order). Ties go by seq, in the same direction. */
  sort?: { by: ActivitySortKey; direction: SortDirection };
  /** Records to skip (after filtering and sorting); default 0. */
  offset?: number;
  /** Page size, 1–500; default 100. */
  limit?: number;
}

export interface ActivitySearchResult {
  /** How many records match (every page). */
  total: number;
  offset: number;
  records: ActivityRecord[];
}

/** Summaries lower-cased once per record (records never change once written). */
const lowerSummaries = new WeakMap<ActivityRecord, string>();
function lowerSummary(r: ActivityRecord): string {
  let lower = lowerSummaries.get(r);
  if (lower === undefined) {
    lower = r.summary.toLowerCase();
    lowerSummaries.set(r, lower);
  }
  return lower;
}

function matcher(q: ActivitySearch): (r: ActivityRecord) => boolean {
  const from = q.from?.toISOString();
  const to = q.to?.toISOString();
  const types = q.types && q.types.length ? new Set<string>(q.types) : undefined;
  const { user, camera } = q;
  const text = q.text ? q.text.toLowerCase() : undefined;
  return (r) => {
    if (from !== undefined && r.time < from) return false;
    if (to !== undefined && r.time > to) return false;
    if (types && !types.has(r.type)) return false;
    if (user !== undefined && r.user !== user) return false;
    if (camera !== undefined && !r.cameras?.includes(camera)) return false;
    if (text !== undefined && !lowerSummary(r).includes(text)) return false;
    return true;
  };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `records` in seq order (as the trail keeps them). */
export function searchActivities(records: readonly ActivityRecord[], q: ActivitySearch = {}): ActivitySearchResult {
  const offset = Math.max(0, Math.floor(q.offset ?? 0));
  const limit = Math.min(MAX_SEARCH_LIMIT, Math.max(1, Math.floor(q.limit ?? DEFAULT_SEARCH_LIMIT)));
  const by = q.sort?.by ?? 'seq';
  const sign = q.sort?.direction === 'desc' ? -1 : 1;
  const matches = matcher(q);
  const found: ActivityRecord[] = [];
  for (const r of records) if (matches(r)) found.push(r);
  if (by === 'seq') {
    // The trail's order already: a page is a slice, from either end.
    const total = found.length;
    const page = sign === 1 ? found.slice(offset, offset + limit) : found.slice(Math.max(0, total - offset - limit), Math.max(0, total - offset)).reverse();
    return { total, offset, records: page };
  }
  const sorted = by === 'time' ? sortByTime(found, sign) : sortByGroup(found, by === 'type' ? (r) => r.type : (r) => r.user ?? '', sign);
  return { total: sorted.length, offset, records: sorted.slice(offset, offset + limit) };
}

/** `found` is in seq order: one pass per group keeps seq order inside each group (reversed for desc). */
function sortByGroup(found: readonly ActivityRecord[], key: (r: ActivityRecord) => string, sign: number): ActivityRecord[] {
  const groups = new Map<string, ActivityRecord[]>();
  for (const r of found) {
    const k = key(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const keys = [...groups.keys()].sort((a, b) => sign * cmp(a, b));
  const out: ActivityRecord[] = [];
  for (const k of keys) {
    const g = groups.get(k)!;
    if (sign < 0) g.reverse();
    for (const r of g) out.push(r);
  }
  return out;
}

/** By instant, ties by seq; a trail written by one clock is already in time order, which costs one pass. */
function sortByTime(found: readonly ActivityRecord[], sign: number): ActivityRecord[] {
  let ordered = true;
  for (let i = 1; i < found.length && ordered; i++) ordered = found[i - 1]!.time <= found[i]!.time;
  if (ordered) return sign > 0 ? [...found] : [...found].reverse();
  const times = new Float64Array(found.length);
  for (let i = 0; i < found.length; i++) times[i] = Date.parse(found[i]!.time);
  // Indexes into `found` (seq order), so a tie falls back to the index.
  const index = new Uint32Array(found.length);
  for (let i = 0; i < index.length; i++) index[i] = i;
  index.sort((a, b) => sign * (times[a]! - times[b]! || a - b));
  return Array.from(index, (i) => found[i]!);
}

export interface DailyUploadsQuery {
  from?: Date;
  to?: Date;
  /** The console's offset from UTC in minutes east (-840..840); days are local days at it. Default 0 (UTC). */
  offsetMinutes?: number;
}

export interface DailyUploads {
  /** The local day, `YYYY-MM-DD`. */
  day: string;
  /** Uploads completed that day (uploadCompleted records). */
  uploads: number;
  /** Plain bytes of those uploads' files. */
  bytes: number;
}

/** Longest series `dailyUploads` draws: ten years of days. */
export const MAX_DAILY_DAYS = 3660;

const DAY_MS = 86_400_000;

/**
 * Completed uploads per local day, every day from the first to the last (days
 * without uploads count 0): from `from`'s day when given, else the first upload's,
 * to `to`'s day when given, else the last upload's. Empty when there is nothing to
 * draw. A span longer than MAX_DAILY_DAYS is a RangeError.
 */
export function dailyUploads(records: readonly ActivityRecord[], q: DailyUploadsQuery = {}): DailyUploads[] {
  const offsetMs = (q.offsetMinutes ?? 0) * 60_000;
  const from = q.from?.toISOString();
  const to = q.to?.toISOString();
  /** Local day number (days since 1970-01-01 at the offset) → counts. */
  const byDay = new Map<number, { uploads: number; bytes: number }>();
  for (const r of records) {
    if (r.type !== 'uploadCompleted') continue;
    if (from !== undefined && r.time < from) continue;
    if (to !== undefined && r.time > to) continue;
    const day = Math.floor((Date.parse(r.time) + offsetMs) / DAY_MS);
    if (Number.isNaN(day)) continue;
    const entry = byDay.get(day) ?? { uploads: 0, bytes: 0 };
    entry.uploads += 1;
    for (const f of r.files ?? []) entry.bytes += typeof f.bytes === 'number' && Number.isFinite(f.bytes) ? f.bytes : 0;
    byDay.set(day, entry);
  }
  const days = [...byDay.keys()];
  const first = q.from ? Math.floor((q.from.getTime() + offsetMs) / DAY_MS) : days.length ? Math.min(...days) : undefined;
  const last = q.to ? Math.floor((q.to.getTime() + offsetMs) / DAY_MS) : days.length ? Math.max(...days) : undefined;
  if (first === undefined || last === undefined || last < first) return [];
  if (last - first + 1 > MAX_DAILY_DAYS) throw new RangeError(`at most ${MAX_DAILY_DAYS} days; the range spans ${last - first + 1}`);
  const out: DailyUploads[] = [];
  for (let d = first; d <= last; d++) {
    const entry = byDay.get(d);
    out.push({ day: new Date(d * DAY_MS).toISOString().slice(0, 10), uploads: entry?.uploads ?? 0, bytes: entry?.bytes ?? 0 });
  }
  return out;
}
