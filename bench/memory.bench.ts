// Memory of an upload, whatever the file size: the queue streams.
//
//   npx tsx bench/memory.bench.ts [--quick] [--mib 1024] [--limit-mib 64] [--json out.json]
//
// Starts the local Clearance service (Azurite behind it) on loopback, makes a
// sparse file of `mib` MiB in a temp dir, and has the real upload queue (keyv
// over a JournalStore, encryption on, throttling off) send it in a child
// process of its own, so that the service's memory is not counted. The child
// samples its resident set size every 20 ms from just before the upload starts
// to its end. Printed: the baseline, the peak and the growth. Exits 1 when the
// growth exceeds `limit-mib` or the upload did not complete.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator } from '../src/emulator/server';
import { MiB, QUICK, Report, num, runMain, sha256OfFile } from './lib/common';
import { clientStack, openQueue, readConnection, whenFinished } from './lib/stack';

interface ChildReport {
  state: string;
  error?: string;
  bytes: number;
  seconds: number;
  baselineRss: number;
  peakRss: number;
}

/** The role side: runs the queue on the file and reports its own memory as one JSON line. */
async function child(connectionFile: string, dir: string, mib: number): Promise<void> {
  const stack = await clientStack(readConnection(connectionFile));
  try {
    const q = await openQueue(stack, path.join(dir, 'role'));
    const id = q.queue.newJobId();
    fs.mkdirSync(q.queue.stagingFolder(id), { recursive: true });
    const file = path.join(q.queue.stagingFolder(id), 'large.mp4');
    const bytes = mib * MiB;
    // Sparse: no disk used, and nothing of it in this process's memory.
    fs.closeSync(fs.openSync(file, 'w'));
    fs.truncateSync(file, bytes);
    const sha256 = await sha256OfFile(file);

    global.gc?.();
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const t0 = Date.now();
    const finished = whenFinished(q.queue, id);
    await q.queue.enqueue({
      id,
      title: 'Memory bench',
      evidence: { name: 'Memory bench' },
      caseTarget: { kind: 'none' },
      parts: [{ file, name: 'large.mp4', mimeType: 'video/mp4', bytes, sha256 }],
    });
    q.queue.start();
    const outcome = await finished;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await q.close();
    const report: ChildReport = { ...outcome, bytes, seconds: (Date.now() - t0) / 1000, baselineRss, peakRss };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    stack.http.close();
  }
}

async function main(): Promise<number> {
  const mib = num('mib', QUICK ? 128 : 1024);
  const limitMib = num('limit-mib', 64);
  const r = new Report('memory', 'Memory of one large upload');
  r.setup = `one ${mib} MiB file (sparse), encryption on, throttling off, the queue in a process of its own; RSS sampled every 20 ms`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-bench-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  try {
    console.log(r.setup);
    const proc = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', __filename, '--child', emulator.connectionFilePath, dir, String(mib)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let code: number | null;
    try {
      code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    if (code !== 0) throw new Error(`the uploading process ended with ${String(code)}`);
    const c = JSON.parse(out.trim().split('\n').pop()!) as ChildReport;
    const growth = (c.peakRss - c.baselineRss) / MiB;
    r.row(`upload of ${mib} MiB`, `${c.state} in ${c.seconds.toFixed(1)} s (${(c.bytes / 1e6 / c.seconds).toFixed(1)} MB/s)${c.error ? `: ${c.error}` : ''}`, {
      target: 'completed',
      pass: c.state === 'completed',
    });
    r.row('RSS before the upload', `${(c.baselineRss / MiB).toFixed(1)} MiB`);
    r.row('peak RSS during it', `${(c.peakRss / MiB).toFixed(1)} MiB`);
    r.row('peak RSS growth', `${growth.toFixed(1)} MiB`, { target: `≤ ${limitMib} MiB`, pass: growth <= limitMib });
    return r.finish();
  } finally {
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const [connectionFile, dir, mib] = process.argv.slice(childAt + 1);
  child(connectionFile!, dir!, Number(mib)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
} else runMain(main);
