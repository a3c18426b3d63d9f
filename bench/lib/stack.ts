// The real client stack over a connection file (HttpClient → TokenProvider →
// ClearanceSession → DocumentStoreClient + BlobClient) and the upload queue over
// it, opened through the engine's public API only (UploadQueue.open, enqueue,
// start, onDidChange), as test/unit/uploads/serviceFixture.ts does: the engine's
// internals may change without touching the benchmarks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Keyv from 'keyv';
import { ContainerClient, StorageSharedKeyCredential, BlobServiceClient } from '@azure/storage-blob';
import type { ConnectionFile } from '../../src/core/clearance/api';
import { BlobClient } from '../../src/core/clearance/blobClient';
import { DocumentStoreClient } from '../../src/core/clearance/documentStore';
import { ClearanceSession } from '../../src/core/clearance/session';
import { TokenProvider } from '../../src/core/clearance/tokenProvider';
import { FileSecretStore } from '../../src/core/config/secretStore';
import { TokenBucket } from '../../src/core/net/bandwidth';
import { HttpClient } from '../../src/core/net/httpClient';
import { JournalStore } from '../../src/core/store/journalStore';
import type { EvidenceService } from '../../src/core/uploads/ports';
import type { RoleProxy } from '../../src/core/net/proxy';
import { UploadQueue } from '../../src/core/uploads/uploadQueue';
import type { RunningEmulator } from '../../src/emulator/server';

export interface ClientStack {
  connection: ConnectionFile;
  http: HttpClient;
  session: ClearanceSession;
  documents: DocumentStoreClient;
}

/** The role's HTTP client for `connection`; through `proxy` (the role's proxy setting) when given. */
export async function clientStack(connection: ConnectionFile, timeoutMs = 600_000, proxy?: RoleProxy): Promise<ClientStack> {
  const http = await HttpClient.create({ timeoutMs, ...(proxy ? { proxy } : {}) });
  const session = new ClearanceSession(http, new TokenProvider(http, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection));
  return { connection, http, session, documents: DocumentStoreClient.forConnection(session, connection) };
}

export const readConnection = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectionFile;

/** `uri` with its origin replaced by `base` (a relay or the sink on loopback); `uri` itself without one. */
export function reroute(uri: string, base: string | undefined): string {
  if (!base) return uri;
  const u = new URL(uri);
  return `${base}${u.pathname}${u.search}`;
}

/**
 * The document store as the queue's EvidenceService, with the upload URIs the
 * service hands out sent through `via` (a counting relay, or the sink).
 * `onCommit` is told when a resource's blob is committed (completeResource is
 * asked); with `sink`, nothing reaches the blob store, so the service's
 * completion (which reads the blob back) is skipped.
 */
export function routedEvidence(documents: DocumentStoreClient, o: { via?: string; sink?: boolean; onCommit?: () => void; holdChecksUntil?: number } = {}): EvidenceService {
  // The service's check of a committed blob (it reads it back, decrypts, hashes) runs
  // on the same cores as the uploads; with `holdChecksUntil` (the number of parts), no
  // check starts before every part's blob is committed, so that the check of a part
  // that finished early does not slow down the others: the peers have no such check.
  let commits = 0;
  let allCommitted: () => void = () => undefined;
  const whenAllCommitted = new Promise<void>((resolve) => (allCommitted = resolve));
  return {
    createCase: (i) => documents.createCase(i),
    createEvidence: (i) => documents.createEvidence(i),
    linkEvidenceToCase: (c, e) => documents.linkEvidenceToCase(c, e),
    createResource: async (e, i) => {
      const r = await documents.createResource(e, i);
      return { ...r, uploadUri: reroute(r.uploadUri, o.via) };
    },
    completeResource: async (e, r, i) => {
      o.onCommit?.();
      if (++commits >= (o.holdChecksUntil ?? 0)) allCommitted();
      if (o.holdChecksUntil !== undefined) await whenAllCommitted;
      if (!o.sink) await documents.completeResource(e, r, i);
    },
    completeEvidence: (e) => (o.sink ? Promise.resolve() : documents.completeEvidence(e)),
    deleteEvidence: (e) => documents.deleteEvidence(e),
    encryptionKey: () => documents.encryptionKey(),
  };
}

export interface BenchQueue {
  queue: UploadQueue;
  bucket: TokenBucket;
  close(): Promise<void>;
}

/** A queue persisted under `dir` (opening the same dir again resumes its jobs). */
export async function openQueue(stack: ClientStack, dir: string, o: { evidence?: EvidenceService; throttling?: boolean; mbps?: number | null } = {}): Promise<BenchQueue> {
  const journal = new JournalStore({ path: path.join(dir, 'state', 'queue.journal') });
  const bucket = new TokenBucket(o.mbps ?? null);
  const queue = await UploadQueue.open({
    store: new Keyv({ store: journal, namespace: 'uploads' }),
    secrets: new FileSecretStore(path.join(dir, 'secrets', 'secrets.json')),
    evidence: o.evidence ?? stack.documents,
    blobs: new BlobClient(stack.http),
    limiter: bucket,
    archiveFolder: path.join(dir, 'archive'),
    throttling: o.throttling ?? false,
  });
  return {
    queue,
    bucket,
    close: async () => {
      await queue.stop();
      queue.dispose();
      await journal.disconnect();
    },
  };
}

/** The parts of a new job: each source file hard-linked into the job's staging folder (same bytes, same page cache as the peers). */
export function stageLinked(queue: UploadQueue, jobId: string, files: readonly string[]) {
  const folder = queue.stagingFolder(jobId);
  fs.mkdirSync(folder, { recursive: true });
  return files.map((f, i) => {
    const name = `part${i}.mp4`;
    const file = path.join(folder, name);
    fs.linkSync(f, file);
    return { file, name, mimeType: 'video/mp4', bytes: fs.statSync(f).size, sha256: fs.readFileSync(`${f}.sha256`, 'utf8').trim() };
  });
}

/** Resolves when job `id` finishes (completed, canceled, or failed for good). */
export function whenFinished(queue: UploadQueue, id: string): Promise<{ state: string; error?: string }> {
  return new Promise((resolve) => {
    const sub = queue.onDidChange((e) => {
      if (e.kind !== 'finished' || e.job.id !== id) return;
      sub.dispose();
      resolve({ state: e.job.state, ...(e.job.error ? { error: e.job.error } : {}) });
    });
  });
}

/** Service-side access to Azurite's blobs (to free the disk between runs, to read a committed size). */
export function azuriteOf(emulator: RunningEmulator): BlobServiceClient {
  return new BlobServiceClient(`${emulator.blob.azuriteUrl}/${emulator.blob.account}`, new StorageSharedKeyCredential(emulator.blob.account, emulator.blob.accountKey));
}

/** Deletes every blob of every container (the runs' data: 512 MiB a time adds up). */
export async function deleteAllBlobs(azurite: BlobServiceClient): Promise<void> {
  for await (const c of azurite.listContainers()) {
    const container: ContainerClient = azurite.getContainerClient(c.name);
    for await (const b of container.listBlobsFlat()) await container.deleteBlob(b.name, { deleteSnapshots: 'include' }).catch(() => undefined);
  }
}

/** The committed size of the blob at `<container>/<name>` (as blobPathOf gives it). */
export async function committedSize(azurite: BlobServiceClient, blobPath: string): Promise<number> {
  const slash = blobPath.indexOf('/');
  const props = await azurite.getContainerClient(blobPath.slice(0, slash)).getBlobClient(blobPath.slice(slash + 1)).getProperties();
  return props.contentLength ?? 0;
}
