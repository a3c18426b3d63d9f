// The block pipeline of the upload queue against the local service: several
// blocks of one file in flight, acknowledged in any order, committed in order;
// a stop with blocks acknowledged ahead of a missing one; throttled block sizes;
// records of the older layout. The blob store is the real one, wrapped to watch
// (and, where a test says so, hold back) each Put Block.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlobEncryptStream, encryptBlock } from '../../../src/core/clearance/encryption';
import { inlineBlockCrypto, WorkerBlockCrypto } from '../../../src/core/uploads/blockCrypto';
import { blockId, MAX_BLOCKS_AHEAD, MAX_BLOCKS_IN_FLIGHT, THROTTLED_BLOCK_UNIT, throttledBlockBytes } from '../../../src/core/uploads/blockPipeline';
import type { BlobStore } from '../../../src/core/uploads/ports';
import type { UploadJob } from '../../../src/core/uploads/uploadJob';
import { blobOf, openQueue, plainSha256OfBlob, stageRandomFile, startService, waitForEvent, waitForState, type ServiceFixture } from './serviceFixture';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The real blob store, counting Put Blocks per index and in flight; `hold` may delay one before it goes. */
function watched(inner: BlobStore, hold?: (index: number, attempt: number, signal?: AbortSignal) => Promise<void> | undefined) {
  const w = { inFlight: 0, peak: 0, acks: [] as number[], puts: new Map<number, number>(), reset: () => undefined as void };
  w.reset = () => {
    w.acks = [];
    w.puts = new Map();
    w.peak = 0;
  };
  const blobs: BlobStore = {
    getBlockList: (uri, signal) => inner.getBlockList(uri, signal),
    putBlockList: (uri, ids, headers, signal) => inner.putBlockList(uri, ids, headers, signal),
    putBlock: async (uri, id, data, opts) => {
      const index = Number(Buffer.from(id, 'base64').toString().slice('block-'.length));
      const attempt = (w.puts.get(index) ?? 0) + 1;
      w.puts.set(index, attempt);
      w.inFlight++;
      w.peak = Math.max(w.peak, w.inFlight);
      try {
        await hold?.(index, attempt, opts.signal);
        await inner.putBlock(uri, id, data, opts);
        w.acks.push(index);
      } finally {
        w.inFlight--;
      }
    },
  };
  return { w, blobs };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `signal` aborts, rejecting as an aborted Put Block would. */
const untilAborted = (signal?: AbortSignal) =>
  new Promise<void>((_, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

describe('Upload block pipeline', function () {
  this.timeout(60_000);
  let fx: ServiceFixture;
  let n = 0;
  const freshDir = () => {
    const d = path.join(fx.dir, `p${n++}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  before(async () => {
    fx = await startService();
  });
  after(async () => fx?.stop());
  afterEach(() => fx.emulator.faults.clear());

  it('encrypting block by block from each chaining value gives exactly the one-pass cipher', async () => {
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    for (const size of [0, 5, 16, 64 * KiB, 64 * KiB + 16, 200_003]) {
      const plain = crypto.randomBytes(size);
      const stream = new BlobEncryptStream(key, iv);
      const oneParts: Buffer[] = [];
      stream.on('data', (c: Buffer) => oneParts.push(c));
      const ended = new Promise((r) => stream.on('end', r));
      stream.end(plain);
      await ended;
      const onePass = Buffer.concat(oneParts);
      const blocks: Buffer[] = [];
      let chain: Buffer = iv;
      for (let off = 0; ; off += 48 * KiB) {
        const final = off + 48 * KiB >= size;
        const c = encryptBlock(key, chain, plain.subarray(off, final ? size : off + 48 * KiB), final);
        blocks.push(c);
        if (final) break;
        chain = Buffer.from(c.subarray(c.length - 16));
      }
      assert.deepEqual(Buffer.concat(blocks), onePass, `${size} bytes`);
    }
  });

  it('a pool of crypto workers gives the same cipher (in place, chained) and Content-MD5 as the calling thread, with requests overlapping', async () => {
    const pool = new WorkerBlockCrypto(3);
    try {
      const key = crypto.randomBytes(32);
      const iv = crypto.randomBytes(16);
      const sizes = [64 * KiB, 64 * KiB, 128 * KiB, 16, 64 * KiB + 5];
      const plain = sizes.map((n) => crypto.randomBytes(n));
      // Buffers of their own (movable to a worker), with room for the final block's padding.
      const own = (b: Buffer) => {
        const x = Buffer.allocUnsafeSlow(b.length + 16);
        b.copy(x);
        return x;
      };
      const expected: { cipher: Buffer; md5: string }[] = [];
      let chain = iv;
      for (let i = 0; i < sizes.length; i++) {
        const final = i === sizes.length - 1;
        const e = await inlineBlockCrypto.encrypt({ buffer: own(plain[i]), length: sizes[i], key, chainingValue: chain, final });
        const cipher = Buffer.from(e.buffer.subarray(0, e.length));
        expected.push({ cipher, md5: crypto.createHash('md5').update(cipher).digest('base64') });
        chain = Buffer.from(cipher.subarray(cipher.length - 16));
        assert.deepEqual(cipher, encryptBlock(key, i === 0 ? iv : Buffer.from(expected[i - 1].cipher.subarray(-16)), plain[i], final));
      }
      // The pipeline's order: each block encrypted from the one before's chaining value; the hashes not awaited, so they overlap the next encryptions.
      const hashes: Promise<{ md5: string; cipher: Buffer }>[] = [];
      chain = iv;
      for (let i = 0; i < sizes.length; i++) {
        const e = await pool.encrypt({ buffer: own(plain[i]), length: sizes[i], key, chainingValue: chain, final: i === sizes.length - 1 });
        chain = Buffer.from(e.buffer.subarray(e.length - 16, e.length));
        const length = e.length;
        hashes.push(pool.md5(e.buffer, length).then((h) => ({ md5: h.md5, cipher: Buffer.from(h.buffer.subarray(0, length)) })));
      }
      const got = await Promise.all(hashes);
      assert.deepEqual(got.map((g) => g.cipher), expected.map((x) => x.cipher), 'the same cipher');
      assert.deepEqual(got.map((g) => g.md5), expected.map((x) => x.md5), 'the same Content-MD5');
      // Plain blocks hashed side by side.
      const md5s = await Promise.all(plain.map((p) => pool.md5(own(p), p.length)));
      assert.deepEqual(md5s.map((h) => h.md5), plain.map((p) => crypto.createHash('md5').update(p).digest('base64')));
    } finally {
      await pool.close();
    }
  });

  it('sends several blocks of one file at once, acknowledged in any order, and commits them in order: the decrypted SHA-256 matches', async () => {
    // Answers come back out of order: each Put Block waits a little, some longer than others.
    const { w, blobs } = watched(fx.blobs, (index) => sleep(((index * 7) % 5) * 6));
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, blobs });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'many.mp4', 40 * 64 * KiB + 1234);
      await h.queue.enqueue({ id, title: 'Many blocks', evidence: { name: 'Many blocks' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(w.peak, MAX_BLOCKS_IN_FLIGHT, 'several blocks of the file were on the wire at once');
      assert.notDeepEqual(w.acks, [...w.acks].sort((a, b) => a - b), 'acknowledged out of order');
      const blocks = Math.ceil((Math.floor(part.bytes / 16) + 1) * 16 / (64 * KiB));
      assert.deepEqual([...w.puts.values()], Array<number>(blocks).fill(1), 'each block sent once');
      const list = await blobOf(fx, done.evidenceId!, done.parts[0].resourceId!).getBlockBlobClient().getBlockList('committed');
      assert.deepEqual(
        list.committedBlocks?.map((b) => b.name),
        Array.from({ length: blocks }, (_, i) => blockId(i)),
        'every block, in order',
      );
      const blob = await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!);
      assert.equal(blob.encrypted, true);
      assert.equal(blob.sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('records the blocks acknowledged ahead of one still missing, and after a stop sends only the ones never acknowledged', async () => {
    // Block 1 never gets through the first time: the blocks after it are acknowledged ahead of it.
    let held = false;
    const { w, blobs } = watched(fx.blobs, (index, _attempt, signal) => {
      if (index !== 1 || held) return undefined;
      held = true;
      return untilAborted(signal);
    });
    const dir = freshDir();
    let h = await openQueue(fx, dir, { blockSize: 64 * KiB, blobs });
    const id = h.queue.newJobId();
    const part = stageRandomFile(h.queue, id, 'gap.mp4', 30 * 64 * KiB + 99);
    try {
      await h.queue.enqueue({ id, title: 'Gap', evidence: { name: 'Gap' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      // The window stops at MAX_BLOCKS_AHEAD past the prefix (block 0 acknowledged, block 1 not).
      const sentAhead = 64 * KiB * MAX_BLOCKS_AHEAD;
      for (let t = 0; !(w.acks.length >= MAX_BLOCKS_AHEAD && w.inFlight === 1 && (h.queue.get(id)?.sentBytes ?? 0) >= sentAhead); t += 20) {
        assert.ok(t < 20_000, `the blocks ahead were acknowledged (${w.acks.join(',')})`);
        await sleep(20);
      }
      await sleep(100); // their records saved
      await h.queue.pause(id);
      const record = ((await h.store.get(`job:${id}`)) as UploadJob).parts[0];
      assert.equal(record.blocksCommitted, 1, 'the prefix ends before the missing block');
      assert.equal(record.bytesSent, 64 * KiB);
      assert.deepEqual(
        record.blocksAhead?.map((b) => [b.index, b.offset, b.size]),
        Array.from({ length: MAX_BLOCKS_AHEAD - 1 }, (_, k) => [k + 2, (k + 2) * 64 * KiB, 64 * KiB]),
        'the blocks acknowledged ahead, with where they are',
      );
      assert.ok(record.blocksAhead!.every((b) => Buffer.from(b.chainIv ?? '', 'base64').length === 16), 'with the chaining value each leaves');
      assert.equal(h.queue.get(id)!.sentBytes, 64 * KiB * MAX_BLOCKS_AHEAD, 'progress counts the blocks ahead');
    } finally {
      await h.close();
    }
    // Reopened (the record read back from the journal) and resumed.
    w.reset();
    h = await openQueue(fx, dir, { blockSize: 64 * KiB, blobs });
    try {
      h.queue.start();
      await h.queue.resume(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const blocks = Math.ceil((Math.floor(part.bytes / 16) + 1) * 16 / (64 * KiB));
      const again = [...w.puts.keys()].sort((a, b) => a - b);
      assert.deepEqual(again, [1, ...Array.from({ length: blocks - MAX_BLOCKS_AHEAD - 1 }, (_, k) => k + MAX_BLOCKS_AHEAD + 1)], 'only the blocks never acknowledged');
      const list = await blobOf(fx, done.evidenceId!, done.parts[0].resourceId!).getBlockBlobClient().getBlockList('committed');
      assert.deepEqual(list.committedBlocks?.map((b) => b.name), Array.from({ length: blocks }, (_, i) => blockId(i)));
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('throttled, cuts blocks to about a second at the cap (one in flight), whatever the block size', async () => {
    assert.equal(throttledBlockBytes(250_000, 4 * MiB), 15 * THROTTLED_BLOCK_UNIT, '2 Mbps: 240 KiB');
    assert.equal(throttledBlockBytes(6_000_000, 4 * MiB), 4 * MiB, 'never more than the block size');
    assert.equal(throttledBlockBytes(1000, 4 * MiB), THROTTLED_BLOCK_UNIT, 'at least one chunk');
    assert.equal(throttledBlockBytes(Infinity, 4 * MiB), 4 * MiB, 'no cap: the block size');
    const { w, blobs } = watched(fx.blobs);
    const h = await openQueue(fx, freshDir(), { throttling: true, mbps: 4, blobs }); // 500,000 B/s, blocks of 4 MiB otherwise
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'slow.mp4', 1_100_000);
      await h.queue.enqueue({ id, title: 'Throttled', evidence: { name: 'Throttled' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(w.peak, 1, 'one block in flight');
      const size = throttledBlockBytes(500_000, 4 * MiB);
      assert.equal(size, 30 * THROTTLED_BLOCK_UNIT);
      const cipher = (Math.floor(part.bytes / 16) + 1) * 16;
      const list = await blobOf(fx, done.evidenceId!, done.parts[0].resourceId!).getBlockBlobClient().getBlockList('committed');
      assert.deepEqual(list.committedBlocks?.map((b) => b.size), [size, size, cipher - 2 * size]);
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('resumes a record of the older layout (uniform blocks, no layout mark), bringing it up to date', async () => {
    const dir = freshDir();
    let h = await openQueue(fx, dir, { blockSize: 64 * KiB, throttling: true, mbps: 8 });
    const id = h.queue.newJobId();
    const part = stageRandomFile(h.queue, id, 'old.mp4', 600_000);
    try {
      await h.queue.enqueue({ id, title: 'Old', evidence: { name: 'Old' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.sentBytes > 200_000);
      await h.queue.pause(id);
      // What the older version wrote: the same fields, without layout (and nothing ahead of the prefix).
      const job = (await h.store.get(`job:${id}`)) as UploadJob;
      const { layout: _layout, blocksAhead: _ahead, ...old } = job.parts[0];
      assert.ok(old.blocksCommitted >= 2);
      await h.store.set(`job:${id}`, { ...job, parts: [old] });
    } finally {
      await h.close();
    }
    h = await openQueue(fx, dir, { blockSize: 64 * KiB });
    try {
      const migrated = ((await h.store.get(`job:${id}`)) as UploadJob).parts[0];
      assert.equal(migrated.layout, 2, 'saved in the current layout');
      assert.equal(migrated.bytesSent, migrated.blocksCommitted * 64 * KiB);
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 0 }); // counts Put Blocks
      h.queue.start();
      await h.queue.resume(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const blocks = Math.ceil((Math.floor(part.bytes / 16) + 1) * 16 / (64 * KiB));
      assert.equal(fx.emulator.faults.list()[0].fired, blocks - migrated.blocksCommitted, 'from the last acknowledged block');
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });
});
