// How far each upload is, for the console: bytes on the wire (including the
// block in flight, which is not durable until acknowledged), the rate over
// the last few seconds, the seconds left at that rate, and the pace of
// progress events (at most one per job per interval, however many chunks go out).
import { acknowledgedBytes, cipherLength, type UploadJob, type UploadJobSnapshot, type UploadPart } from './uploadJob';

const RATE_WINDOW_MS = 5000;
/** Bytes that leave within this long of each other count as one sample. */
const SAMPLE_MS = 50;

export class ProgressMeter {
  private readonly samples = new Map<string, { t: number; bytes: number }[]>();
  private readonly rateSince = new Map<string, number>();
  private readonly lastProgress = new Map<string, number>();
  /** Bytes of the blocks in flight per part, by block index (not durable until acknowledged). */
  private readonly inFlight = new Map<string, Map<number, number>>();

  constructor(
    private readonly clock: () => number,
    /** Least time between two progress events of one job. */
    private readonly progressIntervalMs: number,
  ) {}

  /** A run of the job starts: its rate counts from now. */
  start(jobId: string): void {
    this.rateSince.set(jobId, this.clock());
    this.samples.delete(jobId);
  }

  /** Bytes of a block of a part went out; true when a progress event of the job is due. */
  bytes(job: UploadJob, part: UploadPart, bytes: number, block = 0): boolean {
    const key = `${job.id}:${part.index}`;
    let blocks = this.inFlight.get(key);
    if (!blocks) this.inFlight.set(key, (blocks = new Map()));
    blocks.set(block, (blocks.get(block) ?? 0) + bytes);
    const now = this.clock();
    let list = this.samples.get(job.id);
    if (!list) this.samples.set(job.id, (list = []));
    const newest = list[list.length - 1];
    if (newest && now - newest.t < SAMPLE_MS) newest.bytes += bytes;
    else list.push({ t: now, bytes });
    while (list.length > 0 && now - list[0].t > RATE_WINDOW_MS) list.shift();
    const last = this.lastProgress.get(job.id) ?? 0;
    if (now - last >= this.progressIntervalMs) {
      this.lastProgress.set(job.id, now);
      return true;
    }
    return false;
  }

  /** A block was acknowledged (now counted in the part's record) or failed: its in-flight bytes go. */
  blockSettled(job: UploadJob, part: UploadPart, block = 0): void {
    const key = `${job.id}:${part.index}`;
    const blocks = this.inFlight.get(key);
    blocks?.delete(block);
    if (blocks?.size === 0) this.inFlight.delete(key);
  }

  private inFlightBytes(key: string): number {
    let n = 0;
    for (const b of this.inFlight.get(key)?.values() ?? []) n += b;
    return n;
  }

  /** The run of the job ended: nothing of it is in flight. */
  stopped(job: UploadJob): void {
    for (const p of job.parts) this.inFlight.delete(`${job.id}:${p.index}`);
  }

  /** Bytes per second over the last few seconds of this run. */
  private rateOf(jobId: string): number {
    const list = this.samples.get(jobId);
    const since = this.rateSince.get(jobId);
    if (!list || list.length === 0 || since === undefined) return 0;
    const now = this.clock();
    const span = Math.min(RATE_WINDOW_MS, now - since);
    if (span < 500) return 0;
    const bytes = list.filter((s) => now - s.t <= RATE_WINDOW_MS).reduce((n, s) => n + s.bytes, 0);
    return (bytes * 1000) / span;
  }

  snapshotOf(job: UploadJob): UploadJobSnapshot {
    const parts = job.parts.map((p) => {
      const done = p.state === 'completed' || p.state === 'committed';
      const cipherBytes = cipherLength(p.bytes, p.encryption !== undefined);
      const sent = done ? cipherBytes : acknowledgedBytes(p) + this.inFlightBytes(`${job.id}:${p.index}`);
      return {
        index: p.index,
        name: p.name,
        bytes: p.bytes,
        // Shown against the plain size: cipher bytes sent, capped (padding adds up to 16).
        sentBytes: Math.min(p.bytes, sent),
        state: p.state,
        sha256: p.sha256,
        encrypted: p.encryption !== undefined,
        ...(p.resourceId ? { resourceId: p.resourceId } : {}),
        left: done ? 0 : Math.max(0, cipherBytes - sent),
      };
    });
    const totalBytes = job.parts.reduce((n, p) => n + p.bytes, 0);
    const sentBytes = parts.reduce((n, p) => n + p.sentBytes, 0);
    const rate = job.state === 'uploading' ? this.rateOf(job.id) : 0;
    const left = parts.reduce((n, p) => n + p.left, 0);
    return {
      id: job.id,
      title: job.title,
      state: job.state,
      ...(job.error !== undefined ? { error: job.error } : {}),
      ...(job.unreachable ? { unreachable: true } : {}),
      ...(job.startedOver?.length ? { startedOver: job.startedOver.map((s) => ({ ...s })) } : {}),
      ...(job.evidenceId !== undefined ? { evidenceId: job.evidenceId } : {}),
      ...(job.anchor !== undefined ? { anchor: { ...job.anchor } } : {}),
      ...(job.caseId !== undefined ? { caseId: job.caseId } : {}),
      ...(job.videoRequestId !== undefined ? { videoRequestId: job.videoRequestId } : {}),
      createdAt: job.createdAt,
      ...(job.completedAt !== undefined ? { completedAt: job.completedAt } : {}),
      totalBytes,
      sentBytes,
      rate,
      ...(rate > 0 ? { secondsLeft: Math.ceil(left / rate) } : {}),
      parts: parts.map(({ left: _left, ...p }) => p),
    };
  }
}
