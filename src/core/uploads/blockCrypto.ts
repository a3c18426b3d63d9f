// Encrypting and hashing blocks off the main thread. A block's AES-256-CBC and
// its Content-MD5 cost about as much CPU as everything else of an upload: done
// on the event loop they stall the sockets of the blocks in flight. Worker
// threads do them instead; buffers move to a worker and back without a copy
// (transferred), so each byte is read once, encrypted once and hashed once.
//
// Encryption and hashing are two separate requests, so that they can overlap:
// CBC chains the blocks of a file (a block's IV is the last cipher block of the
// one before it), so a file's blocks are encrypted one after the other, but the
// MD5 of block n needs nothing of block n + 1: it runs in another worker while
// block n + 1 is being encrypted, and the MD5s of plain blocks run side by side.
// A small pool (one worker per core, at most MAX_CRYPTO_WORKERS) takes each
// request on the worker with the fewest waiting; workers start only when every
// running one is busy, so a throttled upload (one block at a time) keeps one.
//
// The worker's code is inline (eval), so that the engine needs no extra file in
// a bundle. Where no worker can run, the same work runs on the main thread.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encryptBlock } from '../clearance/encryption';

/** Workers of the pool, whatever the core count: more only queue for the same cores. */
export const MAX_CRYPTO_WORKERS = 4;

export interface EncryptRequest {
  /**
   * The plain bytes in buffer[0, length), encrypted in place: the cipher of a
   * block is as long as its plain bytes (the final one up to 16 longer, which the
   * buffer must have room for), so a block needs one buffer, not two. The buffer
   * is handed over (transferred) and comes back in the answer.
   */
  buffer: Buffer;
  length: number;
  key: Buffer;
  chainingValue: Buffer;
  final: boolean;
}

export interface Encrypted {
  /** The buffer, back, with the cipher in buffer[0, length). */
  buffer: Buffer;
  length: number;
}

export interface Hashed {
  /** Content-MD5 of buffer[0, length), base64. */
  md5: string;
  /** The buffer, back (the one handed over is detached when it moved). */
  buffer: Buffer;
}

export interface BlockCrypto {
  /** AES-256-CBC of one block from its chaining value (PKCS7 padding on the final block). */
  encrypt(request: EncryptRequest): Promise<Encrypted>;
  /** Content-MD5 of buffer[0, length); the buffer is handed over and comes back in the answer. */
  md5(buffer: Buffer, length: number): Promise<Hashed>;
}

/** The same work on the calling thread. */
export const inlineBlockCrypto: BlockCrypto = {
  encrypt: ({ buffer, length, key, chainingValue, final }) => {
    try {
      const cipher = encryptBlock(key, chainingValue, buffer.subarray(0, length), final);
      if (cipher.length > buffer.length) throw new Error(`The block buffer has ${buffer.length} bytes, the cipher ${cipher.length}.`);
      return Promise.resolve({ buffer, length: cipher.copy(buffer) });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
  md5: (buffer, length) => {
    try {
      return Promise.resolve({ md5: createHash('md5').update(buffer.subarray(0, length)).digest('base64'), buffer });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
};

// Runs in a worker: answers each request in order. Mirrors encryptBlock (src/core/clearance/encryption.ts).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const SLICE = 256 * 1024;
// Every cipher leaves a block of garbage here (the slices' outputs): it is collected
// after each block rather than left for the memory-pressure heuristics (which let
// tens of MiB pile up). A minor collection (scavenge) is enough: the garbage is young
// Buffers whose memory goes with them; a full one cost about as much CPU as the AES
// of the block (measured: 12 ms against 6 ms per 4 MiB block). The flag is on only
// while the function is fetched.
// (Names of its own: with --expose-gc, a global \`gc\` exists already.)
const fetchGc = () => {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    const v8 = require('node:v8');
    v8.setFlagsFromString('--expose-gc');
    try { return require('node:vm').runInNewContext('gc'); } finally { v8.setFlagsFromString('--no-expose-gc'); }
  } catch { return undefined; }
};
const fullGc = fetchGc();
const collect = fullGc && (() => fullGc({ type: 'minor' }));
function md5(m) {
  const buffer = Buffer.from(m.buffer, 0, m.buffer.byteLength);
  const md5 = crypto.createHash('md5').update(buffer.subarray(0, m.length)).digest('base64');
  parentPort.postMessage({ id: m.id, md5, buffer: m.buffer }, [m.buffer]);
}
function encrypt(m) {
  const buffer = Buffer.from(m.buffer, 0, m.buffer.byteLength);
  const c = crypto.createCipheriv('aes-256-cbc', Buffer.from(m.key), Buffer.from(m.iv));
  if (!m.final) c.setAutoPadding(false);
  const size = m.final ? (Math.floor(m.length / 16) + 1) * 16 : m.length;
  if (size > buffer.length) throw new Error('The block buffer has ' + buffer.length + ' bytes, the cipher ' + size + '.');
  // In place, in slices: a slice's cipher is written over the slice once it was read
  // (the cipher so far is never longer than the plain bytes read so far), and the
  // garbage each slice leaves here is small.
  let at = 0;
  for (let i = 0; i < m.length; i += SLICE) at += c.update(buffer.subarray(i, Math.min(i + SLICE, m.length))).copy(buffer, at);
  at += c.final().copy(buffer, at);
  if (collect) collect();
  parentPort.postMessage({ id: m.id, buffer: m.buffer, length: at }, [m.buffer]);
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'md5') md5(m);
    else encrypt(m);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err), buffer: m.buffer }, [m.buffer]);
  }
});
`;

interface Answer {
  id: number;
  error?: string;
  /** The buffer, back. */
  buffer: ArrayBuffer;
  /** md5: the hash. */
  md5?: string;
  /** encrypt: the cipher's length. */
  length?: number;
}

interface Pending {
  settle: (a: Answer) => void;
  /** What to do should the worker die with the request (its buffers are gone with it). */
  lost: (e: Error) => void;
}

/** A buffer that can move to a worker: it owns its whole memory (not a view of a shared one). */
const movable = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length && !(b.buffer instanceof SharedArrayBuffer);
const view = (b: ArrayBuffer) => Buffer.from(b, 0, b.byteLength);

/** One worker thread; it does not keep the process alive when idle. */
class CryptoWorker {
  private worker?: Worker;
  failed = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  get load(): number {
    return this.pending.size;
  }

  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Posts `message` (its buffers transferred); undefined when it cannot go (no worker, not transferable). */
  post(message: Record<string, unknown>, transfer: ArrayBuffer[], pending: Pending): boolean {
    const worker = this.start();
    if (!worker) return false;
    const id = this.nextId++;
    this.pending.set(id, pending);
    if (this.pending.size === 1) worker.ref();
    try {
      worker.postMessage({ ...message, id }, transfer);
      return true;
    } catch {
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      return false;
    }
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failed = true;
    await w?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', (a: Answer) => this.answer(a));
      const die = (err: Error) => {
        if (this.worker === worker) this.worker = undefined;
        this.failed = true;
        const lost = [...this.pending.values()];
        this.pending.clear();
        for (const p of lost) p.lost(new Error(`The block encryption thread stopped: ${err.message}`));
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`exit ${code}`)));
      this.worker = worker;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }

  private answer(a: Answer): void {
    const p = this.pending.get(a.id);
    if (!p) return;
    this.pending.delete(a.id);
    if (this.pending.size === 0) this.worker?.unref();
    p.settle(a);
  }
}

/** Worker threads (started as needed, up to `size`); each request goes to the least busy. */
export class WorkerBlockCrypto implements BlockCrypto {
  private readonly workers: CryptoWorker[];

  constructor(readonly size: number = Math.max(1, Math.min(MAX_CRYPTO_WORKERS, availableParallelism()))) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => new CryptoWorker());
  }

  encrypt(request: EncryptRequest): Promise<Encrypted> {
    const { buffer } = request;
    if (!movable(buffer)) return inlineBlockCrypto.encrypt(request);
    return new Promise<Encrypted>((resolve, reject) => {
      const moved = buffer.buffer as ArrayBuffer;
      const message = { op: 'encrypt', buffer: moved, length: request.length, key: request.key, iv: request.chainingValue, final: request.final };
      const pending: Pending = {
        settle: (a) => (a.error !== undefined ? reject(new Error(a.error)) : resolve({ buffer: view(a.buffer), length: a.length! })),
        lost: reject,
      };
      if (!this.pick()?.post(message, [moved], pending)) inlineBlockCrypto.encrypt(request).then(resolve, reject);
    });
  }

  md5(buffer: Buffer, length: number): Promise<Hashed> {
    if (!movable(buffer)) return inlineBlockCrypto.md5(buffer, length);
    return new Promise<Hashed>((resolve, reject) => {
      const moved = buffer.buffer as ArrayBuffer;
      const pending: Pending = {
        settle: (a) => (a.error !== undefined ? reject(new Error(a.error)) : resolve({ md5: a.md5!, buffer: view(a.buffer) })),
        lost: reject,
      };
      if (!this.pick()?.post({ op: 'md5', buffer: moved, length }, [moved], pending)) inlineBlockCrypto.md5(buffer, length).then(resolve, reject);
    });
  }

  /** Stops the workers (blocks being encrypted or hashed fail). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  /** An idle started worker, else a new one, else the least busy; undefined when none can run. */
  private pick(): CryptoWorker | undefined {
    const usable = this.workers.filter((w) => !w.failed);
    const idle = usable.find((w) => w.started && w.load === 0) ?? usable.find((w) => !w.started);
    if (idle) return idle;
    return usable.reduce<CryptoWorker | undefined>((best, w) => (!best || w.load < best.load ? w : best), undefined);
  }
}

let shared: WorkerBlockCrypto | undefined;

/** The process's block workers (one pool for every upload queue). */
export function sharedBlockCrypto(): BlockCrypto {
  shared ??= new WorkerBlockCrypto();
  return shared;
}
