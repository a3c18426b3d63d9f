// What the blob gateway received, per blob: Put Block / Put Block List counts,
// body bytes, times each block id was sent, and a received-bytes timeline. Lets
// tests of the upload queue prove what went over the wire (e.g. "after a crash,
// at most one block was sent twice") without trusting the client's own account.
import type { BlobPutStats, BlobPutsResponse, BlobReceivedTimeline } from '../core/clearance/api';

export const TIMELINE_BUCKET_MS = 100;
/** Newest buckets kept per blob (100 ms each: a bit under 3 h of continuous upload). */
const MAX_POINTS_PER_BLOB = 100_000;

interface BlobEntry extends BlobPutStats {
  points: { atMs: number; bytes: number }[];
}

/** `<container>/<blob name>` of a path-style blob URL path, decoded; undefined for account-level paths. */
export function blobPathOf(pathname: string): string | undefined {
  const segs = pathname.split('/').filter(Boolean).slice(1); // first segment: the account
  if (segs.length < 2) return undefined;
  try {
    return segs.map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
}

export class BlobPutCounter {
  private blobs = new Map<string, BlobEntry>();

  constructor(private readonly now: () => number = Date.now) {}

  private entry(blob: string): BlobEntry {
    let e = this.blobs.get(blob);
    if (!e) {
      e = { putBlock: 0, putBlockList: 0, bytes: 0, blockIds: Object.create(null) as Record<string, number>, points: [] };
      this.blobs.set(blob, e);
    }
    return e;
  }

  putBlock(blob: string, blockId: string): void {
    const e = this.entry(blob);
    e.putBlock++;
    e.blockIds[blockId] = (e.blockIds[blockId] ?? 0) + 1;
  }

  putBlockList(blob: string): void {
    this.entry(blob).putBlockList++;
  }

  /** Body bytes of a Put Block, as they arrive. */
  received(blob: string, bytes: number): void {
    const e = this.entry(blob);
    e.bytes += bytes;
    const atMs = Math.floor(this.now() / TIMELINE_BUCKET_MS) * TIMELINE_BUCKET_MS;
    const last = e.points[e.points.length - 1];
    if (last && last.atMs === atMs) last.bytes += bytes;
    else {
      e.points.push({ atMs, bytes });
      if (e.points.length > MAX_POINTS_PER_BLOB) e.points.splice(0, e.points.length - MAX_POINTS_PER_BLOB);
    }
  }

  puts(): BlobPutsResponse {
    const blobs: Record<string, BlobPutStats> = {};
    for (const [k, e] of this.blobs) blobs[k] = { putBlock: e.putBlock, putBlockList: e.putBlockList, bytes: e.bytes, blockIds: { ...e.blockIds } };
    return { blobs };
  }

  /** The timeline of one blob, or of all blobs merged. */
  timeline(blob?: string): BlobReceivedTimeline {
    const merged = new Map<number, number>();
    for (const [k, e] of this.blobs) {
      if (blob !== undefined && k !== blob) continue;
      for (const p of e.points) merged.set(p.atMs, (merged.get(p.atMs) ?? 0) + p.bytes);
    }
    const points = [...merged].sort((a, b) => a[0] - b[0]).map(([atMs, bytes]) => ({ atMs, bytes }));
    return { bucketMs: TIMELINE_BUCKET_MS, points };
  }

  reset(): void {
    this.blobs = new Map();
  }
}
