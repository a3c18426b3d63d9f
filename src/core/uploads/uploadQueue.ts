// The upload queue: evidence waits in the archive destination folder and goes
// out part by part, encrypted, under the role's throttling rules. It owns the
// UploadJob records (persisted through keyv after every acknowledged step) and
// publishes snapshots and events for the console.
//
// Throttling on: one upload (job) at a time, one file at a time, every byte
// through the shared bandwidth limiter. Off: up to five uploads at once, each
// with up to five files in parallel ([doc] limits of the vendor role: docs/clearance-api.md §1.1, §5).
//
// The queue decides what runs when (its job states, pause, resume, cancel);
// the parts are: the slots (how many at once), the job store (persistence),
// job validation (what enqueue accepts), the progress meter (rate, time left)
// and the evidence upload (one job's run against the service).
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Keyv from 'keyv';
import type { SecretStore } from '../config/secretStore';
import { gotNoAnswer } from '../net/errors';
import { Emitter } from '../events';
import { sharedBlockCrypto } from './blockCrypto';
import { BlockBudget } from './blockPipeline';
import { EvidenceUpload, type EvidenceUploadDeps } from './evidenceUpload';
import { JobStore } from './jobStore';
import { checkNewJob, checkQueueSettings, DEFAULT_BLOCK_SIZE, isJobId, toUploadJob, UploadInputError, type NewUploadJob } from './jobValidation';
import { forgetPartSecrets } from './partUpload';
import type { EvidenceAnchor } from './evidenceAnchor';
import type { BandwidthLimiter, BlobStore, EvidenceService } from './ports';
import { ProgressMeter } from './progressMeter';
import { MAX_PARALLEL_UPLOADS, Slots } from './slots';
import { assertTransition, type UploadJob, type UploadJobSnapshot, type UploadStartOver } from './uploadJob';

export { MAX_PARALLEL_PARTS, MAX_PARALLEL_UPLOADS } from './slots';
export { DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, newPartFromExport, UploadInputError, type NewPart, type NewUploadJob } from './jobValidation';

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
  /**
   * The head of the activity trail, asked when an evidence item is about to be
   * created: it goes into the evidence's custom fields (evidenceAnchor.ts) and is
   * kept on the job. Absent: no anchor.
   */
  anchor?: () => EvidenceAnchor | undefined | Promise<EvidenceAnchor | undefined>;
  /** Problems that do not stop the queue (a staged folder that could not be removed...). Never given secrets. */
  onWarning?: (message: string) => void;
}

export type UploadEvent =
  | { kind: 'changed'; job: UploadJobSnapshot }
  | { kind: 'progress'; job: UploadJobSnapshot }
  | { kind: 'finished'; job: UploadJobSnapshot }
  /** The job gave up its evidence (purged at the service, or its upload link refused) and starts over with new evidence. */
  | { kind: 'startedOver'; job: UploadJobSnapshot; startOver: UploadStartOver }
  | { kind: 'removed'; jobId: string };

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

interface Run {
  controller: AbortController;
  done: Promise<void>;
  /** Holds a job slot (is past the queue). */
  active: boolean;
  upload: EvidenceUpload;
}

export class UploadQueue {
  private readonly jobs = new Map<string, UploadJob>();
  private readonly order = new Map<string, number>();
  private nextOrder = 0;
  private readonly runs = new Map<string, Run>();
  private readonly events = new Emitter<UploadEvent>();
  /** Jobs added, changed, progressing, finished or removed. */
  readonly onDidChange = this.events.event;
  private readonly slots: Slots;
  private throttling: boolean;
  private started = false;
  private disposed = false;
  private readonly clock: () => number;
  private readonly blockSize: number;
  private readonly jobStore: JobStore;
  private readonly meter: ProgressMeter;
  private readonly uploadDeps: EvidenceUploadDeps;

  private constructor(private readonly options: UploadQueueOptions) {
    this.throttling = options.throttling;
    this.slots = new Slots(options.throttling ? 1 : MAX_PARALLEL_UPLOADS);
    this.clock = options.clock ?? Date.now;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.meter = new ProgressMeter(this.clock, options.progressIntervalMs ?? 250);
    checkQueueSettings(this.blockSize, options.archiveFolder);
    this.jobStore = new JobStore(options.store, options.secrets, () => this.jobs.keys());
    this.uploadDeps = {
      evidence: options.evidence,
      blobs: options.blobs,
      secrets: options.secrets,
      limiter: options.limiter,
      isThrottled: () => this.throttling,
      save: (job) => this.jobStore.save(job),
      changed: (job) => this.emit('changed', job),
      onBytes: (job, part, n, block) => {
        if (this.meter.bytes(job, part, n, block)) this.emit('progress', job);
      },
      onBlockSettled: (job, part, block) => this.meter.blockSettled(job, part, block),
      onWarning: (message) => this.options.onWarning?.(message),
      clock: this.clock,
      startedOver: (job, startOver) => {
        if (!this.disposed) this.events.fire({ kind: 'startedOver', job: this.meter.snapshotOf(job), startOver });
      },
      budget: new BlockBudget(),
      crypto: sharedBlockCrypto(),
      ...(options.anchor ? { anchor: options.anchor } : {}),
    };
  }

  /**
   * Loads every job; work that a crash interrupted is queued again (start()
   * runs it). Staged folders that belong to no job (an export that never
   * reached the queue) are removed.
   */
  static async open(options: UploadQueueOptions): Promise<UploadQueue> {
    const queue = new UploadQueue(options);
    for (const job of await queue.jobStore.load()) {
      queue.jobs.set(job.id, job);
      queue.order.set(job.id, queue.nextOrder++);
    }
    await fs.mkdir(options.archiveFolder, { recursive: true });
    await queue.sweepStaging();
    return queue;
  }

  /** The folder where the parts of a job must be staged before enqueue. */
  stagingFolder(jobId: string): string {
    if (!isJobId(jobId)) throw new UploadInputError('id', `"${jobId}" is not a valid upload id`);
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
    await this.jobStore.settled();
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
        ...active.slice(0, 1).map(([, r]) => r.upload.parts?.narrow()),
      ]);
    } else {
      for (const r of this.runs.values()) r.upload.parts?.widen();
    }
  }

  get isThrottled(): boolean {
    return this.throttling;
  }

  /** Adds a job whose files are staged; it runs when its turn comes. */
  async enqueue(input: NewUploadJob): Promise<UploadJobSnapshot> {
    const id = input.id ?? this.newJobId();
    await checkNewJob(id, input, { exists: (i) => this.jobs.has(i), stagingFolder: (i) => this.stagingFolder(i) });
    const job = toUploadJob(id, input, new Date(this.clock()).toISOString(), this.blockSize);
    this.jobs.set(id, job);
    this.order.set(id, this.nextOrder++);
    try {
      await this.jobStore.save(job);
      await this.jobStore.writeIndex();
    } catch (err) {
      this.jobs.delete(id);
      this.order.delete(id);
      throw err;
    }
    this.emit('changed', job);
    if (this.started) this.run(job);
    return this.meter.snapshotOf(job);
  }

  get(id: string): UploadJobSnapshot | undefined {
    const job = this.jobs.get(id);
    return job && this.meter.snapshotOf(job);
  }

  /** Resolves once the job is completed, canceled or failed. */
  whenSettled(id: string): Promise<UploadJobSnapshot> {
    return new Promise((resolve) => {
      const check = (): void => {
        const job = this.get(id);
        if (job && (job.state === 'completed' || job.state === 'canceled' || job.state === 'failed')) {
          sub.dispose();
          resolve(job);
        }
      };
      const sub = this.onDidChange(check);
      check();
    });
  }

  /** Every job, oldest first. */
  snapshot(): UploadJobSnapshot[] {
    return [...this.jobs.values()].map((j) => this.meter.snapshotOf(j));
  }

  async pause(id: string): Promise<void> {
    const job = this.require(id);
    if (job.state === 'paused') return;
    assertTransition(job, 'paused');
    if (this.runs.has(id)) {
      await this.interrupt(id, new Interrupted('paused'));
    } else {
      job.state = 'paused';
      await this.jobStore.save(job);
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
    delete job.unreachable;
    await this.jobStore.save(job);
    this.emit('changed', job);
    if (this.started) this.run(job);
  }

  /**
   * Pauses every upload that can be paused (queued, uploading or completing), each
   * as pause() does; answers how many are paused now. A running one that finishes
   * before it sees the pause is not counted. Every job is tried; the first failure
   * (a save) is thrown after the others.
   */
  async pauseAll(): Promise<number> {
    // Every pause starts in this one step (its run aborted, or the state set), so a
    // slot that one frees cannot start another job of the list in between.
    const outcomes = await Promise.allSettled(
      [...this.jobs.values()]
        .filter((job) => PAUSABLE.includes(job.state))
        .map(async (job) => {
          await this.pause(job.id);
          return job.state === 'paused';
        }),
    );
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes.filter((o) => o.status === 'fulfilled' && o.value).length;
  }

  /** Resumes every paused upload, oldest first, each as resume() does; answers how many. Failed uploads are left to retry(). */
  async resumeAll(): Promise<number> {
    let resumed = 0;
    let failure: { error: unknown } | undefined;
    for (const job of [...this.jobs.values()]) {
      if (job.state !== 'paused') continue;
      try {
        await this.resume(job.id);
        resumed++;
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
    return resumed;
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
    await this.jobStore.save(job);
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
        await this.jobStore.delete(job.id);
        for (const p of job.parts) await forgetPartSecrets(this.options.secrets, job.id, p.index);
        this.events.fire({ kind: 'removed', jobId: job.id });
        n++;
      }
    }
    await this.jobStore.writeIndex();
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
    const run: Run = { controller, active: false, done: Promise.resolve(), upload: new EvidenceUpload(job, this.uploadDeps) };
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
      delete job.unreachable;
      this.meter.start(job.id);
      await this.jobStore.save(job);
      this.emit('changed', job);

      await run.upload.run(signal);

      job.state = 'completed';
      job.completedAt = new Date(this.clock()).toISOString();
      await this.jobStore.save(job);
      await this.cleanUp(job);
      this.emit('finished', job);
    } catch (err) {
      await this.settleInterrupted(job, signal, err);
    } finally {
      run.active = false;
      this.slots.release();
      this.meter.stopped(job);
    }
  }

  /** The job's state after a run stopped: interrupted on purpose, or failed. */
  private async settleInterrupted(job: UploadJob, signal: AbortSignal, err: unknown): Promise<void> {
    const reason: unknown = signal.aborted ? signal.reason : err;
    if (reason instanceof Interrupted) {
      if (reason.next === 'canceled') return; // cancel() finishes the job
      job.state = reason.next;
      await this.jobStore.save(job);
      this.emit('changed', job);
      return;
    }
    job.state = 'failed';
    job.error = describe(err);
    if (gotNoAnswer(err)) job.unreachable = true;
    await this.jobStore.save(job);
    this.emit('finished', job);
  }

  private emit(kind: 'changed' | 'progress' | 'finished', job: UploadJob): void {
    if (this.disposed) return;
    this.events.fire({ kind, job: this.meter.snapshotOf(job) });
  }

  // ---- Clean-up ----------------------------------------------------------------------

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
    await this.jobStore.save(job);
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

  private require(id: string): UploadJob {
    const job = this.jobs.get(id);
    if (!job) throw new UploadInputError('id', `there is no upload ${id}`);
    return job;
  }
}

/** The states pause() accepts (the job runs or waits to run). */
const PAUSABLE: readonly UploadJob['state'][] = ['queued', 'uploading', 'completing'];


function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
