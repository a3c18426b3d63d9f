// Uploads one part (one staged file) as one resource: encrypt, Put Block by
// block (several at once, see blockPipeline), Put Block List, complete. Every
// acknowledged step is saved, so a crash resumes with the blocks that were not acknowledged.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CIPHER_BLOCK_SIZE, CONTENT_KEY_SIZE, ENCRYPTION_METADATA_HEADER, buildEncryptionData, wrapContentKey } from '../clearance/encryption';
import type { SecretStore } from '../config/secretStore';
import { ServiceError } from '../net/errors';
import { blockId, sendBlocks, type BlockSendDeps } from './blockPipeline';
import type { EvidenceService } from './ports';
import { cipherLength, idempotencyKeys, type UploadJob, type UploadPart } from './uploadJob';

export { blockId } from './blockPipeline';

export interface PartUploadDeps extends BlockSendDeps {
  evidence: EvidenceService;
  secrets: SecretStore;
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

export const contentKeySecret = (jobId: string, index: number) => `clearance.upload.${jobId}.${index}.contentKey`;
/** The upload URI carries a SAS (write access to the blob): it lives in the SecretStore, never in the job record. */
export const uploadUriSecret = (jobId: string, index: number) => `clearance.upload.${jobId}.${index}.uploadUri`;

/** Removes the secrets of a part (its content key and upload URI): it completed, or its job was canceled, cleared or restarted. */
export async function forgetPartSecrets(secrets: SecretStore, jobId: string, index: number): Promise<void> {
  await secrets.delete(contentKeySecret(jobId, index));
  await secrets.delete(uploadUriSecret(jobId, index));
}

/** Blocks of a part cut in blockSize pieces (all but throttled blocks are): its cipher (or plain) bytes; an empty plain file has none. */
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
  delete part.blocksAhead;
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
  const cipherBytes = cipherLength(part.bytes, part.encryption !== undefined);

  if (part.state !== 'committed') {
    await reconcileWithBlob(part, uploadUri, deps, cipherBytes, signal);
  }
  if (part.state !== 'committed') {
    if (part.bytesSent < cipherBytes) await sendBlocks(part, uploadUri, contentKey, deps, signal, (f) => blobCall(part, f));
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
      // Every block, in order: the acknowledged prefix is the whole blob by now.
      deps.blobs.putBlockList(uploadUri, Array.from({ length: part.blocksCommitted }, (_, i) => blockId(i)), headers, signal),
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
  } else if (part.blocksCommitted > 0 || part.blocksAhead?.length) {
    return undefined; // an unencrypted part already under way stays unencrypted
  }
  const key = await deps.evidence.encryptionKey();
  part.blocksCommitted = 0;
  part.bytesSent = 0;
  part.chainIv = undefined;
  delete part.blocksAhead;
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
 * After a crash the job may be behind the blob store (blocks acknowledged but
 * not yet saved: they are sent again, the only blocks ever sent twice) or the
 * blob may have lost its uncommitted blocks (purged): then the part starts over.
 * Blocks ahead of the prefix that the blob no longer has are sent again.
 * A write-only upload URI cannot read the list: the saved record is trusted.
 */
async function reconcileWithBlob(part: UploadPart, uploadUri: string, deps: PartUploadDeps, cipherBytes: number, signal: AbortSignal): Promise<void> {
  if (part.blocksCommitted === 0 && !part.blocksAhead?.length) return;
  const list = await blobCall(part, () => deps.blobs.getBlockList(uploadUri, signal));
  if (!list) return;
  const committed = list.committed;
  if (committed.length > 0 && committed.every((b, i) => b.name === blockId(i)) && committed.reduce((n, b) => n + b.size, 0) === cipherBytes) {
    part.state = 'committed'; // the crash came after Put Block List
    await deps.save();
    return;
  }
  const have = new Map(list.uncommitted.map((b) => [b.name, b.size]));
  let prefixBytes = 0;
  let present = 0;
  while (present < part.blocksCommitted && have.has(blockId(present))) prefixBytes += have.get(blockId(present++))!;
  if (present < part.blocksCommitted || prefixBytes !== part.bytesSent) {
    part.blocksCommitted = 0;
    part.bytesSent = 0;
    part.chainIv = undefined;
    delete part.blocksAhead;
    await deps.save();
    return;
  }
  const ahead = part.blocksAhead ?? [];
  const kept = ahead.filter((b) => have.get(blockId(b.index)) === b.size);
  if (kept.length < ahead.length) {
    if (kept.length > 0) part.blocksAhead = kept;
    else delete part.blocksAhead;
    await deps.save();
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
