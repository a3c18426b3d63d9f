// Throttled upload rate, measured where it counts: at the receiving side.
//
//   npx tsx bench/throttle.bench.ts [--mbps 2] [--seconds 10] [--pause 2]
//
// Starts the local Clearance service (Azurite behind it) on loopback and a
// counting relay in front of its blob gateway (upload URIs are pointed at the
// relay, which timestamps every body byte as it arrives and forwards it). The
// real upload queue sends one encrypted file with throttling on. Printed:
// the rate over the first `seconds` against the cap, the bytes of the first
// second (the bucket starts empty: no burst at start), and the bytes of the
// first second after a pause of `pause` seconds (the bucket holds ~100 ms: no
// catch-up burst). Exits 1 when the rate is off by more than 5 % or a first
// second carries more than the cap plus one bucket (plus one 16 KiB chunk of
// measuring precision).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Keyv from 'keyv';
import type { ConnectionFile } from '../src/core/clearance/api';
import { BLOB_CHUNK_BYTES, BlobClient } from '../src/core/clearance/blobClient';
import { DocumentStoreClient } from '../src/core/clearance/documentStore';
import { ClearanceSession } from '../src/core/clearance/session';
import { TokenProvider } from '../src/core/clearance/tokenProvider';
import { FileSecretStore } from '../src/core/config/secretStore';
import { TokenBucket, mbpsToBytesPerSecond } from '../src/core/net/bandwidth';
import { HttpClient } from '../src/core/net/httpClient';
import { JournalStore } from '../src/core/store/journalStore';
import type { EvidenceService } from '../src/core/uploads/ports';
import { UploadQueue } from '../src/core/uploads/uploadQueue';
import { startEmulator } from '../src/emulator/server';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number`);
  return v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Forwards to the blob gateway, timestamping Put Block body bytes on arrival. */
async function startCountingRelay(target: URL): Promise<{ url: string; arrivals: { t: number; n: number }[]; close(): Promise<void> }> {
  const arrivals: { t: number; n: number }[] = [];
  const server = http.createServer((req, res) => {
    const isBlock = req.method === 'PUT' && /[?&]comp=block(&|$)/.test(req.url ?? '');
    if (isBlock) req.on('data', (d: Buffer) => arrivals.push({ t: performance.now(), n: d.length }));
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('aborted', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const bytesBetween = (arrivals: { t: number; n: number }[], from: number, to: number) =>
  arrivals.filter((a) => a.t >= from && a.t < to).reduce((s, a) => s + a.n, 0);

async function main(): Promise<number> {
  const mbps = arg('mbps', 2);
  const seconds = arg('seconds', 10);
  const pauseSeconds = arg('pause', 2);
  const cap = mbpsToBytesPerSecond(mbps);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'throttle-bench-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  const relay = await startCountingRelay(new URL(emulator.urls.blob));
  const httpClient = await HttpClient.create({ timeoutMs: 120_000 });
  const journal = new JournalStore({ path: path.join(dir, 'role', 'queue.journal') });
  try {
    const connection = JSON.parse(fs.readFileSync(emulator.connectionFilePath, 'utf8')) as ConnectionFile;
    const session = new ClearanceSession(httpClient, new TokenProvider(httpClient, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection));
    const documents = DocumentStoreClient.forConnection(session, connection);
    // Same service, but every upload URI goes through the counting relay.
    const evidence: EvidenceService = {
      createCase: (i) => documents.createCase(i),
      createEvidence: (i) => documents.createEvidence(i),
      linkEvidenceToCase: (c, e) => documents.linkEvidenceToCase(c, e),
      createResource: async (e, i) => {
        const r = await documents.createResource(e, i);
        const u = new URL(r.uploadUri);
        return { ...r, uploadUri: `${relay.url}${u.pathname}${u.search}` };
      },
      completeResource: (e, r, i) => documents.completeResource(e, r, i),
      completeEvidence: (e) => documents.completeEvidence(e),
      deleteEvidence: (e) => documents.deleteEvidence(e),
      encryptionKey: () => documents.encryptionKey(),
    };
    const bucket = new TokenBucket(mbps);
    const queue = await UploadQueue.open({
      store: new Keyv({ store: journal, namespace: 'uploads' }),
      secrets: new FileSecretStore(path.join(dir, 'role', 'secrets.json')),
      evidence,
      blobs: new BlobClient(httpClient),
      limiter: bucket,
      archiveFolder: path.join(dir, 'role', 'archive'),
      throttling: true,
    });
    // Enough for the whole measurement: the file never runs out early.
    const id = queue.newJobId();
    const bytes = Math.ceil(cap * (seconds + pauseSeconds + 4));
    fs.mkdirSync(queue.stagingFolder(id), { recursive: true });
    const file = path.join(queue.stagingFolder(id), 'bench.mp4');
    const data = crypto.randomBytes(bytes);
    fs.writeFileSync(file, data);
    await queue.enqueue({
      id,
      title: 'Throttle bench',
      evidence: { name: 'Throttle bench' },
      caseTarget: { kind: 'none' },
      parts: [{ file, name: 'bench.mp4', mimeType: 'video/mp4', bytes, sha256: crypto.createHash('sha256').update(data).digest('hex') }],
    });
    console.log(`cap ${mbps} Mbps = ${cap} B/s; file ${bytes} B; measuring ${seconds} s, pause ${pauseSeconds} s`);
    queue.start();

    while (relay.arrivals.length === 0) await sleep(5);
    const t0 = relay.arrivals[0].t;
    await sleep(Math.max(0, t0 + seconds * 1000 + 200 - performance.now()));
    await queue.pause(id);
    const pausedAt = performance.now();
    await sleep(pauseSeconds * 1000);
    const bytesDuringPause = bytesBetween(relay.arrivals, pausedAt + 100, performance.now());
    await queue.resume(id);
    const resumedAt = performance.now();
    while (!relay.arrivals.some((a) => a.t > resumedAt)) await sleep(5);
    const t1 = relay.arrivals.find((a) => a.t > resumedAt)!.t;
    await sleep(Math.max(0, t1 + 1200 - performance.now()));
    await queue.cancel(id);
    await queue.stop();
    queue.dispose();

    const steady = bytesBetween(relay.arrivals, t0, t0 + seconds * 1000) / seconds;
    const firstSecond = bytesBetween(relay.arrivals, t0, t0 + 1000);
    const afterPause = bytesBetween(relay.arrivals, t1, t1 + 1000);
    // One second of rate plus one bucket (100 ms, what idle time may save up), to one chunk's precision.
    const burstLimit = cap * 1.1 + BLOB_CHUNK_BYTES;
    const error = (steady - cap) / cap;
    const rows: [string, string, string][] = [
      ['rate over first ' + seconds + ' s', `${Math.round(steady)} B/s (${((steady * 8) / 1e6).toFixed(3)} Mbps)`, `cap ${cap} B/s, off by ${(error * 100).toFixed(2)} %`],
      ['first second', `${firstSecond} B`, `limit ${Math.round(burstLimit)} B`],
      ['first second after pause', `${afterPause} B`, `limit ${Math.round(burstLimit)} B`],
      ['while paused', `${bytesDuringPause} B`, 'expected 0'],
    ];
    for (const [k, v, note] of rows) console.log(`${k.padEnd(28)} ${v.padEnd(30)} ${note}`);
    const failures: string[] = [];
    if (Math.abs(error) > 0.05) failures.push(`rate off by ${(error * 100).toFixed(2)} % (> 5 %)`);
    if (firstSecond > burstLimit) failures.push(`burst at start: ${firstSecond} B in the first second`);
    if (afterPause > burstLimit) failures.push(`burst after pause: ${afterPause} B in the first second`);
    if (bytesDuringPause > 0) failures.push(`${bytesDuringPause} B sent while paused`);
    console.log(failures.length ? `FAIL: ${failures.join('; ')}` : 'PASS');
    return failures.length ? 1 : 0;
  } finally {
    httpClient.close();
    await journal.disconnect();
    await relay.close();
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(2);
  },
);
