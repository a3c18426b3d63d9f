// Uploads one part (one staged file) as one resource: encrypt, Put Block by
// block, Put Block List, complete. Every acknowledged step is saved before the
// next one starts, so a crash resumes from the last committed block.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  CIPHER_BLOCK_SIZE,
  CONTENT_KEY_SIZE,
  ENCRYPTION_METADATA_HEADER,
  BlobEncryptStream,
  buildEncryptionData,
  wrapContentKey,
} from '../clearance/encryption';
import type { SecretStore } from '../config/secretStore';
import { ServiceError } from '../net/errors';
import type { BlobStore, EvidenceService } from './ports';
import { cipherLength, idempotencyKeys, type UploadJob, type UploadPart } from './uploadJob';

export interface PartUploadDeps {
  evidence: EvidenceService;
  blobs: BlobStore;
  secrets: SecretStore;
  /** Persists the job; resolves once it is durable. */
  save(): Promise<void>;
  /** Bytes on the wire, for rate and progress (not durable). */
  onBytes(part: UploadPart, n: number): void;
  /** A block was acknowledged (or a Put Block failed): in-flight bytes start from zero again. */
  onBlockSettled?(part: UploadPart): void;
  /** Time limit of one Put Block of `bytes` (throttled blocks take longer); undefined: the client's default. */
  blockTimeoutMs?(bytes: number): number | undefined;
}

/** The upload URI was refused (expired or revoked SAS): the part must start over with a new resource. */
export class UploadUriRejected extends Error {
  constructor(
    readonly part: UploadPart,
    readonly status: number,
  ) {
    super(`The blob store refused the upload URI of ${part.name} (${status}).`);
    this.name = 'UploadUriRejected';
  }
}

/** Block ids must all have the same length within a blob. */
export function blockId(index: number): string {
  return Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');
}

export const contentKeySecret = (jobId: string, index: number) => `clearance.upload.${jobId}.${index}.contentKey`;
/** The upload URI carries a SAS (write access to the blob): it lives in the SecretStore, never in the job record. */
export const uploadUriSecret = (jobId: string, index: number) => `clearance.upload.${jobId}.${index}.uploadUri`;

/** Removes the secrets of a part (its content key and upload URI): it completed, or its job was canceled, cleared or restarted. */
export async function forgetPartSecrets(secrets: SecretStore, jobId: string, index: number): Promise<void> {
  await secrets.delete(contentKeySecret(jobId, index));
  await secrets.delete(uploadUriSecret(jobId, index));
}

/** Blocks of a part: its cipher (or plain) bytes cut in blockSize pieces; an empty plain file has none. */
export function blockCount(part: Pick<UploadPart, 'bytes' | 'blockSize' | 'encryption'>): number {
  return Math.ceil(cipherLength(part.bytes, part.encryption !== undefined) / part.blockSize);
}

/** Forgets everything the service knows of this part: the next run creates a new resource. */
export function resetPart(part: UploadPart): void {
  part.generation = (part.generation ?? 0) + 1;
  part.state = 'pending';
  part.resourceId = undefined;
  part.encryption = undefined;
  part.blocksCommitted = 0;
  part.bytesSent = 0;
  part.chainIv = undefined;
}

export async function uploadPart(job: UploadJob, part: UploadPart, deps: PartUploadDeps, signal: AbortSignal): Promise<void> {
  if (part.state === 'completed') return;
  const evidenceId = job.evidenceId;
  if (!evidenceId) throw new Error(`Upload ${job.id}: no evidence item to add ${part.name} to.`);
  signal.throwIfAborted();

  const uriSecret = uploadUriSecret(job.id, part.index);
  let uploadUri = part.resourceId ? await deps.secrets.get(uriSecret) : undefined;
  if (!part.resourceId || !uploadUri) {
    // Idempotent by key: the same resource again (with its URI) when only the URI was lost.
    const created = await deps.evidence.createResource(evidenceId, {
      idempotencyKey: idempotencyKeys.resource(job, part),
      name: part.name,
      mimeType: part.mimeType,
      startTimeUtc: part.startTimeUtc,
      endTimeUtc: part.endTimeUtc,
    });
    // The URI first: a record naming a resource whose URI was never stored only asks for it again.
    await deps.secrets.store(uriSecret, created.uploadUri);
    uploadUri = created.uploadUri;
    part.resourceId = created.resourceId;
    if (part.state === 'pending') part.state = 'uploading';
    await deps.save();
  }

  const contentKey = await ensureEncryption(job, part, deps);
  const totalBlocks = blockCount(part);

  if (part.state !== 'committed') {
    await reconcileWithBlob(part, uploadUri, deps, totalBlocks, signal);
  }
  if (part.state !== 'committed') {
    if (part.blocksCommitted < totalBlocks) await sendBlocks(part, uploadUri, contentKey, deps, signal);
    const headers: Record<string, string> = { 'x-ms-blob-content-type': part.mimeType };
    if (part.encryption) {
      const data = buildEncryptionData(Buffer.from(part.encryption.iv, 'base64'), {
        Algorithm: 'RSA-OAEP',
        EncryptedKey: part.encryption.wrappedKey,
        KeyId: part.encryption.keyId,
      });
      headers[ENCRYPTION_METADATA_HEADER] = JSON.stringify(data);
    }
    await blobCall(part, () =>
      deps.blobs.putBlockList(uploadUri, Array.from({ length: totalBlocks }, (_, i) => blockId(i)), headers, signal),
    );
    part.state = 'committed';
    await deps.save();
  }

  signal.throwIfAborted();
  await deps.evidence.completeResource(evidenceId, part.resourceId!, {
    size: cipherLength(part.bytes, part.encryption !== undefined),
    sha256: part.sha256,
  });
  part.state = 'completed';
  await deps.save();
  await forgetPartSecrets(deps.secrets, job.id, part.index);
}

/**
 * The content key lives in the SecretStore (never in the job record); the
 * wrapped key and IV live with the part so a resumed upload writes the same metadata.
 */
async function ensureEncryption(job: UploadJob, part: UploadPart, deps: PartUploadDeps): Promise<Buffer | undefined> {
  const secretKey = contentKeySecret(job.id, part.index);
  if (part.state === 'committed') return undefined; // the blob is whole: the key is no longer needed
  if (part.encryption) {
    const stored = await deps.secrets.get(secretKey);
    if (stored) return Buffer.from(stored, 'base64');
    // The key is gone (secret storage wiped): this part starts over with a new key.
    part.encryption = undefined;
  } else if (part.blocksCommitted > 0) {
    return undefined; // an unencrypted part already under way stays unencrypted
  }
  const key = await deps.evidence.encryptionKey();
  part.blocksCommitted = 0;
  part.bytesSent = 0;
  part.chainIv = undefined;
  if (!key) {
    await deps.save();
    return undefined;
  }
  const contentKey = randomBytes(CONTENT_KEY_SIZE);
  const iv = randomBytes(CIPHER_BLOCK_SIZE);
  const wrapped = wrapContentKey(contentKey, key.publicKey, key.keyId);
  // The key first: a record naming a key that was never stored would strand the part.
  await deps.secrets.store(secretKey, contentKey.toString('base64'));
  part.encryption = { keyId: key.keyId, iv: iv.toString('base64'), wrappedKey: wrapped.EncryptedKey };
  await deps.save();
  return contentKey;
}

/**
 * After a crash the job may be behind the blob store (a block acknowledged but
 * not yet saved: it is sent again, the only block ever sent twice) or the blob
 * may have lost its uncommitted blocks (purged): then the part starts over.
 * A write-only upload URI cannot read the list: the saved record is trusted.
 */
async function reconcileWithBlob(part: UploadPart, uploadUri: string, deps: PartUploadDeps, totalBlocks: number, signal: AbortSignal): Promise<void> {
  if (part.blocksCommitted === 0) return;
  const list = await blobCall(part, () => deps.blobs.getBlockList(uploadUri, signal));
  if (!list) return;
  const committedNames = list.committed.map((b) => b.name);
  if (committedNames.length === totalBlocks && committedNames.every((n, i) => n === blockId(i))) {
    part.state = 'committed'; // the crash came after Put Block List
    await deps.save();
    return;
  }
  const cipherBytes = cipherLength(part.bytes, part.encryption !== undefined);
  const sizeOf = (i: number) => Math.min(part.blockSize, cipherBytes - i * part.blockSize);
  const have = new Map(list.uncommitted.map((b) => [b.name, b.size]));
  let present = 0;
  while (present < part.blocksCommitted && have.get(blockId(present)) === sizeOf(present)) present++;
  if (present < part.blocksCommitted) {
    part.blocksCommitted = 0;
    part.bytesSent = 0;
    part.chainIv = undefined;
    await deps.save();
  }
}

async function sendBlocks(part: UploadPart, uploadUri: string, contentKey: Buffer | undefined, deps: PartUploadDeps, signal: AbortSignal): Promise<void> {
  const plainOffset = part.blocksCommitted * part.blockSize;
  const source = createReadStream(part.file, { start: plainOffset, highWaterMark: 256 * 1024 });
  let cipher: Readable = source;
  if (part.encryption) {
    if (!contentKey) throw new Error(`${part.name}: the content key is missing.`);
    const chain = part.blocksCommitted === 0 ? part.encryption.iv : part.chainIv;
    if (!chain) throw new Error(`${part.name}: the chaining value of block ${part.blocksCommitted} is missing.`);
    const encryptor = new BlobEncryptStream(contentKey, Buffer.from(chain, 'base64'));
    source.on('error', (e) => encryptor.destroy(e));
    cipher = source.pipe(encryptor);
  }
  const onAbort = () => cipher.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (data: Buffer) => {
      const index = part.blocksCommitted;
      const timeoutMs = deps.blockTimeoutMs?.(data.length);
      try {
        await blobCall(part, () =>
          deps.blobs.putBlock(uploadUri, blockId(index), data, {
            signal,
            onBytes: (n) => deps.onBytes(part, n),
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          }),
        );
      } finally {
        deps.onBlockSettled?.(part);
      }
      part.blocksCommitted = index + 1;
      part.bytesSent += data.length;
      part.chainIv = data.subarray(data.length - Math.min(CIPHER_BLOCK_SIZE, data.length)).toString('base64');
      await deps.save();
    };
    for await (const chunk of cipher as AsyncIterable<Buffer>) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= part.blockSize) {
        let all = Buffer.concat(pending);
        while (all.length >= part.blockSize) {
          await flush(all.subarray(0, part.blockSize));
          all = all.subarray(part.blockSize);
        }
        pending = all.length ? [Buffer.from(all)] : [];
        pendingBytes = all.length;
      }
    }
    if (pendingBytes > 0) await flush(Buffer.concat(pending));
  } finally {
    signal.removeEventListener('abort', onAbort);
    cipher.destroy();
    source.destroy();
  }
  signal.throwIfAborted();
  const expected = blockCount(part);
  if (part.blocksCommitted !== expected) {
    throw new Error(`${part.name}: ${part.blocksCommitted} blocks were sent, ${expected} expected (did the staged file change?).`);
  }
}

/** A 403 from the blob store means the SAS no longer works (expired after 24 h, or revoked). */
async function blobCall<T>(part: UploadPart, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ServiceError && err.status === 403) throw new UploadUriRejected(part, err.status);
    throw err;
  }
}

/** SHA-256 of a file, hex, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
