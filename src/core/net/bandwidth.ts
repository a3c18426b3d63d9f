// Upload bandwidth cap: one token bucket shared by every concurrent upload.
// docs/platform-notes.md §8: an average-since-start limiter bursts to catch up after a stall and a
// bucket holding a second of rate bursts 2x at start. So the bucket starts EMPTY and holds
// at most ~100 ms of rate, and what it earns while nobody waits for a bucket's time or longer
// stops at half of that: the first second after a pause or idle time (or after the upload's own
// setup) carries at most 50 ms more than the cap, while a busy bucket keeps its whole size for
// a timer that fires late and short gaps keep what they earned.

import { Transform, type TransformCallback } from 'node:stream';
import { abortError, systemClock, type Clock } from './clock';

/** 1 Mbps = 1,000,000 bit/s = 125,000 bytes/s. */
export const BYTES_PER_SECOND_PER_MBPS = 125_000;

export function mbpsToBytesPerSecond(mbps: number): number {
  return mbps * BYTES_PER_SECOND_PER_MBPS;
}

export interface TokenBucketOptions {
  clock?: Clock;
  /** Bucket size in seconds of rate (default 0.1 s). */
  capacitySeconds?: number;
}

interface Waiter {
  remaining: number;
  resolve: () => void;
  reject: (error: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class TokenBucket {
  private readonly clock: Clock;
  private readonly capacitySeconds: number;
  private rate = Infinity; // bytes per second
  private capacity = Infinity;
  private tokens = 0;
  private last: number;
  private queue: Waiter[] = [];
  private pumping = false;
  private wake?: AbortController;
  private grantedBytes = 0;
  /** When the last waiter left (or the bucket was made): how long nobody has waited. */
  private idleSince: number;

  /** `rateMbps` null or Infinity: unlimited (throttling off). */
  constructor(rateMbps: number | null, options: TokenBucketOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.capacitySeconds = options.capacitySeconds ?? 0.1;
    if (!(this.capacitySeconds > 0)) throw new RangeError('capacitySeconds must be > 0');
    this.last = this.clock.now();
    this.idleSince = this.last;
    this.applyRate(rateMbps);
    this.tokens = 0; // start empty: no burst at start
  }

  get rateBytesPerSecond(): number {
    return this.rate;
  }

  get capacityBytes(): number {
    return this.capacity;
  }

  /** Tokens available now (after refilling for the time passed). */
  get availableBytes(): number {
    this.refill();
    return this.tokens;
  }

  /** Bytes granted since creation. */
  get granted(): number {
    return this.grantedBytes;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Changes the rate at once; waiting consumers continue at the new rate. */
  setRateMbps(rateMbps: number | null): void {
    this.refill(); // what accrued so far accrued at the old rate
    this.applyRate(rateMbps);
    this.tokens = Math.min(this.tokens, this.capacity);
    this.wake?.abort();
    void this.pump();
  }

  /**
   * Resolves once `bytes` tokens were granted. Consumers are served round-robin in
   * pieces of at most half a bucket, so a large request does not starve the others.
   */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) return Promise.reject(new RangeError(`bytes must be a finite number >= 0; got ${bytes}`));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (bytes === 0) return Promise.resolve();
    if (this.queue.length === 0 && this.clock.now() - this.idleSince >= this.capacitySeconds * 1000) {
      // Idle for a whole bucket's time (a pause, an upload's setup): what it earned stops at half a
      // bucket. A shorter gap (between two chunks or blocks) keeps its tokens: the rate is not lost.
      this.refill();
      this.tokens = Math.min(this.tokens, this.capacity / 2);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { remaining: bytes, resolve, reject };
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          this.queue = this.queue.filter((w) => w !== waiter);
          if (this.queue.length === 0) this.idleSince = this.clock.now();
          this.wake?.abort();
          reject(abortError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      void this.pump();
    });
  }

  private applyRate(rateMbps: number | null): void {
    if (rateMbps === null || rateMbps === Infinity) {
      this.rate = Infinity;
      this.capacity = Infinity;
      return;
    }
    if (!(rateMbps > 0) || !Number.isFinite(rateMbps)) throw new RangeError(`rate must be > 0 Mbps; got ${rateMbps}`);
    this.rate = mbpsToBytesPerSecond(rateMbps);
    this.capacity = Math.max(1, this.rate * this.capacitySeconds);
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    if (this.rate === Infinity) return;
    // The cap is what makes the bucket pause-safe: idle time earns at most one bucket.
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.rate) / 1000);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const head = this.queue[0] as Waiter;
        this.refill();
        if (this.rate === Infinity) {
          this.queue.shift();
          this.finish(head, head.remaining);
          continue;
        }
        // Half a bucket at most: a timer that fires late then accrues into the other half
        // instead of being cut off at capacity, which would lose rate on every wait.
        const piece = Math.min(head.remaining, this.capacity / 2);
        if (this.tokens + 1e-6 >= piece) {
          this.tokens = Math.max(0, this.tokens - piece);
          this.queue.shift();
          head.remaining -= piece;
          this.grantedBytes += piece;
          if (head.remaining > 1e-9) this.queue.push(head); // round-robin
          else this.finish(head, 0);
          continue;
        }
        const waitMs = Math.max(1, Math.ceil(((piece - this.tokens) / this.rate) * 1000));
        this.wake = new AbortController();
        try {
          await this.clock.sleep(waitMs, this.wake.signal);
        } catch {
          // woken early: the rate changed or a waiter left; recompute
        }
      }
    } finally {
      this.pumping = false;
      this.wake = undefined;
      if (this.queue.length === 0) this.idleSince = this.clock.now();
    }
  }

  private finish(waiter: Waiter, grantedNow: number): void {
    this.grantedBytes += grantedNow;
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve();
  }
}

export interface ThrottleOptions {
  /** Largest piece pushed at once (default 64 KiB, and never more than one bucket). */
  maxPieceBytes?: number;
  /** Aborts a waiting throttle (e.g. the upload was paused). */
  signal?: AbortSignal;
}

/** A pass-through stream that releases bytes only as fast as `bucket` grants them. */
export function throttle(bucket: TokenBucket, options: ThrottleOptions = {}): Transform {
  const maxPiece = options.maxPieceBytes ?? 64 * 1024;
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      void (async () => {
        let offset = 0;
        while (offset < data.length) {
          const size = Math.min(data.length - offset, maxPiece, Math.max(1, Math.floor(bucket.capacityBytes)));
          await bucket.take(size, controller.signal);
          this.push(data.subarray(offset, offset + size));
          offset += size;
        }
      })().then(() => callback(), (error: Error) => callback(error));
    },
    destroy(error, callback) {
      options.signal?.removeEventListener('abort', onOuterAbort);
      controller.abort();
      callback(error);
    },
    final(callback) {
      options.signal?.removeEventListener('abort', onOuterAbort);
      callback();
    },
  });
}
