// Memory of an upload, whatever the file size: the queue streams.
//
//   npx tsx bench/memory.bench.ts [--mib 512] [--limit-mib 128]
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
import Keyv from 'keyv';
import type { ConnectionFile } from '../src/core/clearance/api';
import { BlobClient } from '../src/core/clearance/blobClient';
import { DocumentStoreClient } from '../src/core/clearance/documentStore';
import { ClearanceSession } from '../src/core/clearance/session';
import { TokenProvider } from '../src/core/clearance/tokenProvider';
import { FileSecretStore } from '../src/core/config/secretStore';
import { TokenBucket } from '../src/core/net/bandwidth';
import { HttpClient } from '../src/core/net/httpClient';
import { JournalStore } from '../src/core/store/journalStore';
import { sha256File } from '../src/core/uploads/partUpload';
import { UploadQueue } from '../src/core/uploads/uploadQueue';
import { startEmulator } from '../src/emulator/server';

const MiB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number`);
  return v;
}

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
  const connection = JSON.parse(fs.readFileSync(connectionFile, 'utf8')) as ConnectionFile;
  const httpClient = await HttpClient.create({ timeoutMs: 600_000 });
  const journal = new JournalStore({ path: path.join(dir, 'role', 'state', 'queue.journal') });
  try {
    const session = new ClearanceSession(httpClient, new TokenProvider(httpClient, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection));
    const documents = DocumentStoreClient.forConnection(session, connection);
    const queue = await UploadQueue.open({
      store: new Keyv({ store: journal, namespace: 'uploads' }),
      secrets: new FileSecretStore(path.join(dir, 'role', 'secrets', 'secrets.json')),
      evidence: documents,
      blobs: new BlobClient(httpClient),
      limiter: new TokenBucket(1000),
      archiveFolder: path.join(dir, 'role', 'archive'),
      throttling: false,
    });
    const id = queue.newJobId();
    fs.mkdirSync(queue.stagingFolder(id), { recursive: true });
    const file = path.join(queue.stagingFolder(id), 'large.mp4');
    const bytes = mib * MiB;
    // Sparse: no disk used, and nothing of it in this process's memory.
    fs.closeSync(fs.openSync(file, 'w'));
    fs.truncateSync(file, bytes);
    const sha256 = await sha256File(file);

    global.gc?.();
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const t0 = Date.now();
    const finished = new Promise<{ state: string; error?: string }>((resolve) => {
      queue.onDidChange((e) => {
        if (e.kind === 'finished' && e.job.id === id) resolve({ state: e.job.state, ...(e.job.error ? { error: e.job.error } : {}) });
      });
    });
    await queue.enqueue({
      id,
      title: 'Memory bench',
      evidence: { name: 'Memory bench' },
      caseTarget: { kind: 'none' },
      parts: [{ file, name: 'large.mp4', mimeType: 'video/mp4', bytes, sha256 }],
    });
    queue.start();
    const outcome = await finished;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await queue.stop();
    queue.dispose();
    const report: ChildReport = { ...outcome, bytes, seconds: (Date.now() - t0) / 1000, baselineRss, peakRss };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    httpClient.close();
    await journal.disconnect();
  }
}

async function main(): Promise<number> {
  const mib = arg('mib', 512);
  const limitMib = arg('limit-mib', 128);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-bench-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  try {
    console.log(`file ${mib} MiB (sparse), encrypted, throttling off; limit ${limitMib} MiB of RSS growth`);
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
    const r = JSON.parse(out.trim().split('\n').pop()!) as ChildReport;
    const growth = (r.peakRss - r.baselineRss) / MiB;
    const rows: [string, string][] = [
      ['upload', `${r.state} in ${r.seconds.toFixed(1)} s (${(r.bytes / MiB / r.seconds).toFixed(1)} MiB/s)${r.error ? `: ${r.error}` : ''}`],
      ['RSS before the upload', `${(r.baselineRss / MiB).toFixed(1)} MiB`],
      ['peak RSS during it', `${(r.peakRss / MiB).toFixed(1)} MiB`],
      ['peak growth', `${growth.toFixed(1)} MiB (limit ${limitMib} MiB)`],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(24)} ${v}`);
    const failures: string[] = [];
    if (r.state !== 'completed') failures.push(`the upload ended ${r.state}`);
    if (growth > limitMib) failures.push(`RSS grew by ${growth.toFixed(1)} MiB (> ${limitMib} MiB)`);
    console.log(failures.length ? `FAIL: ${failures.join('; ')}` : 'PASS');
    return failures.length ? 1 : 0;
  } finally {
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const [connectionFile, dir, mib] = process.argv.slice(childAt + 1);
  child(connectionFile, dir, Number(mib)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
}
