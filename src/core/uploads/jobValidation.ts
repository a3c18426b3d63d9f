// What the upload queue accepts, and the checks it runs before it takes
// anything on: a NewUploadJob (its fields and its staged files) and the
// queue's own settings. Bad input is refused with an UploadInputError naming
// the field at fault, before anything is saved. Accepted input becomes an UploadJob record here.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExportPart } from '../site/model';
import { PART_LAYOUT, type CaseTarget, type UploadJob, type UploadPart } from './uploadJob';

export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;
/** The role sends 4–8 MiB blocks; smaller ones (down to 64 KiB) only where a test asks for them. */
export const MIN_BLOCK_SIZE = 64 * 1024;
export const MAX_BLOCK_SIZE = 8 * 1024 * 1024;

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

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

export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/** The settings of a queue: Put Block size and where the evidence is staged. */
export function checkQueueSettings(blockSize: number, archiveFolder: string): void {
  if (!Number.isInteger(blockSize) || blockSize % 16 !== 0 || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new UploadInputError('blockSize', `must be a multiple of 16 between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE} bytes, found ${blockSize}`);
  }
  if (!path.isAbsolute(archiveFolder)) throw new UploadInputError('archiveFolder', `must be an absolute path, found ${archiveFolder}`);
}

/** What checkNewJob needs to know of the queue. */
export interface JobIdContext {
  exists(id: string): boolean;
  /** Where the parts of a valid job id must be staged. */
  stagingFolder(id: string): string;
}

/** Checks the input of enqueue under the id it would take: its fields, and that every part is a staged file of the size given. */
export async function checkNewJob(id: string, input: NewUploadJob, queue: JobIdContext): Promise<void> {
  if (!JOB_ID.test(id)) throw new UploadInputError('id', `"${id}" is not a valid upload id (letters, digits, - and _)`);
  if (queue.exists(id)) throw new UploadInputError('id', `an upload ${id} already exists`);
  if (typeof input.title !== 'string' || !input.title.trim()) throw new UploadInputError('title', 'must not be empty');
  if (!input.evidence || typeof input.evidence.name !== 'string' || !input.evidence.name.trim()) {
    throw new UploadInputError('evidence.name', 'must not be empty');
  }
  const target = input.caseTarget;
  if (!target || !['none', 'existing', 'new'].includes(target.kind)) throw new UploadInputError('caseTarget.kind', 'must be none, existing or new');
  if (target.kind === 'existing' && !target.caseId) throw new UploadInputError('caseTarget.caseId', 'must not be empty');
  if (target.kind === 'new' && !target.name?.trim()) throw new UploadInputError('caseTarget.name', 'must not be empty');
  if (!Array.isArray(input.parts) || input.parts.length === 0) throw new UploadInputError('parts', 'an upload needs at least one file');
  const staging = queue.stagingFolder(id);
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

/** The record of an accepted (checked) job: queued, nothing sent yet. */
export function toUploadJob(id: string, input: NewUploadJob, createdAt: string, blockSize: number): UploadJob {
  return {
    id,
    title: input.title.trim(),
    createdAt,
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
      blockSize,
      bytesSent: 0,
      layout: PART_LAYOUT,
    })),
    state: 'queued',
    attempts: 0,
  };
}
