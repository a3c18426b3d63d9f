// What the upload queue needs from the outside world. The real implementations
// talk to the Clearance document store and to the blob store over HTTP; each is
// passed in, so tests run them against the local service on loopback.
import type { PublicKeyInput } from '../clearance/encryption';

export interface EvidenceService {
  /** Idempotent by key: asking again with the same key answers the same case. */
  createCase(input: { idempotencyKey: string; name: string; departmentId?: string; categoryId?: string; description?: string }): Promise<{ caseId: string }>;
  /** Idempotent by key: a retry after a crash never makes a second evidence item. */
  createEvidence(input: {
    idempotencyKey: string;
    name: string;
    description?: string;
    startTimeUtc?: string;
    endTimeUtc?: string;
    categoryId?: string;
    /** Free-form fields kept with the evidence (the trail anchor: see evidenceAnchor.ts). */
    customFields?: Record<string, string>;
  }): Promise<{ evidenceId: string }>;
  /** Idempotent: linking twice changes nothing. */
  linkEvidenceToCase(caseId: string, evidenceId: string): Promise<void>;
  /** Idempotent by key; answers where to upload (a SAS URI, a secret). */
  createResource(
    evidenceId: string,
    input: { idempotencyKey: string; name: string; mimeType: string; startTimeUtc?: string; endTimeUtc?: string },
  ): Promise<{ resourceId: string; uploadUri: string }>;
  /** The service checks the committed blob's size and, after decrypting, the plain SHA-256. */
  completeResource(evidenceId: string, resourceId: string, input: { size: number; sha256: string }): Promise<void>;
  completeEvidence(evidenceId: string): Promise<void>;
  /** Removes an incomplete evidence item (cancel); an evidence item already gone is not an error. */
  deleteEvidence(evidenceId: string): Promise<void>;
  /** The account's public key, or undefined when the account disables encryption. */
  encryptionKey(): Promise<{ keyId: string; publicKey: PublicKeyInput } | undefined>;
}

export interface BlockList {
  committed: { name: string; size: number }[];
  uncommitted: { name: string; size: number }[];
}

export interface PutBlockOptions {
  signal?: AbortSignal;
  /**
   * Awaited before each chunk of the body leaves (the bandwidth limiter). It may
   * answer undefined when nothing holds the chunk back: it then leaves at once.
   */
  beforeBytes?: (n: number) => Promise<void> | undefined;
  /** Each chunk as it leaves (progress; not durable). */
  onBytes?: (n: number) => void;
  /**
   * Size of the next chunk of the body, asked before each (default BLOB_CHUNK_BYTES):
   * small while a limiter meters the bytes, large when nothing does.
   */
  chunkBytes?: () => number;
  /** Content-MD5 of `data` (base64) when the caller hashed it already; computed otherwise. */
  contentMd5?: string;
  /** Time limit for the whole block; a throttled block needs longer than the default. */
  timeoutMs?: number;
}

export interface BlobStore {
  /**
   * Put Block with Content-MD5. The body goes out in small chunks: `beforeBytes`
   * is awaited before each (the bandwidth limiter), `onBytes` reports each as it
   * leaves; only the acknowledgement makes the block durable.
   */
  putBlock(uri: string, blockId: string, data: Buffer, opts: PutBlockOptions): Promise<void>;
  /**
   * Get Block List (all). A blob that does not exist yet has empty lists.
   * Undefined when the upload URI does not grant reading the list (a write-only SAS).
   */
  getBlockList(uri: string, signal?: AbortSignal): Promise<BlockList | undefined>;
  /** Put Block List: commits the blob, with its metadata headers (x-ms-meta-*). */
  putBlockList(uri: string, blockIds: string[], headers: Record<string, string>, signal?: AbortSignal): Promise<void>;
}

/** Shared bandwidth: resolves when `bytes` may be sent. TokenBucket (src/core/net/bandwidth) is one. */
export interface BandwidthLimiter {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
  /** The current cap, to give a throttled block enough time; Infinity when unlimited. */
  readonly rateBytesPerSecond?: number;
}
