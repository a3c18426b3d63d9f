// The upload queue's unit of work. A job is one evidence item at the service;
// each of its parts (an exported file) becomes one resource of that evidence.
// Everything here is persisted, so that a crash at any moment loses nothing:
// the job records each step the moment the service has acknowledged it.
import type { EvidenceAnchor } from './evidenceAnchor';

export const UPLOAD_JOB_STATES = ['queued', 'uploading', 'paused', 'completing', 'completed', 'failed', 'canceled'] as const;
export type UploadJobState = (typeof UPLOAD_JOB_STATES)[number];

export const UPLOAD_PART_STATES = ['pending', 'uploading', 'committed', 'completed'] as const;
export type UploadPartState = (typeof UPLOAD_PART_STATES)[number];

/** Where the evidence goes: a new case, an existing case, or no case. */
export type CaseTarget =
  | { kind: 'none' }
  | { kind: 'existing'; caseId: string }
  | { kind: 'new'; name: string; departmentId?: string; categoryId?: string; description?: string };

export interface UploadPart {
  /** Stable within the job: used for idempotency keys and block ids. */
  index: number;
  /** The staged file in the archive destination folder (plain, never encrypted on disk). */
  file: string;
  name: string;
  mimeType: string;
  cameraId?: string;
  startTimeUtc?: string;
  endTimeUtc?: string;
  bytes: number;
  /** SHA-256 of the plain file, hex: declared to the service, which verifies it after decrypting. */
  sha256: string;
  state: UploadPartState;
  /** Bumped when the part starts over with a new resource (its upload URI expired): part of its idempotency key. */
  generation?: number;
  resourceId?: string;
  // The upload URI (a SAS: write access) is kept in the SecretStore, see uploadUriSecret; never here.
  /** Per-part encryption, absent when the account disables encryption. The content key itself is kept in the SecretStore. */
  encryption?: {
    keyId: string;
    iv: string; // base64, the first block's IV
    wrappedKey: string; // base64, RSA-OAEP of the content key
  };
  /** Blocks the blob store has acknowledged, in order: the first blocksCommitted blocks all are (the acknowledged prefix). */
  blocksCommitted: number;
  /** Last 16 cipher bytes of the acknowledged prefix (base64): the IV of the block after it. */
  chainIv?: string;
  /** Bytes per block (uniform in layout 1; since layout 2 the usual size, throttled blocks are smaller). */
  blockSize: number;
  /** Cipher bytes of the acknowledged prefix: where its next block starts, in the cipher and in the plain file alike. */
  bytesSent: number;
  /**
   * Blocks acknowledged past the prefix (several blocks go at once and are answered
   * in any order), by index, ascending: each one's cipher offset, size, and (when
   * encrypted) its last 16 cipher bytes, the IV of the block after it. A block
   * enters the prefix, and leaves this list, once every block before it is acknowledged.
   */
  blocksAhead?: AcknowledgedBlock[];
  /**
   * Record layout: absent (1) in records of older versions, whose blocks were all
   * blockSize bytes; 2 since blocks may differ in size (bytesSent then places the next
   * block). JobStore.load brings a layout-1 record up to 2.
   */
  layout?: 2;
}

/** A block the blob store acknowledged out of order (see UploadPart.blocksAhead). */
export interface AcknowledgedBlock {
  index: number;
  /** Cipher offset of its first byte (the plain offset too). */
  offset: number;
  /** Cipher bytes. */
  size: number;
  /** Last 16 cipher bytes (base64), for an encrypted part. */
  chainIv?: string;
}

/** The layout every record is brought to (see UploadPart.layout). */
export const PART_LAYOUT = 2;

/** Cipher bytes the blob store has acknowledged: the prefix and the blocks ahead of it. */
export function acknowledgedBytes(part: Pick<UploadPart, 'bytesSent' | 'blocksAhead'>): number {
  return part.bytesSent + (part.blocksAhead ?? []).reduce((n, b) => n + b.size, 0);
}

/** Why an upload started over with new evidence, and when: the operator is told, the trail records it. */
export interface UploadStartOver {
  at: string;
  /** purged: the service no longer had the incomplete evidence (24 h); linkRefused: the blob store refused its upload link (expired or revoked). */
  why: 'purged' | 'linkRefused';
  /** The evidence item given up (deleted at the service unless it was gone already). */
  abandonedEvidenceId?: string;
}

export interface UploadJob {
  id: string;
  /** What the operator sees, e.g. "Request 42 — Lobby Entrance". */
  title: string;
  createdAt: string;
  /** Who asked for it (site user) and why; recorded in the activity trail. */
  requestedBy?: string;
  videoRequestId?: string;
  evidence: {
    name: string;
    description?: string;
    startTimeUtc?: string;
    endTimeUtc?: string;
  };
  caseTarget: CaseTarget;
  /** Category of the evidence item (the new case's, unless given). */
  categoryId?: string;
  caseId?: string;
  /** Bumped when the job starts over because the service purged its incomplete evidence (after 24 h). */
  generation?: number;
  /** Each time the job started over with new evidence (the last few). */
  startedOver?: UploadStartOver[];
  evidenceId?: string;
  /**
   * The head of the activity trail sent with the evidence (its custom fields), fixed
   * before the evidence is created so that a retry with the same key sends the same body.
   */
  anchor?: EvidenceAnchor;
  /** The evidence is linked to caseId (a step of its own: a crash may fall between creating and linking). */
  caseLinked?: boolean;
  parts: UploadPart[];
  state: UploadJobState;
  /** Why the job failed (state 'failed'). */
  error?: string;
  /** The failure got no answer from the service (network, timeout): worth retrying for longer. */
  unreachable?: boolean;
  attempts: number;
  completedAt?: string;
  /** Canceled, but the service has not yet confirmed the deletion of the evidence. */
  serviceCleanupPending?: boolean;
}

/** What a tree renders: no secrets (no SAS URIs), progress precomputed. */
export interface UploadJobSnapshot {
  id: string;
  title: string;
  state: UploadJobState;
  error?: string;
  unreachable?: boolean;
  /** See UploadJob.startedOver. */
  startedOver?: UploadStartOver[];
  evidenceId?: string;
  /** The trail head the evidence carries (see UploadJob.anchor). */
  anchor?: EvidenceAnchor;
  caseId?: string;
  videoRequestId?: string;
  createdAt: string;
  completedAt?: string;
  /** Plain bytes of all parts. */
  totalBytes: number;
  sentBytes: number;
  /** Bytes per second over the last few seconds; 0 when idle. */
  rate: number;
  /** Seconds left at the current rate, undefined when unknown. */
  secondsLeft?: number;
  parts: { index: number; name: string; bytes: number; sentBytes: number; state: UploadPartState; sha256: string; resourceId?: string; encrypted: boolean }[];
}

const TRANSITIONS: Record<UploadJobState, readonly UploadJobState[]> = {
  queued: ['uploading', 'paused', 'canceled'],
  uploading: ['queued', 'paused', 'completing', 'failed', 'canceled'],
  paused: ['queued', 'canceled'],
  completing: ['completed', 'failed', 'queued', 'paused', 'canceled'],
  completed: [],
  failed: ['queued', 'canceled'],
  canceled: [],
};

export class IllegalUploadTransition extends Error {
  constructor(
    readonly jobId: string,
    readonly from: UploadJobState,
    readonly to: UploadJobState,
  ) {
    super(`Upload ${jobId} cannot go from ${from} to ${to}.`);
    this.name = 'IllegalUploadTransition';
  }
}

export function assertTransition(job: UploadJob, to: UploadJobState): void {
  if (!TRANSITIONS[job.state].includes(to)) throw new IllegalUploadTransition(job.id, job.state, to);
}

export function isFinished(state: UploadJobState): boolean {
  return state === 'completed' || state === 'canceled';
}

/** Idempotency keys of the service-side creations: stable across crashes, new after a restart from scratch. */
export const idempotencyKeys = {
  case: (job: UploadJob) => `${job.id}:case`,
  evidence: (job: UploadJob) => `${job.id}:${job.generation ?? 0}:evidence`,
  resource: (job: UploadJob, part: UploadPart) => `${job.id}:${job.generation ?? 0}:part:${part.index}:${part.generation ?? 0}`,
};

/** Plain bytes are encrypted with PKCS7 padding: the cipher is 1–16 bytes longer. */
export function cipherLength(plainBytes: number, encrypted: boolean): number {
  return encrypted ? (Math.floor(plainBytes / 16) + 1) * 16 : plainBytes;
}
