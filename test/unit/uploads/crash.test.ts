// kill -9 in the middle of an upload: a child process runs the queue (keyv over
// the JournalStore), the test kills it while a block is on the wire, then opens
// the same state again and lets the upload finish.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { BlobSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import Keyv from 'keyv';
import { JournalStore } from '../../../src/core/store/journalStore';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { MAX_BLOCKS_IN_FLIGHT, throttledBlockBytes } from '../../../src/core/uploads/blockPipeline';
import { blockCount, blockId, uploadUriSecret } from '../../../src/core/uploads/partUpload';
import type { UploadJob } from '../../../src/core/uploads/uploadJob';
import { DEFAULT_BLOCK_SIZE, STAGING_PREFIX } from '../../../src/core/uploads/uploadQueue';
import {
  assertNoSas,
  blobOf,
  blobPuts,
  filesUnder,
  openQueue,
  plainSha256OfBlob,
  stageRandomFile,
  startService,
  waitForEvent,
  waitForState,
  type ServiceFixture,
} from './serviceFixture';

const CHILD = path.join(__dirname, 'fixtures', 'queueChild.ts');

/**
 * Stages `bytes` random bytes as the one part of job `id` under `dir`, runs the
 * queue child on it (`mbps`, `blockSize`, `mode` as queueChild takes them) and
 * SIGKILLs it once its progress passes `killAt` bytes. Answers the part and
 * what the killed process had recorded of it (read from its journal).
 */
async function runAndKill(
  fx: ServiceFixture,
  opts: { dir: string; id: string; bytes: number; mbps: number; blockSize: number; mode?: 'unthrottled'; killAt: number },
): Promise<{ part: { file: string; bytes: number; sha256: string }; recorded: UploadJob['parts'][number]; evidenceId: string }> {
  const { dir, id } = opts;
  const archive = path.join(dir, 'archive');
  const source = stageRandomFile({ stagingFolder: () => path.join(dir, 'source') }, id, 'camera-1.mp4', opts.bytes);
  const part = { ...source, file: path.join(archive, `${STAGING_PREFIX}${id}`, 'camera-1.mp4') };
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({ id, title: 'Crash test', evidence: { name: 'Crash test' }, caseTarget: { kind: 'none' }, parts: [part] }));
  const args = [CHILD, fx.emulator.connectionFilePath, dir, String(opts.mbps), String(opts.blockSize), ...(opts.mode ? [opts.mode] : [])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? code)));
  try {
    await new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        const e = JSON.parse(line) as { kind: string; sentBytes?: number };
        if (e.kind === 'progress' && (e.sentBytes ?? 0) > opts.killAt) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      void exited.then((how) => reject(new Error(`the child ended before the kill (${String(how)}): ${stderr}`)));
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  const journal = new JournalStore({ path: path.join(dir, 'state', 'queue.journal') });
  const job = (await new Keyv({ store: journal, namespace: 'uploads' }).get(`job:${id}`)) as UploadJob;
  await journal.disconnect();
  assert.ok(job.evidenceId && job.parts[0].resourceId, 'the child had created the evidence and the resource');
  return { part, recorded: job.parts[0], evidenceId: job.evidenceId };
}

/** Indices the record says the blob store acknowledged. */
const recordedBlocks = (p: UploadJob['parts'][number]) => [...Array.from({ length: p.blocksCommitted }, (_, i) => i), ...(p.blocksAhead ?? []).map((b) => b.index)];

describe('UploadQueue resuming after a crash', function () {
  this.timeout(90_000);
  let fx: ServiceFixture;
  before(async () => {
    fx = await startService();
  });
  after(async () => fx?.stop());

  it('after SIGKILL of the process mid-upload, resumes from the last acknowledged block: one evidence item, at most one block sent twice, the file whole', async () => {
    const dir = path.join(fx.dir, 'role');
    const archive = path.join(dir, 'archive');
    const id = 'crash-job';
    const blockSize = DEFAULT_BLOCK_SIZE;
    // The file the child stages (copies into the job's folder) before it enqueues the job.
    const source = stageRandomFile({ stagingFolder: () => path.join(dir, 'source') }, id, 'camera-1.mp4', 5 * blockSize + 12_345);
    const part = { ...source, file: path.join(archive, `${STAGING_PREFIX}${id}`, 'camera-1.mp4') };
    fs.writeFileSync(
      path.join(dir, 'job.json'),
      JSON.stringify({ id, title: 'Crash test', evidence: { name: 'Crash test' }, caseTarget: { kind: 'none' }, parts: [part] }),
    );
    await blobPuts(fx, true);

    // 48 Mbps: a 4 MiB block takes about 0.7 s, so the kill lands while one is on the wire.
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, fx.emulator.connectionFilePath, dir, '48', String(blockSize)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? code)));
    let evidenceBefore: string | undefined;
    let sentAtKill = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const lines = readline.createInterface({ input: child.stdout });
        lines.on('line', (line) => {
          const e = JSON.parse(line) as { kind: string; evidenceId?: string; sentBytes?: number };
          evidenceBefore ??= e.evidenceId;
          // Past two and a half blocks: two acknowledged, the third in flight.
          if (e.kind === 'progress' && (e.sentBytes ?? 0) > 2.5 * blockSize && sentAtKill === 0) {
            sentAtKill = e.sentBytes!;
            child.kill('SIGKILL');
            resolve();
          }
        });
        void exited.then((how) => reject(new Error(`the child ended before the kill (${String(how)}): ${stderr}`)));
      });
    } finally {
      // A failure above (a bad line, a timeout) must not leave the child running.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');
    // What the killed process left on disk: its state, but no upload URI (a SAS) in it.
    const stateDir = path.join(dir, 'state');
    const leftState = filesUnder(stateDir).map((f) => fs.readFileSync(path.join(stateDir, f), 'latin1')).join('\n');
    assert.ok(leftState.includes(id), 'the journal holds the job');
    const uriAtKill = (await new FileSecretStore(path.join(dir, 'secrets', 'secrets.json')).get(uploadUriSecret(id, 0))) ?? '';
    assertNoSas(leftState, 'no SAS in the state files', [uriAtKill]);
    assert.ok(evidenceBefore, 'the child had created the evidence');

    // Restart: same journal, same secrets, same archive folder; throttling off to finish quickly.
    const h = await openQueue(fx, dir, { blockSize });
    try {
      const reopened = h.queue.get(id);
      assert.ok(reopened, 'the job survived the kill');
      assert.equal(reopened.state, 'queued');
      assert.equal(reopened.evidenceId, evidenceBefore);
      assert.ok(reopened.sentBytes >= 2 * blockSize && reopened.sentBytes < part.bytes, `resumes mid-file (${reopened.sentBytes})`);
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(done.evidenceId, evidenceBefore, 'no second evidence item');

      const puts = await blobPuts(fx);
      const blobs = Object.entries(puts.blobs);
      assert.equal(blobs.length, 1, `one blob only: ${blobs.map(([k]) => k).join(', ')}`);
      const [blobPath, stats] = blobs[0];
      assert.ok(blobPath.includes(`/${evidenceBefore}/`), 'the blob belongs to the one evidence item');
      const blocks = blockCount({ bytes: part.bytes, blockSize, encryption: { keyId: '', iv: '', wrappedKey: '' } });
      const counts = Object.values(stats.blockIds);
      assert.equal(counts.length, blocks, 'every block was sent');
      assert.ok(counts.filter((c) => c > 1).length <= 1, `at most one block sent twice: ${JSON.stringify(stats.blockIds)}`);
      assert.ok(counts.every((c) => c <= 2));
      assert.equal(stats.putBlockList, 1);

      const blob = await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!);
      assert.equal(blob.encrypted, true);
      assert.equal(blob.sha256, part.sha256);
      assert.equal((await fx.documents.getEvidence(done.evidenceId!)).State, 'Complete');
      assert.deepEqual(filesUnder(archive), []);
    } finally {
      await h.close();
    }
  });

  it('asks the blob for its block list on resume, and starts the part over when the uncommitted blocks are gone', async () => {
    const dir = path.join(fx.dir, 'lost-blocks');
    const blockSize = 64 * 1024;
    let h = await openQueue(fx, dir, { blockSize, throttling: true, mbps: 8 });
    const id = h.queue.newJobId();
    const part = stageRandomFile(h.queue, id, 'lost.mp4', 10 * blockSize + 7);
    try {
      await h.queue.enqueue({ id, title: 'Lost blocks', evidence: { name: 'Lost blocks' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.sentBytes > 4 * blockSize);
      await h.queue.pause(id);
    } finally {
      await h.close();
    }
    // A readable upload URI for the same blob (the service hands out write-only ones), saved in the job record
    // as older versions did (opening the queue moves it to the secret store), and the blob loses its
    // uncommitted blocks (as Azure discards them after a week).
    const journal = new JournalStore({ path: path.join(dir, 'state', 'queue.journal') });
    const state = new Keyv({ store: journal, namespace: 'uploads' });
    const job = (await state.get(`job:${id}`)) as UploadJob;
    const committedBefore = job.parts[0].blocksCommitted;
    assert.ok(committedBefore >= 4);
    const blob = blobOf(fx, job.evidenceId!, job.parts[0].resourceId!);
    const { account, accountKey } = fx.emulator.blob;
    const sas = generateBlobSASQueryParameters(
      { containerName: blob.containerName, blobName: blob.name, permissions: BlobSASPermissions.parse('rcw'), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 3600_000), version: '2021-12-02' },
      new StorageSharedKeyCredential(account, accountKey),
    ).toString();
    const readable = `${fx.emulator.urls.blob}/${account}/${blob.containerName}/${blob.name}?${sas}`;
    const secrets = new FileSecretStore(path.join(dir, 'secrets', 'secrets.json'));
    assert.match((await secrets.get(uploadUriSecret(id, 0))) ?? '', /[?&]sig=/, 'the paused part keeps its URI in the secret store');
    await state.set(`job:${id}`, { ...job, parts: [{ ...job.parts[0], uploadUri: readable }] });
    assert.equal((await fx.blobs.getBlockList(readable))?.uncommitted.length, committedBefore);
    await fx.blobs.putBlockList(readable, [], {}); // commits nothing: the uncommitted blocks are dropped
    await journal.disconnect();

    h = await openQueue(fx, dir, { blockSize });
    try {
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 0 }); // counts Put Blocks
      h.queue.start();
      await h.queue.resume(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(fx.emulator.faults.list()[0].fired, blockCount({ bytes: part.bytes, blockSize, encryption: { keyId: '', iv: '', wrappedKey: '' } }), 'every block again');
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
      assert.equal(await h.secrets.get(uploadUriSecret(id, 0)), undefined, 'the URI is forgotten once the part is complete');
      assert.equal(((await h.store.get(`job:${id}`)) as { parts: Record<string, unknown>[] }).parts[0].uploadUri, undefined, 'and never kept in the record');
    } finally {
      fx.emulator.faults.clear();
      await h.close();
    }
  });

  it('after SIGKILL with several blocks of the file in flight, the journal held only acknowledged blocks, and the restart sends again no more than the blocks in flight', async () => {
    const dir = path.join(fx.dir, 'in-flight');
    const id = 'crash-in-flight';
    const blockSize = 256 * 1024;
    await blobPuts(fx, true);
    // Every Put Block waits at the gateway: several are on the wire when the kill lands.
    fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 250 });
    let killed: Awaited<ReturnType<typeof runAndKill>>;
    try {
      killed = await runAndKill(fx, { dir, id, bytes: 24 * blockSize + 777, mbps: 1000, blockSize, mode: 'unthrottled', killAt: 8 * blockSize });
    } finally {
      fx.emulator.faults.clear();
    }
    const { part, recorded, evidenceId } = killed;
    const recordedSet = recordedBlocks(recorded);
    assert.ok(recorded.blocksCommitted >= 2, `blocks were acknowledged before the kill (${recorded.blocksCommitted})`);
    // Whatever the record holds, the blob store has, with the sizes recorded.
    const atKill = await blobOf(fx, evidenceId, recorded.resourceId!).getBlockBlobClient().getBlockList('uncommitted');
    const have = new Map((atKill.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
    for (const i of recordedSet) assert.ok(have.has(blockId(i)), `recorded block ${i} is at the blob store`);
    assert.equal(Array.from({ length: recorded.blocksCommitted }, (_, i) => have.get(blockId(i))!).reduce((a, b) => a + b, 0), recorded.bytesSent);
    for (const b of recorded.blocksAhead ?? []) assert.equal(have.get(blockId(b.index)), b.size);

    const h = await openQueue(fx, dir, { blockSize });
    try {
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(done.evidenceId, evidenceId, 'no second evidence item');
      const stats = Object.values((await blobPuts(fx)).blobs)[0];
      const cipher = (Math.floor(part.bytes / 16) + 1) * 16;
      const blocks = Math.ceil(cipher / blockSize);
      const twice = Object.entries(stats.blockIds).filter(([, c]) => c > 1).map(([name]) => name);
      assert.equal(Object.keys(stats.blockIds).length, blocks, 'every block was sent');
      assert.ok(twice.length <= MAX_BLOCKS_IN_FLIGHT, `no more blocks sent twice than were in flight: ${JSON.stringify(stats.blockIds)}`);
      for (const i of recordedSet) assert.equal(stats.blockIds[blockId(i)], 1, `recorded block ${i} was not sent again`);
      assert.ok(stats.bytes - cipher <= MAX_BLOCKS_IN_FLIGHT * blockSize, `${stats.bytes - cipher} bytes sent again`);
      const list = await blobOf(fx, evidenceId, done.parts[0].resourceId!).getBlockBlobClient().getBlockList('committed');
      assert.deepEqual(list.committedBlocks?.map((b) => b.name), Array.from({ length: blocks }, (_, i) => blockId(i)));
      assert.equal((await plainSha256OfBlob(fx, evidenceId, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('after SIGKILL of a throttled upload, sends again at most two seconds at the cap (blocks are cut to about one)', async () => {
    const dir = path.join(fx.dir, 'throttled');
    const id = 'crash-throttled';
    const mbps = 8; // 1,000,000 B/s: blocks of 960 KiB instead of 4 MiB
    const cap = mbps * 125_000;
    const blockSize = DEFAULT_BLOCK_SIZE;
    await blobPuts(fx, true);
    const { part, evidenceId } = await runAndKill(fx, { dir, id, bytes: 4_000_000, mbps, blockSize, killAt: 1_500_000 });
    const h = await openQueue(fx, dir, { blockSize });
    try {
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const stats = Object.values((await blobPuts(fx)).blobs)[0];
      const cipher = (Math.floor(part.bytes / 16) + 1) * 16;
      assert.ok(stats.bytes - cipher <= 2 * cap, `${stats.bytes - cipher} bytes sent again (at most ${2 * cap})`);
      const list = await blobOf(fx, evidenceId, done.parts[0].resourceId!).getBlockBlobClient().getBlockList('committed');
      const sizes = list.committedBlocks!.map((b) => b.size);
      assert.equal(sizes[0], throttledBlockBytes(cap, blockSize), 'the first blocks were cut to the cap');
      assert.equal(sizes.reduce((a, b) => a + b, 0), cipher);
      assert.equal((await plainSha256OfBlob(fx, evidenceId, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });
});
