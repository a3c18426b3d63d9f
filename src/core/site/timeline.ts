// Pure time arithmetic over recordings, and the names recordings and exports get on disk.

import { createHash } from 'node:crypto';
import type { RecordingSegment, TimeRange } from './model';

/**
 * Recording files are named after their start time in UTC, with ':' replaced
 * by '-' so the name is valid on every file system:
 * `2026-11-23T10-00-00Z.mp4` or `2026-11-23T10-00-00.500Z.mp4`.
 * The end comes from the file's own duration (MP4 header), so segments of any
 * length and gaps between them need no index.
 */
const RECORDING_NAME = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})(\.\d{1,3})?Z\.mp4$/;

export function recordingFileName(start: Date): string {
  return `${fileStamp(start)}.mp4`;
}

/** Start time of a recording file name, or undefined if the name is not one. */
export function parseRecordingFileName(name: string): Date | undefined {
  const m = RECORDING_NAME.exec(name);
  if (!m) return undefined;
  const d = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ?? ''}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `2026-11-23T10-00-00Z`, with milliseconds only when there are some. */
export function fileStamp(d: Date): string {
  const iso = d.toISOString(); // 2026-11-23T10:00:00.000Z
  const base = iso.slice(0, 19).replace(/:/g, '-');
  const ms = iso.slice(19, 23);
  return ms === '.000' ? `${base}Z` : `${base}${ms}Z`;
}

/**
 * A string from the site (a camera id) as one safe path segment: letters,
 * digits, '-' and '_' pass; every other byte becomes %XX (so '.', '/', '\\'
 * and ':' can never form '..' or a separator). Injective; very long ids are
 * shortened with a hash so the name stays under common file-name limits.
 */
export function pathSegmentFor(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length === 0) return '%';
  if (out.length > 100) out = `${out.slice(0, 60)}~${createHash('sha256').update(value).digest('hex').slice(0, 32)}`;
  return out;
}

/** Runs of continuous recording: segments joined when the hole between them is at most joinToleranceMs. */
export function coveredRuns(segments: readonly RecordingSegment[], joinToleranceMs: number): TimeRange[] {
  const sorted = [...segments].sort((a, b) => a.start.getTime() - b.start.getTime());
  const runs: { from: number; to: number }[] = [];
  for (const s of sorted) {
    const start = s.start.getTime();
    const end = s.end.getTime();
    if (end <= start) continue;
    const last = runs[runs.length - 1];
    if (last && start <= last.to + joinToleranceMs) last.to = Math.max(last.to, end);
    else runs.push({ from: start, to: end });
  }
  return runs.map((r) => ({ from: new Date(r.from), to: new Date(r.to) }));
}

/** The covered runs clipped to [from, to). */
export function clip(runs: readonly TimeRange[], range: TimeRange): TimeRange[] {
  const a = range.from.getTime();
  const b = range.to.getTime();
  const out: TimeRange[] = [];
  for (const r of runs) {
    const from = Math.max(a, r.from.getTime());
    const to = Math.min(b, r.to.getTime());
    if (to > from) out.push({ from: new Date(from), to: new Date(to) });
  }
  return out;
}

/** Parts of [from, to) outside the covered runs. */
export function gapsIn(runs: readonly TimeRange[], range: TimeRange): TimeRange[] {
  const gaps: TimeRange[] = [];
  let cursor = range.from.getTime();
  const end = range.to.getTime();
  for (const r of clip(runs, range)) {
    if (r.from.getTime() > cursor) gaps.push({ from: new Date(cursor), to: r.from });
    cursor = Math.max(cursor, r.to.getTime());
  }
  if (cursor < end) gaps.push({ from: new Date(cursor), to: new Date(end) });
  return gaps;
}

/** Cuts each covered run into pieces of at most maxPartMs; a part never spans a gap. */
export function splitIntoParts(covered: readonly TimeRange[], maxPartMs: number): TimeRange[] {
  const parts: TimeRange[] = [];
  for (const r of covered) {
    for (let t = r.from.getTime(); t < r.to.getTime(); t += maxPartMs) {
      parts.push({ from: new Date(t), to: new Date(Math.min(t + maxPartMs, r.to.getTime())) });
    }
  }
  return parts;
}

/** One line of an ffconcat list: a file and the span of it to take (seconds into the file). */
export interface ConcatEntry {
  file: string;
  inpoint?: number;
  outpoint?: number;
}

/**
 * The files and in/out points that play [from, to) in order. Overlapping
 * segments are trimmed so no instant is taken twice.
 */
export function concatEntries(segments: readonly RecordingSegment[], range: TimeRange): ConcatEntry[] {
  const sorted = [...segments].sort((a, b) => a.start.getTime() - b.start.getTime());
  const end = range.to.getTime();
  let cursor = range.from.getTime();
  const entries: ConcatEntry[] = [];
  for (const s of sorted) {
    const start = s.start.getTime();
    const segEnd = s.end.getTime();
    if (segEnd <= cursor || start >= end) continue;
    const entry: ConcatEntry = { file: s.file };
    if (cursor > start) entry.inpoint = (cursor - start) / 1000;
    if (end < segEnd) entry.outpoint = (end - start) / 1000;
    entries.push(entry);
    cursor = Math.min(segEnd, end);
    if (cursor >= end) break;
  }
  return entries;
}

/** The ffconcat script for the concat demuxer (file names quoted; needs `-safe 0`). */
export function ffconcatScript(entries: readonly ConcatEntry[]): string {
  const lines = ['ffconcat version 1.0'];
  for (const e of entries) {
    if (/[\r\n]/.test(e.file)) throw new Error(`recording path has a line break, which ffconcat cannot quote: ${JSON.stringify(e.file)}`);
    lines.push(`file '${e.file.replace(/'/g, "'\\''")}'`);
    if (e.inpoint !== undefined) lines.push(`inpoint ${e.inpoint.toFixed(3)}`);
    if (e.outpoint !== undefined) lines.push(`outpoint ${e.outpoint.toFixed(3)}`);
  }
  return lines.join('\n') + '\n';
}
