// Where UploadJob records are kept: keyv (over the JournalStore in the
// product), one key per job plus the list of job ids. The queue saves a job
// after every acknowledged step, so saves of one job are chained: the store
// always ends with its latest state, and a crash loses nothing acknowledged.
import type Keyv from 'keyv';
import type { SecretStore } from '../config/secretStore';
import { uploadUriSecret } from './partUpload';
import { cipherLength, PART_LAYOUT, type UploadJob, type UploadPart } from './uploadJob';

const INDEX_KEY = 'jobs';
const jobKey = (id: string) => `job:${id}`;

export class JobStore {
  private readonly saving = new Map<string, Promise<void>>();
  /** Per job, the save that has not copied the job yet. */
  private readonly waiting = new Map<string, Promise<void>>();
  private indexWrite: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Keyv,
    private readonly secrets: SecretStore,
    /** The ids of the jobs to list, read when each index write happens (so the last one written is the latest). */
    private readonly jobIds: () => Iterable<string>,
  ) {}

  /**
   * Every listed job, in list order. Work that a crash interrupted is queued
   * again; records of an older layout are brought up to date (and saved).
   */
  async load(): Promise<UploadJob[]> {
    const ids = ((await this.store.get(INDEX_KEY)) as string[] | undefined) ?? [];
    const jobs: UploadJob[] = [];
    for (const id of ids) {
      const job = (await this.store.get(jobKey(id))) as UploadJob | undefined;
      if (!job) continue;
      if (job.state === 'uploading' || job.state === 'completing') job.state = 'queued';
      const moved = await moveUploadUrisToSecrets(job, this.secrets);
      if (migratePartLayout(job) || moved) await this.store.set(jobKey(id), job);
      jobs.push(job);
    }
    return jobs;
  }

  /**
   * Saves are chained per job, so the store always ends with the latest state. A
   * save asked for while another of the same job waits its turn shares that one: it
   * has not copied the job yet, so it writes this change too (several blocks
   * acknowledged at once cost one write).
   */
  save(job: UploadJob): Promise<void> {
    const waiting = this.waiting.get(job.id);
    if (waiting) return waiting;
    const previous = this.saving.get(job.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      // The copy is taken now: a change after this line needs a save of its own.
      this.waiting.delete(job.id);
      if (!(await this.store.set(jobKey(job.id), structuredClone(job)))) throw new Error(`Could not save upload ${job.id}.`);
    });
    this.waiting.set(job.id, next);
    this.saving.set(job.id, next.catch(() => undefined));
    return next;
  }

  writeIndex(): Promise<void> {
    const next = this.indexWrite.then(async () => {
      if (!(await this.store.set(INDEX_KEY, [...this.jobIds()]))) throw new Error('Could not save the upload list.');
    });
    this.indexWrite = next.catch(() => undefined);
    return next;
  }

  /** Forgets the record of a job (the list is written apart, see writeIndex). */
  async delete(id: string): Promise<void> {
    await this.store.delete(jobKey(id));
  }

  /** Resolves when every save and list write asked for so far is on disk (or has failed). */
  async settled(): Promise<void> {
    await Promise.all(this.saving.values());
    await this.indexWrite;
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

/**
 * Layout 1 (records of older versions) had blocks of blockSize bytes only, and
 * placed the next block at blocksCommitted × blockSize. Layout 2 places it at
 * bytesSent, the acknowledged prefix's size, as blocks may differ in size: the
 * same number for a layout-1 record, recomputed here from the facts that layout
 * placed blocks by. Nothing past the prefix was acknowledged in layout 1.
 */
export function migratePartLayout(job: UploadJob): boolean {
  let changed = false;
  for (const part of job.parts) {
    if (part.layout === PART_LAYOUT) continue;
    const cipherBytes = cipherLength(part.bytes, part.encryption !== undefined);
    part.bytesSent = Math.min(part.blocksCommitted * part.blockSize, cipherBytes);
    delete part.blocksAhead;
    part.layout = PART_LAYOUT;
    changed = true;
  }
  return changed;
}
