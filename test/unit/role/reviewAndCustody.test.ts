// Review clips, the trail's search and daily chart, and the chain-of-custody report,
// through the command table as a console sends them, against the local service on
// loopback and a sample site with real H.264 video cut by the real ffmpeg. Each is
// checked where it lands: the clip on disk (probed by ffmpeg itself), the trail,
// the service's copy of the evidence (downloaded and hashed here), the trail file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ActivitySearchResult, DailyUploads } from '../../../src/core/audit/activitySearch';
import type { CustodyReport } from '../../../src/core/audit/custodyReport';
import { ValidationError } from '../../../src/core/config/fieldErrors';
import { PrivilegeDenied } from '../../../src/core/config/privileges';
import type { ReviewClip } from '../../../src/core/requests/requestReviews';
import type { VideoRequest } from '../../../src/core/requests/videoRequest';
import { short } from '../../../src/core/requests/videoRequestDesk';
import type { RoleCommandName } from '../../../src/core/role/commands';
import { Role, type RoleOptions } from '../../../src/core/role/role';
import { readSamplePasswords, SiteError } from '../../../src/core/site';
import { AREAS, CAMERAS, startWorld, waitFor, type World, testRoleOptions } from './world';

/** What ffmpeg itself says of a file: its streams and duration, and whether every frame decodes. */
function probe(ffmpeg: string, file: string): { video: string | undefined; audio: boolean; seconds: number; decodes: boolean } {
  const info = spawnSync(ffmpeg, ['-hide_banner', '-nostdin', '-i', file], { encoding: 'utf8' }).stderr;
  const d = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(info);
  const decode = spawnSync(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  return {
    video: /Stream #\d+:\d+.*?: Video: (\w+)/.exec(info)?.[1],
    audio: /Stream #\d+:\d+.*?: Audio:/.test(info),
    seconds: d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : NaN,
    decodes: decode.status === 0 && decode.stderr.trim() === '',
  };
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('review clips, trail search and the custody report (in-process, local service, real video)', function () {
  this.timeout(90_000);
  let world: World;
  let role: Role;
  let stateDir: string;
  let options: RoleOptions;
  const sessions = new Map<string, string>();
  const run = async <T>(command: RoleCommandName, args: unknown, user: string): Promise<T> => (await role.execute(command, args, sessions.get(user), 'test')) as T;
  const pendingRequest = async (cameras: string[], from: number, to: number): Promise<string> => {
    const request = await world.fileRequest({ cameras, fromUtc: world.at(from), toUtc: world.at(to), comments: 'review test <b>bold</b> [x](command:evil)' });
    await waitFor('the request at the role', () => role.request(request.requestId)?.status === 'Pending');
    // Its record is written just after the request is kept.
    await waitFor('its trail record', () => role.activities().some((r) => r.requestId === request.requestId && r.type === 'requestReceived'));
    return request.requestId;
  };
  const recordsOf = (requestId: string) => role.activities().filter((r) => r.requestId === requestId);

  before(async () => {
    world = await startWorld('review-custody');
    const passwords = await readSamplePasswords(world.siteDir);
    options = testRoleOptions(world);
    stateDir = options.stateDir;
    role = await Role.open(options);
    await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    await role.addToSelection('admin', { kind: 'area', id: AREAS.main });
    await role.addToSelection('admin', { kind: 'camera', id: CAMERAS.parkingNorth });
    await role.start();
    await waitFor('the registry to hold the selection', async () => (await world.registryIds()).length === 6);
    for (const user of ['admin', 'jrivera', 'mchen', 'tbrooks']) {
      sessions.set(user, ((await role.execute('session.signIn', { user, password: passwords[user] }, undefined, 'test')) as { session: string }).session);
    }
  });
  after(async () => {
    await role?.close();
    await world?.stop();
  });

  describe('requests.reviewClip', () => {
    it('cuts an H.264 MP4 without audio of exactly that camera over the range, owner-only, records the review, and uses it again', async () => {
      const id = await pendingRequest([CAMERAS.lobby, CAMERAS.parkingNorth], 5, 45);
      const trailBefore = role.activities().length;
      const clip = await run<ReviewClip>('requests.reviewClip', { request: short(id), camera: CAMERAS.lobby }, 'mchen');

      const folder = path.join(stateDir, 'review');
      assert.equal(clip.folder, folder);
      assert.equal(clip.file, path.join(folder, id, `${CAMERAS.lobby}.mp4`));
      assert.ok(path.isAbsolute(clip.file) && path.isAbsolute(clip.folder));
      assert.deepEqual([clip.cameraId, clip.cameraName, clip.fromUtc, clip.toUtc], [CAMERAS.lobby, 'Lobby Entrance', world.at(5), world.at(45)]);
      assert.equal(clip.clipStartUtc, world.at(5), 'recorded from before the range: the clip starts with it');
      assert.ok(Math.abs(clip.durationSeconds - 40) <= 1.5, `40 s across two recorded segments, found ${clip.durationSeconds}`);
      assert.deepEqual(clip.gaps, []);
      assert.equal(clip.reused, false);

      const p = probe(world.ffmpeg, clip.file);
      assert.equal(p.video, 'h264');
      assert.equal(p.audio, false, 'no audio stream');
      assert.ok(Math.abs(p.seconds - clip.durationSeconds) < 0.2, `ffmpeg reads ${p.seconds} s, the role said ${clip.durationSeconds}`);
      assert.ok(p.decodes, 'every frame decodes');
      assert.equal(clip.bytes, fs.statSync(clip.file).size);
      assert.equal(clip.sha256, sha256(clip.file));
      assert.equal(mode(clip.file), 0o600);
      assert.equal(mode(folder), 0o700);
      assert.equal(mode(path.dirname(clip.file)), 0o700);
      assert.deepEqual(fs.readdirSync(path.dirname(clip.file)).sort(), [`${CAMERAS.lobby}.json`, `${CAMERAS.lobby}.mp4`], 'no temporary file left');

      const records = role.activities().slice(trailBefore).filter((r) => r.requestId === id);
      assert.equal(records.length, 1);
      const [record] = records;
      assert.equal(record!.type, 'requestReviewed');
      assert.equal(record!.user, 'mchen');
      assert.deepEqual(record!.cameras, [CAMERAS.lobby]);
      assert.equal(record!.requestId, id);
      assert.equal(record!.summary, `mchen reviewed Lobby Entrance from ${world.at(5)} to ${world.at(45)} (request ${short(id)})`);
      assert.deepEqual(record!.details, { clipStartUtc: world.at(5), clipSeconds: clip.durationSeconds, clipBytes: clip.bytes, clipSha256: clip.sha256, gaps: 0, reused: false });

      const mtime = fs.statSync(clip.file).mtimeMs;
      const again = await run<ReviewClip>('requests.reviewClip', { request: id, camera: CAMERAS.lobby }, 'admin');
      assert.deepEqual({ ...again, reused: false }, clip, 'the same clip');
      assert.equal(again.reused, true);
      assert.equal(fs.statSync(clip.file).mtimeMs, mtime, 'not cut again');
      const second = role.activities().slice(trailBefore).filter((r) => r.requestId === id).slice(1);
      assert.deepEqual(second.map((r) => [r.type, r.user, r.details?.reused]), [['requestReviewed', 'admin', true]], 'every review is recorded');

      // The other camera of the request: its own clip beside the first.
      const parking = await run<ReviewClip>('requests.reviewClip', { request: id, camera: CAMERAS.parkingNorth }, 'mchen');
      assert.equal(parking.file, path.join(folder, id, `${CAMERAS.parkingNorth}.mp4`));
      assert.notEqual(parking.sha256, clip.sha256, 'each camera shows its own video');
      assert.equal(probe(world.ffmpeg, parking.file).video, 'h264');

      // A final request's clips go.
      await run<VideoRequest>('requests.deny', { request: id, reason: 'reviewed: nothing of interest' }, 'admin');
      await waitFor('the review folder deleted', () => !fs.existsSync(path.join(folder, id)));
      await assert.rejects(run('requests.reviewClip', { request: id, camera: CAMERAS.lobby }, 'admin'), (e: unknown) => e instanceof ValidationError && e.errors[0]?.field === 'request' && /is Denied/.test(e.errors[0].message));
    });

    it('starts the clip where the recordings start inside the range; a camera with none is NoRecordings, and nothing is recorded', async () => {
      const id = await pendingRequest([CAMERAS.parkingNorth, CAMERAS.reception], -20, 10);
      const clip = await run<ReviewClip>('requests.reviewClip', { request: id, camera: CAMERAS.parkingNorth }, 'jrivera');
      assert.equal(clip.clipStartUtc, world.start.toISOString(), 'the first frame: the first recording, 20 s into the range');
      assert.ok(Math.abs(clip.durationSeconds - 10) <= 1.5, `${clip.durationSeconds}`);
      assert.deepEqual(clip.gaps, [{ fromUtc: world.at(-20), toUtc: world.at(0) }]);
      assert.ok(Math.abs(probe(world.ffmpeg, clip.file).seconds - 10) <= 1.5);

      const trail = role.activities().length;
      const reviewsSince = () => role.activities().slice(trail).filter((r) => r.type === 'requestReviewed');
      await assert.rejects(
        run('requests.reviewClip', { request: id, camera: CAMERAS.reception }, 'jrivera'),
        (e: unknown) => e instanceof SiteError && e.code === 'NoRecordings' && e.field === 'camera' && e.message === `no recordings of Reception Desk between ${world.at(-20)} and ${world.at(10)}`,
      );
      assert.deepEqual(reviewsSince(), [], 'no review recorded');
      assert.ok(!fs.existsSync(path.join(stateDir, 'review', id, `${CAMERAS.reception}.mp4`)));
      await run('requests.deny', { request: id, reason: 'done' }, 'admin');
    });

    it('deletes at open the clips a crash left of final or unknown requests, and keeps those of open ones', async () => {
      const open = await pendingRequest([CAMERAS.lobby], 0, 5);
      const clip = await run<ReviewClip>('requests.reviewClip', { request: open, camera: CAMERAS.lobby }, 'admin');
      const final = role.read.listRequests().find((r) => r.status === 'Denied')!.requestId;
      const folder = path.join(stateDir, 'review');
      for (const left of [final, 'not-a-request-of-this-role']) {
        fs.mkdirSync(path.join(folder, left), { recursive: true });
        fs.writeFileSync(path.join(folder, left, 'x.mp4'), 'left by a crash');
      }
      await role.close();
      role = await Role.open(options);
      await role.start();
      assert.deepEqual(fs.readdirSync(folder), [open]);
      const again = await run<ReviewClip>('requests.reviewClip', { request: open, camera: CAMERAS.lobby }, 'admin');
      assert.equal(again.reused, true, 'kept across the restart');
      assert.equal(again.sha256, clip.sha256);
      await run('requests.deny', { request: open, reason: 'done' }, 'admin');
    });

    it('names the field at fault: a camera not in the request, a request that never came, missing arguments; and needs the privilege', async () => {
      const id = await pendingRequest([CAMERAS.lobby], 0, 5);
      const trail = role.activities().length;
      const field = async (args: unknown, expected: string, message?: RegExp) =>
        assert.rejects(run('requests.reviewClip', args, 'admin'), (e: unknown) => e instanceof ValidationError && e.errors[0]?.field === expected && (!message || message.test(e.errors[0].message)));
      await field({ request: id, camera: CAMERAS.parkingNorth }, 'camera', /does not ask for camera .*; it asks for Lobby Entrance/);
      await field({ request: 'ffffffff-0000-4000-a000-000000000000', camera: CAMERAS.lobby }, 'request', /no video request/);
      await field({ request: id }, 'camera');
      await field({ camera: CAMERAS.lobby }, 'request');
      assert.deepEqual(role.activities().slice(trail).filter((r) => r.type === 'requestReviewed'), [], 'no review recorded');
      await assert.rejects(run('requests.reviewClip', { request: id, camera: CAMERAS.lobby }, 'tbrooks'), PrivilegeDenied);
      const since = role.activities().slice(trail);
      assert.deepEqual(since.filter((r) => r.type === 'requestReviewed' || r.type === 'commandRefused').map((r) => [r.type, r.user, r.details?.command]), [['commandRefused', 'tbrooks', 'requests.reviewClip']]);
      assert.ok(!fs.existsSync(path.join(stateDir, 'review', id)));
      await run('requests.deny', { request: id, reason: 'done' }, 'admin');
    });
  });

  describe('custody.report', () => {
    let requestId: string;
    let evidenceId: string;

    before(async () => {
      requestId = await pendingRequest([CAMERAS.lobby], 0, 20);
      await run<ReviewClip>('requests.reviewClip', { request: requestId, camera: CAMERAS.lobby }, 'mchen');
      const done = await run<VideoRequest>('requests.approve', { request: requestId, wait: true }, 'admin');
      assert.equal(done.status, 'Completed');
      evidenceId = done.cameras[0]!.evidenceId!;
      assert.ok(evidenceId);
      await waitFor('the upload record', () => recordsOf(requestId).some((r) => r.type === 'uploadCompleted'));
    });

    it('reports a completed request: who reviewed, approved and uploaded it and when, every file checked at the service, every record checked on disk', async () => {
      assert.ok(!fs.existsSync(path.join(stateDir, 'review', requestId)), 'its review clips went when it completed');
      const { json, html } = await run<{ json: CustodyReport; html: string }>('custody.report', { request: short(requestId) }, 'admin');
      assert.deepEqual(json.verdict, { ok: true, findings: [] });
      assert.deepEqual(json.subject, { kind: 'request', id: requestId });
      assert.equal(json.generatedBy, 'admin');
      assert.equal(json.site, 'Riverside Campus');
      assert.equal(json.request?.status, 'Completed');
      assert.deepEqual(json.cameras, [{ id: CAMERAS.lobby, name: 'Lobby Entrance' }]);
      assert.deepEqual(json.ranges, [{ cameraId: CAMERAS.lobby, fromUtc: world.at(0), toUtc: world.at(20) }]);
      assert.deepEqual(json.reviews.map((r) => [r.user, r.cameraId, r.cameraName]), [['mchen', CAMERAS.lobby, 'Lobby Entrance']]);
      assert.deepEqual(json.decisions.map((d) => d.user), ['admin']);
      assert.match(json.decisions[0]!.what, /Pending → Processing \(approved by admin\)/);

      assert.equal(json.evidence.length, 1);
      const [ev] = json.evidence;
      const job = role.upload(`${requestId}-c0`)!;
      assert.equal(ev!.evidenceId, evidenceId);
      assert.equal(ev!.uploadJobId, job.id);
      assert.equal(ev!.uploadState, 'completed');
      assert.equal(ev!.uploadedBy, 'admin');
      assert.equal(ev!.completedUtc, job.completedAt);
      assert.deepEqual(ev!.files.map((f) => [f.name, f.bytes, f.sha256, f.resourceId]), job.parts.map((p) => [p.name, p.bytes, p.sha256, p.resourceId]));
      assert.ok(ev!.files.length >= 2, 'a 20 s range in parts of at most 10 s');
      // What the report says of the files is what the service holds: its copy, downloaded and hashed here.
      const atService = await world.evidenceHashes(evidenceId);
      assert.deepEqual([...atService.entries()].sort(), ev!.files.map((f) => [f.name, f.sha256]).sort());
      assert.equal(ev!.service.asked, true);
      assert.equal(ev!.service.ok, true);
      assert.equal(ev!.service.evidenceState, 'Complete');
      assert.deepEqual(ev!.service.extraResources, []);
      assert.ok(ev!.service.resources.every((r) => r.ok && r.serviceState === 'Complete' && r.serviceBytes === r.expectedBytes?.[0]));

      const types = json.trail.records.map((r) => r.type);
      for (const t of ['requestReceived', 'requestReviewed', 'requestStatusChanged', 'exportCompleted', 'uploadQueued', 'uploadCompleted']) assert.ok(types.includes(t), t);
      assert.deepEqual(
        json.trail.records.map((r) => r.seq),
        role.activities().filter((r) => r.requestId === requestId || r.evidenceId?.split(' ').includes(evidenceId) || r.details?.uploadJobId === job.id).map((r) => r.seq),
        'every record of the request, its evidence and its upload, and nothing else',
      );
      assert.ok(json.trail.records.every((r) => r.intact && r.linked));
      assert.equal(json.trail.chain.ok, true);
      assert.equal(json.trail.file, path.join(stateDir, 'trail', 'activity-trail.jsonl'));
      assert.ok(json.compared.some((c) => /SHA-256 at the service: not recomputed/.test(c)), 'says what was not compared');

      assert.ok(html.startsWith('<!DOCTYPE html>'));
      assert.ok(html.includes('Every check passed.'));
      for (const f of ev!.files) assert.ok(html.includes(f.sha256) && html.includes(String(f.bytes)));
      assert.ok(html.includes(evidenceId));
      assert.ok(html.includes('review test &lt;b&gt;bold&lt;/b&gt; [x](command:evil)'), 'the requester\u2019s comments, escaped');
      assert.doesNotMatch(html, /<b>|<script|href=/);
    });

    it('reports one evidence item with its request, and refuses an evidence id no upload made', async () => {
      const { json } = await run<{ json: CustodyReport; html: string }>('custody.report', { evidence: evidenceId }, 'admin');
      assert.deepEqual(json.subject, { kind: 'evidence', id: evidenceId });
      assert.equal(json.request?.requestId, requestId);
      assert.deepEqual(json.evidence.map((e) => e.evidenceId), [evidenceId]);
      assert.deepEqual(json.verdict, { ok: true, findings: [] });
      assert.ok(json.trail.records.some((r) => r.type === 'requestReviewed'));
      await assert.rejects(run('custody.report', { evidence: 'no-such-evidence' }, 'admin'), (e: unknown) => e instanceof ValidationError && e.errors[0]?.field === 'evidence');
      await assert.rejects(run('custody.report', { request: requestId, evidence: evidenceId }, 'admin'), ValidationError);
      await assert.rejects(run('custody.report', { request: requestId }, 'jrivera'), PrivilegeDenied);
    });

    it('activities.search and activities.daily answer the console from the real trail', async () => {
      const reviews = await run<ActivitySearchResult>('activities.search', { types: ['requestReviewed'], sort: { by: 'time', direction: 'desc' }, limit: 2 }, 'admin');
      const all = role.activities({ types: ['requestReviewed'] });
      assert.equal(reviews.total, all.length);
      assert.equal(reviews.offset, 0);
      assert.deepEqual(reviews.records.map((r) => r.seq), all.slice(-2).reverse().map((r) => r.seq), 'newest first');
      const text = await run<ActivitySearchResult>('activities.search', { text: 'LOBBY ENTRANCE', user: 'mchen', camera: CAMERAS.lobby }, 'admin');
      assert.ok(text.total >= 2 && text.records.every((r) => r.user === 'mchen' && /lobby entrance/i.test(r.summary)));

      const days = await run<DailyUploads[]>('activities.daily', {}, 'admin');
      const completed = role.activities({ types: ['uploadCompleted'] });
      assert.equal(days.reduce((s, d) => s + d.uploads, 0), completed.length);
      assert.equal(days.reduce((s, d) => s + d.bytes, 0), completed.reduce((s, r) => s + (r.files ?? []).reduce((t, f) => t + f.bytes, 0), 0));
      const shifted = await run<DailyUploads[]>('activities.daily', { offsetMinutes: -840, from: world.at(-3600), to: new Date().toISOString() }, 'admin');
      assert.equal(shifted.reduce((s, d) => s + d.uploads, 0), completed.filter((r) => r.time >= world.at(-3600)).length);

      const field = async (command: RoleCommandName, args: unknown, expected: string) =>
        assert.rejects(run(command, args, 'admin'), (e: unknown) => e instanceof ValidationError && e.errors.some((i) => i.field === expected));
      await field('activities.search', { limit: 501 }, 'limit');
      await field('activities.search', { limit: 0 }, 'limit');
      await field('activities.search', { offset: -1 }, 'offset');
      await field('activities.search', { offset: 1.5 }, 'offset');
      await field('activities.search', { sort: { by: 'summary', direction: 'asc' } }, 'sort.by');
      await field('activities.search', { sort: { by: 'time', direction: 'up' } }, 'sort.direction');
      await field('activities.search', { from: 'yesterday' }, 'from');
      await field('activities.search', { types: ['nope'] }, 'types[0]');
      await field('activities.daily', { offsetMinutes: 900 }, 'offsetMinutes');
      await field('activities.daily', { from: '1900-01-01T00:00:00Z' }, 'from');
      await assert.rejects(run('activities.search', {}, 'jrivera'), PrivilegeDenied);
      await assert.rejects(run('activities.daily', {}, 'mchen'), PrivilegeDenied);
    });

    it('says so when the service cannot answer: the evidence is not checked, and the verdict lists it', async () => {
      const fault = world.emulator.faults.add({ route: 'resource.list', kind: 'status', status: 503, count: 1000 });
      try {
        const { json, html } = await run<{ json: CustodyReport; html: string }>('custody.report', { request: requestId }, 'admin');
        const [ev] = json.evidence;
        assert.equal(ev!.service.asked, false);
        assert.match(ev!.service.error ?? '', /503/);
        assert.equal(json.verdict.ok, false);
        assert.deepEqual(json.verdict.findings, [`Evidence ${evidenceId}: not checked at the service (${ev!.service.error}).`]);
        assert.ok(json.compared.some((c) => /the service was not asked/.test(c)));
        assert.ok(ev!.files.length > 0 && json.trail.records.every((r) => r.intact && r.linked), 'what the role knows is still reported');
        assert.ok(html.includes('not checked'));
      } finally {
        world.emulator.faults.remove(fault.id);
      }
    });

    it('finds a record changed on disk: that record is not intact, the chain fails, and the verdict says so', async () => {
      const { json: before } = await run<{ json: CustodyReport }>('custody.report', { request: requestId }, 'admin');
      const reviewed = before.trail.records.find((r) => r.type === 'requestReviewed')!;
      const file = before.trail.file;
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.includes(`"seq":${reviewed.seq},`));
      assert.ok(i >= 0);
      lines[i] = lines[i]!.replace('"user":"mchen"', '"user":"someone else"');
      fs.writeFileSync(file, lines.join('\n'));

      const { json, html } = await run<{ json: CustodyReport; html: string }>('custody.report', { request: requestId }, 'admin');
      assert.equal(json.verdict.ok, false);
      assert.ok(json.verdict.findings.some((f) => f === `Trail record ${reviewed.seq} is not intact on disk (missing, or changed after it was written).`), json.verdict.findings.join('\n'));
      assert.equal(json.trail.chain.ok, false);
      assert.deepEqual(json.trail.chain.problems.map((p) => [p.kind, p.seq]), [['edited', reviewed.seq]]);
      const rec = json.trail.records.find((r) => r.seq === reviewed.seq)!;
      assert.equal(rec.intact, false);
      assert.equal(rec.linked, true, 'its link is still right: only its content changed');
      assert.ok(json.trail.records.filter((r) => r.seq !== reviewed.seq).every((r) => r.intact));
      assert.ok(html.includes('Not every check passed.'));
    });
  });
});
