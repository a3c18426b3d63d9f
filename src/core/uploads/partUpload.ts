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
import type { BlobStore, EvidenceService } from './ports';
import { cipherLength, type UploadJob, type UploadPart } from './uploadJob';

export interface PartUploadDeps {
  evidence: EvidenceService;
  blobs: BlobStore;
  secrets: SecretStore;
  /** Persists the job; resolves once it is durable. */
  save(): Promise<void>;
  /** Bytes on the wire, for rate and progress (not durable). */
  onBytes(n: number): void;
  /** A block the blob store acknowledged again although it had it (for the resume tests and the trail). */
  onResend?(part: UploadPart, blockIndex: number): void;
}

/** Block ids must all have the same length within a blob. */
export function blockId(index: number): string {
  return Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');
}

export const contentKeySecret = (jobId: string, index: number) => `clearance.upload.${jobId}.${index}.contentKey`;

export async function uploadPart(job: UploadJob, part: UploadPart, deps: PartUploadDeps, signal: AbortSignal): Promise<void> {
  if (part.state === 'completed') return;
  const evidenceId = job.evidenceId!;

  if (!part.resourceId || !part.uploadUri) {
    const created = await deps.evidence.createResource(evidenceId, {
      idempotencyKey: `${job.id}:part:${part.index}`,
      name: part.name,
      mimeType: part.mimeType,
      startTimeUtc: part.startTimeUtc,
      endTimeUtc: part.endTimeUtc,
    });
    part.resourceId = created.resourceId;
    part.uploadUri = created.uploadUri;
    await deps.save();
  }

  const contentKey = await ensureEncryption(job, part, deps);
  const encrypted = part.encryption !== undefined;
  const totalBlocks = Math.max(1, Math.ceil(cipherLength(part.bytes, encrypted) / part.blockSize));

  if (part.state !== 'committed') {
    await reconcileWithBlob(part, deps, totalBlocks, signal);
  }
  if (part.state !== 'committed') {
    await sendBlocks(part, contentKey, deps, signal);
    const headers: Record<string, string> = { 'x-ms-blob-content-type': part.mimeType };
    if (part.encryption) {
      const data = buildEncryptionData(Buffer.from(part.encryption.iv, 'base64'), {
        Algorithm: 'RSA-OAEP',
        EncryptedKey: part.encryption.wrappedKey,
        KeyId: part.encryption.keyId,
      });
      headers[ENCRYPTION_METADATA_HEADER] = JSON.stringify(data);
    }
    await deps.blobs.putBlockList(part.uploadUri!, Array.from({ length: totalBlocks }, (_, i) => blockId(i)), headers, signal);
    part.state = 'committed';
    await deps.save();
  }

  await deps.evidence.completeResource(evidenceId, part.resourceId!, {
    size: cipherLength(part.bytes, encrypted),
    sha256: part.sha256,
  });
  part.state = 'completed';
  await deps.save();
  if (contentKey) await deps.secrets.delete(contentKeySecret(job.id, part.index));
}

/**
 * The content key lives in the SecretStore (never in the job record); the
 * wrapped key and IV live with the part so a resumed upload writes the same metadata.
 */
async function ensureEncryption(job: UploadJob, part: UploadPart, deps: PartUploadDeps): Promise<Buffer | undefined> {
  const secretKey = contentKeySecret(job.id, part.index);
  if (part.encryption) {
    const stored = await deps.secrets.get(secretKey);
    if (stored) return Buffer.from(stored, 'base64');
    if (part.state === 'committed') return undefined; // already uploaded: the key is no longer needed
    // The key is gone (secret storage wiped): start this part over with a new key.
    part.encryption = undefined;
    part.blocksCommitted = 0;
    part.bytesSent = 0;
    part.chainIv = undefined;
  }
  const key = await deps.evidence.encryptionKey();
  if (!key) return undefined;
  const contentKey = randomBytes(CONTENT_KEY_SIZE);
  const iv = randomBytes(CIPHER_BLOCK_SIZE);
  const wrapped = wrapContentKey(contentKey, key.publicKey, key.keyId);
  await deps.secrets.store(secretKey, contentKey.toString('base64'));
  part.encryption = { keyId: key.keyId, iv: iv.toString('base64'), wrappedKey: wrapped.EncryptedKey };
  part.blocksCommitted = 0;
  part.bytesSent = 0;
  part.chainIv = undefined;
  await deps.save();
  return contentKey;
}

/**
 * After a crash the job may be behind the blob store (a block acknowledged but
 * not yet saved: it is sent again, the only block ever sent twice) or the blob
 * may have lost its uncommitted blocks (purged): then the part starts over.
 */
async function reconcileWithBlob(part: UploadPart, deps: PartUploadDeps, totalBlocks: number, signal: AbortSignal): Promise<void> {
  if (part.blocksCommitted === 0) return;
  const list = await deps.blobs.getBlockList(part.uploadUri!, signal);
  const committedNames = list.committed.map((b) => b.name);
  if (committedNames.length === totalBlocks && committedNames.every((n, i) => n === blockId(i))) {
    part.state = 'committed'; // the crash came after Put Block List
    await deps.save();
    return;
  }
  const have = new Set(list.uncommitted.map((b) => b.name));
  let present = 0;
  while (present < part.blocksCommitted && have.has(blockId(present))) present++;
  if (present < part.blocksCommitted) {
    part.blocksCommitted = 0;
    part.bytesSent = 0;
    part.chainIv = undefined;
    await deps.save();
  }
}

async function sendBlocks(part: UploadPart, contentKey: Buffer | undefined, deps: PartUploadDeps, signal: AbortSignal): Promise<void> {
  const plainOffset = part.blocksCommitted * part.blockSize;
  const source = createReadStream(part.file, { start: plainOffset, highWaterMark: 256 * 1024 });
  let cipher: Readable = source;
  if (contentKey && part.encryption) {
    const chain = part.blocksCommitted === 0 ? Buffer.from(part.encryption.iv, 'base64') : Buffer.from(part.chainIv!, 'base64');
    const encryptor = new BlobEncryptStream(contentKey, chain);
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
      await deps.blobs.putBlock(part.uploadUri!, blockId(index), data, { signal, onBytes: deps.onBytes });
      part.blocksCommitted = index + 1;
      part.bytesSent += data.length;
      part.chainIv = data.subarray(data.length - Math.min(CIPHER_BLOCK_SIZE, data.length)).toString('base64');
      await deps.save();
    };
    for await (const chunk of cipher as AsyncIterable<Buffer>) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= part.blockSize) {
        const all = Buffer.concat(pending);
        await flush(all.subarray(0, part.blockSize));
        const rest = all.subarray(part.blockSize);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      }
    }
    // An empty plain file still has one (padding) block when encrypted; unencrypted, one empty block.
    if (pendingBytes > 0 || part.blocksCommitted === 0) await flush(Buffer.concat(pending));
  } finally {
    signal.removeEventListener('abort', onAbort);
    cipher.destroy();
    source.destroy();
  }
  signal.throwIfAborted();
}

/** SHA-256 of a file, hex, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
