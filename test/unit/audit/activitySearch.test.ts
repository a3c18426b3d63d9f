// activities.search and activities.daily over a real trail of 100,000 records:
// the trail file is written in the trail's own format (each record sealed by the
// trail's own sealActivityRecord, chained, with its head file) and opened with
// ActivityTrail.open, which must find it whole (verify() passes). Appending 100,000
// records one by one would fsync 100,000 times. Every answer is compared with a
// plain reference written out here, record by record. No timings: see bench/.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dailyUploads, searchActivities, MAX_DAILY_DAYS, type ActivitySearch } from '../../../src/core/audit/activitySearch';
import { ACTIVITY_TYPES, ActivityTrail, GENESIS_HASH, sealActivityRecord, type ActivityRecord, type ActivityType } from '../../../src/core/audit/activityTrail';

const N = 100_000;
const BASE = Date.parse('2026-01-01T00:00:00.000Z');
const USERS = ['admin', 'mchen', 'jrivera', 'role', undefined] as const;
const CAMERAS = ['cam-lobby', 'cam-reception', 'cam-parking', 'cam-dock', 'cam-roof'];
const WORDS = ['Lobby Entrance', 'reception DESK', 'Parking North', 'loading dock', 'Roof'];
const TYPES: ActivityType[] = ['uploadCompleted', 'exportCompleted', 'requestReceived', 'requestStatusChanged', 'requestReviewed', 'userSignedIn', 'uploadQueued'];

/** Record i (1-based) of the generated trail: times are a permutation, so time order is not seq order. */
function inputOf(i: number): Omit<ActivityRecord, 'hash' | 'prevHash'> {
  const type = TYPES[i % TYPES.length]!;
  const user = USERS[i % USERS.length];
  const camera = CAMERAS[i % CAMERAS.length]!;
  // 7919 is prime and does not divide N: i ↦ (i * 7919) mod N is a permutation; 37 s apart spreads them over ~43 days.
  const time = new Date(BASE + ((i * 7919) % N) * 37_000).toISOString();
  return {
    seq: i,
    time,
    type,
    summary: `Record ${i}: ${WORDS[i % WORDS.length]} step`,
    ...(user ? { user } : {}),
    ...(i % 11 === 0 ? {} : { cameras: [camera] }),
    requestId: `req-${i % 1000}`,
    ...(type === 'uploadCompleted' ? { files: [{ name: `part-${i}.mp4`, bytes: 1000 + (i % 977), sha256: 'ab'.repeat(32) }, { name: `b-${i}.mp4`, bytes: i % 13, sha256: 'cd'.repeat(32) }] } : {}),
  };
}

describe('activity search and daily uploads over a trail of 100,000 records', function () {
  this.timeout(60_000);
  let dir: string;
  let trail: ActivityTrail;
  let all: readonly ActivityRecord[];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'trail-search-'));
    const lines: string[] = [];
    let prevHash = GENESIS_HASH;
    for (let i = 1; i <= N; i++) {
      const record = sealActivityRecord({ ...inputOf(i), prevHash });
      lines.push(JSON.stringify(record));
      prevHash = record.hash;
    }
    writeFileSync(path.join(dir, 'activity-trail.jsonl'), lines.join('\n') + '\n', { mode: 0o600 });
    writeFileSync(path.join(dir, 'activity-trail.head'), JSON.stringify({ seq: N, hash: prevHash }), { mode: 0o600 });
    trail = await ActivityTrail.open(dir);
    all = trail.records();
  });
  after(() => {
    trail?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The plain reference: filter, then sort with ties by seq, then slice. */
  function reference(q: ActivitySearch): { total: number; seqs: number[] } {
    const from = q.from?.getTime();
    const to = q.to?.getTime();
    const text = q.text?.toLowerCase();
    const found = all.filter(
      (r) =>
        (from === undefined || Date.parse(r.time) >= from) &&
        (to === undefined || Date.parse(r.time) <= to) &&
        (!q.types || q.types.length === 0 || q.types.includes(r.type)) &&
        (q.user === undefined || r.user === q.user) &&
        (q.camera === undefined || (r.cameras ?? []).includes(q.camera)) &&
        (text === undefined || r.summary.toLowerCase().includes(text)),
    );
    const by = q.sort?.by ?? 'seq';
    const dir = q.sort?.direction === 'desc' ? -1 : 1;
    const key = (r: ActivityRecord): string | number => (by === 'seq' ? r.seq : by === 'time' ? Date.parse(r.time) : by === 'type' ? r.type : (r.user ?? ''));
    const keyed = found.map((r) => ({ k: key(r), seq: r.seq }));
    keyed.sort((a, b) => dir * (a.k < b.k ? -1 : a.k > b.k ? 1 : a.seq - b.seq));
    const offset = q.offset ?? 0;
    return { total: found.length, seqs: keyed.slice(offset, offset + (q.limit ?? 100)).map((r) => r.seq) };
  }

  const check = (q: ActivitySearch): ReturnType<ActivityTrail['search']> => {
    const got = trail.search(q);
    const want = reference(q);
    assert.equal(got.total, want.total, `total of ${JSON.stringify(q)}`);
    assert.equal(got.offset, q.offset ?? 0);
    assert.deepEqual(got.records.map((r) => r.seq), want.seqs, `page of ${JSON.stringify(q)}`);
    return got;
  };

  it('opens the generated trail whole: 100,000 records that verify', async () => {
    assert.equal(all.length, N);
    assert.equal(all[N - 1]!.seq, N);
    const verified = await trail.verify();
    assert.deepEqual(verified, { ok: true, records: N, problems: [] });
  });

  it('pages the whole trail in seq order by default (100 a page), from either end', () => {
    const first = check({});
    assert.equal(first.total, N);
    assert.deepEqual(first.records.map((r) => r.seq), Array.from({ length: 100 }, (_, k) => k + 1));
    const last = check({ offset: N - 30, limit: 500 });
    assert.deepEqual(last.records.map((r) => r.seq), Array.from({ length: 30 }, (_, k) => N - 29 + k), 'the last page is short');
    assert.deepEqual(check({ offset: N }).records, [], 'past the end: nothing, the total still counted');
    const newest = check({ sort: { by: 'seq', direction: 'desc' }, offset: 10, limit: 5 });
    assert.deepEqual(newest.records.map((r) => r.seq), [N - 10, N - 11, N - 12, N - 13, N - 14]);
    assert.deepEqual(check({ sort: { by: 'seq', direction: 'desc' }, offset: N - 2, limit: 5 }).records.map((r) => r.seq), [2, 1]);
    // Consecutive pages cover every record once.
    const seen = new Set<number>();
    for (let offset = 0; offset < 2000; offset += 500) for (const r of trail.search({ offset, limit: 500, sort: { by: 'time', direction: 'asc' } }).records) seen.add(r.seq);
    assert.equal(seen.size, 2000);
  });

  it('clamps the limit to 1–500', () => {
    assert.equal(trail.search({ limit: 10_000 }).records.length, 500);
    assert.equal(trail.search({ limit: 0 }).records.length, 1);
  });

  it('sorts by time, type and user, both ways, ties by seq', () => {
    const byTime = check({ sort: { by: 'time', direction: 'asc' }, limit: 500 });
    const times = byTime.records.map((r) => r.time);
    assert.deepEqual(times, [...times].sort(), 'in time order');
    assert.equal(byTime.records[0]!.time, new Date(BASE).toISOString(), 'the earliest instant first');
    assert.notDeepEqual(byTime.records.map((r) => r.seq), Array.from({ length: 500 }, (_, k) => k + 1), 'time order is not seq order here');
    const latest = check({ sort: { by: 'time', direction: 'desc' }, limit: 3 });
    assert.equal(latest.records[0]!.time, new Date(BASE + (N - 1) * 37_000).toISOString());
    check({ sort: { by: 'time', direction: 'desc' }, offset: 54_321, limit: 77 });

    const byType = check({ sort: { by: 'type', direction: 'asc' }, limit: 500 });
    assert.ok(byType.records.every((r) => r.type === 'exportCompleted'), 'alphabetically first type');
    const seqs = byType.records.map((r) => r.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'ties by seq');
    check({ sort: { by: 'type', direction: 'desc' }, offset: 20_000, limit: 500 });

    const byUser = check({ sort: { by: 'user', direction: 'asc' }, limit: 10 });
    assert.ok(byUser.records.every((r) => r.user === undefined), 'records without a user first');
    const byUserDesc = check({ sort: { by: 'user', direction: 'desc' }, limit: 10 });
    assert.ok(byUserDesc.records.every((r) => r.user === 'role'));
    assert.deepEqual(byUserDesc.records.map((r) => r.seq).slice(0, 3), [N - 2, N - 7, N - 12], 'ties by seq, descending too');
    check({ sort: { by: 'user', direction: 'asc' }, offset: 39_990, limit: 40 });
  });

  it('filters by type, user, camera, text and time, alone and together', () => {
    const uploads = check({ types: ['uploadCompleted'] });
    assert.equal(uploads.total, Math.floor(N / TYPES.length) + (N % TYPES.length >= 7 ? 1 : 0));
    assert.ok(uploads.records.every((r) => r.type === 'uploadCompleted'));
    assert.equal(check({ types: ['uploadCompleted', 'exportCompleted'] }).total, uploads.total + all.filter((r) => r.type === 'exportCompleted').length);
    assert.equal(check({ types: ['roleStarted'] }).total, 0);

    assert.equal(check({ user: 'mchen' }).total, N / USERS.length);
    assert.equal(check({ user: 'MCHEN' }).total, 0, 'users match exactly');

    const lobby = check({ camera: 'cam-lobby' });
    assert.ok(lobby.records.every((r) => r.cameras?.includes('cam-lobby')));
    assert.equal(lobby.total, all.filter((r) => r.seq % 5 === 0 && r.seq % 11 !== 0).length);

    const text = check({ text: 'RECEPTION desk' });
    assert.equal(text.total, N / WORDS.length, 'case-insensitive, both ways');
    assert.ok(text.records.every((r) => /reception desk/i.test(r.summary)));
    assert.equal(check({ text: 'Record 99999:' }).total, 1);
    assert.equal(check({ text: 'no such words' }).total, 0);

    const from = new Date(BASE + 10_000 * 37_000);
    const to = new Date(BASE + 20_000 * 37_000);
    const inRange = check({ from, to });
    assert.equal(inRange.total, 10_001, 'both ends inclusive');
    assert.ok(inRange.records.every((r) => r.time >= from.toISOString() && r.time <= to.toISOString()));

    const together: ActivitySearch = { from, to, types: ['uploadCompleted', 'requestReviewed'], user: 'jrivera', text: 'PARKING', sort: { by: 'time', direction: 'desc' }, offset: 3, limit: 7 };
    const both = check(together);
    assert.ok(both.total > 0 && both.records.length > 0);
    assert.ok(both.records.every((r) => r.user === 'jrivera' && /parking/i.test(r.summary) && ['uploadCompleted', 'requestReviewed'].includes(r.type)));
    assert.ok(check({ ...together, camera: 'cam-parking' }).total > 0);
    assert.equal(check({ ...together, camera: 'cam-roof' }).total, 0);
  });

  it('sorts a trail already in time order (one clock) by time, ties by seq both ways', () => {
    const times = ['2026-02-01T10:00:00.000Z', '2026-02-01T10:00:00.000Z', '2026-02-01T10:00:01.000Z', '2026-02-01T10:00:01.000Z', '2026-02-01T10:00:02.000Z'];
    const records = times.map((time, k) => sealActivityRecord({ seq: k + 1, time, type: 'userSignedIn', summary: `s${k + 1}`, prevHash: GENESIS_HASH }));
    assert.deepEqual(searchActivities(records, { sort: { by: 'time', direction: 'asc' } }).records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(searchActivities(records, { sort: { by: 'time', direction: 'desc' } }).records.map((r) => r.seq), [5, 4, 3, 2, 1]);
    const shuffled = [records[0]!, records[2]!, records[1]!, records[4]!, records[3]!].map((r, k) => ({ ...r, seq: k + 1 }));
    assert.deepEqual(searchActivities(shuffled, { sort: { by: 'time', direction: 'desc' }, offset: 1, limit: 3 }).records.map((r) => r.summary), ['s4', 's3', 's2']);
  });

  it('gives the same answers as a function of the records (searchActivities), the trail untouched', () => {
    const q: ActivitySearch = { types: ['exportCompleted'], sort: { by: 'user', direction: 'desc' }, offset: 100, limit: 50 };
    assert.deepEqual(searchActivities(all, q), trail.search(q));
    assert.equal(trail.records().length, N);
    assert.equal(all[0]!.seq, 1, 'sorting never reorders the trail itself');
  });

  describe('daily uploads', () => {
    function referenceDaily(offsetMinutes: number, from?: Date, to?: Date): Map<string, { uploads: number; bytes: number }> {
      const out = new Map<string, { uploads: number; bytes: number }>();
      for (const r of all) {
        if (r.type !== 'uploadCompleted') continue;
        const t = Date.parse(r.time);
        if ((from && t < from.getTime()) || (to && t > to.getTime())) continue;
        const local = new Date(t + offsetMinutes * 60_000);
        const day = `${local.getUTCFullYear()}-${String(local.getUTCMonth() + 1).padStart(2, '0')}-${String(local.getUTCDate()).padStart(2, '0')}`;
        const e = out.get(day) ?? { uploads: 0, bytes: 0 };
        e.uploads++;
        e.bytes += (r.files ?? []).reduce((s, f) => s + f.bytes, 0);
        out.set(day, e);
      }
      return out;
    }

    for (const offsetMinutes of [0, 60, -300, 840, -840]) {
      it(`counts completed uploads and their bytes per local day at ${offsetMinutes} minutes`, () => {
        const days = trail.dailyUploads({ offsetMinutes });
        const want = referenceDaily(offsetMinutes);
        const listed = days.filter((d) => d.uploads > 0);
        assert.deepEqual(listed.map((d) => [d.day, d.uploads, d.bytes]), [...want.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, e]) => [day, e.uploads, e.bytes]));
        assert.deepEqual(days.map((d) => d.day), [...days.map((d) => d.day)].sort(), 'sorted by day');
        for (let k = 1; k < days.length; k++) assert.equal(Date.parse(days[k]!.day) - Date.parse(days[k - 1]!.day), 86_400_000, 'one entry per day, none skipped');
        assert.equal(days.reduce((s, d) => s + d.uploads, 0), all.filter((r) => r.type === 'uploadCompleted').length, 'every completed upload counted once');
      });
    }

    it('moves an upload to the next or the previous day with the offset', () => {
      const at = (time: string, bytes: number): ActivityRecord =>
        sealActivityRecord({ seq: 1, time, type: 'uploadCompleted', summary: 'Upload completed', prevHash: GENESIS_HASH, files: [{ name: 'a.mp4', bytes, sha256: 'ab'.repeat(32) }] });
      const late = at('2026-03-01T23:30:00.000Z', 10);
      const early = at('2026-03-02T00:30:00.000Z', 20);
      const notAnUpload = { ...at('2026-03-01T12:00:00.000Z', 99), type: 'uploadQueued' as const };
      assert.deepEqual(dailyUploads([late, early, notAnUpload]), [
        { day: '2026-03-01', uploads: 1, bytes: 10 },
        { day: '2026-03-02', uploads: 1, bytes: 20 },
      ]);
      assert.deepEqual(dailyUploads([late, early], { offsetMinutes: 60 }), [{ day: '2026-03-02', uploads: 2, bytes: 30 }], 'an hour east: both on the 2nd');
      assert.deepEqual(dailyUploads([late, early], { offsetMinutes: -60 }), [{ day: '2026-03-01', uploads: 2, bytes: 30 }], 'an hour west: both on the 1st');
      assert.deepEqual(dailyUploads([late, early], { offsetMinutes: 840 }), [{ day: '2026-03-02', uploads: 2, bytes: 30 }]);
      assert.deepEqual(dailyUploads([late, early], { offsetMinutes: -840 }), [{ day: '2026-03-01', uploads: 2, bytes: 30 }]);
    });

    it('keeps to from and to, listing every day of the span, zeros included', () => {
      const from = new Date('2026-01-10T00:00:00Z');
      const to = new Date('2026-01-12T23:59:59.999Z');
      const days = trail.dailyUploads({ from, to });
      assert.deepEqual(days.map((d) => d.day), ['2026-01-10', '2026-01-11', '2026-01-12']);
      const want = referenceDaily(0, from, to);
      assert.deepEqual(days.map((d) => [d.uploads, d.bytes]), days.map((d) => [want.get(d.day)?.uploads ?? 0, want.get(d.day)?.bytes ?? 0]));
      const before = trail.dailyUploads({ from: new Date('2025-12-30T00:00:00Z'), to: new Date('2025-12-31T12:00:00Z') });
      assert.deepEqual(before, [
        { day: '2025-12-30', uploads: 0, bytes: 0 },
        { day: '2025-12-31', uploads: 0, bytes: 0 },
      ]);
      assert.deepEqual(dailyUploads([], {}), [], 'nothing to draw');
      assert.throws(() => trail.dailyUploads({ from: new Date('1990-01-01T00:00:00Z') }), (e: Error) => e instanceof RangeError && new RegExp(`at most ${MAX_DAILY_DAYS} days`).test(e.message));
    });
  });

  it('knows the new activity type', () => {
    assert.ok((ACTIVITY_TYPES as readonly string[]).includes('requestReviewed'));
  });
});
