// The upload queue: evidence waits in the archive destination folder and goes
// out part by part, encrypted, under the role's throttling rules. It owns the
// UploadJob records (persisted through keyv after every acknowledged step) and
// publishes snapshots and events for the console.
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Keyv from 'keyv';
import type { SecretStore } from '../config/secretStore';
import { Emitter } from '../events';
import { contentKeySecret, uploadPart } from './partUpload';
import type { BandwidthLimiter, BlobStore, EvidenceService } from './ports';
import {
  assertTransition,
  cipherLength,
  type CaseTarget,
  type UploadJob,
  type UploadJobSnapshot,
  type UploadJobState,
  type UploadPart,
} from './uploadJob';

/** [doc] Throttling off: up to five uploads at once (and five resources per evidence). */
export const MAX_PARALLEL_UPLOADS = 5;
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

export interface UploadQueueOptions {
  store: Keyv;
  secrets: SecretStore;
  evidence: EvidenceService;
  blobs: BlobStore;
  /** Shared by every upload while throttling is on. */
  limiter: BandwidthLimiter;
  /** Root of staging: <archiveDestinationFolder>/<jobId>/. */
  archiveFolder: string;
  throttling: boolean;
  blockSize?: number;
  clock?: () => number;
}

export interface NewPart {
  /** A file already in this job's staging folder (see stagingFolder). */
  file: string;
  name: string;
  mimeType: string;
  bytes: number;
  sha256: string;
  cameraId?: string;
  startTimeUtc?: string;
  endTimeUtc?: string;
}

export interface NewUploadJob {
  id?: string;
  title: string;
  requestedBy?: string;
  videoRequestId?: string;
  evidence: UploadJob['evidence'];
  caseTarget: CaseTarget;
  parts: NewPart[];
}

export type UploadEvent =
  | { kind: 'changed'; job: UploadJobSnapshot }
  | { kind: 'progress'; job: UploadJobSnapshot }
  | { kind: 'finished'; job: UploadJobSnapshot }
  | { kind: 'removed'; jobId: string };

const INDEX_KEY = 'jobs';
const jobKey = (id: string) => `job:${id}`;

/** A FIFO semaphore whose waiters are served in job order, so older evidence goes first. */
class Slots {
  private waiters: { order: number; resolve: () => void }[] = [];
  private used = 0;
  constructor(public capacity: number) {}

  acquire(order: number, signal: AbortSignal): Promise<void> {
    if (this.used < this.capacity && this.waiters.length === 0) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { order, resolve };
      this.waiters.push(waiter);
      this.waiters.sort((a, b) => a.order - b.order);
      signal.addEventListener('abort', () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(signal.reason);
        }
      }, { once: true });
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

class Interrupted extends Error {
  constructor(readonly next: UploadJobState) {
    super(`interrupted (${next})`);
    this.name = 'Interrupted';
  }
}

export class UploadQueue {
  private readonly jobs = new Map<string, UploadJob>();
  private readonly running = new Map<string, AbortController>();
  private readonly samples = new Map<string, { t: number; bytes: number }[]>();
  private readonly events = new Emitter<UploadEvent>();
  readonly onDidChange = this.events.event;
  private readonly slots: Slots;
  private throttling: boolean;
  private started = false;
  private order = 0;
  private readonly clock: () => number;
  private readonly blockSize: number;
  private saving = new Map<string, Promise<void>>();

  private constructor(private readonly options: UploadQueueOptions) {
    this.throttling = options.throttling;
    this.slots = new Slots(options.throttling ? 1 : MAX_PARALLEL_UPLOADS);
    this.clock = options.clock ?? Date.now;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (this.blockSize % 16 !== 0 || this.blockSize <= 0) throw new Error('blockSize must be a positive multiple of 16');
  }

  /** Loads every job; work that a crash interrupted is queued again (start() runs it). */
  static async open(options: UploadQueueOptions): Promise<UploadQueue> {
    const queue = new UploadQueue(options);
    const ids = ((await options.store.get(INDEX_KEY)) as string[] | undefined) ?? [];
    for (const id of ids) {
      const job = (await options.store.get(jobKey(id))) as UploadJob | undefined;
      if (!job) continue;
      if (job.state === 'uploading' || job.state === 'completing') job.state = 'queued';
      queue.jobs.set(id, job);
    }
    return queue;
  }

  /** The folder where the parts of a job must be staged before enqueue. */
  stagingFolder(jobId: string): string {
    return path.join(this.options.archiveFolder, jobId);
  }

  newJobId(): string {
    return randomUUID();
  }

  start(): void {
    this.started = true;
    for (const job of this.sortedJobs()) if (job.state === 'queued') this.run(job);
  }

  /** Stops the work in flight without changing any job: a later start() resumes it. */
  async stop(): Promise<void> {
    this.started = false;
    const stopping = [...this.running.values()];
    for (const c of stopping) c.abort(new Interrupted('queued'));
    await this.idle();
  }

  /** Resolves when nothing is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(this.saving.values());
  }

  setThrottling(on: boolean): void {
    this.throttling = on;
    this.slots.setCapacity(on ? 1 : MAX_PARALLEL_UPLOADS);
  }

  get isThrottled(): boolean {
    return this.throttling;
  }

  async enqueue(input: NewUploadJob): Promise<UploadJobSnapshot> {
    if (input.parts.length === 0) throw new Error('An upload needs at least one file.');
    const id = input.id ?? this.newJobId();
    if (this.jobs.has(id)) throw new Error(`Upload ${id} already exists.`);
    const staging = this.stagingFolder(id);
    for (const p of input.parts) {
      const rel = path.relative(staging, path.resolve(p.file));
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${p.file} is not in the staging folder ${staging}.`);
      const stat = await fs.stat(p.file);
      if (stat.size !== p.bytes) throw new Error(`${p.name}: the staged file has ${stat.size} bytes, not ${p.bytes}.`);
    }
    const job: UploadJob = {
      id,
      title: input.title,
      createdAt: new Date(this.clock()).toISOString(),
      requestedBy: input.requestedBy,
      videoRequestId: input.videoRequestId,
      evidence: input.evidence,
      caseTarget: input.caseTarget,
      parts: input.parts.map((p, index): UploadPart => ({
        ...p,
        index,
        state: 'pending',
        blocksCommitted: 0,
        blockSize: this.blockSize,
        bytesSent: 0,
      })),
      state: 'queued',
      attempts: 0,
    };
    this.jobs.set(id, job);
    await this.save(job);
    const ids = [...this.jobs.keys()];
    await this.options.store.set(INDEX_KEY, ids);
    this.emit('changed', job);
    if (this.started) this.run(job);
    return this.snapshotOf(job);
  }

  get(id: string): UploadJobSnapshot | undefined {
    const job = this.jobs.get(id);
    return job && this.snapshotOf(job);
  }

  snapshot(): UploadJobSnapshot[] {
    return this.sortedJobs().map((j) => this.snapshotOf(j));
  }

  async pause(id: string): Promise<void> {
    const job = this.require(id);
    assertTransition(job, 'paused');
    const running = this.running.get(id);
    if (running) {
      running.abort(new Interrupted('paused'));
      await this.until(() => !this.running.has(id));
    } else {
      job.state = 'paused';
      await this.save(job);
      this.emit('changed', job);
    }
  }

  async resume(id: string): Promise<void> {
    const job = this.require(id);
    if (job.state === 'queued' || job.state === 'uploading') return;
    assertTransition(job, 'queued');
    job.state = 'queued';
    job.error = undefined;
    await this.save(job);
    this.emit('changed', job);
    if (this.started) this.run(job);
  }

  /** Retry a failed upload from where it stopped. */
  retry(id: string): Promise<void> {
    return this.resume(id);
  }

  /** Cancels: stops the work, removes the evidence at the service and the staged files. */
  async cancel(id: string): Promise<void> {
    const job = this.require(id);
    assertTransition(job, 'canceled');
    const running = this.running.get(id);
    if (running) {
      running.abort(new Interrupted('canceled'));
      await this.until(() => !this.running.has(id));
    }
    if (job.evidenceId) await this.options.evidence.deleteEvidence(job.evidenceId);
    job.state = 'canceled';
    job.completedAt = new Date(this.clock()).toISOString();
    await this.save(job);
    await this.cleanUp(job);
    this.emit('finished', job);
  }

  /** Forgets finished jobs (completed or canceled) from the list. */
  async clearFinished(): Promise<number> {
    let n = 0;
    for (const job of [...this.jobs.values()]) {
      if (job.state === 'completed' || job.state === 'canceled') {
        this.jobs.delete(job.id);
        await this.options.store.delete(jobKey(job.id));
        this.events.fire({ kind: 'removed', jobId: job.id });
        n++;
      }
    }
    await this.options.store.set(INDEX_KEY, [...this.jobs.keys()]);
    return n;
  }

  dispose(): void {
    for (const c of this.running.values()) c.abort(new Interrupted('queued'));
    this.events.dispose();
  }

  private run(job: UploadJob): void {
    if (this.running.has(job.id)) return;
    const controller = new AbortController();
    this.running.set(job.id, controller);
    const order = this.order++;
    void this.work(job, controller.signal, order).finally(() => this.running.delete(job.id));
  }

  private async work(job: UploadJob, signal: AbortSignal, order: number): Promise<void> {
    const { evidence } = this.options;
    try {
      job.state = 'uploading';
      job.attempts++;
      await this.save(job);
      this.emit('changed', job);

      if (job.caseTarget.kind === 'new' && !job.caseId) {
        const c = job.caseTarget;
        job.caseId = (await evidence.createCase({ idempotencyKey: `${job.id}:case`, name: c.name, departmentId: c.departmentId, categoryId: c.categoryId, description: c.description })).caseId;
        await this.save(job);
      } else if (job.caseTarget.kind === 'existing') {
        job.caseId = job.caseTarget.caseId;
      }
      if (!job.evidenceId) {
        job.evidenceId = (await evidence.createEvidence({ idempotencyKey: `${job.id}:evidence`, ...job.evidence })).evidenceId;
        await this.save(job);
        if (job.caseId) await evidence.linkEvidenceToCase(job.caseId, job.evidenceId);
      }

      const deps = {
        evidence,
        blobs: this.limitedBlobs(),
        secrets: this.options.secrets,
        save: () => this.save(job),
        onBytes: (n: number) => this.progress(job, n),
      };
      await Promise.all(
        job.parts.map(async (part) => {
          if (part.state === 'completed') return;
          await this.slots.acquire(order, signal);
          try {
            signal.throwIfAborted();
            await uploadPart(job, part, deps, signal);
          } finally {
            this.slots.release();
          }
        }),
      );

      job.state = 'completing';
      await this.save(job);
      await evidence.completeEvidence(job.evidenceId);
      job.state = 'completed';
      job.completedAt = new Date(this.clock()).toISOString();
      await this.save(job);
      await this.cleanUp(job);
      this.emit('finished', job);
    } catch (err) {
      const reason = signal.aborted ? signal.reason : err;
      if (reason instanceof Interrupted) {
        if (reason.next === 'paused') {
          job.state = 'paused';
          await this.save(job);
          this.emit('changed', job);
        } else if (reason.next === 'queued') {
          job.state = 'queued'; // stopping: resumes on the next start()
          await this.save(job);
        }
        return; // 'canceled' is finished by cancel()
      }
      job.state = 'failed';
      job.error = err instanceof Error ? err.message : String(err);
      await this.save(job);
      this.emit('finished', job);
    }
  }

  /** While throttling is on, every byte passes the shared limiter before it leaves. */
  private limitedBlobs(): BlobStore {
    const { blobs, limiter } = this.options;
    return {
      getBlockList: (uri, signal) => blobs.getBlockList(uri, signal),
      putBlockList: (uri, ids, headers, signal) => blobs.putBlockList(uri, ids, headers, signal),
      putBlock: async (uri, id, data, opts) => {
        if (!this.throttling) return blobs.putBlock(uri, id, data, opts);
        return blobs.putBlock(uri, id, data, { ...opts, beforeBytes: (n: number) => limiter.take(n, opts.signal) });
      },
    };
  }

  private progress(job: UploadJob, bytes: number): void {
    const now = this.clock();
    const list = this.samples.get(job.id) ?? [];
    list.push({ t: now, bytes });
    while (list.length > 0 && now - list[0].t > 5000) list.shift();
    this.samples.set(job.id, list);
    this.emit('progress', job);
  }

  private rateOf(jobId: string): number {
    const list = this.samples.get(jobId);
    if (!list || list.length < 2) return 0;
    const span = (list.at(-1)!.t - list[0].t) / 1000;
    const bytes = list.slice(1).reduce((n, s) => n + s.bytes, 0);
    return span > 0 ? bytes / span : 0;
  }

  private snapshotOf(job: UploadJob): UploadJobSnapshot {
    const encrypted = (p: UploadPart) => p.encryption !== undefined;
    const parts = job.parts.map((p) => ({
      index: p.index,
      name: p.name,
      bytes: p.bytes,
      sentBytes: p.state === 'completed' || p.state === 'committed' ? p.bytes : Math.min(p.bytes, p.bytesSent),
      state: p.state,
      sha256: p.sha256,
    }));
    const totalBytes = job.parts.reduce((n, p) => n + p.bytes, 0);
    const sentBytes = parts.reduce((n, p) => n + p.sentBytes, 0);
    const rate = job.state === 'uploading' ? this.rateOf(job.id) : 0;
    const left = job.parts.reduce((n, p) => n + (p.state === 'completed' ? 0 : cipherLength(p.bytes, encrypted(p)) - p.bytesSent), 0);
    return {
      id: job.id,
      title: job.title,
      state: job.state,
      error: job.error,
      evidenceId: job.evidenceId,
      caseId: job.caseId,
      videoRequestId: job.videoRequestId,
      createdAt: job.createdAt,
      completedAt: job.completedAt,
      totalBytes,
      sentBytes,
      rate,
      secondsLeft: rate > 0 ? Math.ceil(left / rate) : undefined,
      parts,
    };
  }

  private emit(kind: 'changed' | 'progress' | 'finished', job: UploadJob): void {
    this.events.fire({ kind, job: this.snapshotOf(job) });
  }

  /** Saves are chained per job, so the store always ends with the latest state. */
  private save(job: UploadJob): Promise<void> {
    const previous = this.saving.get(job.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      await this.options.store.set(jobKey(job.id), structuredClone(job));
    });
    this.saving.set(job.id, next.catch(() => undefined));
    return next;
  }

  private async cleanUp(job: UploadJob): Promise<void> {
    await fs.rm(this.stagingFolder(job.id), { recursive: true, force: true });
    for (const p of job.parts) await this.options.secrets.delete(contentKeySecret(job.id, p.index));
  }

  private require(id: string): UploadJob {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`There is no upload ${id}.`);
    return job;
  }

  private sortedJobs(): UploadJob[] {
    return [...this.jobs.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise((r) => setTimeout(r, 10));
  }
}
