// One run of one upload job against the service: the case (new or existing),
// the evidence item, its link to the case, every part as a resource (see
// partUpload, in parallel where throttling allows), then the evidence is
// completed. Each step is saved once acknowledged. Evidence that the service
// purged (incomplete for 24 h, or its upload URI refused) is started over once per run.
import { BLOB_CHUNK_BYTES, BLOB_UNMETERED_CHUNK_BYTES } from '../clearance/blobClient';
import type { SecretStore } from '../config/secretStore';
import { ServiceError } from '../net/errors';
import type { BlockCrypto } from './blockCrypto';
import { anchorFields, type EvidenceAnchor } from './evidenceAnchor';
import { MAX_BLOCKS_IN_FLIGHT, throttledBlockBytes, type BlockBudget } from './blockPipeline';
import { forgetPartSecrets, resetPart, uploadPart, UploadUriRejected, type PartUploadDeps } from './partUpload';
import type { BandwidthLimiter, BlobStore, EvidenceService } from './ports';
import { MAX_PARALLEL_PARTS, PartPool, PartYield } from './slots';
import { idempotencyKeys, type UploadJob, type UploadPart, type UploadStartOver } from './uploadJob';

export interface EvidenceUploadDeps {
  evidence: EvidenceService;
  blobs: BlobStore;
  secrets: SecretStore;
  /** Shared by every upload while throttling is on. */
  limiter: BandwidthLimiter;
  /** Read at each step: throttling may be turned on or off while the job uploads. */
  isThrottled(): boolean;
  /** Persists the job; resolves once it is durable. */
  save(job: UploadJob): Promise<void>;
  /** The job changed in a way the console shows (evidence created, a part completed, completing). */
  changed(job: UploadJob): void;
  /** Bytes of a block on the wire, for rate and progress (not durable). */
  onBytes(job: UploadJob, part: UploadPart, n: number, block: number): void;
  /** A block was acknowledged (or a Put Block failed). */
  onBlockSettled(job: UploadJob, part: UploadPart, block: number): void;
  onWarning(message: string): void;
  /** The trail head to anchor in a new evidence item (its custom fields); none when absent or undefined. */
  anchor?: () => EvidenceAnchor | undefined | Promise<EvidenceAnchor | undefined>;
  /** Block buffers shared by every upload (bounds the memory of all blocks in flight). */
  budget?: BlockBudget;
  /** Encrypts and hashes blocks (off the main thread). */
  crypto?: BlockCrypto;
  /** Milliseconds since the epoch (the queue's clock). */
  clock?: () => number;
  /** The job gave up its evidence and starts over with new evidence (saved already). */
  startedOver?(job: UploadJob, startOver: UploadStartOver): void;
}

/** How many start-overs a job keeps in its record. */
const START_OVERS_KEPT = 10;

/** The service no longer has the evidence (purged after 24 h incomplete), or its upload link is refused: the job starts over. */
class EvidenceGone extends Error {
  constructor(
    readonly why: UploadStartOver['why'],
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

export class EvidenceUpload {
  /** Present while its parts upload: narrowed or widened when throttling changes. */
  parts?: PartPool;

  constructor(
    private readonly job: UploadJob,
    private readonly deps: EvidenceUploadDeps,
  ) {}

  /** Uploads the job to the end (the evidence completed), or throws; `signal` stops it, keeping what was acknowledged. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.upload(signal);
    } catch (err) {
      if (!(err instanceof EvidenceGone) || signal.aborted) throw err;
      // Purged at the service (incomplete for 24 h) or its upload URI expired: once per run, start over with new evidence.
      await this.restart(err.why);
      await this.upload(signal);
    }
  }

  /** Case, evidence, parts (in parallel where allowed), then the evidence is completed. */
  private async upload(signal: AbortSignal): Promise<void> {
    const { job } = this;
    const { evidence } = this.deps;
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
      await this.deps.save(job);
    } else if (job.caseTarget.kind === 'existing') {
      job.caseId = job.caseTarget.caseId;
    }
    signal.throwIfAborted();
    if (!job.evidenceId) await evidenceStep(() => this.createEvidence());
    signal.throwIfAborted();
    if (job.caseId && !job.caseLinked) {
      await evidence.linkEvidenceToCase(job.caseId, job.evidenceId!);
      job.caseLinked = true;
      await this.deps.save(job);
    }

    await evidenceStep(() => this.uploadParts(signal));

    signal.throwIfAborted();
    job.state = 'completing';
    await this.deps.save(job);
    this.deps.changed(job);
    await evidenceStep(() => evidence.completeEvidence(job.evidenceId!));
  }

  private async createEvidence(): Promise<void> {
    const { job } = this;
    const categoryId = job.categoryId ?? (job.caseTarget.kind === 'new' ? job.caseTarget.categoryId : undefined);
    if (!job.anchor && this.deps.anchor) {
      // Fixed and saved before the create: a retry with the same key must send the same body.
      const anchor = await this.deps.anchor();
      if (anchor) {
        job.anchor = { seq: anchor.seq, hash: anchor.hash };
        await this.deps.save(job);
      }
    }
    const created = await this.deps.evidence.createEvidence({
      idempotencyKey: idempotencyKeys.evidence(job),
      name: job.evidence.name,
      ...(job.evidence.description ? { description: job.evidence.description } : {}),
      ...(job.evidence.startTimeUtc ? { startTimeUtc: job.evidence.startTimeUtc } : {}),
      ...(job.evidence.endTimeUtc ? { endTimeUtc: job.evidence.endTimeUtc } : {}),
      ...(categoryId ? { categoryId } : {}),
      ...(job.anchor ? { customFields: anchorFields(job.anchor) } : {}),
    });
    job.evidenceId = created.evidenceId;
    job.caseLinked = false;
    await this.deps.save(job);
    this.deps.changed(job);
  }

  /**
   * Parts through a small pool whose width follows the throttling setting (one
   * file at a time while on, read again whenever it changes); the first failure
   * stops the others (each keeps what was acknowledged).
   */
  private async uploadParts(outer: AbortSignal): Promise<void> {
    const { job } = this;
    const todo = job.parts.filter((p) => p.state !== 'completed');
    const pool = new PartPool(this.deps.isThrottled());
    this.parts = pool;
    const inner = new AbortController();
    const onOuter = () => inner.abort(outer.reason);
    outer.addEventListener('abort', onOuter, { once: true });
    const deps = this.partDeps();
    let firstError: unknown;
    const attempt = async (part: UploadPart, controller: AbortController): Promise<'done' | 'yielded' | 'failed'> => {
      const onInner = () => controller.abort(inner.signal.reason);
      inner.signal.addEventListener('abort', onInner, { once: true });
      try {
        await uploadPart(job, part, deps, controller.signal);
        this.deps.changed(job);
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
      if (this.parts === pool) delete this.parts;
    }
    outer.throwIfAborted();
    // The first part's failure, rethrown as it was caught.
    if (firstError !== undefined) throw firstError as unknown;
  }

  private partDeps(): PartUploadDeps {
    const { job } = this;
    const { evidence, secrets, limiter } = this.deps;
    return {
      evidence,
      secrets,
      blobs: this.limitedBlobs(),
      save: () => this.deps.save(job),
      onBytes: (part, n, block) => this.deps.onBytes(job, part, n, block),
      onBlockSettled: (part, block) => this.deps.onBlockSettled(job, part, block),
      // Throttled: one block at a time, about a second at the cap (a crash sends little again); else several at once.
      pace: (part) =>
        this.deps.isThrottled()
          ? { inFlight: 1, blockBytes: throttledBlockBytes(limiter.rateBytesPerSecond, part.blockSize) }
          : { inFlight: MAX_BLOCKS_IN_FLIGHT },
      ...(this.deps.budget ? { budget: this.deps.budget } : {}),
      ...(this.deps.crypto ? { crypto: this.deps.crypto } : {}),
      blockTimeoutMs: (bytes) => {
        const rate = limiter.rateBytesPerSecond;
        if (this.deps.isThrottled() && rate !== undefined && Number.isFinite(rate) && rate > 0) return 60_000 + Math.ceil((2 * bytes * 1000) / rate);
        return 10 * 60_000;
      },
    };
  }

  /** While throttling is on, every byte passes the shared limiter before it leaves. */
  private limitedBlobs(): BlobStore {
    const { blobs, limiter } = this.deps;
    return {
      getBlockList: (uri, signal) => blobs.getBlockList(uri, signal),
      putBlockList: (uri, ids, headers, signal) => blobs.putBlockList(uri, ids, headers, signal),
      putBlock: (uri, id, data, opts) =>
        blobs.putBlock(uri, id, data, {
          ...opts,
          // Checked per chunk: turning throttling on or off applies at once. Unthrottled
          // chunks are large and leave without a wait.
          chunkBytes: () => (this.deps.isThrottled() ? BLOB_CHUNK_BYTES : (opts.chunkBytes?.() ?? BLOB_UNMETERED_CHUNK_BYTES)),
          beforeBytes: (n: number) => {
            const take = () => (this.deps.isThrottled() ? limiter.take(n, opts.signal) : undefined);
            const outer = opts.beforeBytes?.(n);
            return outer ? outer.then(take) : take();
          },
        }),
    };
  }

  private async restart(why: UploadStartOver['why']): Promise<void> {
    const { job } = this;
    const startOver: UploadStartOver = { at: new Date((this.deps.clock ?? Date.now)()).toISOString(), why, ...(job.evidenceId ? { abandonedEvidenceId: job.evidenceId } : {}) };
    if (job.evidenceId) {
      // Usually purged already; otherwise it must not linger half-uploaded next to the new one.
      await this.deps.evidence.deleteEvidence(job.evidenceId).catch((err: unknown) => {
        this.deps.onWarning(`Could not delete the abandoned evidence of upload ${job.id}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    job.generation = (job.generation ?? 0) + 1;
    delete job.evidenceId;
    delete job.anchor; // the new evidence (a new key) anchors the trail as it is then
    job.caseLinked = false;
    for (const part of job.parts) {
      await forgetPartSecrets(this.deps.secrets, job.id, part.index);
      resetPart(part);
    }
    job.startedOver = [...(job.startedOver ?? []), startOver].slice(-START_OVERS_KEPT);
    await this.deps.save(job);
    this.deps.startedOver?.(job, startOver);
  }
}

/** 404 inside the evidence means the service purged it. */
async function evidenceStep(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    // 404: unknown; 410: an idempotent create whose object was deleted or purged since.
    if (err instanceof ServiceError && (err.status === 404 || err.status === 410)) throw new EvidenceGone('purged', err.message, { cause: err });
    // An upload URI lives as long as incomplete evidence (24 h): once it is refused, the evidence goes too.
    if (err instanceof UploadUriRejected) throw new EvidenceGone('linkRefused', err.message, { cause: err });
    throw err;
  }
}
