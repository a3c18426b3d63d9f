// Encrypting and hashing blocks off the main thread. A block's AES-256-CBC and
// its Content-MD5 cost about as much CPU as everything else of an upload: done
// on the event loop they stall the sockets of the blocks in flight. One worker
// thread does them instead; buffers move to it and back without a copy
// (transferred), so each byte is read once, encrypted once and hashed once.
//
// The worker's code is inline (eval), so that the engine needs no extra file in
// a bundle. Where no worker can run, the same work runs on the main thread.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { encryptBlock } from '../clearance/encryption';

export interface SealRequest {
  /** The plain bytes in plain[0, length); the buffer is handed over (transferred) and comes back in the answer. */
  plain: Buffer;
  length: number;
  /** Encrypt first (the blob is encrypted); absent: the plain bytes are sent. */
  encrypt?: { key: Buffer; chainingValue: Buffer; final: boolean };
  /**
   * Where the cipher goes when it fits (handed over too, and back as `data`'s
   * buffer): a buffer that goes round and round, so that no new block-sized
   * buffer lands on this thread per block, only to wait there for the garbage collector.
   */
  out?: Buffer;
}

export interface Sealed {
  /** The bytes to send: the cipher, or a view of `plain`. */
  data: Buffer;
  /** Content-MD5 of data, base64. */
  md5: string;
  /** The plain buffer, back for reuse (data is a view of it when not encrypted). */
  plain: Buffer;
  /** The request's `out`, back (data is a view of it when the cipher went there). */
  out?: Buffer;
}

export interface BlockCrypto {
  seal(request: SealRequest): Promise<Sealed>;
}

/** The same work on the calling thread. */
export const inlineBlockCrypto: BlockCrypto = {
  seal: ({ plain, length, encrypt, out }) => {
    try {
      const view = plain.subarray(0, length);
      const data = encrypt ? encryptBlock(encrypt.key, encrypt.chainingValue, view, encrypt.final) : view;
      return Promise.resolve({ data, md5: createHash('md5').update(data).digest('base64'), plain, ...(out ? { out } : {}) });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
};

// Runs in the worker: answers each request in order. Mirrors encryptBlock (src/core/clearance/encryption.ts).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const SLICE = 256 * 1024;
// Every cipher leaves a block of garbage here; this thread's heap is tiny, so it is
// collected after each block rather than left for the memory-pressure heuristics
// (which let tens of MiB pile up). The flag is on only while the function is fetched.
let collect = typeof globalThis.gc === 'function' ? globalThis.gc : undefined;
if (!collect) try {
  const v8 = require('node:v8');
  v8.setFlagsFromString('--expose-gc');
  try { collect = require('node:vm').runInNewContext('gc'); } finally { v8.setFlagsFromString('--no-expose-gc'); }
} catch { collect = undefined; }
parentPort.on('message', (m) => {
  const back = m.out ? [m.plain, m.out] : [m.plain];
  try {
    const plain = Buffer.from(m.plain, 0, m.plain.byteLength);
    const view = plain.subarray(0, m.length);
    let data = view;
    let into = false;
    if (m.key) {
      const c = crypto.createCipheriv('aes-256-cbc', Buffer.from(m.key), Buffer.from(m.iv));
      if (!m.final) c.setAutoPadding(false);
      const size = m.final ? (Math.floor(m.length / 16) + 1) * 16 : m.length;
      const out = m.out && m.out.byteLength >= size ? Buffer.from(m.out, 0, m.out.byteLength) : Buffer.allocUnsafeSlow(size);
      into = out.buffer === m.out;
      // In slices: the garbage each leaves here is small, and this thread's heap is tiny to collect.
      let at = 0;
      for (let i = 0; i < m.length; i += SLICE) at += c.update(view.subarray(i, Math.min(i + SLICE, m.length))).copy(out, at);
      at += c.final().copy(out, at);
      data = out.subarray(0, at);
    }
    const md5 = crypto.createHash('md5').update(data).digest('base64');
    if (m.key && collect) collect();
    const transfer = m.key && !into ? [data.buffer, ...back] : back;
    parentPort.postMessage({ id: m.id, md5, plain: m.plain, out: m.out, into, data: m.key && !into ? data.buffer : undefined, length: data.length }, transfer);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err), plain: m.plain, out: m.out }, back);
  }
});
`;

interface Pending {
  resolve: (s: Sealed) => void;
  reject: (e: Error) => void;
  /** The request's own buffer, for when the worker dies with it. */
  request: SealRequest;
}

interface Answer {
  id: number;
  md5?: string;
  plain: ArrayBuffer;
  out?: ArrayBuffer;
  /** The cipher is in `out`. */
  into?: boolean;
  data?: ArrayBuffer;
  length?: number;
  error?: string;
}

/** One worker thread, started at the first block; it does not keep the process alive when idle. */
export class WorkerBlockCrypto implements BlockCrypto {
  private worker?: Worker;
  private failed = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  seal(request: SealRequest): Promise<Sealed> {
    const worker = this.start();
    // A buffer that cannot move (a view of a shared one) is sealed here.
    const { plain, out } = request;
    const movable = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length;
    if (!worker || !movable(plain) || (out && !movable(out))) return inlineBlockCrypto.seal(request);
    const id = this.nextId++;
    return new Promise<Sealed>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, request });
      if (this.pending.size === 1) worker.ref();
      const e = request.encrypt;
      try {
        const buffers = [plain.buffer as ArrayBuffer, ...(out ? [out.buffer as ArrayBuffer] : [])];
        worker.postMessage(
          { id, plain: buffers[0], out: buffers[1], length: request.length, ...(e ? { key: e.key, iv: e.chainingValue, final: e.final } : {}) },
          buffers,
        );
      } catch {
        // Not transferable after all: this one is sealed here.
        this.pending.delete(id);
        if (this.pending.size === 0) worker.unref();
        inlineBlockCrypto.seal(request).then(resolve, reject);
      }
    });
  }

  /** Stops the worker (blocks being sealed fail). */
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
        for (const p of lost) p.reject(new Error(`The block encryption thread stopped: ${err.message}`));
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
    const plain = Buffer.from(a.plain, 0, a.plain.byteLength);
    const out = a.out ? Buffer.from(a.out, 0, a.out.byteLength) : undefined;
    if (a.error !== undefined) {
      p.reject(new Error(a.error));
      return;
    }
    const data = a.into && out ? out.subarray(0, a.length) : a.data ? Buffer.from(a.data, 0, a.length) : plain.subarray(0, a.length);
    p.resolve({ data, md5: a.md5!, plain, ...(out ? { out } : {}) });
  }
}

let shared: WorkerBlockCrypto | undefined;

/** The process's block worker (one for every upload queue). */
export function sharedBlockCrypto(): BlockCrypto {
  shared ??= new WorkerBlockCrypto();
  return shared;
}
