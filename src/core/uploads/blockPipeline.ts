// The block path of one part: read → encrypt → hash → Put Block, as a pipeline.
//
// Blocks are cut and encrypted one after the other (CBC: a block's IV is the
// last cipher block of the one before it), each read once into its own buffer,
// encrypted once and hashed once (its Content-MD5), and the producer runs ahead
// of the wire into a bounded buffer. Several blocks of the part are on the wire
// at once (Put Block accepts any order; Put Block List puts them in order).
// Every acknowledgement is recorded in the part, and saved: the acknowledged
// prefix (blocksCommitted, bytesSent, chainIv) and the blocks acknowledged ahead
// of it (blocksAhead, with the chaining value each leaves), so that a restart
// sends again only the blocks that were not acknowledged. Nothing that the blob
// store has not acknowledged is ever recorded.
//
// Throttled, one block is in flight and blocks are cut to about a second at the
// cap, so that a crash sends little again.
import { promises as fs } from 'node:fs';
import { CIPHER_BLOCK_SIZE } from '../clearance/encryption';
import { abortError } from '../net/clock';
import { inlineBlockCrypto, type BlockCrypto } from './blockCrypto';
import type { BlobStore } from './ports';
import { cipherLength, type AcknowledgedBlock, type UploadPart } from './uploadJob';

/** Blocks of one part on the wire at once, throttling off: as many as the SDK's uploadFile sends by default (its concurrency, 5). */
export const MAX_BLOCKS_IN_FLIGHT = 5;
/**
 * Blocks of one part read ahead of the wire (being encrypted, hashed, or waiting
 * for room), throttling off: the next block's read overlaps this one's encryption,
 * and its hash the next one's encryption (in another crypto worker). Throttled, one.
 */
export const MAX_BLOCKS_PREPARED = 2;
/** No block is sent further than this past the acknowledged prefix: bounds blocksAhead in the record. */
export const MAX_BLOCKS_AHEAD = 16;
/** Throttled blocks last about this long at the cap (what a crash may send again). */
export const THROTTLED_BLOCK_SECONDS = 1;
/** A throttled block is a whole number of these (the limiter's chunks), at least one. */
export const THROTTLED_BLOCK_UNIT = 16 * 1024;
/** Azure: a blob commits at most 50,000 blocks. */
export const MAX_BLOCKS_PER_BLOB = 50_000;
/** Block buffers (read ahead, encrypted, on the wire) that all uploads together may hold. */
export const BLOCK_BUFFER_BYTES = 40 * 1024 * 1024;

/** Block ids must all have the same length within a blob. */
export function blockId(index: number): string {
  return Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');
}

/** How the blocks of a part go now (read before each block: throttling may change). */
export interface BlockPace {
  /** Blocks of the part that may be on the wire at once. */
  inFlight: number;
  /** Largest block to cut now; the part's blockSize when absent. */
  blockBytes?: number;
}

/** Throttled block size: about THROTTLED_BLOCK_SECONDS at `rate` bytes/s, never more than `blockSize`. */
export function throttledBlockBytes(rate: number | undefined, blockSize: number): number {
  if (rate === undefined || !(rate > 0) || !Number.isFinite(rate)) return blockSize;
  const units = Math.floor((rate * THROTTLED_BLOCK_SECONDS) / THROTTLED_BLOCK_UNIT);
  return Math.min(blockSize, Math.max(1, units) * THROTTLED_BLOCK_UNIT);
}

/**
 * Bytes of block buffers shared by every upload: a part waits for room before it
 * reads a block, and gives it back once the block is acknowledged or given up.
 * Waiters are served in order; a request larger than the whole budget waits
 * until nothing else is held.
 */
export class BlockBudget {
  private used = 0;
  private readonly waiters: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number = BLOCK_BUFFER_BYTES) {}

  get held(): number {
    return this.used;
  }

  acquire(bytes: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal));
        this.wake();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
    this.wake();
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.capacity;
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}

interface PlannedBlock {
  index: number;
  /** Cipher offset (the plain offset too). */
  offset: number;
  /** Cipher bytes. */
  size: number;
  final: boolean;
}

/**
 * Whether the blocks ahead in the record fit the part: ascending, inside the
 * blob, whole cipher blocks (but the last), each gap wide enough for the blocks
 * it must hold, a chaining value where the next block needs one. A record that
 * does not fit is not trusted: its blocks ahead are sent again.
 */
function aheadFits(part: UploadPart, total: number): boolean {
  const encrypted = part.encryption !== undefined;
  let index = part.blocksCommitted;
  let offset = part.bytesSent;
  for (const a of part.blocksAhead ?? []) {
    if (![a.index, a.offset, a.size].every(Number.isSafeInteger)) return false;
    const gapBlocks = a.index - index;
    const gapBytes = a.offset - offset;
    if (gapBlocks < 0 || gapBytes < 0 || gapBytes % CIPHER_BLOCK_SIZE !== 0 || gapBytes < gapBlocks * CIPHER_BLOCK_SIZE) return false;
    if ((gapBlocks === 0) !== (gapBytes === 0)) return false;
    const end = a.offset + a.size;
    if (a.size <= 0 || end > total) return false;
    if (end < total && (a.size % CIPHER_BLOCK_SIZE !== 0 || (encrypted && Buffer.from(a.chainIv ?? '', 'base64').length !== CIPHER_BLOCK_SIZE))) return false;
    index = a.index + 1;
    offset = end;
  }
  return true;
}

/**
 * Cuts the rest of a part into blocks, from the acknowledged prefix on: blocks
 * acknowledged ahead are skipped (their chaining values handed out), the gap
 * before one is cut into as many blocks as it had (their index is fixed by the
 * block after), and the rest into blocks of the size asked for.
 */
class BlockPlan {
  private readonly ahead: AcknowledgedBlock[];
  private k = 0;
  private index: number;
  private offset: number;

  constructor(
    part: UploadPart,
    private readonly total: number,
  ) {
    this.ahead = [...(part.blocksAhead ?? [])];
    this.index = part.blocksCommitted;
    this.offset = part.bytesSent;
  }

  next(maxBytes: number, onSkip: (acknowledged: AcknowledgedBlock) => void): PlannedBlock | undefined {
    for (;;) {
      if (this.offset >= this.total) return undefined;
      const a = this.ahead[this.k];
      if (a && a.index === this.index) {
        onSkip(a);
        this.k++;
        this.index++;
        this.offset = a.offset + a.size;
        continue;
      }
      let size: number;
      if (a) {
        const units = (a.offset - this.offset) / CIPHER_BLOCK_SIZE;
        size = Math.ceil(units / (a.index - this.index)) * CIPHER_BLOCK_SIZE;
      } else {
        // Blocks large enough that the blob never needs more than Azure commits.
        const left = this.total - this.offset;
        const floor = Math.ceil(left / Math.max(1, MAX_BLOCKS_PER_BLOB - this.index) / CIPHER_BLOCK_SIZE) * CIPHER_BLOCK_SIZE;
        size = Math.max(maxBytes, floor);
      }
      size = Math.min(size, this.total - this.offset);
      const block = { index: this.index, offset: this.offset, size, final: this.offset + size >= this.total };
      this.index++;
      this.offset += size;
      return block;
    }
  }
}

/** Records an acknowledged block: it extends the prefix (taking in the blocks ahead that now follow it), or waits ahead of it. */
function acknowledge(part: UploadPart, block: PlannedBlock, chainIv: string | undefined): void {
  const ahead = part.blocksAhead ?? [];
  if (block.index === part.blocksCommitted) {
    part.blocksCommitted = block.index + 1;
    part.bytesSent = block.offset + block.size;
    if (chainIv !== undefined) part.chainIv = chainIv;
    while (ahead.length > 0 && ahead[0].index === part.blocksCommitted) {
      const a = ahead.shift()!;
      part.blocksCommitted = a.index + 1;
      part.bytesSent = a.offset + a.size;
      if (a.chainIv !== undefined) part.chainIv = a.chainIv;
    }
  } else {
    const entry: AcknowledgedBlock = { index: block.index, offset: block.offset, size: block.size, ...(chainIv !== undefined ? { chainIv } : {}) };
    const at = ahead.findIndex((a) => a.index > block.index);
    ahead.splice(at < 0 ? ahead.length : at, 0, entry);
  }
  if (ahead.length > 0) part.blocksAhead = ahead;
  else delete part.blocksAhead;
}

export interface BlockSendDeps {
  blobs: BlobStore;
  /** Persists the job; resolves once it is durable. */
  save(): Promise<void>;
  /** Bytes of a block on the wire, for rate and progress (not durable). */
  onBytes(part: UploadPart, n: number, block: number): void;
  /** A block was acknowledged (or a Put Block failed): its in-flight bytes go. */
  onBlockSettled?(part: UploadPart, block: number): void;
  /** Time limit of one Put Block of `bytes` (throttled blocks take longer); undefined: the client's default. */
  blockTimeoutMs?(bytes: number): number | undefined;
  /** How many blocks at once and how large, asked before each block; one block of blockSize at a time when absent. */
  pace?(part: UploadPart): BlockPace;
  /** Shared by all uploads: bytes of block buffers held; unbounded when absent. */
  budget?: BlockBudget;
  /** Where blocks are encrypted and hashed (a worker thread in the queue); the calling thread when absent. */
  crypto?: BlockCrypto;
}

/** Reads exactly `length` bytes at `position`; fails when the file is shorter. */
async function readFully(file: fs.FileHandle, buffer: Buffer, length: number, position: number, name: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`${name}: the staged file ended at ${position + done} bytes (did the staged file change?).`);
    done += bytesRead;
  }
}

/** A promise and its resolver. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Sends every block of the part that the blob store has not acknowledged yet,
 * several at once, recording (and saving) each acknowledgement. Resolves once
 * the whole blob is acknowledged; on a failure or `signal`, stops the other
 * blocks, waits until none is on the wire, and throws. `call` wraps each blob call.
 *
 * Each block is a small pipeline of its own: read (here, in order), encrypt (in
 * order: it needs the chaining value the block before leaves), hash, then on
 * the wire (in order) once there is room. Reading, encrypting and hashing of
 * the next blocks overlap those of the blocks before them and the wire: done one
 * after the other, they, not the wire, set the pace of an upload.
 */
export async function sendBlocks(
  part: UploadPart,
  uploadUri: string,
  contentKey: Buffer | undefined,
  deps: BlockSendDeps,
  signal: AbortSignal,
  call: <T>(f: () => Promise<T>) => Promise<T>,
): Promise<void> {
  const encrypted = part.encryption !== undefined;
  if (encrypted && !contentKey) throw new Error(`${part.name}: the content key is missing.`);
  const total = cipherLength(part.bytes, encrypted);
  if (part.blocksAhead && !aheadFits(part, total)) delete part.blocksAhead;
  const crypto = deps.crypto ?? inlineBlockCrypto;
  // The chaining value of the next block to encrypt: known once the block before it is encrypted.
  let chain: Promise<Buffer | undefined> = Promise.resolve(undefined);
  if (part.encryption) {
    const start = part.blocksCommitted === 0 ? part.encryption.iv : part.chainIv;
    if (!start) throw new Error(`${part.name}: the chaining value of block ${part.blocksCommitted} is missing.`);
    chain = Promise.resolve(Buffer.from(start, 'base64'));
  }

  // Stops this run's blocks: the caller's signal, or the first failure.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  if (signal.aborted) stop.abort(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    if (!failure && !signal.aborted) failure = { error };
    stop.abort(error);
  };
  // Waiting for room (to read ahead, to go on the wire) until something changed.
  const waiters = new Set<() => void>();
  const changed = () => {
    const ws = [...waiters];
    waiters.clear();
    for (const w of ws) w();
  };
  const until = async (ready: () => boolean): Promise<void> => {
    while (!stop.signal.aborted && !ready()) await new Promise<void>((resolve) => waiters.add(resolve));
  };
  stop.signal.addEventListener('abort', changed, { once: true });
  const pace = () => deps.pace?.(part) ?? { inFlight: 1 };
  /** Every block of this run that has not settled yet (read ahead, on the wire, or saving). */
  const blocks = new Set<Promise<void>>();
  let onWire = 0;
  let prepared = 0;
  // Blocks read ahead and not on the wire yet. One (the next block) while one block
  // is in flight, as throttled, so that a change of pace applies to the next block cut.
  const prepareLimit = () => (Math.max(1, pace().inFlight) > 1 ? MAX_BLOCKS_PREPARED : 1);
  // Buffers go round: one per block (read into, encrypted in place, hashed, sent),
  // free again once its block settled. Slow: each has its own memory (not a slice
  // of Node's pool), so that it can move to a crypto thread and back.
  const spare: Buffer[] = [];
  const bufferFor = (bytes: number): Buffer => {
    const i = spare.findIndex((b) => b.length >= bytes);
    return i >= 0 ? spare.splice(i, 1)[0] : Buffer.allocUnsafeSlow(Math.max(bytes, Math.min(part.blockSize, total)));
  };
  // Each block goes on the wire after the one before it did (or gave up).
  let previousLaunched: Promise<void> = Promise.resolve();

  /** Encrypts (after the block before it), hashes, waits for room on the wire, sends, records. Never rejects. */
  const run = async (block: PlannedBlock, plain: Buffer, plainBytes: number, chainIn: Promise<Buffer | undefined>, chainOut: (c: Buffer | undefined) => void, launched: () => void, after: Promise<void>, giveBack: () => void) => {
    let data: Buffer;
    let md5: string;
    // What goes back to the spares once the block settled.
    let reuse: Buffer | undefined;
    let tail: string | undefined;
    let sending = false;
    try {
      try {
        let buffer = plain;
        let length = plainBytes;
        if (encrypted) {
          const iv = await chainIn;
          if (!iv || stop.signal.aborted) return; // the block before it was given up
          const e = await crypto.encrypt({ buffer, length, key: contentKey!, chainingValue: iv, final: block.final });
          ({ buffer, length } = e);
          const next = Buffer.from(buffer.subarray(length - CIPHER_BLOCK_SIZE, length));
          chainOut(next); // the next block is encrypted while this one is hashed
          if (!block.final) tail = next.toString('base64');
        }
        const h = await crypto.md5(buffer, length);
        data = h.buffer.subarray(0, length);
        md5 = h.md5;
        reuse = h.buffer;
      } catch (err) {
        fail(err);
        return;
      } finally {
        chainOut(undefined); // no-op once the chaining value was handed on
      }
      // On the wire in block order, once there is room: fewer blocks in flight than the pace allows, and not too far past the prefix.
      await after;
      await until(() => onWire < Math.max(1, pace().inFlight) && block.index < part.blocksCommitted + MAX_BLOCKS_AHEAD);
      if (stop.signal.aborted) return;
      sending = true;
      onWire++;
      prepared--;
      launched();
      changed();
      const timeoutMs = deps.blockTimeoutMs?.(block.size);
      let acknowledged = false;
      try {
        await call(() =>
          deps.blobs.putBlock(uploadUri, blockId(block.index), data, {
            signal: stop.signal,
            contentMd5: md5,
            onBytes: (n) => deps.onBytes(part, n, block.index),
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          }),
        );
        acknowledged = true;
      } catch (err) {
        fail(err);
      } finally {
        deps.onBlockSettled?.(part, block.index);
        giveBack();
        if (reuse) spare.push(reuse);
      }
      if (!acknowledged) return;
      acknowledge(part, block, tail);
      try {
        // The block's slot on the wire is free only once its record is durable: a crash sends again at most the blocks in flight.
        await deps.save();
      } catch (err) {
        fail(err);
      }
    } finally {
      if (sending) onWire--;
      else {
        prepared--;
        giveBack();
        launched();
      }
      changed();
    }
  };

  const plan = new BlockPlan(part, total);
  const file = await fs.open(part.file, 'r');
  try {
    const { size } = await file.stat();
    if (size !== part.bytes) throw new Error(`${part.name}: the staged file has ${size} bytes, ${part.bytes} expected (did the staged file change?).`);
    for (;;) {
      await until(() => prepared < prepareLimit());
      if (stop.signal.aborted) break;
      const block = plan.next(pace().blockBytes ?? part.blockSize, (a) => {
        if (encrypted) chain = Promise.resolve(Buffer.from(a.chainIv ?? '', 'base64'));
      });
      if (!block) break;
      try {
        await deps.budget?.acquire(block.size, stop.signal);
      } catch {
        break; // stopped while waiting for room
      }
      let held = true;
      const giveBack = () => {
        if (held) deps.budget?.release(block.size);
        held = false;
      };
      prepared++;
      let plain: Buffer;
      const plainBytes = encrypted && block.final ? part.bytes - block.offset : block.size;
      try {
        // Read once, in order, while the blocks before it are encrypted, hashed and on the wire.
        plain = bufferFor(block.size); // room for the cipher (the final block's padding too)
        await readFully(file, plain, plainBytes, block.offset, part.name);
      } catch (err) {
        prepared--;
        giveBack();
        throw err;
      }
      const chainIn = chain;
      const next = deferred<Buffer | undefined>();
      let handedOn = false;
      chain = next.promise;
      const launched = deferred<void>();
      const after = previousLaunched;
      previousLaunched = launched.promise;
      const task = run(
        block,
        plain,
        plainBytes,
        chainIn,
        (c) => {
          if (handedOn) return;
          handedOn = true;
          next.resolve(c);
        },
        () => launched.resolve(),
        after,
        giveBack,
      );
      blocks.add(task);
      void task.finally(() => blocks.delete(task));
    }
  } catch (err) {
    fail(err);
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Nothing of this part stays on the wire once this returns.
    while (blocks.size > 0) await Promise.all([...blocks]);
    await file.close().catch(() => undefined);
  }
  if (failure) throw failure.error;
  signal.throwIfAborted();
  if (part.bytesSent !== total) {
    throw new Error(`${part.name}: ${part.bytesSent} of ${total} bytes were acknowledged after the last block (did the staged file change?).`);
  }
}
