// Upload progress is coalesced before events are numbered, so every client
// sees the same numbered stream: per key (one upload), at most one event per
// interval (leading edge at once, then the latest one at the end of each
// interval while more came). A newer event of the same key that is not to be
// coalesced drops the held one, so no stale progress follows a 'finished'.
import type { RoleEvent } from '../role/snapshot';

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => {
    const t = setTimeout(callback, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type CoalesceKey = { key: string; coalesce: boolean } | undefined;

/** The default for role events: an upload's progress is coalesced; its other events supersede held progress. */
export function roleEventCoalescing(event: unknown): CoalesceKey {
  const e = event as RoleEvent;
  if (e?.kind !== 'upload' || !e.event) return undefined;
  const u = e.event;
  const id = u.kind === 'removed' ? u.jobId : u.job?.id;
  if (typeof id !== 'string') return undefined;
  return { key: `upload:${id}`, coalesce: u.kind === 'progress' };
}

interface Slot<E> {
  held?: E;
  timer: unknown;
}

/** Passes events to `emit`, holding back coalesced ones as described above. */
export class Coalescer<E> {
  private readonly slots = new Map<string, Slot<E>>();
  /** Events that never went out because a newer one replaced them. */
  dropped = 0;

  constructor(
    private readonly keyOf: ((event: E) => CoalesceKey) | undefined,
    private readonly emit: (event: E) => void,
    private readonly intervalMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  push(event: E): void {
    let k: CoalesceKey;
    try {
      k = this.keyOf?.(event);
    } catch {
      k = undefined;
    }
    if (!k) return this.emit(event);
    const slot = this.slots.get(k.key);
    if (!k.coalesce) {
      if (slot?.held !== undefined) {
        slot.held = undefined;
        this.dropped++;
      }
      return this.emit(event);
    }
    if (slot) {
      if (slot.held !== undefined) this.dropped++;
      slot.held = event;
      return;
    }
    // Leading edge: out at once; the interval starts.
    const fresh: Slot<E> = { timer: undefined };
    this.slots.set(k.key, fresh);
    this.arm(k.key, fresh);
    this.emit(event);
  }

  /** Drops everything held and every timer. */
  dispose(): void {
    for (const slot of this.slots.values()) this.timers.clearTimeout(slot.timer);
    this.slots.clear();
  }

  private arm(key: string, slot: Slot<E>): void {
    slot.timer = this.timers.setTimeout(() => {
      if (this.slots.get(key) !== slot) return;
      if (slot.held === undefined) {
        this.slots.delete(key);
        return;
      }
      // Trailing edge: the latest held event; a new interval starts.
      const event = slot.held;
      slot.held = undefined;
      this.arm(key, slot);
      this.emit(event);
    }, this.intervalMs);
  }
}
