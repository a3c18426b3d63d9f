// Real ffmpeg, real files: a small sample site (2 cameras x 4 min, 1-min
// segments) generated once, then exported from in many ways.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  generateSampleSite,
  LocalFolderSite,
  pathSegmentFor,
  resolveFfmpeg,
  runFfmpeg,
  SAMPLE_CAMERA_IDS,
  SAMPLE_SITE_FILE,
  SiteError,
  type ExportPart,
  type SampleSite,
} from '../../../src/core/site';

const run = promisify(execFile);
const START = new Date('2026-11-23T10:00:00Z');
const at = (hms: string) => new Date(`2026-11-23T${hms}Z`);
const LOBBY = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
const RECEPTION = SAMPLE_CAMERA_IDS['Reception Desk']!;
/** Stream copy cuts at keyframes (1 s apart in the sample) plus one frame (0.2 s at 5 fps). */
const KEYFRAME_TOLERANCE_S = 1.2;

describe('LocalFolderSite with real ffmpeg', function () {
  this.timeout(60_000);
  let root: string;
  let ffmpeg: string;
  let ffprobe: string;
  let sample: SampleSite;
  let site: LocalFolderSite;
  let dest: string;

  const probeDuration = async (file: string): Promise<number> => {
    const { stdout } = await run(ffprobe, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
    return Number(stdout.trim());
  };
  const sha256Of = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
  const seconds = (p: { from: Date; to: Date }) => (p.to.getTime() - p.from.getTime()) / 1000;

  before(async () => {
    ffmpeg = resolveFfmpeg();
    ffprobe = path.join(path.dirname(ffmpeg), 'ffprobe');
    root = await mkdtemp(path.join(os.tmpdir(), 'site-ffmpeg-'));
    sample = await generateSampleSite({
      folder: path.join(root, 'site'),
      ffmpegPath: ffmpeg,
      start: START,
      durationMinutes: 4,
      segmentMinutes: 1,
      // Reception Desk stops half-way through its fourth minute: a short last segment.
      cameras: { [LOBBY]: 4, [RECEPTION]: 3.5 },
    });
    // Reception Desk loses its 10:02 minute: a gap in the middle.
    await rm(path.join(root, 'site', 'recordings', pathSegmentFor(RECEPTION), '2026-11-23T10-02-00Z.mp4'));
    site = new LocalFolderSite(path.join(root, 'site'), ffmpeg);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dest = await mkdtemp(path.join(root, 'export-'));
  });

  it('generates the sample site with burned-in text and 1-min H.264 segments', async () => {
    assert.equal(sample.textBurnedIn, true);
    assert.equal(sample.model.cameras.length, 12);
    assert.deepEqual(
      sample.recordings.map((r) => [r.cameraName, r.segments, r.from.toISOString(), r.to.toISOString()]),
      [
        ['Lobby Entrance', 4, '2026-11-23T10:00:00.000Z', '2026-11-23T10:04:00.000Z'],
        ['Reception Desk', 4, '2026-11-23T10:00:00.000Z', '2026-11-23T10:03:30.000Z'],
      ],
    );
    const files = await readdir(site.recordingsFolder(LOBBY));
    assert.deepEqual(files.sort(), ['2026-11-23T10-00-00Z.mp4', '2026-11-23T10-01-00Z.mp4', '2026-11-23T10-02-00Z.mp4', '2026-11-23T10-03-00Z.mp4']);
    const { stdout } = await run(ffprobe, [
      '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0',
      path.join(site.recordingsFolder(LOBBY), files[0]!),
    ]);
    assert.equal(stdout.trim(), 'h264,320,180');
    assert.equal(await readdir(site.recordingsFolder(SAMPLE_CAMERA_IDS['Parking North']!)).catch(() => 'none'), 'none');
  });

  it('lists recordings with their coverage gaps', async () => {
    const all = await site.listRecordings(RECEPTION);
    assert.equal(all.segments.length, 3);
    assert.deepEqual(all.gaps.map((g) => [g.from.toISOString(), g.to.toISOString()]), [['2026-11-23T10:02:00.000Z', '2026-11-23T10:03:00.000Z']]);
    const some = await site.listRecordings(LOBBY, { from: at('10:00:30'), to: at('10:01:30') });
    assert.deepEqual(some.segments.map((s) => s.start.toISOString()), ['2026-11-23T10:00:00.000Z', '2026-11-23T10:01:00.000Z']);
    assert.deepEqual(some.gaps, []);
    await assert.rejects(site.listRecordings('no-such-camera'), (e: unknown) => e instanceof SiteError && e.code === 'UnknownCamera');
  });

  it('exports a range across segment boundaries, precise to the keyframe, with the hash of each file', async () => {
    const from = at('10:00:45.300');
    const to = at('10:02:05.700');
    const seen: ExportPart[] = [];
    const result = await site.exportRange(LOBBY, from, to, dest, { onPart: (p) => seen.push(p) });
    assert.equal(result.status, 'complete');
    assert.deepEqual(result.gaps, []);
    assert.equal(result.parts.length, 1);
    assert.deepEqual(seen, result.parts);
    const [part] = result.parts;
    assert.equal(part!.cameraId, LOBBY);
    assert.equal(path.dirname(part!.file), dest);
    assert.equal(part!.sha256, await sha256Of(part!.file));
    assert.equal(part!.bytes, (await stat(part!.file)).size);
    const duration = await probeDuration(part!.file);
    assert.ok(Math.abs(duration - seconds({ from, to })) <= KEYFRAME_TOLERANCE_S, `duration ${duration} s for ${seconds({ from, to })} s asked`);
    assert.deepEqual(await readdir(dest), [path.basename(part!.file)], 'no temporary files left behind');
  });

  it('cuts a range longer than the maximum part length into several parts', async () => {
    const from = at('10:00:10');
    const to = at('10:02:10');
    const result = await site.exportRange(LOBBY, from, to, dest, { maxPartMs: 40_000 });
    assert.equal(result.status, 'complete');
    assert.equal(result.parts.length, 3);
    assert.deepEqual(result.parts.map((p) => seconds(p)), [40, 40, 40]);
    assert.equal(result.parts[0]!.from.getTime(), from.getTime());
    assert.equal(result.parts[2]!.to.getTime(), to.getTime());
    for (const [i, p] of result.parts.entries()) {
      if (i > 0) assert.equal(p.from.getTime(), result.parts[i - 1]!.to.getTime(), 'parts are contiguous');
      assert.equal(p.sha256, await sha256Of(p.file));
      const d = await probeDuration(p.file);
      assert.ok(Math.abs(d - 40) <= KEYFRAME_TOLERANCE_S, `part ${i} lasts ${d} s`);
    }
    assert.equal(new Set(result.parts.map((p) => p.file)).size, 3);
  });

  it('refuses a range over 24 h with the vendor wording and writes nothing', async () => {
    const target = path.join(dest, 'never');
    await assert.rejects(site.exportRange(LOBBY, at('10:00:00'), new Date(at('10:00:00').getTime() + 24 * 3_600_000 + 1000), target), (e: unknown) => {
      assert.ok(e instanceof SiteError);
      assert.equal(e.code, 'ExportRangeTooLong');
      assert.match(e.message, /^Export range .* must be shorter than 1 days\.$/);
      return true;
    });
    await assert.rejects(stat(target), /ENOENT/);
    await assert.rejects(site.exportRange(LOBBY, at('10:01:00'), at('10:00:00'), dest), (e: unknown) => e instanceof SiteError && e.code === 'InvalidRange' && e.field === 'to');
  });

  it('exports around a gap and reports it', async () => {
    const result = await site.exportRange(RECEPTION, at('10:01:30'), at('10:03:30'), dest);
    assert.equal(result.status, 'partial');
    assert.deepEqual(result.gaps.map((g) => [g.from.toISOString(), g.to.toISOString()]), [['2026-11-23T10:02:00.000Z', '2026-11-23T10:03:00.000Z']]);
    assert.deepEqual(result.parts.map((p) => [p.from.toISOString(), p.to.toISOString()]), [
      ['2026-11-23T10:01:30.000Z', '2026-11-23T10:02:00.000Z'],
      ['2026-11-23T10:03:00.000Z', '2026-11-23T10:03:30.000Z'],
    ]);
    for (const p of result.parts) {
      const d = await probeDuration(p.file);
      assert.ok(Math.abs(d - 30) <= KEYFRAME_TOLERANCE_S, `${path.basename(p.file)} lasts ${d} s`);
    }
    const pastTheEnd = await site.exportRange(RECEPTION, at('10:03:00'), at('10:05:00'), path.join(dest, 'end'));
    assert.equal(pastTheEnd.status, 'partial');
    assert.deepEqual(pastTheEnd.gaps.map((g) => [g.from.toISOString(), g.to.toISOString()]), [['2026-11-23T10:03:30.000Z', '2026-11-23T10:05:00.000Z']]);
    assert.deepEqual(pastTheEnd.parts.map((p) => seconds(p)), [30]);
  });

  it('answers unavailable when nothing is recorded in the range', async () => {
    const result = await site.exportRange(LOBBY, at('11:00:00'), at('11:10:00'), dest);
    assert.equal(result.status, 'unavailable');
    assert.deepEqual(result.parts, []);
    assert.deepEqual(result.gaps.map((g) => [g.from.toISOString(), g.to.toISOString()]), [['2026-11-23T11:00:00.000Z', '2026-11-23T11:10:00.000Z']]);
    assert.deepEqual(await readdir(dest), []);
    const parking = await site.exportRange(SAMPLE_CAMERA_IDS['Parking North']!, at('10:00:00'), at('10:01:00'), dest);
    assert.equal(parking.status, 'unavailable', 'a camera without any recording');
  });

  it('takes a JPEG snapshot at a time, or says none is recorded', async () => {
    const file = path.join(dest, 'snap.jpg');
    const shot = await site.snapshot(LOBBY, at('10:01:30'), file);
    assert.equal(shot.status, 'ok');
    const bytes = await readFile(file);
    assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    if (shot.status === 'ok') {
      assert.equal(shot.bytes, bytes.length);
      assert.equal(shot.sha256, createHash('sha256').update(bytes).digest('hex'));
    }
    const none = await site.snapshot(RECEPTION, at('10:02:30'), path.join(dest, 'gap.jpg'));
    assert.equal(none.status, 'unavailable');
    assert.deepEqual(await readdir(dest), ['snap.jpg']);
  });

  it('keeps exports of hostile camera ids inside the destination folder', async () => {
    const hostileRoot = path.join(root, 'hostile');
    const evilId = '../../../escaped/..\\x:y';
    const siteFile = structuredClone(SAMPLE_SITE_FILE) as { cameras: { id: string; name: string }[] };
    siteFile.cameras.push({ id: evilId, name: '../../Evil "Camera"; rm -rf /' });
    await mkdir(hostileRoot, { recursive: true });
    await writeFile(path.join(hostileRoot, 'site.json'), JSON.stringify(siteFile));
    const hostile = new LocalFolderSite(hostileRoot, ffmpeg);
    const recordings = hostile.recordingsFolder(evilId);
    assert.equal(path.dirname(recordings), path.join(hostileRoot, 'recordings'));
    await mkdir(recordings, { recursive: true });
    await copyFile(path.join(site.recordingsFolder(LOBBY), '2026-11-23T10-00-00Z.mp4'), path.join(recordings, '2026-11-23T10-00-00Z.mp4'));
    const inner = path.join(dest, 'a', 'b');
    const result = await hostile.exportRange(evilId, at('10:00:10'), at('10:00:20'), inner);
    assert.equal(result.status, 'complete');
    assert.equal(result.parts.length, 1);
    assert.equal(path.dirname(result.parts[0]!.file), inner);
    assert.deepEqual(await readdir(dest), ['a']);
    assert.deepEqual(await readdir(path.join(dest, 'a')), ['b']);
    assert.deepEqual(await readdir(root).then((n) => n.filter((x) => x === 'escaped')), []);
  });

  it('stops on abort, kills ffmpeg, and removes what it wrote', async () => {
    const controller = new AbortController();
    const result = site.exportRange(LOBBY, at('10:00:00'), at('10:04:00'), dest, {
      maxPartMs: 30_000,
      signal: controller.signal,
      onPart: (_part, index) => {
        if (index === 0) controller.abort();
      },
    });
    await assert.rejects(result, (e: unknown) => (e as Error).name === 'AbortError');
    assert.deepEqual(await readdir(dest), [], 'the finished first part is removed too');

    // An ffmpeg that would run for ten minutes (-re reads at real time) ends at once on abort.
    const long = new AbortController();
    const running = runFfmpeg(ffmpeg, ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=5:duration=600', '-f', 'null', '-'], { signal: long.signal });
    setTimeout(() => long.abort(), 200);
    await assert.rejects(running, (e: unknown) => (e as Error).name === 'AbortError');
  });

  it('reports ffmpeg failures and a missing ffmpeg clearly', async () => {
    const broken = new LocalFolderSite(path.join(root, 'site'), path.join(root, 'no-ffmpeg'));
    await assert.rejects(broken.exportRange(LOBBY, at('10:00:10'), at('10:00:20'), dest), (e: unknown) => e instanceof SiteError && e.code === 'ExportFailed' && /could not start ffmpeg/.test(e.message));
    assert.deepEqual(await readdir(dest), []);
    assert.throws(
      () => resolveFfmpeg({ systemPath: path.join(root, 'nothing'), searchFrom: [root] }),
      (e: unknown) => e instanceof SiteError && e.code === 'FfmpegMissing' && /apt-get install ffmpeg/.test(e.message) && /@ffmpeg-installer\/ffmpeg/.test(e.message),
    );
  });
});
