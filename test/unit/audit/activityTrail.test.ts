import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ActivityTrail, activitiesToCsv, CSV_COLUMNS, isoWithOffset, type ActivityRecord } from '../../../src/core/audit/activityTrail';

describe('activity trail', () => {
  let dir: string;
  let now: number;
  const clock = () => new Date(now);

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'trail-'));
    now = Date.parse('2026-11-23T10:00:00Z');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function trailWith(n: number): Promise<ActivityTrail> {
    const trail = await ActivityTrail.open(dir, clock);
    for (let i = 1; i <= n; i++) {
      now += 60_000;
      await trail.append({
        type: i % 2 ? 'exportCompleted' : 'uploadCompleted',
        summary: `step ${i}`,
        user: i % 3 === 0 ? 'alice' : 'bob',
        cameras: [`cam-${i % 2}`],
        requestId: `req-${i}`,
        files: [{ name: `part-${i}.mp4`, bytes: 1000 + i, sha256: 'ab'.repeat(32) }],
      });
    }
    return trail;
  }

  const lines = () => readFileSync(path.join(dir, 'activity-trail.jsonl'), 'utf8').trimEnd().split('\n');
  const writeLines = (ls: string[]) => writeFileSync(path.join(dir, 'activity-trail.jsonl'), ls.join('\n') + '\n');

  it('appends chained records that survive a reopen and verify clean', async () => {
    await trailWith(5);
    const reopened = await ActivityTrail.open(dir, clock);
    const records = reopened.records();
    assert.equal(records.length, 5);
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.equal(records[1].prevHash, records[0].hash);
    const result = await reopened.verify();
    assert.deepEqual(result, { ok: true, records: 5, problems: [] });
  });

  it('detects an edited record', async () => {
    const trail = await trailWith(4);
    const ls = lines();
    const edited = JSON.parse(ls[1]) as ActivityRecord;
    edited.files![0].sha256 = 'cd'.repeat(32);
    ls[1] = JSON.stringify(edited);
    writeLines(ls);
    const result = await trail.verify();
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['edited', 2]]);
  });

  it('detects an edited record whose hash was recomputed, by the broken link after it', async () => {
    const trail = await trailWith(4);
    const ls = lines();
    const edited = JSON.parse(ls[1]) as ActivityRecord;
    edited.user = 'mallory';
    const { createHash } = await import('node:crypto');
    // Recompute the hash the same way an attacker reading our source would (sorted keys).
    const { hash: _old, ...content } = edited;
    const sorted = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sorted(x)])) : v;
    edited.hash = createHash('sha256').update(JSON.stringify(sorted(content))).digest('hex');
    ls[1] = JSON.stringify(edited);
    writeLines(ls);
    const result = await trail.verify();
    assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['edited', 3]]);
  });

  it('detects a deleted record', async () => {
    const trail = await trailWith(5);
    const ls = lines();
    ls.splice(2, 1);
    writeLines(ls);
    const result = await trail.verify();
    assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['deleted', 4]]);
    assert.match(result.problems[0].message, /missing before record 4.*: 3\./);
  });

  it('detects records removed from the end, through the head', async () => {
    const trail = await trailWith(5);
    writeLines(lines().slice(0, 3));
    const result = await trail.verify();
    assert.deepEqual(result.problems.map((p) => p.kind), ['truncated']);
  });

  it('detects reordered records', async () => {
    const trail = await trailWith(5);
    const ls = lines();
    [ls[1], ls[2]] = [ls[2], ls[1]];
    writeLines(ls);
    const result = await trail.verify();
    assert.equal(result.ok, false);
    assert.ok(result.problems.length > 0);
    assert.ok(result.problems.every((p) => p.kind === 'reordered'), JSON.stringify(result.problems));
  });

  it('sets aside a torn last line from a crash and keeps appending a valid chain', async () => {
    await trailWith(3);
    appendFileSync(path.join(dir, 'activity-trail.jsonl'), '{"type":"uploadComp');
    const trail = await ActivityTrail.open(dir, clock);
    assert.equal(trail.records().length, 3);
    assert.ok(existsSync(path.join(dir, 'activity-trail.torn')));
    await trail.append({ type: 'roleStarted', summary: 'again' });
    const result = await trail.verify();
    assert.equal(result.ok, true, JSON.stringify(result.problems));
    assert.equal(result.records, 4);
  });

  it('after a crash between the record and its head, reopening moves the head over that one record only', async () => {
    await trailWith(4);
    const headFile = path.join(dir, 'activity-trail.head');
    const record = (i: number) => JSON.parse(lines()[i]) as ActivityRecord;
    // The crash: record 4 is on disk, the head still names record 3.
    writeFileSync(headFile, JSON.stringify({ seq: 3, hash: record(2).hash }));
    const reopened = await ActivityTrail.open(dir, clock);
    assert.deepEqual(await reopened.verify(), { ok: true, records: 4, problems: [] });

    // Two records past the head is not a crash: it stays a finding.
    writeFileSync(headFile, JSON.stringify({ seq: 2, hash: record(1).hash }));
    const again = await ActivityTrail.open(dir, clock);
    assert.deepEqual((await again.verify()).problems.map((p) => p.kind), ['truncated']);
  });

  it('queries by time, type, user and camera', async () => {
    const trail = await trailWith(6);
    assert.deepEqual(trail.query({ types: ['uploadCompleted'] }).map((r) => r.seq), [2, 4, 6]);
    assert.deepEqual(trail.query({ user: 'alice' }).map((r) => r.seq), [3, 6]);
    assert.deepEqual(trail.query({ camera: 'cam-1' }).map((r) => r.seq), [1, 3, 5]);
    const start = Date.parse('2026-11-23T10:00:00Z');
    assert.deepEqual(
      trail.query({ from: new Date(start + 2 * 60_000), to: new Date(start + 4 * 60_000) }).map((r) => r.seq),
      [2, 3, 4],
    );
  });

  it('exports CSV that a spreadsheet cannot turn into a formula', async () => {
    const trail = await ActivityTrail.open(dir, clock);
    await trail.append({ type: 'requestReceived', summary: '=HYPERLINK("http://x","click"), "quoted"\nnext line', user: '+alice', cameras: ['cam 1', 'cam-2'] });
    const rows = parse(activitiesToCsv(trail.records())) as string[][];
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    const row = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, rows[1][i]]));
    assert.equal(row.summary, `'=HYPERLINK("http://x","click"), "quoted"\nnext line`);
    assert.equal(row.user, `'+alice`);
    assert.equal(row.cameras, 'cam 1 cam-2');
    assert.equal(row.hash, trail.records()[0].hash);
    assert.equal(Date.parse(row.localTime!), Date.parse(row.time!), 'the same instant');
    assert.match(row.localTime!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/, 'ISO 8601 with the offset');
  });

  it('writes local times as ISO 8601 with their offset', () => {
    assert.equal(isoWithOffset('2026-12-01T13:05:09.120Z', 60), '2026-12-01T14:05:09.120+01:00');
    assert.equal(isoWithOffset('2026-12-01T01:00:00.000Z', -210), '2026-11-30T21:30:00.000-03:30');
    assert.equal(isoWithOffset('2026-12-01T01:00:00.000Z', 0), '2026-12-01T01:00:00.000+00:00');
    const rows = parse(activitiesToCsv([{ seq: 1, time: '2026-12-01T13:05:09.120Z', type: 'userSignedIn', summary: 's', user: 'u', hash: 'h', prev: 'p' } as unknown as ActivityRecord], 330)) as string[][];
    assert.equal(rows[1]![CSV_COLUMNS.indexOf('localTime')], '2026-12-01T18:35:09.120+05:30');
  });

  it('serialises concurrent appends into one unbroken chain', async () => {
    const trail = await ActivityTrail.open(dir, clock);
    await Promise.all(Array.from({ length: 20 }, (_, i) => trail.append({ type: 'configurationChanged', summary: `change ${i}` })));
    const result = await trail.verify();
    assert.deepEqual([result.ok, result.records], [true, 20]);
  });
});
