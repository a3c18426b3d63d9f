// A small in-test role for the control protocol tests: state driven by events,
// a snapshot that can be slow and not atomic, and a socket in a temp folder.
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ClientInfo, ControlBackend } from '../../../src/core/control';
import type { Timers } from '../../../src/core/control';

export interface FakeState {
  total: number;
  items: Record<string, number>;
}

export type FakeEvent = { kind: 'add'; key: string; n: number } | { kind: 'blob'; text: string };

export function applyEvent(state: FakeState, event: FakeEvent): void {
  if (event.kind !== 'add') return;
  state.items[event.key] = (state.items[event.key] ?? 0) + event.n;
  state.total += event.n;
}

export class FakeRole {
  readonly state: FakeState = { total: 0, items: {} };
  private readonly emitter = new EventEmitter();
  /** Awaited in the middle of a snapshot (between its two halves). */
  snapshotPause: () => Promise<void> = () => Promise.resolve();
  /** Called at the start of each snapshot (tests make it fire events or throw). */
  onSnapshot: (session: string | undefined) => void = () => {};
  snapshots = 0;
  readonly executed: { command: string; args: unknown; session: string | undefined; client: ClientInfo }[] = [];
  commands: Record<string, (args: unknown, session: string | undefined) => Promise<unknown>> = {};
  coalesceKey?: ControlBackend['coalesceKey'];

  fire(event: unknown): void {
    if ((event as FakeEvent).kind === 'add') applyEvent(this.state, event as FakeEvent);
    this.emitter.emit('event', event);
  }

  backend(): ControlBackend {
    const backend: ControlBackend = {
      execute: async (command, args, session, client) => {
        this.executed.push({ command, args, session, client });
        const run = this.commands[command];
        if (!run) throw new Error(`unknown command ${command}`);
        return run(args, session);
      },
      snapshot: async (session) => {
        this.snapshots++;
        this.onSnapshot(session);
        // Not atomic on purpose (like the role's): half before the pause, half after.
        const items = { ...this.state.items };
        await this.snapshotPause();
        return { items, total: this.state.total };
      },
      onEvent: (listener) => {
        this.emitter.on('event', listener);
        return { dispose: () => this.emitter.off('event', listener) };
      },
    };
    if (this.coalesceKey) backend.coalesceKey = this.coalesceKey;
    return backend;
  }
}

export async function tempSocket(): Promise<{ dir: string; socketPath: string; cleanup(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-control-'));
  return { dir, socketPath: path.join(dir, 'control.sock'), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Polls `condition` until it holds (no timing assertion: the mocha timeout is the bound). */
export async function waitFor(condition: () => boolean, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw connection that reads lines as JSON (for what ControlClient would never send or do). */
export class RawClient {
  readonly messages: Record<string, unknown>[] = [];
  closed = false;
  private partial = Buffer.alloc(0);
  readonly socket: net.Socket;

  constructor(socketPath: string) {
    this.socket = net.connect(socketPath);
    this.socket.on('data', (chunk: Buffer) => {
      let data = Buffer.concat([this.partial, chunk]);
      let nl: number;
      while ((nl = data.indexOf(0x0a)) >= 0) {
        this.messages.push(JSON.parse(data.subarray(0, nl).toString('utf8')) as Record<string, unknown>);
        data = data.subarray(nl + 1);
      }
      this.partial = data;
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }

  send(message: unknown): void {
    this.socket.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  }

  async next(predicate: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.messages.find(predicate)) !== undefined || this.closed, 'a message');
    found ??= this.messages.find(predicate);
    if (!found) throw new Error(`closed without the message; got ${JSON.stringify(this.messages)}`);
    return found;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Timers stepped by hand. */
export class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get size(): number {
    return this.pending.size;
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let first: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
      if (!first) break;
      this.pending.delete(first[0]);
      this.now = first[1].at;
      first[1].callback();
    }
    this.now = end;
  }
}

/** A deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
