// The polling loop of the role: one tick at a time (never two polls at once),
// at the polling interval, sooner when asked (pollNow), slower while ticks fail
// (exponential backoff up to a cap, so an unreachable service is not hammered),
// and a clean stop that aborts the tick in flight and waits for it.
import { Emitter } from '../events';
import type { Clock } from '../net/clock';

export type PollerState = 'stopped' | 'waiting' | 'polling' | 'backingOff';

export interface PollerStatus {
  state: PollerState;
  /** Ticks started since the poller was created. */
  polls: number;
  lastPollAt?: string;
  lastSuccessAt?: string;
  /** Message of the last failed tick, cleared by a successful one. */
  lastError?: string;
  consecutiveFailures: number;
  nextPollAt?: string;
}

export interface PollerOptions {
  /** Read before every wait, so a changed polling interval applies at once. */
  intervalMs: () => number;
  tick: (signal: AbortSignal, poll: number) => Promise<void>;
  clock: Clock;
  /** Longest wait while ticks fail; default 5 min (never less than the interval). */
  maxBackoffMs?: number;
}

export class Poller {
  private readonly events = new Emitter<PollerStatus>();
  /** Fires whenever the status changes. */
  readonly onDidChange = this.events.event;
  private status: PollerStatus = { state: 'stopped', polls: 0, consecutiveFailures: 0 };
  private running: Promise<void> | undefined;
  private stopping = false;
  /** start() came while a stop was still ending the loop: run again once it has. */
  private restartAfterStop = false;
  private tickController: AbortController | undefined;
  private sleepController: AbortController | undefined;
  private wakeRequested = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly options: PollerOptions) {}

  get snapshot(): PollerStatus {
    return { ...this.status };
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  start(): void {
    if (this.running) {
      if (this.stopping) this.restartAfterStop = true;
      return;
    }
    this.restartAfterStop = false;
    this.stopping = false;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.update({ state: 'stopped', nextPollAt: undefined });
      this.releaseWaiters(this.waiters.splice(0));
      if (this.restartAfterStop) this.start();
    });
  }

  /** Polls as soon as possible; resolves when a poll that started after this call has ended. */
  pollNow(): Promise<void> {
    if (!this.running) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.wakeRequested = true;
    this.sleepController?.abort();
    return done;
  }

  /** Aborts the tick in flight and waits until the loop has ended. */
  async stop(): Promise<void> {
    this.restartAfterStop = false;
    this.stopping = true;
    this.tickController?.abort(new Error('The role is stopping.'));
    this.sleepController?.abort();
    await this.running;
  }

  dispose(): void {
    this.events.dispose();
  }

  private async loop(): Promise<void> {
    const { clock } = this.options;
    while (!this.stopping) {
      this.wakeRequested = false;
      const served = this.waiters.splice(0);
      this.tickController = new AbortController();
      const poll = this.status.polls + 1;
      this.update({ state: 'polling', polls: poll, lastPollAt: new Date(clock.now()).toISOString(), nextPollAt: undefined });
      let failed = false;
      try {
        await this.options.tick(this.tickController.signal, poll);
        this.update({ lastSuccessAt: new Date(clock.now()).toISOString(), lastError: undefined, consecutiveFailures: 0 });
      } catch (error) {
        if (this.stopping) {
          this.releaseWaiters(served);
          break;
        }
        failed = true;
        this.update({ lastError: error instanceof Error ? error.message : String(error), consecutiveFailures: this.status.consecutiveFailures + 1 });
      } finally {
        this.tickController = undefined;
      }
      this.releaseWaiters(served);
      if (this.stopping) break;
      if (this.wakeRequested) continue;
      const delay = this.delayMs(failed);
      this.sleepController = new AbortController();
      this.update({ state: failed ? 'backingOff' : 'waiting', nextPollAt: new Date(clock.now() + delay).toISOString() });
      try {
        await clock.sleep(delay, this.sleepController.signal);
      } catch {
        // Woken early: pollNow() or stop().
      } finally {
        this.sleepController = undefined;
      }
    }
  }

  private delayMs(failed: boolean): number {
    const interval = Math.max(1, this.options.intervalMs());
    if (!failed) return interval;
    const cap = Math.max(interval, this.options.maxBackoffMs ?? 5 * 60_000);
    const exponent = Math.min(this.status.consecutiveFailures, 16);
    return Math.min(cap, interval * 2 ** exponent);
  }

  private releaseWaiters(list: (() => void)[]): void {
    for (const resolve of list) resolve();
  }

  private update(changes: Partial<PollerStatus>): void {
    this.status = { ...this.status, ...changes };
    for (const [k, v] of Object.entries(changes)) if (v === undefined) delete (this.status as unknown as Record<string, unknown>)[k];
    this.events.fire(this.snapshot);
  }
}
