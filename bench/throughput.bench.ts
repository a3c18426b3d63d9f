// Upload throughput of the role's queue, throttling off, against its peers on
// the same files in the same run, against the local service on loopback (its
// blob gateway with Azurite behind it), and into a sink that discards bytes.
//
//   npx tsx bench/throughput.bench.ts [--quick] [--mib 512] [--five-mib 100] [--rounds 3] [--json out.json]
//     [--kinds engine-5,sdk-5]   only these contenders (a look at one pair; the ratios of the others are left out)
//     [--cpu-prof <dir>]         each contender writes V8 CPU profiles (one per thread) to <dir>/<kind>/
//
// Contenders, each in a child process of its own (its RSS is its own):
//   engine-plain  the real UploadQueue (keyv over a JournalStore), an account with encryption off
//   engine-enc    the same, an account with encryption on (the default)
//   sdk           @azure/storage-blob BlockBlobClient.uploadFile, its default options
//   curl          curl -T to the SAS URL (one Put Blob)
//   engine-5 / sdk-5  five files at once (one job of five parts; five uploadFile)
//   sdk-5-blocks  five uploadFile in 4 MiB blocks, as the engine sends them (a 100 MiB
//                 file is one Put Blob for uploadFile by default: under its 256 MiB limit)
// A warm-up run of the first two contenders comes first and is not counted. A
// round runs every contender once, in alternating order (reversed every other
// round), so that a noisy neighbour hits them alike; before each run, `sync`
// writes back what the run before left dirty. The medians over the rounds
// and their spread are reported, and the ratios of the medians against the
// targets. Time runs from the contender's start (before it creates the evidence
// and asks for its upload links) to the blob's commit (Put Block List or Put
// Blob answered); the service's own check after it is not counted
// (for engine-5 it waits until all five blobs are committed: the peers have none).
// The sink rounds send the single file to a loopback server that reads and
// discards every body (answering as the blob store does): the client side's
// own ceiling, nothing of Azurite in it.
// The CPU each process spent within the timed window (the contender, this
// process with the service and its gateway, Azurite; from /proc, Linux only)
// is reported per GB: on 2 cores the three compete, so what one side spends
// per byte slows the others.
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BlockBlobClient } from '@azure/storage-blob';
import { startEmulator } from '../src/emulator/server';
import { MiB, QUICK, Report, median, num, opt, runMain, spread, writeRandomFile } from './lib/common';
import { startBlobSink } from './lib/loopback';
import { azuriteOf, clientStack, deleteAllBlobs, openQueue, readConnection, reroute, routedEvidence, stageLinked, whenFinished } from './lib/stack';

type Kind = 'engine-plain' | 'engine-enc' | 'sdk' | 'curl' | 'engine-5' | 'sdk-5' | 'sdk-5-blocks';
/** The contenders that send the five files; the others send the single one. */
const FIVE_FILES: readonly Kind[] = ['engine-5', 'sdk-5', 'sdk-5-blocks'];

interface ChildArgs {
  kind: Kind;
  connectionFile: string;
  dir: string;
  files: string[];
  /** Base URL of the sink, replacing the upload URIs' origin. */
  sink?: string;
}

/** What a child says on stdout: its window opened or closed (the parent reads the CPU counters then), or its report. */
type ChildLine = { mark: 'start' | 'end' } | ChildReport;

interface ChildReport {
  bytes: number;
  seconds: number;
  state?: string;
  error?: string;
  rssGrowthMiB: number;
}

async function child(a: ChildArgs): Promise<void> {
  const stack = await clientStack(readConnection(a.connectionFile));
  const bytes = a.files.reduce((n, f) => n + fs.statSync(f).size, 0);
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const mark = (m: 'start' | 'end') => process.stdout.write(`${JSON.stringify({ mark: m })}\n`);
  const report = (seconds: number, extra: Partial<ChildReport> = {}) => {
    clearInterval(sampler);
    const r: ChildReport = { bytes, seconds, rssGrowthMiB: (peakRss - baseRss) / MiB, ...extra };
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  try {
    if (!a.kind.startsWith('engine')) {
      // From the same point as the engine's queue: the evidence and its upload links are part of the upload.
      const t0 = performance.now();
      mark('start');
      const ev = await stack.documents.createEvidence({ idempotencyKey: crypto.randomUUID(), name: 'bench' });
      const uris: string[] = [];
      for (const f of a.files) {
        const r = await stack.documents.createResource(ev.evidenceId, { idempotencyKey: crypto.randomUUID(), name: path.basename(f), mimeType: 'video/mp4' });
        uris.push(reroute(r.uploadUri, a.sink));
      }
      if (a.kind === 'curl') {
        await new Promise<void>((resolve, reject) => {
          const p = spawn('/usr/bin/curl', ['-sS', '-f', '-o', '/dev/null', '-T', a.files[0]!, '-H', 'x-ms-blob-type: BlockBlob', '-H', 'x-ms-version: 2025-01-05', uris[0]!], {
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}`))));
        });
      } else {
        const blocks = a.kind === 'sdk-5-blocks' ? { blockSize: 4 * MiB, maxSingleShotSize: 4 * MiB } : {};
        await Promise.all(a.files.map((f, i) => new BlockBlobClient(uris[i]!).uploadFile(f, blocks)));
      }
      mark('end');
      report((performance.now() - t0) / 1000);
      return;
    }
    let committed = 0;
    let committedAt = 0;
    const evidence = routedEvidence(stack.documents, {
      ...(a.sink ? { via: a.sink, sink: true } : {}),
      // Five files: no part's service check (a read-back of its blob) competes with the parts still uploading.
      ...(a.files.length > 1 ? { holdChecksUntil: a.files.length } : {}),
      onCommit: () => {
        if (++committed === a.files.length) {
          committedAt = performance.now();
          mark('end');
        }
      },
    });
    const q = await openQueue(stack, a.dir, { evidence });
    const id = q.queue.newJobId();
    const parts = stageLinked(q.queue, id, a.files);
    const done = whenFinished(q.queue, id);
    await q.queue.enqueue({ id, title: 'bench', evidence: { name: 'bench' }, caseTarget: { kind: 'none' }, parts });
    const t0 = performance.now();
    mark('start');
    q.queue.start();
    const outcome = await done;
    if (!committedAt) mark('end');
    report(((committedAt || performance.now()) - t0) / 1000, outcome);
    await q.close();
  } finally {
    stack.http.close();
  }
}

/** CPU seconds (user + system) a process has used so far; undefined where /proc cannot tell (not Linux, gone). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks of 1/100 s
  } catch {
    return undefined;
  }
}

/** CPU seconds each process spent in a contender's timed window. */
interface WindowCpu {
  contender: number;
  /** This process: the service and its blob gateway (and the sink). */
  service: number;
  azurite: number;
}

function runChild(a: ChildArgs, azuritePid: number | undefined): Promise<ChildReport & { cpu?: WindowCpu }> {
  const prof = opt('cpu-prof');
  const profile = prof ? ['--cpu-prof', '--cpu-prof-dir', path.join(path.resolve(prof), a.kind)] : [];
  const proc = spawn(process.execPath, [...profile, '--import', 'tsx', __filename, '--child', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = () => [proc.pid, process.pid, azuritePid];
  let at0: (number | undefined)[] | undefined;
  let cpu: WindowCpu | undefined;
  let report: ChildReport | undefined;
  let rest = '';
  proc.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines.filter((l) => l.trim())) {
      const m = JSON.parse(line) as ChildLine;
      if (!('mark' in m)) report = m;
      else if (m.mark === 'start') at0 = pids().map(cpuSeconds);
      else if (at0) {
        const [contender, service, azurite] = pids().map((p, i) => (cpuSeconds(p) ?? NaN) - (at0![i] ?? NaN));
        if ([contender, service, azurite].every(Number.isFinite)) cpu = { contender: contender!, service: service!, azurite: azurite! };
      }
    }
  });
  return new Promise((resolve, reject) => {
    // 'close': after its stdout was read to the end.
    proc.once('close', (code) => {
      if (code !== 0 || !report) return reject(new Error(`${a.kind} ended with ${String(code)}`));
      resolve({ ...report, ...(cpu ? { cpu } : {}) });
    });
  });
}

async function main(): Promise<number> {
  const mib = num('mib', QUICK ? 64 : 512);
  const fiveMib = num('five-mib', QUICK ? 16 : 100);
  const rounds = num('rounds', QUICK ? 1 : 3);
  const sinkRounds = num('sink-rounds', QUICK ? 1 : 3);
  const r = new Report('throughput', 'Throughput, throttling off');
  r.setup = `one ${mib} MiB file and five ${fiveMib} MiB files (random bytes), ${rounds} round(s) against the local service (blob gateway + Azurite), ${sinkRounds} into the sink; peers: uploadFile of @azure/storage-blob (default options), curl -T (one Put Blob)`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-throughput-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  const azurite = azuriteOf(emulator);
  const sink = await startBlobSink();
  try {
    const plainFile = path.join(dir, 'plain.json');
    fs.writeFileSync(plainFile, JSON.stringify(await emulator.createIntegration({ name: 'Bench-Plain', disableEncryption: true })));
    const big = path.join(dir, 'big.bin');
    writeRandomFile(big, mib * MiB);
    const five = Array.from({ length: 5 }, (_, i) => {
      const f = path.join(dir, `five${i}.bin`);
      writeRandomFile(f, fiveMib * MiB);
      return f;
    });
    console.log(r.setup);
    // Each run starts with nothing left to write back: the files just written and the blobs of
    // the run before would otherwise be flushed while it runs, slowing whoever comes next.
    const settle = () => execFileSync('sync');
    settle();
    const rates = new Map<string, number[]>();
    const rss = new Map<string, number>();
    /** CPU seconds per GB in the timed window, per contender and process. */
    const cpuPerGb = new Map<string, WindowCpu[]>();
    let n = 0;
    const run = async (kind: Kind, into: 'service' | 'sink', round: number) => {
      const childDir = path.join(dir, `run${n++}`);
      fs.mkdirSync(childDir);
      const res = await runChild(
        {
          kind,
          connectionFile: kind === 'engine-enc' ? emulator.connectionFilePath : plainFile,
          dir: childDir,
          files: FIVE_FILES.includes(kind) ? five : [big],
          ...(into === 'sink' ? { sink: sink.url } : {}),
        },
        emulator.azuritePid,
      );
      if (res.state && res.state !== 'completed') throw new Error(`${kind}: ${res.state} ${res.error ?? ''}`);
      const key = `${kind}${into === 'sink' ? ' → sink' : ''}`;
      const rate = res.bytes / 1e6 / res.seconds;
      if (round >= 0) {
        rates.set(key, [...(rates.get(key) ?? []), rate]);
        rss.set(key, Math.max(rss.get(key) ?? 0, res.rssGrowthMiB));
      }
      const gb = res.bytes / 1e9;
      const cpu = res.cpu && { contender: res.cpu.contender / gb, service: res.cpu.service / gb, azurite: res.cpu.azurite / gb };
      if (cpu && round >= 0 && into === 'service') cpuPerGb.set(key, [...(cpuPerGb.get(key) ?? []), cpu]);
      const cpuText = cpu ? `, CPU s/GB: contender ${cpu.contender.toFixed(1)}, service ${cpu.service.toFixed(1)}, Azurite ${cpu.azurite.toFixed(1)}` : '';
      console.log(`  ${round >= 0 ? `round ${round + 1}` : 'warm-up'} ${key.padEnd(20)} ${rate.toFixed(1).padStart(7)} MB/s  (${res.seconds.toFixed(2)} s, RSS +${res.rssGrowthMiB.toFixed(0)} MiB${cpuText})`);
      fs.rmSync(childDir, { recursive: true, force: true });
      await deleteAllBlobs(azurite);
      settle();
    };
    const only = opt('kinds')?.split(',');
    const picked = (kinds: Kind[]) => kinds.filter((k) => !only || only.includes(k));
    const order = picked(['engine-plain', 'sdk', 'curl', 'engine-enc', 'engine-5', 'sdk-5', 'sdk-5-blocks']);
    // Not counted: the first uploads after Azurite starts are slow (measured: the first run of a
    // round-1 contender well below its later rounds), which would count against whoever goes first.
    for (const k of order.slice(0, 2)) await run(k, 'service', -1);
    for (let round = 0; round < rounds; round++) for (const k of round % 2 ? [...order].reverse() : order) await run(k, 'service', round);
    const sinkOrder = picked(['engine-plain', 'sdk', 'curl', 'engine-enc']);
    for (let round = 0; round < sinkRounds; round++) for (const k of round % 2 ? [...sinkOrder].reverse() : sinkOrder) await run(k, 'sink', round);

    const rate = (k: string) => median(rates.get(k) ?? []);
    for (const [k, xs] of rates) r.row(`${k}: MB/s, median (min–max)`, `${spread(xs)} MB/s, peak RSS +${rss.get(k)!.toFixed(0)} MiB`);
    /** Judged against `min` when there is one, else only reported. */
    const ratio = (label: string, a: string, b: string, min?: number) => {
      if (!rates.has(a) || !rates.has(b)) return;
      const x = rate(a) / rate(b);
      // The ratio within each round too (its two runs were close in time): the machine's drift cancels out there.
      const perRound = rates.get(a)!.map((v, i) => (v / rates.get(b)![i]!).toFixed(2)).join(', ');
      const judged = min === undefined ? {} : { target: `≥ ${min.toFixed(2)}×`, pass: x >= min };
      r.row(label, `${rate(a).toFixed(1)} / ${rate(b).toFixed(1)} MB/s (per round: ${perRound})`, { ...judged, ratio: x });
    };
    ratio('without encryption vs uploadFile', 'engine-plain', 'sdk', 1.0);
    ratio('without encryption vs curl -T', 'engine-plain', 'curl', 0.9);
    ratio('with encryption vs uploadFile', 'engine-enc', 'sdk', 0.85);
    ratio('five files at once vs five uploadFile at once', 'engine-5', 'sdk-5', 1.0);
    ratio('five files at once vs five uploadFile in 4 MiB blocks', 'engine-5', 'sdk-5-blocks');
    // Where the CPU of the machine went, per GB sent: the three processes share its cores, so
    // the cores over the total CPU per GB is the most they could carry, next to what they did.
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    for (const [k, xs] of cpuPerGb) {
      const m = (f: (c: WindowCpu) => number) => median(xs.map(f));
      const total = m((c) => c.contender + c.service + c.azurite);
      r.row(
        `${k}: CPU s per GB, median`,
        `contender ${m((c) => c.contender).toFixed(1)}, service and gateway ${m((c) => c.service).toFixed(1)}, Azurite ${m((c) => c.azurite).toFixed(1)}; total ${total.toFixed(1)}: ${cores} cores carry at most ${((cores / total) * 1000).toFixed(0)} MB/s (measured ${rate(k).toFixed(1)})`,
      );
    }
    const sinkRatio = (label: string, a: string, b: string) => {
      if (!rates.has(a) || !rates.has(b)) return;
      const x = rate(a) / rate(b);
      r.row(label, `${rate(a).toFixed(1)} / ${rate(b).toFixed(1)} MB/s`, { ratio: x });
    };
    sinkRatio('into the sink: without encryption vs uploadFile', 'engine-plain → sink', 'sdk → sink');
    sinkRatio('into the sink: with encryption vs uploadFile', 'engine-enc → sink', 'sdk → sink');
    sinkRatio('service vs sink, engine without encryption', 'engine-plain', 'engine-plain → sink');
    r.note(`${os.availableParallelism?.() ?? os.cpus().length} cores shared by the contender, the service's gateway and Azurite (and the sink); MB = 10^6 bytes`);
    return r.finish();
  } finally {
    await sink.close();
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
