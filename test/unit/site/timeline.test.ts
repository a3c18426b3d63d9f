import assert from 'node:assert/strict';
import path from 'node:path';
import { fileStamp, parseRecordingFileName, pathSegmentFor, recordingFileName } from '../../../src/core/site';
import { concatEntries, coveredRuns, ffconcatScript, gapsIn, splitIntoParts } from '../../../src/core/site/timeline';
import type { RecordingSegment } from '../../../src/core/site';

const t = (hms: string) => new Date(`2026-11-23T${hms}Z`);
const seg = (from: string, to: string, file = `${from}.mp4`): RecordingSegment => ({ cameraId: 'c', file, start: t(from), end: t(to) });
const iso = (r: { from: Date; to: Date }[]) => r.map((x) => `${x.from.toISOString().slice(11, 23)}-${x.to.toISOString().slice(11, 23)}`);

describe('site timeline', () => {
  it('names recordings after their UTC start and reads the name back', () => {
    assert.equal(recordingFileName(t('10:00:00')), '2026-11-23T10-00-00Z.mp4');
    assert.equal(recordingFileName(t('10:00:00.5')), '2026-11-23T10-00-00.500Z.mp4');
    assert.equal(parseRecordingFileName('2026-11-23T10-00-00.500Z.mp4')?.toISOString(), '2026-11-23T10:00:00.500Z');
    assert.equal(parseRecordingFileName('notes.txt'), undefined);
    assert.equal(parseRecordingFileName('2026-13-45T10-00-00Z.mp4'), undefined);
    assert.equal(fileStamp(t('23:59:59.999')), '2026-11-23T23-59-59.999Z');
  });

  it('turns hostile ids into one path segment that cannot escape, without collisions', () => {
    const hostile = ['..', '.', '../../etc/passwd', 'a/b', 'a_b', 'a%2Fb', 'C:\\Windows', '', 'x'.repeat(500), 'x'.repeat(501), 'caméra 1'];
    const seen = new Set<string>();
    for (const id of hostile) {
      const s = pathSegmentFor(id);
      assert.match(s, /^[A-Za-z0-9_%~-]+$/, id);
      assert.ok(s.length <= 100, `${id.slice(0, 20)}… gives ${s.length} characters`);
      assert.equal(path.basename(path.join('/dest', s)), s);
      assert.ok(!seen.has(s), `collision for ${id.slice(0, 20)}`);
      seen.add(s);
    }
    assert.equal(pathSegmentFor('ad978f85-99d4-4ed3-ae7a-5d1bf5ddb5e7'), 'ad978f85-99d4-4ed3-ae7a-5d1bf5ddb5e7', 'GUIDs stay readable');
  });

  it('joins touching segments and finds the gaps of a range', () => {
    const runs = coveredRuns([seg('10:01:00', '10:02:00'), seg('10:00:00', '10:01:00.4'), seg('10:03:00', '10:04:00')], 1000);
    assert.deepEqual(iso(runs), ['10:00:00.000-10:02:00.000', '10:03:00.000-10:04:00.000']);
    assert.deepEqual(iso(gapsIn(runs, { from: t('09:59:00'), to: t('10:05:00') })), [
      '09:59:00.000-10:00:00.000',
      '10:02:00.000-10:03:00.000',
      '10:04:00.000-10:05:00.000',
    ]);
    assert.deepEqual(gapsIn(runs, { from: t('10:00:10'), to: t('10:01:50') }), []);
    // a hole longer than the tolerance is a gap
    assert.equal(coveredRuns([seg('10:00:00', '10:01:00'), seg('10:01:02', '10:02:00')], 1000).length, 2);
  });

  it('cuts runs into parts of at most the maximum, never across a gap', () => {
    const parts = splitIntoParts(
      [
        { from: t('10:00:00'), to: t('10:02:30') },
        { from: t('10:05:00'), to: t('10:05:10') },
      ],
      60_000,
    );
    assert.deepEqual(iso(parts), [
      '10:00:00.000-10:01:00.000',
      '10:01:00.000-10:02:00.000',
      '10:02:00.000-10:02:30.000',
      '10:05:00.000-10:05:10.000',
    ]);
  });

  it('plays a range from in/out points and takes an overlapped instant only once', () => {
    const entries = concatEntries(
      [seg('10:00:00', '10:01:00', 'a.mp4'), seg('10:00:50', '10:02:00', 'b.mp4'), seg('10:02:00', '10:03:00', 'c.mp4')],
      { from: t('10:00:45.3'), to: t('10:02:05.7') },
    );
    assert.deepEqual(entries, [
      { file: 'a.mp4', inpoint: 45.3 },
      { file: 'b.mp4', inpoint: 10 },
      { file: 'c.mp4', outpoint: 5.7 },
    ]);
    const script = ffconcatScript([{ file: "/sites/o'brien/a.mp4", inpoint: 1.5 }]);
    assert.equal(script, "ffconcat version 1.0\nfile '/sites/o'\\''brien/a.mp4'\ninpoint 1.500\n");
    assert.throws(() => ffconcatScript([{ file: '/x\nfile /etc/passwd' }]), /line break/);
  });
});
