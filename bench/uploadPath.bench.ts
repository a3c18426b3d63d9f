// Upload throughput of the role's queue against its peers, on the same file, in
// the same run, against the same local service on loopback.
//
//   npx tsx bench/uploadPath.bench.ts [--mib 256] [--runs 3] [--only queue-enc,sdk] [--sink] [--prof DIR]
//
// Starts the local Clearance service (Azurite behind its blob gateway) and,
// for each contender, a child process of its own that uploads a random file of
// `mib` MiB to a fresh resource's upload URI:
//   sdk        @azure/storage-blob BlockBlobClient.uploadFile, 4 MiB blocks, concurrency 5
//   curl       curl -T, one Put Blob
//   queue-plain / queue-enc   the real UploadQueue (keyv over a JournalStore), throttling off,
//              an account with encryption disabled / enabled
//   sdk-5 / queue-5           five such files at once (five uploadFile; one job of five plain parts)
// Each contender's time runs from its start to the blob's commit (Put Block List
// answered; the service's own verification after that is not counted). Rounds
// alternate the contenders, so that a noisy neighbour hits them all alike.
// --sink points every upload URI at a server that only counts bytes (answers
// 201 at once): what the client side alone can do. --prof DIR runs the children
// with --cpu-prof into DIR.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BlockBlobClient } from '@azure/storage-blob';
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
import type { EvidenceService } from '../src/core/uploads/ports';
import { UploadQueue } from '../src/core/uploads/uploadQueue';
import { startEmulator } from '../src/emulator/server';

const MiB = 1024 * 1024;
const ALL = ['sdk', 'curl', 'queue-plain', 'queue-enc', 'sdk-5', 'queue-5'] as const;
type Contender = (typeof ALL)[number];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function num(name: string, fallback: number): number {
  const v = Number(arg(name) ?? fallback);
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number`);
  return v;
}

interface ChildArgs {
  contender: Contender;
  connectionFile: string;
  dir: string;
  files: string[];
  /** Base URL that replaces the upload URIs' origin (the counting sink). */
  sinkUrl?: string;
}

interface ChildReport {
  bytes: number;
  seconds: number;
  state?: string;
  error?: string;
  peakRssGrowth: number;
  /** CPU seconds of the uploading process (user + system). */
  cpu: number;
}

async function stack(connectionFile: string) {
  const connection = JSON.parse(fs.readFileSync(connectionFile, 'utf8')) as ConnectionFile;
  const httpClient = await HttpClient.create({ timeoutMs: 600_000 });
  const session = new ClearanceSession(httpClient, new TokenProvider(httpClient, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection));
  return { connection, httpClient, documents: DocumentStoreClient.forConnection(session, connection) };
}

const rewrite = (uri: string, sinkUrl?: string) => {
  if (!sinkUrl) return uri;
  const u = new URL(uri);
  return `${sinkUrl}${u.pathname}${u.search}`;
};

/** One contender's upload, in a process of its own; prints one JSON line. */
async function child(a: ChildArgs): Promise<void> {
  const { httpClient, documents } = await stack(a.connectionFile);
  const bytes = a.files.reduce((n, f) => n + fs.statSync(f).size, 0);
  let peakRss = process.memoryUsage.rss();
  const baseRss = peakRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
  let cpu0 = process.cpuUsage();
  /** The parent samples the service's CPU at each mark: the timed window only. */
  const mark = (what: 'start' | 'end') => process.stdout.write(`${JSON.stringify({ mark: what })}\n`);
  const startCpu = () => {
    mark('start');
    cpu0 = process.cpuUsage();
  };
  const report = (seconds: number, extra: Partial<ChildReport> = {}) => {
    clearInterval(sampler);
    if (!extra.state) mark('end');
    const c = process.cpuUsage(cpu0);
    const r: ChildReport = { bytes, seconds, peakRssGrowth: (peakRss - baseRss) / MiB, cpu: (c.user + c.system) / 1e6, ...extra };
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  try {
    if (a.contender === 'sdk' || a.contender === 'sdk-5' || a.contender === 'curl') {
      const ev = await documents.createEvidence({ idempotencyKey: crypto.randomUUID(), name: 'bench' });
      const uris: string[] = [];
      for (const f of a.files) {
        const r = await documents.createResource(ev.evidenceId, { idempotencyKey: crypto.randomUUID(), name: path.basename(f), mimeType: 'video/mp4' });
        uris.push(rewrite(r.uploadUri, a.sinkUrl));
      }
      startCpu();
      const t0 = performance.now();
      if (a.contender === 'curl') {
        await new Promise<void>((resolve, reject) => {
          const p = spawn('curl', ['-sS', '-f', '-o', '/dev/null', '-T', a.files[0], '-H', 'x-ms-blob-type: BlockBlob', '-H', 'x-ms-version: 2025-01-05', uris[0]], { stdio: 'inherit' });
          p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}`))));
        });
      } else {
        await Promise.all(a.files.map((f, i) => new BlockBlobClient(uris[i]).uploadFile(f, { blockSize: 4 * MiB, concurrency: 5 })));
      }
      report((performance.now() - t0) / 1000);
      return;
    }
    // The queue: its time ends when the last part's blob is committed (completeResource is asked).
    let committedAt = 0;
    let committed = 0;
    const evidence: EvidenceService = {
      createCase: (i) => documents.createCase(i),
      createEvidence: (i) => documents.createEvidence(i),
      linkEvidenceToCase: (c, e) => documents.linkEvidenceToCase(c, e),
      createResource: async (e, i) => {
        const r = await documents.createResource(e, i);
        return { ...r, uploadUri: rewrite(r.uploadUri, a.sinkUrl) };
      },
      completeResource: async (e, r, i) => {
        if (++committed === a.files.length) {
          committedAt = performance.now();
          mark('end');
        }
        if (!a.sinkUrl) await documents.completeResource(e, r, i);
      },
      completeEvidence: (e) => (a.sinkUrl ? Promise.resolve() : documents.completeEvidence(e)),
      deleteEvidence: (e) => documents.deleteEvidence(e),
      encryptionKey: () => documents.encryptionKey(),
    };
    const journal = new JournalStore({ path: path.join(a.dir, 'state', 'queue.journal') });
    const queue = await UploadQueue.open({
      store: new Keyv({ store: journal, namespace: 'uploads' }),
      secrets: new FileSecretStore(path.join(a.dir, 'secrets', 'secrets.json')),
      evidence,
      blobs: new BlobClient(httpClient),
      limiter: new TokenBucket(null),
      archiveFolder: path.join(a.dir, 'archive'),
      throttling: false,
    });
    const id = queue.newJobId();
    fs.mkdirSync(queue.stagingFolder(id), { recursive: true });
    const parts = a.files.map((f, i) => {
      const file = path.join(queue.stagingFolder(id), `f${i}.mp4`);
      fs.linkSync(f, file); // the same bytes (and page cache) as the peers
      const sha256 = fs.readFileSync(`${f}.sha256`, 'utf8');
      return { file, name: `f${i}.mp4`, mimeType: 'video/mp4', bytes: fs.statSync(f).size, sha256 };
    });
    const settled = new Promise<{ state: string; error?: string }>((resolve) => {
      queue.onDidChange((e) => {
        if (e.kind === 'finished' && e.job.id === id) resolve({ state: e.job.state, ...(e.job.error ? { error: e.job.error } : {}) });
      });
    });
    await queue.enqueue({ id, title: 'bench', evidence: { name: 'bench' }, caseTarget: { kind: 'none' }, parts });
    startCpu();
    const t0 = performance.now();
    queue.start();
    const outcome = await settled;
    report(((committedAt || performance.now()) - t0) / 1000, outcome);
    await queue.stop();
    queue.dispose();
    await journal.disconnect();
  } finally {
    httpClient.close();
  }
}

/** Answers every request 201 after reading its body; counts the bytes. */
async function startSink(): Promise<{ url: string; bytes: () => number; close(): Promise<void> }> {
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      res.writeHead(201, { 'content-length': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** CPU seconds so far of this process (the gateway runs here) and of Azurite. */
function serviceCpu(azuritePid: number | undefined): number {
  const own = process.cpuUsage();
  let azurite = 0;
  try {
    const fields = fs.readFileSync(`/proc/${azuritePid}/stat`, 'utf8').split(') ')[1].split(' ');
    azurite = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks of 1/100 s
  } catch {
    // not Linux: the gateway only
  }
  return (own.user + own.system) / 1e6 + azurite;
}

function runChild(a: ChildArgs, profDir: string | undefined, onMark: (what: string) => void): Promise<ChildReport> {
  const nodeArgs = ['--import', 'tsx', ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(profDir, a.contender)] : [])];
  const proc = spawn(process.execPath, [...nodeArgs, __filename, '--child', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let report: ChildReport | undefined;
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines) {
      const m = JSON.parse(line) as { mark?: string } & ChildReport;
      if (m.mark) onMark(m.mark);
      else report = m;
    }
  });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => {
      if (code !== 0 || !report) return reject(new Error(`${a.contender} ended with ${String(code)}`));
      resolve(report);
    });
  });
}

async function main(): Promise<void> {
  const mib = num('mib', 256);
  const runs = num('runs', 3);
  const only = (arg('only')?.split(',') ?? ALL) as Contender[];
  const profDir = arg('prof');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upload-path-bench-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  const sink = process.argv.includes('--sink') ? await startSink() : undefined;
  try {
    const plain = await emulator.createIntegration({ name: 'Bench-Plain', disableEncryption: true });
    const plainFile = path.join(dir, 'plain.json');
    fs.writeFileSync(plainFile, JSON.stringify(plain));
    const files: string[] = [];
    const needFive = only.some((c) => c.endsWith('-5'));
    for (let i = 0; i < (needFive ? 5 : 1); i++) {
      const f = path.join(dir, `file${i}.bin`);
      const hash = crypto.createHash('sha256');
      const fd = fs.openSync(f, 'w');
      for (let left = mib * MiB; left > 0; left -= 8 * MiB) {
        const chunk = crypto.randomBytes(Math.min(8 * MiB, left));
        hash.update(chunk);
        fs.writeSync(fd, chunk);
      }
      fs.closeSync(fd);
      fs.writeFileSync(`${f}.sha256`, hash.digest('hex'));
      files.push(f);
    }
    console.log(`${mib} MiB per file, ${runs} rounds, ${os.cpus().length} cores${sink ? ', into a counting sink' : ', into the local service (gateway + Azurite)'}`);
    const results = new Map<Contender, number[]>();
    const growth = new Map<Contender, number>();
    let n = 0;
    for (let round = 0; round < runs; round++) {
      for (const c of only) {
        const childDir = path.join(dir, `run${n++}`);
        fs.mkdirSync(childDir);
        const encrypted = c === 'queue-enc';
        let service0 = 0;
        let service = 0;
        const r = await runChild(
          {
            contender: c,
            connectionFile: encrypted || c === 'sdk' || c === 'sdk-5' || c === 'curl' ? emulator.connectionFilePath : plainFile,
            dir: childDir,
            files: c.endsWith('-5') ? files : files.slice(0, 1),
            ...(sink ? { sinkUrl: sink.url } : {}),
          },
          profDir,
          (what) => {
            if (what === 'start') service0 = serviceCpu(emulator.azuritePid);
            else if (!service) service = serviceCpu(emulator.azuritePid) - service0;
          },
        );
        if (r.state && r.state !== 'completed') throw new Error(`${c}: ${r.state} ${r.error ?? ''}`);
        const rate = r.bytes / MiB / r.seconds;
        results.set(c, [...(results.get(c) ?? []), rate]);
        growth.set(c, Math.max(growth.get(c) ?? 0, r.peakRssGrowth));
        console.log(`  round ${round + 1} ${c.padEnd(12)} ${rate.toFixed(1).padStart(7)} MiB/s  (${r.seconds.toFixed(2)} s, RSS +${r.peakRssGrowth.toFixed(0)} MiB, CPU s: client ${r.cpu.toFixed(2)}, service ${service.toFixed(2)})`);
        fs.rmSync(childDir, { recursive: true, force: true });
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log('\nmedian MiB/s (min–max), peak RSS growth');
    for (const [c, xs] of results) {
      console.log(`  ${c.padEnd(12)} ${median(xs).toFixed(1).padStart(7)}  (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})  +${growth.get(c)!.toFixed(0)} MiB`);
    }
    const ratio = (a: Contender, b: Contender) => {
      const x = results.get(a);
      const y = results.get(b);
      if (x && y) console.log(`  ${a} / ${b}: ${(median(x) / median(y)).toFixed(2)}`);
    };
    console.log('ratios (medians)');
    ratio('queue-plain', 'sdk');
    ratio('queue-plain', 'curl');
    ratio('queue-enc', 'sdk');
    ratio('queue-5', 'sdk-5');
  } finally {
    await sink?.close();
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  child(JSON.parse(process.argv[childAt + 1]) as ChildArgs).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
}
