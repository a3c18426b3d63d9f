// Time as a dependency: the real clock in production, a controllable one in tests
// (backoff and bandwidth waits then take no wall-clock time).

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with an AbortError-named error when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortError(signal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

/**
 * A clock that only moves when told to, or (with `autoAdvance`) jumps to each sleeper's
 * wake-up time: tests then check the accounting of waits without waiting.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: { at: number; resolve: () => void; reject: (e: Error) => void; signal?: AbortSignal; onAbort?: () => void }[] = [];
  /** Every sleep requested, in ms, in order (for assertions on backoff). */
  readonly sleeps: number[] = [];

  constructor(
    start = 0,
    private readonly autoAdvance = true,
  ) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.autoAdvance) {
      this.current += Math.max(0, ms);
      // Yield like a real timer would, so other work interleaves.
      return new Promise((resolve) => setImmediate(resolve));
    }
    return new Promise<void>((resolve, reject) => {
      const sleeper: (typeof this.sleepers)[number] = { at: this.current + Math.max(0, ms), resolve, reject, signal };
      if (signal) {
        sleeper.onAbort = () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', sleeper.onAbort, { once: true });
      }
      this.sleepers.push(sleeper);
    });
  }

  /** Moves time forward and wakes every sleeper that is due. */
  advance(ms: number): void {
    this.current += ms;
    const due = this.sleepers.filter((s) => s.at <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.at > this.current);
    for (const s of due) {
      if (s.onAbort) s.signal?.removeEventListener('abort', s.onAbort);
      s.resolve();
    }
  }

  get pendingSleepers(): number {
    return this.sleepers.length;
  }
}
