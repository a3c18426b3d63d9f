// The local Clearance service (Azurite behind it) on loopback, started by the
// shared fixture (../fixtures/service.ts), and the real client stack over it: HttpClient → TokenProvider → ClearanceSession →
// DocumentStoreClient + BlobClient → UploadQueue. Shared by the upload,
// export and clearance tests.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobServiceClient, StorageSharedKeyCredential, type BlobClient as AzureBlobClient } from '@azure/storage-blob';
import Keyv from 'keyv';
import type { ConnectionFile } from '../../../src/core/clearance/api';
import { BlobClient } from '../../../src/core/clearance/blobClient';
import { DocumentStoreClient } from '../../../src/core/clearance/documentStore';
import { createBlobDecryptor, parseEncryptionData } from '../../../src/core/clearance/encryption';
import { ClearanceSession } from '../../../src/core/clearance/session';
import { TokenProvider } from '../../../src/core/clearance/tokenProvider';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { TokenBucket } from '../../../src/core/net/bandwidth';
import { HttpClient } from '../../../src/core/net/httpClient';
import { JournalStore } from '../../../src/core/store/journalStore';
import { UploadQueue, type UploadQueueOptions } from '../../../src/core/uploads/uploadQueue';
import type { UploadEvent } from '../../../src/core/uploads/uploadQueue';
import type { UploadJobSnapshot, UploadJobState } from '../../../src/core/uploads/uploadJob';
import type { RunningEmulator } from '../../../src/emulator/server';
import { startLocalService } from '../fixtures/service';

export interface ServiceClientStack {
  connection: ConnectionFile;
  http: HttpClient;
  session: ClearanceSession;
  documents: DocumentStoreClient;
  blobs: BlobClient;
}

export interface ServiceFixture extends ServiceClientStack {
  dir: string;
  emulator: RunningEmulator;
  azurite: BlobServiceClient;
  /** A client stack for another connection file (e.g. an account with encryption disabled). */
  clientFor(connection: ConnectionFile): Promise<ServiceClientStack>;
  stop(): Promise<void>;
}

export async function clientStack(connection: ConnectionFile): Promise<ServiceClientStack> {
  const http = await HttpClient.create({ timeoutMs: 60_000, retry: { baseDelayMs: 50, maxDelayMs: 500 } });
  const tokens = new TokenProvider(http, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection);
  const session = new ClearanceSession(http, tokens);
  const documents = DocumentStoreClient.forConnection(session, connection);
  return { connection, http, session, documents, blobs: new BlobClient(http) };
}

export async function startService(): Promise<ServiceFixture> {
  const svc = await startLocalService({ prefix: 'clearance-uploads-', serviceFolder: 'service', keepLogs: false });
  const { dir, emulator, connection } = svc;
  let stack: ServiceClientStack;
  try {
    stack = await clientStack(connection);
  } catch (error) {
    await svc.stop();
    throw error;
  }
  const extra: ServiceClientStack[] = [];
  const azurite = new BlobServiceClient(
    `${emulator.blob.azuriteUrl}/${emulator.blob.account}`,
    new StorageSharedKeyCredential(emulator.blob.account, emulator.blob.accountKey),
  );
  return {
    ...stack,
    dir,
    emulator,
    azurite,
    clientFor: async (c) => {
      const s = await clientStack(c);
      extra.push(s);
      return s;
    },
    stop: async () => {
      stack.http.close();
      for (const s of extra) s.http.close();
      await svc.stop();
    },
  };
}

export interface QueueHandle {
  queue: UploadQueue;
  store: Keyv;
  journal: JournalStore;
  bucket: TokenBucket;
  secrets: FileSecretStore;
  archive: string;
  events: UploadEvent[];
  close(): Promise<void>;
}

/** A queue persisted in a JournalStore under `dir` (reopening the same dir resumes it). */
export async function openQueue(
  stack: ServiceClientStack,
  dir: string,
  opts: Partial<Pick<UploadQueueOptions, 'throttling' | 'blockSize' | 'evidence' | 'blobs' | 'onWarning'>> & { mbps?: number } = {},
): Promise<QueueHandle> {
  const journal = new JournalStore({ path: path.join(dir, 'state', 'queue.journal') });
  const store = new Keyv({ store: journal, namespace: 'uploads' });
  const bucket = new TokenBucket(opts.mbps ?? 8);
  const secrets = new FileSecretStore(path.join(dir, 'secrets', 'secrets.json'));
  const archive = path.join(dir, 'archive');
  const queue = await UploadQueue.open({
    store,
    secrets,
    evidence: opts.evidence ?? stack.documents,
    blobs: opts.blobs ?? stack.blobs,
    limiter: bucket,
    archiveFolder: archive,
    throttling: opts.throttling ?? false,
    ...(opts.blockSize !== undefined ? { blockSize: opts.blockSize } : {}),
    progressIntervalMs: 50,
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  const events: UploadEvent[] = [];
  queue.onDidChange((e) => events.push(e));
  return {
    queue,
    store,
    journal,
    bucket,
    secrets,
    archive,
    events,
    close: async () => {
      await queue.stop();
      queue.dispose();
      await journal.disconnect();
    },
  };
}

/** Resolves when the job reaches one of `states` (rejects after `ms`). */
export function waitForState(queue: UploadQueue, jobId: string, states: UploadJobState[], ms = 60_000): Promise<UploadJobSnapshot> {
  return new Promise((resolve, reject) => {
    const now = queue.get(jobId);
    if (now && states.includes(now.state)) {
      resolve(now);
      return;
    }
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`upload ${jobId} did not reach ${states.join('/')} (now ${queue.get(jobId)?.state}: ${queue.get(jobId)?.error ?? ''})`));
    }, ms);
    const sub = queue.onDidChange((e) => {
      if (e.kind === 'removed' || e.job.id !== jobId || !states.includes(e.job.state)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e.job);
    });
  });
}

/** Resolves at the first event that satisfies `test`. */
export function waitForEvent(queue: UploadQueue, test: (e: UploadEvent) => boolean, ms = 60_000): Promise<UploadEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error('the awaited upload event did not come'));
    }, ms);
    const sub = queue.onDidChange((e) => {
      if (!test(e)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e);
    });
  });
}

/** Writes `bytes` random bytes as a staged file of `jobId`; answers the NewPart. */
export function stageRandomFile(queue: Pick<UploadQueue, 'stagingFolder'>, jobId: string, name: string, bytes: number) {
  const folder = queue.stagingFolder(jobId);
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  const data = crypto.randomBytes(bytes);
  fs.writeFileSync(file, data);
  return { file, name, mimeType: 'video/mp4', bytes, sha256: crypto.createHash('sha256').update(data).digest('hex') };
}

/** The blob of a resource, read straight from Azurite as a third party would. */
export function blobOf(fx: ServiceFixture, evidenceId: string, resourceId: string): AzureBlobClient {
  const container = `evidence-${fx.connection.TenantId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63);
  return fx.azurite.getContainerClient(container).getBlobClient(`${evidenceId}/${resourceId}`);
}

/** SHA-256 of the blob's content, decrypted with the account's private key when it carries encryption metadata. */
export async function plainSha256OfBlob(fx: ServiceFixture, evidenceId: string, resourceId: string): Promise<{ sha256: string; encrypted: boolean; size: number }> {
  const blob = blobOf(fx, evidenceId, resourceId);
  const props = await blob.getProperties();
  const meta = props.metadata?.encryptiondata;
  const dl = await blob.download(0);
  const hash = crypto.createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb();
    },
  });
  if (meta) {
    const decryptor = createBlobDecryptor({ encryptionData: parseEncryptionData(meta), privateKey: fx.emulator.tenantPrivateKey() });
    await pipeline(dl.readableStreamBody!, decryptor, sink);
  } else await pipeline(dl.readableStreamBody!, sink);
  return { sha256: hash.digest('hex'), encrypted: meta !== undefined, size: props.contentLength ?? -1 };
}

/** Put counts per blob from the service's admin route (reset with reset=true). */
export interface BlobPuts {
  blobs: Record<string, { putBlock: number; putBlockList: number; bytes: number; blockIds: Record<string, number> }>;
}

export async function blobPuts(fx: ServiceFixture, reset = false): Promise<BlobPuts> {
  const url = `${fx.emulator.urls.admin}/blob/puts`;
  if (reset) {
    await fx.session.call(url, { method: 'DELETE' });
    return { blobs: {} };
  }
  return fx.session.json<BlobPuts>(url);
}

/** Lists files below `dir` (relative paths), [] when it does not exist. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

/**
 * Fails when `text` holds a SAS: a query parameter of one after `?` or `&`, or the
 * signature of one of `knownUris`. A bare `sig=` is no sign of one: base64 in the
 * state (an IV, a wrapped key) ends in `…sig==` about once in 16,000 values.
 */
export function assertNoSas(text: string, message: string, knownUris: readonly string[] = []): void {
  assert.doesNotMatch(text, /[?&](sig|sv|se|sp|sr|st|spr|skoid)=/, message);
  for (const uri of knownUris) {
    const sig = new URL(uri).searchParams.get('sig');
    assert.ok(sig, `the known URI ${new URL(uri).pathname} has a signature`);
    for (const form of new Set([sig, encodeURIComponent(sig)])) assert.ok(!text.includes(form), `${message}: the signature of ${new URL(uri).pathname} is there`);
  }
}
