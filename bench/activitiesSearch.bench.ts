// How long activities.search and activities.daily take over a large trail.
//
//   npx tsx bench/activitiesSearch.bench.ts [--records 100000] [--runs 20]
//
// Writes a trail of `records` records in a temp dir in the trail's own format
// (sealed and chained by the trail's code, with its head), opens it with
// ActivityTrail.open, checks that it verifies, then times each query `runs` times
// and prints the median and the slowest, in milliseconds. Prints; asserts nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ActivitySearch } from '../src/core/audit/activitySearch';
import { ActivityTrail, GENESIS_HASH, sealActivityRecord, type ActivityType } from '../src/core/audit/activityTrail';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(v > 0) || !Number.isInteger(v)) throw new Error(`--${name}: must be a positive whole number`);
  return v;
}

const N = arg('records', 100_000);
const RUNS = arg('runs', 20);
const TYPES: ActivityType[] = ['uploadCompleted', 'exportCompleted', 'requestReceived', 'requestStatusChanged', 'requestReviewed', 'userSignedIn', 'uploadQueued'];
const USERS = ['admin', 'mchen', 'jrivera', 'role'];
const CAMERAS = ['cam-lobby', 'cam-reception', 'cam-parking', 'cam-dock', 'cam-roof'];

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-trail-'));
  try {
    const started = performance.now();
    const lines: string[] = [];
    let prevHash = GENESIS_HASH;
    const base = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 1; i <= N; i++) {
      const type = TYPES[i % TYPES.length]!;
      const record = sealActivityRecord({
        seq: i,
        time: new Date(base + ((i * 7919) % N) * 30_000).toISOString(),
        type,
        summary: `Record ${i}: ${CAMERAS[i % CAMERAS.length]} for request ${i % 1000}`,
        user: USERS[i % USERS.length]!,
        cameras: [CAMERAS[i % CAMERAS.length]!],
        requestId: `req-${i % 1000}`,
        ...(type === 'uploadCompleted' ? { files: [{ name: `part-${i}.mp4`, bytes: 1_000_000 + i, sha256: 'ab'.repeat(32) }] } : {}),
        prevHash,
      });
      lines.push(JSON.stringify(record));
      prevHash = record.hash;
    }
    writeFileSync(path.join(dir, 'activity-trail.jsonl'), lines.join('\n') + '\n');
    writeFileSync(path.join(dir, 'activity-trail.head'), JSON.stringify({ seq: N, hash: prevHash }));
    const written = performance.now();
    const trail = await ActivityTrail.open(dir);
    const opened = performance.now();
    const verified = await trail.verify();
    if (!verified.ok) throw new Error(`the generated trail does not verify: ${verified.problems[0]?.message}`);
    console.log(`${N} records: written in ${(written - started).toFixed(0)} ms, opened in ${(opened - written).toFixed(0)} ms, verified in ${(performance.now() - opened).toFixed(0)} ms`);

    const from = new Date(base + Math.floor(N / 4) * 30_000);
    const to = new Date(base + Math.floor(N / 2) * 30_000);
    const cases: [string, () => unknown][] = [
      ['search: first page, seq order', () => trail.search({})],
      ['search: newest page (seq desc)', () => trail.search({ sort: { by: 'seq', direction: 'desc' } })],
      ['search: sort by time desc, page 50', () => trail.search({ sort: { by: 'time', direction: 'desc' }, offset: 5000, limit: 100 })],
      ['search: sort by user asc', () => trail.search({ sort: { by: 'user', direction: 'asc' }, limit: 500 })],
      ['search: text "lobby"', () => trail.search({ text: 'LOBBY' })],
      ['search: type + user + camera + range + text', () => trail.search({ types: ['uploadCompleted', 'requestReviewed'], user: 'mchen', camera: 'cam-parking', from, to, text: 'request' } satisfies ActivitySearch)],
      ['daily: every day, offset +60', () => trail.dailyUploads({ offsetMinutes: 60 })],
    ];
    for (const [name, run] of cases) {
      const times: number[] = [];
      for (let k = 0; k < RUNS; k++) {
        const t = performance.now();
        run();
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      console.log(`${name.padEnd(48)} median ${times[Math.floor(times.length / 2)]!.toFixed(1).padStart(7)} ms   max ${times.at(-1)!.toFixed(1).padStart(7)} ms`);
    }
    trail.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
