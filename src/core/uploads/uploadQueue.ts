// The upload queue: evidence waits in the archive destination folder and goes
// out part by part, encrypted, under the role's throttling rules. It owns the
// UploadJob records (persisted through keyv after every acknowledged step) and
// publishes snapshots and events for the console.
//
// Throttling on: one upload (job) at a time, one file at a time, every byte
// through the shared bandwidth limiter. Off: up to five uploads at once, each
// with up to five files in parallel ([doc] limits of the vendor role).
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Keyv from 'keyv';
import type { SecretStore } from '../config/secretStore';
import { Emitter } from '../events';
import type { ExportPart } from '../site/model';
import { ServiceError } from '../net/errors';
import { forgetPartSecrets, resetPart, uploadPart, uploadUriSecret, UploadUriRejected, type PartUploadDeps } from './partUpload';
import type { BandwidthLimiter, BlobStore, EvidenceService } from './ports';
import {
  assertTransition,
  cipherLength,
  idempotencyKeys,
  type CaseTarget,
  type UploadJob,
  type UploadJobSnapshot,
  type UploadPart,
} from './uploadJob';

/** [doc] Throttling off: up to five uploads at once. */
export const MAX_PARALLEL_UPLOADS = 5;
/** [doc] Up to five resources of one evidence item upload in parallel. */
export const MAX_PARALLEL_PARTS = 5;
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;
/** The role sends 4–8 MiB blocks; smaller ones (down to 64 KiB) only where a test asks for them. */
export const MIN_BLOCK_SIZE = 64 * 1024;
export const MAX_BLOCK_SIZE = 8 * 1024 * 1024;
/** Staged files of a job live in <archive destination folder>/<STAGING_PREFIX><jobId>/. */
export const STAGING_PREFIX = 'upload-';

export interface UploadQueueOptions {
  /** Durable state (keyv over the JournalStore in the product). */
  store: Keyv;
  /** Content keys of encrypted uploads in progress. */
  secrets: SecretStore;
  evidence: EvidenceService;
  blobs: BlobStore;
  /** Shared by every upload while throttling is on (a TokenBucket at the maximum bandwidth). */
  limiter: BandwidthLimiter;
  /** The archive destination folder (absolute). */
  archiveFolder: string;
  throttling: boolean;
  /** Bytes per Put Block, a multiple of 16 (default 4 MiB). */
  blockSize?: number;
  clock?: () => number;
  /** Least time between two progress events of one job (default 250 ms). */
  progressIntervalMs?: number;
  /** Problems that do not stop the queue (a staged folder that could not be removed...). Never given secrets. */
  onWarning?: (message: string) => void;
}

export interface NewPart {
  /** A file already in this job's staging folder (see stagingFolder). */
  file: string;
  name: string;
  mimeType: string;
  bytes: number;
  /** SHA-256 of the file, lower-case hex. */
  sha256: string;
  cameraId?: string;
  startTimeUtc?: string;
  endTimeUtc?: string;
}

/** An exported video file as a part of an upload job. */
export function newPartFromExport(part: ExportPart, name: string): NewPart {
  return {
    file: part.file,
    name,
    mimeType: 'video/mp4',
    bytes: part.bytes,
    sha256: part.sha256,
    cameraId: part.cameraId,
    startTimeUtc: part.from.toISOString(),
    endTimeUtc: part.to.toISOString(),
  };
}

export interface NewUploadJob {
  /** From newJobId(), when the files were staged before enqueueing. */
  id?: string;
  title: string;
  requestedBy?: string;
  videoRequestId?: string;
  evidence: UploadJob['evidence'];
  caseTarget: CaseTarget;
  categoryId?: string;
  parts: NewPart[];
}

export type UploadEvent =
  | { kind: 'changed'; job: UploadJobSnapshot }
  | { kind: 'progress'; job: UploadJobSnapshot }
  | { kind: 'finished'; job: UploadJobSnapshot }
  | { kind: 'removed'; jobId: string };

/** Bad input to enqueue: names the field at fault; nothing was changed. */
export class UploadInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'UploadInputError';
  }
}

const INDEX_KEY = 'jobs';
const jobKey = (id: string) => `job:${id}`;
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const RATE_WINDOW_MS = 5000;

/** A semaphore whose waiters are served in job order, so older evidence goes first. */
class Slots {
  private waiters: { order: number; resolve: () => void }[] = [];
  private used = 0;
  constructor(private capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(order: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.used < this.capacity && this.waiters.length === 0) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        order,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      this.waiters.push(waiter);
      this.waiters.sort((a, b) => a.order - b.order);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.used--;
    this.wake();
  }

  setCapacity(n: number): void {
    this.capacity = n;
    this.wake();
  }

  private wake(): void {
    while (this.used < this.capacity && this.waiters.length > 0) {
      this.used++;
      this.waiters.shift()!.resolve();
    }
  }
}

/** Why a run stopped on purpose; `next` is the state the job takes. */
class Interrupted extends Error {
  constructor(
    readonly next: 'queued' | 'paused' | 'canceled',
    /** Run again at once (throttling turned on: wait for the single slot). */
    readonly rerun = false,
  ) {
    super(`interrupted (${next})`);
    this.name = 'Interrupted';
  }
}

/** The service no longer has the evidence (purged after 24 h incomplete): the job starts over. */
class EvidenceGone extends Error {}

/** A part stops to let an older one of its job go alone (throttling turned on); it goes back in line. */
class PartYield extends Error {
  constructor() {
    super('part yields (throttling on)');
    this.name = 'PartYield';
  }
}

/** The parts of one running job that may be in flight: as many as the throttling setting allows now. */
class PartPool {
  readonly gate: Slots;
  /** Parts in flight by index. */
  readonly running = new Map<number, { controller: AbortController; settled: Promise<void> }>();
  constructor(throttled: boolean) {
    this.gate = new Slots(throttled ? 1 : MAX_PARALLEL_PARTS);
  }

  /** Throttling on: one part at a time; the others in flight stop (keeping what was acknowledged) and wait. */
  async narrow(): Promise<void> {
    this.gate.setCapacity(1);
    const [, ...others] = [...this.running.entries()].sort(([a], [b]) => a - b);
    for (const [, r] of others) r.controller.abort(new PartYield());
    await Promise.all(others.map(([, r]) => r.settled));
  }

  widen(): void {
    this.gate.setCapacity(MAX_PARALLEL_PARTS);
  }
}

interface Run {
  controller: AbortController;
  done: Promise<void>;
  /** Holds a job slot (is past the queue). */
  active: boolean;
  /** Present while its parts upload. */
  parts?: PartPool;
}

export class UploadQueue {
  private readonly jobs = new Map<string, UploadJob>();
  private readonly order = new Map<string, number>();
  private nextOrder = 0;
  private readonly runs = new Map<string, Run>();
  private readonly samples = new Map<string, { t: number; bytes: number }[]>();
  private readonly rateSince = new Map<string, number>();
  private readonly lastProgress = new Map<string, number>();
  /** Bytes of the block in flight per part (not durable until acknowledged). */
  private readonly inFlight = new Map<string, number>();
  private readonly events = new Emitter<UploadEvent>();
  /** Jobs added, changed, progressing, finished or removed. */
  readonly onDidChange = this.events.event;
  private readonly slots: Slots;
  private throttling: boolean;
  private started = false;
  private disposed = false;
  private readonly clock: () => number;
  private readonly blockSize: number;
  private readonly progressIntervalMs: number;
  private readonly saving = new Map<string, Promise<void>>();
  private indexWrite: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: UploadQueueOptions) {
    this.throttling = options.throttling;
    this.slots = new Slots(options.throttling ? 1 : MAX_PARALLEL_UPLOADS);
    this.clock = options.clock ?? Date.now;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    if (!Number.isInteger(this.blockSize) || this.blockSize % 16 !== 0 || this.blockSize < MIN_BLOCK_SIZE || this.blockSize > MAX_BLOCK_SIZE) {
      throw new UploadInputError('blockSize', `must be a multiple of 16 between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE} bytes, found ${this.blockSize}`);
    }
    if (!path.isAbsolute(options.archiveFolder)) throw new UploadInputError('archiveFolder', `must be an absolute path, found ${options.archiveFolder}`);
  }

  /**
   * Loads every job; work that a crash interrupted is queued again (start()
   * runs it). Staged folders that belong to no job (an export that never
   * reached the queue) are removed.
   */
  static async open(options: UploadQueueOptions): Promise<UploadQueue> {
    const queue = new UploadQueue(options);
    const ids = ((await options.store.get(INDEX_KEY)) as string[] | undefined) ?? [];
    for (const id of ids) {
      const job = (await options.store.get(jobKey(id))) as UploadJob | undefined;
      if (!job) continue;
      if (job.state === 'uploading' || job.state === 'completing') job.state = 'queued';
      if (await moveUploadUrisToSecrets(job, options.secrets)) await options.store.set(jobKey(id), job);
      queue.jobs.set(id, job);
      queue.order.set(id, queue.nextOrder++);
    }
    await fs.mkdir(options.archiveFolder, { recursive: true });
    await queue.sweepStaging();
    return queue;
  }

  /** The folder where the parts of a job must be staged before enqueue. */
  stagingFolder(jobId: string): string {
    if (!JOB_ID.test(jobId)) throw new UploadInputError('id', `"${jobId}" is not a valid upload id`);
    return path.join(this.options.archiveFolder, `${STAGING_PREFIX}${jobId}`);
  }

  newJobId(): string {
    return randomUUID();
  }

  /** Runs the queued jobs (and every later one) until stop(). */
  start(): void {
    if (this.disposed) throw new Error('The upload queue was disposed.');
    this.started = true;
    for (const job of this.jobs.values()) {
      if (job.state === 'queued') this.run(job);
      if (job.state === 'canceled' && job.serviceCleanupPending) void this.finishCancel(job).catch(() => undefined);
    }
  }

  /** Stops the work in flight without changing any job: a later start() resumes it. */
  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.runs.keys()].map((id) => this.interrupt(id, new Interrupted('queued'))));
    await this.idle();
  }

  /** Resolves when nothing runs and every save is on disk. */
  async idle(): Promise<void> {
    while (this.runs.size > 0) await Promise.all([...this.runs.values()].map((r) => r.done));
    await Promise.all(this.saving.values());
    await this.indexWrite;
  }

  /**
   * Throttling on: one upload at a time; the others running go back in line
   * and later resume where they were (resolves once they have stopped). Off: up to five.
   */
  async setThrottling(on: boolean): Promise<void> {
    if (on === this.throttling) return;
    this.throttling = on;
    this.slots.setCapacity(on ? 1 : MAX_PARALLEL_UPLOADS);
    if (on) {
      const active = [...this.runs.entries()].filter(([, r]) => r.active).sort(([a], [b]) => this.order.get(a)! - this.order.get(b)!);
      await Promise.all([
        ...active.slice(1).map(([id]) => this.interrupt(id, new Interrupted('queued', true))),
        // The one that goes on keeps a single file in flight.
        ...active.slice(0, 1).map(([, r]) => r.parts?.narrow()),
      ]);
    } else {
      for (const r of this.runs.values()) r.parts?.widen();
    }
  }

  get isThrottled(): boolean {
    return this.throttling;
  }

  /** Adds a job whose files are staged; it runs when its turn comes. */
  async enqueue(input: NewUploadJob): Promise<UploadJobSnapshot> {
    const id = input.id ?? this.newJobId();
    await this.checkNewJob(id, input);
    const job: UploadJob = {
      id,
      title: input.title.trim(),
      createdAt: new Date(this.clock()).toISOString(),
      ...(input.requestedBy !== undefined ? { requestedBy: input.requestedBy } : {}),
      ...(input.videoRequestId !== undefined ? { videoRequestId: input.videoRequestId } : {}),
      evidence: { ...input.evidence },
      caseTarget: { ...input.caseTarget },
      ...(input.categoryId !== undefined ? { categoryId: input.categoryId } : {}),
      parts: input.parts.map((p, index): UploadPart => ({
        index,
        file: path.resolve(p.file),
        name: p.name,
        mimeType: p.mimeType,
        bytes: p.bytes,
        sha256: p.sha256.toLowerCase(),
        ...(p.cameraId !== undefined ? { cameraId: p.cameraId } : {}),
        ...(p.startTimeUtc !== undefined ? { startTimeUtc: p.startTimeUtc } : {}),
        ...(p.endTimeUtc !== undefined ? { endTimeUtc: p.endTimeUtc } : {}),
        state: 'pending',
        blocksCommitted: 0,
        blockSize: this.blockSize,
        bytesSent: 0,
      })),
      state: 'queued',
      attempts: 0,
    };
    this.jobs.set(id, job);
    this.order.set(id, this.nextOrder++);
    try {
      await this.save(job);
      await this.writeIndex();
    } catch (err) {
      this.jobs.delete(id);
      this.order.delete(id);
      throw err;
    }
    this.emit('changed', job);
    if (this.started) this.run(job);
    return this.snapshotOf(job);
  }

  get(id: string): UploadJobSnapshot | undefined {
    const job = this.jobs.get(id);
    return job && this.snapshotOf(job);
  }

  /** Every job, oldest first. */
  snapshot(): UploadJobSnapshot[] {
    return [...this.jobs.values()].map((j) => this.snapshotOf(j));
  }

  async pause(id: string): Promise<void> {
    const job = this.require(id);
    if (job.state === 'paused') return;
    assertTransition(job, 'paused');
    if (this.runs.has(id)) {
      await this.interrupt(id, new Interrupted('paused'));
    } else {
      job.state = 'paused';
      await this.save(job);
      this.emit('changed', job);
    }
  }

  /** A paused or failed job goes back in line; it continues from its last acknowledged block. */
  async resume(id: string): Promise<void> {
    const job = this.require(id);
    if (job.state === 'queued' || job.state === 'uploading' || job.state === 'completing') return;
    assertTransition(job, 'queued');
    job.state = 'queued';
    delete job.error;
    await this.save(job);
    this.emit('changed', job);
    if (this.started) this.run(job);
  }

  /** Retry a failed upload from where it stopped. */
  retry(id: string): Promise<void> {
    return this.resume(id);
  }

  /**
   * Cancels: stops the work, removes the staged files and content keys, and
   * deletes the incomplete evidence at the service. Should the service be out
   * of reach, its deletion is tried again at the next start() (and the service
   * purges incomplete evidence after 24 h anyway).
   */
  async cancel(id: string): Promise<void> {
    const job = this.require(id);
    if (job.state === 'canceled') return;
    assertTransition(job, 'canceled');
    if (this.runs.has(id)) await this.interrupt(id, new Interrupted('canceled'));
    // The run may have finished the upload before it saw the interruption.
    if (job.state === 'completed') assertTransition(job, 'canceled');
    job.state = 'canceled';
    job.completedAt = new Date(this.clock()).toISOString();
    if (job.evidenceId) job.serviceCleanupPending = true;
    await this.save(job);
    await this.cleanUp(job);
    await this.finishCancel(job);
  }

  /** Forgets finished jobs (completed or canceled) from the list. */
  async clearFinished(): Promise<number> {
    let n = 0;
    for (const job of [...this.jobs.values()]) {
      if ((job.state === 'completed' || job.state === 'canceled') && !job.serviceCleanupPending) {
        this.jobs.delete(job.id);
        this.order.delete(job.id);
        await this.options.store.delete(jobKey(job.id));
        for (const p of job.parts) await forgetPartSecrets(this.options.secrets, job.id, p.index);
        this.events.fire({ kind: 'removed', jobId: job.id });
        n++;
      }
    }
    await this.writeIndex();
    return n;
  }

  /** Stops the work without waiting (use stop() to wait) and drops every listener. */
  dispose(): void {
    this.disposed = true;
    this.started = false;
    for (const r of this.runs.values()) r.controller.abort(new Interrupted('queued'));
    this.events.dispose();
  }

  // ---- Running a job -----------------------------------------------------------------

  private run(job: UploadJob): void {
    if (this.runs.has(job.id) || this.disposed) return;
    const controller = new AbortController();
    const run: Run = { controller, active: false, done: Promise.resolve() };
    this.runs.set(job.id, run);
    run.done = this.work(job, run)
      .catch((err: unknown) => this.options.onWarning?.(`upload ${job.id}: ${describe(err)}`))
      .finally(() => {
        this.runs.delete(job.id);
        const reason: unknown = controller.signal.reason;
        if (reason instanceof Interrupted && reason.rerun && this.started && job.state === 'queued') this.run(job);
      });
  }

  private async interrupt(id: string, reason: Interrupted): Promise<void> {
    const run = this.runs.get(id);
    if (!run) return;
    run.controller.abort(reason);
    await run.done;
  }

  private async work(job: UploadJob, run: Run): Promise<void> {
    const signal = run.controller.signal;
    try {
      await this.slots.acquire(this.order.get(job.id) ?? 0, signal);
    } catch (err) {
      await this.settleInterrupted(job, signal, err);
      return;
    }
    run.active = true;
    try {
      job.state = 'uploading';
      job.attempts++;
      delete job.error;
      this.rateSince.set(job.id, this.clock());
      this.samples.delete(job.id);
      await this.save(job);
      this.emit('changed', job);

      try {
        await this.upload(job, run, signal);
      } catch (err) {
        if (!(err instanceof EvidenceGone) || signal.aborted) throw err;
        // Purged at the service (incomplete for 24 h) or its upload URI expired: once per run, start over with new evidence.
        await this.restart(job);
        await this.upload(job, run, signal);
      }

      job.state = 'completed';
      job.completedAt = new Date(this.clock()).toISOString();
      await this.save(job);
      await this.cleanUp(job);
      this.emit('finished', job);
    } catch (err) {
      await this.settleInterrupted(job, signal, err);
    } finally {
      run.active = false;
      this.slots.release();
      this.inFlightClear(job);
    }
  }

  /** The job's state after a run stopped: interrupted on purpose, or failed. */
  private async settleInterrupted(job: UploadJob, signal: AbortSignal, err: unknown): Promise<void> {
    const reason: unknown = signal.aborted ? signal.reason : err;
    if (reason instanceof Interrupted) {
      if (reason.next === 'canceled') return; // cancel() finishes the job
      job.state = reason.next;
      await this.save(job);
      this.emit('changed', job);
      return;
    }
    job.state = 'failed';
    job.error = describe(err);
    await this.save(job);
    this.emit('finished', job);
  }

  /** Case, evidence, parts (in parallel where allowed), then the evidence is completed. */
  private async upload(job: UploadJob, run: Run, signal: AbortSignal): Promise<void> {
    const { evidence } = this.options;
    if (job.caseTarget.kind === 'new' && !job.caseId) {
      const c = job.caseTarget;
      job.caseId = (
        await evidence.createCase({
          idempotencyKey: idempotencyKeys.case(job),
          name: c.name,
          ...(c.departmentId ? { departmentId: c.departmentId } : {}),
          ...(c.categoryId ? { categoryId: c.categoryId } : {}),
          ...(c.description ? { description: c.description } : {}),
        })
      ).caseId;
      await this.save(job);
    } else if (job.caseTarget.kind === 'existing') {
      job.caseId = job.caseTarget.caseId;
    }
    signal.throwIfAborted();
    if (!job.evidenceId) await this.evidenceStep(() => this.createEvidence(job));
    signal.throwIfAborted();
    if (job.caseId && !job.caseLinked) {
      await evidence.linkEvidenceToCase(job.caseId, job.evidenceId!);
      job.caseLinked = true;
      await this.save(job);
    }

    await this.evidenceStep(() => this.uploadParts(job, run, signal));

    signal.throwIfAborted();
    job.state = 'completing';
    await this.save(job);
    this.emit('changed', job);
    await this.evidenceStep(() => evidence.completeEvidence(job.evidenceId!));
  }

  private async createEvidence(job: UploadJob): Promise<void> {
    const categoryId = job.categoryId ?? (job.caseTarget.kind === 'new' ? job.caseTarget.categoryId : undefined);
    const created = await this.options.evidence.createEvidence({
      idempotencyKey: idempotencyKeys.evidence(job),
      name: job.evidence.name,
      ...(job.evidence.description ? { description: job.evidence.description } : {}),
      ...(job.evidence.startTimeUtc ? { startTimeUtc: job.evidence.startTimeUtc } : {}),
      ...(job.evidence.endTimeUtc ? { endTimeUtc: job.evidence.endTimeUtc } : {}),
      ...(categoryId ? { categoryId } : {}),
    });
    job.evidenceId = created.evidenceId;
    job.caseLinked = false;
    await this.save(job);
    this.emit('changed', job);
  }


  /**
   * Parts through a small pool whose width follows the throttling setting (one
   * file at a time while on, read again whenever it changes); the first failure
   * stops the others (each keeps what was acknowledged).
   */
  private async uploadParts(job: UploadJob, run: Run, outer: AbortSignal): Promise<void> {
    const todo = job.parts.filter((p) => p.state !== 'completed');
    const pool = new PartPool(this.throttling);
    run.parts = pool;
    const inner = new AbortController();
    const onOuter = () => inner.abort(outer.reason);
    outer.addEventListener('abort', onOuter, { once: true });
    const deps = this.partDeps(job);
    let firstError: unknown;
    const attempt = async (part: UploadPart, controller: AbortController): Promise<'done' | 'yielded' | 'failed'> => {
      const onInner = () => controller.abort(inner.signal.reason);
      inner.signal.addEventListener('abort', onInner, { once: true });
      try {
        await uploadPart(job, part, deps, controller.signal);
        this.emit('changed', job);
        return 'done';
      } catch (err) {
        if (controller.signal.reason instanceof PartYield && !inner.signal.aborted) return 'yielded';
        if (firstError === undefined) firstError = err;
        inner.abort(err);
        return 'failed';
      } finally {
        inner.signal.removeEventListener('abort', onInner);
        pool.running.delete(part.index);
        pool.gate.release();
      }
    };
    const worker = async (): Promise<void> => {
      for (let part = todo.shift(); part; part = todo.shift()) {
        try {
          await pool.gate.acquire(part.index, inner.signal);
        } catch {
          return; // stopped while waiting for its turn
        }
        if (inner.signal.aborted) {
          pool.gate.release();
          return;
        }
        const controller = new AbortController();
        const settled = attempt(part, controller);
        pool.running.set(part.index, { controller, settled: settled.then(() => undefined) });
        const outcome = await settled;
        if (outcome === 'failed') return;
        if (outcome === 'yielded') todo.unshift(part); // resumes from its last acknowledged block when its turn comes
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL_PARTS, Math.max(1, todo.length)) }, worker));
    } finally {
      outer.removeEventListener('abort', onOuter);
      if (run.parts === pool) delete run.parts;
    }
    outer.throwIfAborted();
    if (firstError !== undefined) throw firstError;
  }



  private partDeps(job: UploadJob): PartUploadDeps {
    const { evidence, secrets } = this.options;
    return {
      evidence,
      secrets,
      blobs: this.limitedBlobs(),
      save: () => this.save(job),
      onBytes: (part, n) => this.progress(job, part, n),
      onBlockSettled: (part) => this.inFlight.delete(`${job.id}:${part.index}`),
      blockTimeoutMs: (bytes) => {
        const rate = this.options.limiter.rateBytesPerSecond;
        if (this.throttling && rate !== undefined && Number.isFinite(rate) && rate > 0) return 60_000 + Math.ceil((2 * bytes * 1000) / rate);
        return 10 * 60_000;
      },
    };
  }

  /** 404 inside the evidence means the service purged it. */
  private async evidenceStep(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      // 404: unknown; 410: an idempotent create whose object was deleted or purged since.
      if (err instanceof ServiceError && (err.status === 404 || err.status === 410)) throw new EvidenceGone(err.message, { cause: err });
      // An upload URI lives as long as incomplete evidence (24 h): once it is refused, the evidence goes too.
      if (err instanceof UploadUriRejected) throw new EvidenceGone(err.message, { cause: err });
      throw err;
    }
  }

  private async restart(job: UploadJob): Promise<void> {
    if (job.evidenceId) {
      // Usually purged already; otherwise it must not linger half-uploaded next to the new one.
      await this.options.evidence.deleteEvidence(job.evidenceId).catch((err: unknown) => {
        this.options.onWarning?.(`Could not delete the abandoned evidence of upload ${job.id}: ${describe(err)}`);
      });
    }
    job.generation = (job.generation ?? 0) + 1;
    delete job.evidenceId;
    job.caseLinked = false;
    for (const part of job.parts) {
      await forgetPartSecrets(this.options.secrets, job.id, part.index);
      resetPart(part);
    }
    await this.save(job);
  }

  /** While throttling is on, every byte passes the shared limiter before it leaves. */
  private limitedBlobs(): BlobStore {
    const { blobs, limiter } = this.options;
    return {
      getBlockList: (uri, signal) => blobs.getBlockList(uri, signal),
      putBlockList: (uri, ids, headers, signal) => blobs.putBlockList(uri, ids, headers, signal),
      putBlock: (uri, id, data, opts) =>
        blobs.putBlock(uri, id, data, {
          ...opts,
          // Checked per chunk: turning throttling on or off applies at once.
          beforeBytes: async (n: number) => {
            await opts.beforeBytes?.(n);
            if (this.throttling) await limiter.take(n, opts.signal);
          },
        }),
    };
  }

  // ---- Progress ----------------------------------------------------------------------

  private progress(job: UploadJob, part: UploadPart, bytes: number): void {
    const key = `${job.id}:${part.index}`;
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + bytes);
    const now = this.clock();
    const list = this.samples.get(job.id) ?? [];
    list.push({ t: now, bytes });
    while (list.length > 0 && now - list[0].t > RATE_WINDOW_MS) list.shift();
    this.samples.set(job.id, list);
    const last = this.lastProgress.get(job.id) ?? 0;
    if (now - last >= this.progressIntervalMs) {
      this.lastProgress.set(job.id, now);
      this.emit('progress', job);
    }
  }

  private inFlightClear(job: UploadJob): void {
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

  private snapshotOf(job: UploadJob): UploadJobSnapshot {
    const parts = job.parts.map((p) => {
      const done = p.state === 'completed' || p.state === 'committed';
      const cipherBytes = cipherLength(p.bytes, p.encryption !== undefined);
      const sent = done ? cipherBytes : p.bytesSent + (this.inFlight.get(`${job.id}:${p.index}`) ?? 0);
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
      ...(job.evidenceId !== undefined ? { evidenceId: job.evidenceId } : {}),
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

  private emit(kind: 'changed' | 'progress' | 'finished', job: UploadJob): void {
    if (this.disposed) return;
    this.events.fire({ kind, job: this.snapshotOf(job) });
  }

  // ---- Persistence and clean-up ------------------------------------------------------

  /** Saves are chained per job, so the store always ends with the latest state. */
  private save(job: UploadJob): Promise<void> {
    const previous = this.saving.get(job.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (!(await this.options.store.set(jobKey(job.id), structuredClone(job)))) throw new Error(`Could not save upload ${job.id}.`);
    });
    this.saving.set(job.id, next.catch(() => undefined));
    return next;
  }

  private writeIndex(): Promise<void> {
    const next = this.indexWrite.then(async () => {
      if (!(await this.options.store.set(INDEX_KEY, [...this.jobs.keys()]))) throw new Error('Could not save the upload list.');
    });
    this.indexWrite = next.catch(() => undefined);
    return next;
  }

  private async cleanUp(job: UploadJob): Promise<void> {
    try {
      await fs.rm(this.stagingFolder(job.id), { recursive: true, force: true });
    } catch (err) {
      this.options.onWarning?.(`Could not remove the staged files of upload ${job.id}: ${describe(err)}`);
    }
    for (const p of job.parts) await forgetPartSecrets(this.options.secrets, job.id, p.index);
  }

  private async finishCancel(job: UploadJob): Promise<void> {
    if (job.serviceCleanupPending && job.evidenceId) {
      try {
        await this.options.evidence.deleteEvidence(job.evidenceId);
        delete job.serviceCleanupPending;
        delete job.error;
      } catch (err) {
        job.error = `The evidence could not be deleted at the service yet (${describe(err)}); trying again at the next start.`;
      }
    } else delete job.serviceCleanupPending;
    await this.save(job);
    this.emit('finished', job);
  }

  /** Removes staged folders of jobs that no longer exist or are finished. */
  private async sweepStaging(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.options.archiveFolder);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(STAGING_PREFIX)) continue;
      const job = this.jobs.get(name.slice(STAGING_PREFIX.length));
      if (job && job.state !== 'completed' && job.state !== 'canceled') continue;
      await fs.rm(path.join(this.options.archiveFolder, name), { recursive: true, force: true }).catch((err: unknown) => {
        this.options.onWarning?.(`Could not remove the staged folder ${name}: ${describe(err)}`);
      });
    }
  }

  private async checkNewJob(id: string, input: NewUploadJob): Promise<void> {
    if (!JOB_ID.test(id)) throw new UploadInputError('id', `"${id}" is not a valid upload id (letters, digits, - and _)`);
    if (this.jobs.has(id)) throw new UploadInputError('id', `an upload ${id} already exists`);
    if (typeof input.title !== 'string' || !input.title.trim()) throw new UploadInputError('title', 'must not be empty');
    if (!input.evidence || typeof input.evidence.name !== 'string' || !input.evidence.name.trim()) {
      throw new UploadInputError('evidence.name', 'must not be empty');
    }
    const target = input.caseTarget;
    if (!target || !['none', 'existing', 'new'].includes(target.kind)) throw new UploadInputError('caseTarget.kind', 'must be none, existing or new');
    if (target.kind === 'existing' && !target.caseId) throw new UploadInputError('caseTarget.caseId', 'must not be empty');
    if (target.kind === 'new' && !target.name?.trim()) throw new UploadInputError('caseTarget.name', 'must not be empty');
    if (!Array.isArray(input.parts) || input.parts.length === 0) throw new UploadInputError('parts', 'an upload needs at least one file');
    const staging = this.stagingFolder(id);
    const names = new Set<string>();
    for (const [i, p] of input.parts.entries()) {
      const f = `parts[${i}]`;
      if (!p.name?.trim()) throw new UploadInputError(`${f}.name`, 'must not be empty');
      if (names.has(p.name)) throw new UploadInputError(`${f}.name`, `"${p.name}" appears twice`);
      names.add(p.name);
      if (!/^[\w.+-]+\/[\w.+-]+$/.test(p.mimeType ?? '')) throw new UploadInputError(`${f}.mimeType`, `"${p.mimeType}" is not a MIME type like video/mp4`);
      if (!/^[0-9a-fA-F]{64}$/.test(p.sha256 ?? '')) throw new UploadInputError(`${f}.sha256`, 'must be 64 hex digits');
      if (!Number.isSafeInteger(p.bytes) || p.bytes < 0) throw new UploadInputError(`${f}.bytes`, 'must be a whole number of bytes');
      const rel = path.relative(staging, path.resolve(p.file ?? ''));
      if (!p.file || rel.startsWith('..') || path.isAbsolute(rel) || rel === '') {
        throw new UploadInputError(`${f}.file`, `${p.file} is not in the staging folder ${staging}`);
      }
      let size: number;
      try {
        const stat = await fs.stat(p.file);
        if (!stat.isFile()) throw new Error('not a file');
        size = stat.size;
      } catch {
        throw new UploadInputError(`${f}.file`, `${p.file} is not a readable file`);
      }
      if (size !== p.bytes) throw new UploadInputError(`${f}.bytes`, `the staged file has ${size} bytes, not ${p.bytes}`);
    }
  }

  private require(id: string): UploadJob {
    const job = this.jobs.get(id);
    if (!job) throw new UploadInputError('id', `there is no upload ${id}`);
    return job;
  }
}

/**
 * Records written before upload URIs moved to the SecretStore kept them in the
 * part: they move there now (the journal compacts the old lines away when next opened).
 */
async function moveUploadUrisToSecrets(job: UploadJob, secrets: SecretStore): Promise<boolean> {
  let moved = false;
  for (const part of job.parts as (UploadPart & { uploadUri?: string })[]) {
    if (part.uploadUri === undefined) continue;
    if (part.state !== 'completed' && job.state !== 'completed' && job.state !== 'canceled') await secrets.store(uploadUriSecret(job.id, part.index), part.uploadUri);
    delete part.uploadUri;
    moved = true;
  }
  return moved;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
