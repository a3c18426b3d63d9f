// Control protocol v1 under a client that stops reading, with the default limits.
//
//   npx tsx bench/slowClient.bench.ts [--rate 40] [--burst 20000] [--cameras 10000]
//
// Three runs against a real serveControl on a Unix socket (or named pipe) with
// an in-bench event source shaped like the role's (about 1 KB job snapshots):
//  1. real rate: `rate` events a second (default 40: ten uploads at the 4/s
//     progress cap) with one healthy and one stalled subscriber. The stalled one
//     must be cut off by the stall limit (30 s) and the healthy one must get
//     every event in order.
//  2. burst: `burst` events a second. The stalled one must be cut off by the
//     byte or event limit (16 MiB / 50,000) well before the stall limit.
//  3. snapshot: a healthy client subscribes to a site of `cameras` cameras while
//     events flow, and must not be disconnected.
// Printed: time to the cut, the role's worst event-loop delay, the healthy
// client's worst event latency, the snapshot size and time. Exits 1 when a
// check fails.
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ControlClient, DEFAULT_CONTROL_LIMITS, controlPathFor, serveControl, type ControlBackend } from '../src/core/control';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '40' }, burst: { type: 'string', default: '20000' }, cameras: { type: 'string', default: '10000' } },
});
const RATE = Number(values.rate);
const BURST = Number(values.burst);
const CAMERAS = Number(values.cameras);
let failed = false;
const check = (ok: boolean, what: string) => {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

function source(snapshot: () => unknown): { backend: ControlBackend; fire(e: unknown): void } {
  const emitter = new EventEmitter();
  return {
    backend: {
      execute: async () => null,
      snapshot: async () => snapshot(),
      onEvent: (l) => {
        emitter.on('e', l);
        return { dispose: () => emitter.off('e', l) };
      },
    },
    fire: (e) => emitter.emit('e', e),
  };
}

const job = (n: number) => ({
  kind: 'upload',
  event: { kind: 'changed', job: { id: `job-${n % 10}`, title: 'Parking north, 10:00–10:05', state: 'uploading', sentBytes: n * 4096, totalBytes: 1e9, parts: Array.from({ length: 6 }, (_, i) => ({ name: `part-${i}.mp4.enc`, bytes: 167_000_000, sha256: 'ab'.repeat(32), state: 'uploading' })) } },
});

async function stalled(socketPath: string): Promise<net.Socket> {
  const socket = net.connect(socketPath);
  socket.on('error', () => {});
  let text = '';
  await new Promise<void>((resolve) => {
    socket.on('data', function onData(chunk) {
      text += chunk.toString();
      if (text.includes('"id":2')) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    });
    socket.write(`${JSON.stringify({ type: 'hello', id: 1, protocol: 1, client: 'stalled' })}\n${JSON.stringify({ type: 'subscribe', id: 2 })}\n`);
  });
  return socket;
}

async function slowRun(label: string, dir: string, eventsPerSecond: number, expectBy: 'stall' | 'limit'): Promise<void> {
  console.log(`${label}: ${eventsPerSecond} events/s, default limits (${DEFAULT_CONTROL_LIMITS.maxQueuedBytes / 1024 / 1024} MiB, ${DEFAULT_CONTROL_LIMITS.maxQueuedEvents} events, ${DEFAULT_CONTROL_LIMITS.maxStallMs / 1000} s stall)`);
  const socketPath = controlPathFor(path.join(dir, label));
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const src = source(() => ({ cameras: [] }));
  const logs: string[] = [];
  const server = await serveControl(socketPath, src.backend, { log: (m) => logs.push(m) });
  const healthy = await ControlClient.connect(socketPath, { client: 'healthy' });
  const sentAt = new Map<number, number>();
  let worstLatency = 0;
  let last = 0;
  let gap = false;
  const r = await healthy.subscribe(undefined, (_e, seq) => {
    if (seq !== last + 1) gap = true;
    last = seq;
    worstLatency = Math.max(worstLatency, performance.now() - (sentAt.get(seq) ?? performance.now()));
    sentAt.delete(seq);
  });
  last = r.seq;
  const stuck = await stalled(socketPath);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const start = performance.now();
  let n = 0;
  const tickMs = 10;
  const perTick = eventsPerSecond * (tickMs / 1000);
  let owed = 0;
  const timer = setInterval(() => {
    owed += perTick;
    while (owed >= 1) {
      owed--;
      sentAt.set(server.seq + 1, performance.now());
      src.fire(job(++n));
    }
  }, tickMs);
  const limit = DEFAULT_CONTROL_LIMITS.maxStallMs * 3;
  while (server.stats().slowConsumerDisconnects === 0 && performance.now() - start < limit) await new Promise((res) => setTimeout(res, 50));
  const cutAfter = (performance.now() - start) / 1000;
  clearInterval(timer);
  lag.disable();
  while (last < server.seq && !healthy.closed) await new Promise((res) => setTimeout(res, 20));
  console.log(`  cut after ${cutAfter.toFixed(1)} s, ${n} events fired; ${logs.find((l) => l.includes('slow consumer')) ?? 'no cut logged'}`);
  console.log(`  role event-loop delay: p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms; healthy client worst latency ${worstLatency.toFixed(1)} ms`);
  check(server.stats().slowConsumerDisconnects === 1, 'the stalled client was disconnected');
  if (expectBy === 'stall') check(cutAfter >= DEFAULT_CONTROL_LIMITS.maxStallMs / 1000 - 1 && cutAfter < DEFAULT_CONTROL_LIMITS.maxStallMs / 1000 + 10, 'by the stall limit');
  else check(cutAfter < DEFAULT_CONTROL_LIMITS.maxStallMs / 1000, 'by the queue limit, before the stall limit');
  check(!gap && last === server.seq && !healthy.closed, 'the healthy client got every event in order and stayed');
  check(lag.max / 1e6 < 200, 'the role was never blocked for 200 ms');
  stuck.destroy();
  await healthy.close();
  await server.close();
}

async function snapshotRun(dir: string): Promise<void> {
  console.log(`snapshot: ${CAMERAS} cameras, default limits, events flowing`);
  const cameras = Array.from({ length: CAMERAS }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name: `Camera ${i}`,
    area: `area-${i % 50}`,
    description: 'Fixed dome, 4 MP, 30 days of recordings, motion events enabled, privacy masks set. '.repeat(3),
  }));
  const socketPath = controlPathFor(path.join(dir, 'snapshot'));
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const src = source(() => ({ cameras }));
  const server = await serveControl(socketPath, src.backend);
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 20; i++) src.fire(job(++n));
  }, 10);
  const client = await ControlClient.connect(socketPath, { client: 'vscode' });
  const t0 = performance.now();
  let last = 0;
  const r = await client.subscribe<{ cameras: unknown[] }>(undefined, (_e, seq) => (last = seq));
  const ms = performance.now() - t0;
  await new Promise((res) => setTimeout(res, 1000));
  clearInterval(timer);
  while (last < server.seq && !client.closed) await new Promise((res) => setTimeout(res, 20));
  console.log(`  ${(Buffer.byteLength(JSON.stringify(r.snapshot)) / 1e6).toFixed(1)} MB snapshot in ${ms.toFixed(0)} ms; ${server.seq - r.seq} events after it`);
  check(r.snapshot.cameras.length === CAMERAS, 'the whole snapshot arrived');
  check(!client.closed && server.stats().slowConsumerDisconnects === 0 && last === server.seq, 'the client was not disconnected and got every event');
  await client.close();
  await server.close();
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-slow-'));
  try {
    await slowRun('real-rate', dir, RATE, 'stall');
    await slowRun('burst', dir, BURST, 'limit');
    await snapshotRun(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

void main();
