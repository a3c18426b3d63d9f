// The concurrency gates of the upload queue. Throttling decides how many
// uploads (jobs) and how many files of one job may be in flight; these gates
// enforce it and change width the moment throttling is turned on or off:
// throttling on, one of each; off, up to five of each ([doc] limits of the vendor
// role: docs/clearance-api.md §1.1, §5).

/** [doc] Throttling off: up to five uploads at once. */
export const MAX_PARALLEL_UPLOADS = 5;
/** [doc] Up to five resources of one evidence item upload in parallel. */
export const MAX_PARALLEL_PARTS = 5;

/** A semaphore whose waiters are served in job order, so older evidence goes first. */
export class Slots {
  private waiters: { order: number; resolve: () => void }[] = [];
  private used = 0;
  constructor(private capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(order: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.used < this.capacity && this.waiters.length === 0) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        order,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      this.waiters.push(waiter);
      this.waiters.sort((a, b) => a.order - b.order);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.used--;
    this.wake();
  }

  setCapacity(n: number): void {
    this.capacity = n;
    this.wake();
  }

  private wake(): void {
    while (this.used < this.capacity && this.waiters.length > 0) {
      this.used++;
      this.waiters.shift()!.resolve();
    }
  }
}

/** A part stops to let an older one of its job go alone (throttling turned on); it goes back in line. */
export class PartYield extends Error {
  constructor() {
    super('part yields (throttling on)');
    this.name = 'PartYield';
  }
}

/** The parts of one running job that may be in flight: as many as the throttling setting allows now. */
export class PartPool {
  readonly gate: Slots;
  /** Parts in flight by index. */
  readonly running = new Map<number, { controller: AbortController; settled: Promise<void> }>();
  constructor(throttled: boolean) {
    this.gate = new Slots(throttled ? 1 : MAX_PARALLEL_PARTS);
  }

  /** Throttling on: one part at a time; the others in flight stop (keeping what was acknowledged) and wait. */
  async narrow(): Promise<void> {
    this.gate.setCapacity(1);
    const [, ...others] = [...this.running.entries()].sort(([a], [b]) => a - b);
    for (const [, r] of others) r.controller.abort(new PartYield());
    await Promise.all(others.map(([, r]) => r.settled));
  }

  widen(): void {
    this.gate.setCapacity(MAX_PARALLEL_PARTS);
  }
}
