// Crash resume: SIGKILL of the uploading process at 50 % of a large upload, a
// restart on the same state, and the bytes sent twice, counted at the receiving side.
//
//   npx tsx bench/crashResume.bench.ts [--quick] [--mib 512] [--throttled-mib 48] [--mbps 50] [--json out.json]
//
// The local service on loopback, a counting relay in front of its blob gateway
// (every Put Block through it: its length, the bytes that arrived, whether its
// answer went back). A child process runs the real upload queue (keyv over a
// JournalStore, encryption on) on one file; when half the file has arrived at
// the relay, the parent SIGKILLs it. Blocks in flight at that moment: Put
// Blocks started and not answered. Then a new child opens the same state: the
// queue resumes the job and completes it (the service checks the size and the
// plain SHA-256 of what was committed). Bytes re-sent: every Put Block body byte
// that arrived, minus the committed blob's size. Run twice: throttling off
// (target: re-sent ≤ the blocks in flight) and throttled at `mbps` (target:
// also ≤ 2 s at the cap).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mbpsToBytesPerSecond } from '../src/core/net/bandwidth';
import { startEmulator } from '../src/emulator/server';
import { MiB, num, QUICK, Report, runMain, sleep, writeRandomFile } from './lib/common';
import { startCountingRelay, type RelayedPut } from './lib/loopback';
import { azuriteOf, clientStack, committedSize, openQueue, readConnection, routedEvidence, stageLinked, whenFinished } from './lib/stack';

interface ChildArgs {
  connectionFile: string;
  dir: string;
  file: string;
  relay: string;
  mbps?: number;
}

/** The role side: resumes the job when the state holds it, else stages and enqueues it; prints its end state. */
async function child(a: ChildArgs): Promise<void> {
  const stack = await clientStack(readConnection(a.connectionFile));
  try {
    const q = await openQueue(stack, a.dir, { evidence: routedEvidence(stack.documents, { via: a.relay }), throttling: a.mbps !== undefined, mbps: a.mbps ?? null });
    const idFile = path.join(a.dir, 'job-id');
    let id = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8') : undefined;
    const resumed = id !== undefined && q.queue.get(id) !== undefined;
    if (!id || !resumed) {
      id = q.queue.newJobId();
      const parts = stageLinked(q.queue, id, [a.file]);
      await q.queue.enqueue({ id, title: 'Crash bench', evidence: { name: 'Crash bench' }, caseTarget: { kind: 'none' }, parts });
      fs.writeFileSync(idFile, id);
    }
    const done = whenFinished(q.queue, id);
    process.stdout.write(`${JSON.stringify({ started: id, resumed })}\n`);
    q.queue.start();
    const outcome = await done;
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    await q.close();
  } finally {
    stack.http.close();
  }
}

function spawnChild(a: ChildArgs) {
  const proc = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, exited, lines: () => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function main(): Promise<number> {
  const mib = num('mib', QUICK ? 64 : 512);
  const throttledMib = num('throttled-mib', QUICK ? 16 : 48);
  const mbps = num('mbps', 50);
  const r = new Report('crash', 'Crash resume');
  r.setup = `SIGKILL of the uploading process when 50 % of the file has arrived at a relay in front of the blob gateway, then a restart on the same state; encrypted; ${mib} MiB unthrottled, ${throttledMib} MiB throttled at ${mbps} Mbps`;
  console.log(r.setup);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-crash-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  const azurite = azuriteOf(emulator);
  const relay = await startCountingRelay(new URL(emulator.urls.blob));
  try {
    for (const [label, size, cap] of [
      ['throttling off', mib, undefined],
      [`throttled at ${mbps} Mbps`, throttledMib, mbps],
    ] as const) {
      const file = path.join(dir, `file-${size}.bin`);
      writeRandomFile(file, size * MiB);
      const roleDir = path.join(dir, `role-${label.replace(/\W+/g, '-')}`);
      const args: ChildArgs = { connectionFile: emulator.connectionFilePath, dir: roleDir, file, relay: relay.url, ...(cap !== undefined ? { mbps: cap } : {}) };
      relay.puts.length = 0;
      relay.arrivals.length = 0;
      const blockPuts = () => relay.puts.filter((p) => p.blockId !== undefined);
      const received = () => blockPuts().reduce((s, p) => s + p.received, 0);

      const first = spawnChild(args);
      const until = performance.now() + 600_000;
      while (received() < (size * MiB) / 2) {
        if (first.proc.exitCode !== null) throw new Error(`the first run ended before 50 %: ${JSON.stringify(first.lines())}`);
        if (performance.now() > until) throw new Error('50 % not reached within 10 min');
        await sleep(2);
      }
      const killAt = performance.now();
      first.proc.kill('SIGKILL');
      const atKill = received();
      const inFlight: RelayedPut[] = blockPuts().filter((p) => p.startedAt <= killAt && (p.answeredAt === undefined || p.answeredAt > killAt));
      await first.exited;

      const second = spawnChild(args);
      const end = await second.exited;
      const lines = second.lines();
      const outcome = lines.at(-1) as { state?: string; error?: string } | undefined;
      const resumed = lines[0]?.resumed === true;
      if (end.code !== 0) throw new Error(`the second run ended with ${String(end.code ?? end.signal)}`);

      const blobs = [...new Set(blockPuts().map((p) => p.blob))];
      if (blobs.length !== 1) r.note(`${label}: Put Blocks went to ${blobs.length} blobs (expected one)`);
      const blobPath = decodeURIComponent(blobs[0]!.split('/').filter(Boolean).slice(1).join('/'));
      const committed = await committedSize(azurite, blobPath);
      const total = received();
      const resent = total - committed;
      const bound = inFlight.reduce((s, p) => s + p.length, 0);
      const ids = new Map<string, number>();
      for (const p of blockPuts()) ids.set(p.blockId!, (ids.get(p.blockId!) ?? 0) + 1);
      const twice = [...ids.values()].filter((c) => c > 1).length;
      const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
      r.row(`${label}: resumed and completed`, `${resumed ? 'resumed' : 'started over'}, ${outcome?.state ?? 'no end state'}${outcome?.error ? `: ${outcome.error}` : ''} (killed at ${mb(atKill)} of ${mb(size * MiB)})`, {
        target: 'resumed, completed',
        pass: resumed && outcome?.state === 'completed',
      });
      r.row(`${label}: bytes re-sent`, `${mb(resent)} (${twice} block ids sent more than once; ${blockPuts().length} Put Blocks)`, {
        target: `≤ blocks in flight at the kill: ${inFlight.length} blocks, ${mb(bound)}`,
        pass: resent <= bound,
        ...(bound > 0 ? { ratio: resent / bound } : {}),
      });
      if (cap !== undefined) {
        const limit = 2 * mbpsToBytesPerSecond(cap);
        r.row(`${label}: bytes re-sent against the cap`, `${mb(resent)} = ${(resent / mbpsToBytesPerSecond(cap)).toFixed(2)} s at the cap`, { target: `≤ 2 s at the cap (${mb(limit)})`, pass: resent <= limit, ratio: resent / limit });
      }
    }
    return r.finish();
  } finally {
    await relay.close();
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  child(JSON.parse(process.argv[childAt + 1]!) as ChildArgs).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
} else runMain(main);
