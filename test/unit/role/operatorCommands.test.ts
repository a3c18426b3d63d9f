// Two operator answers through the command table, against the local service on
// loopback and a sample site with real video: "video unavailable" for a waiting
// request (requests.videoUnavailable), and pausing or resuming every upload at
// once (uploads.pauseAll, uploads.resumeAll). Each is checked where it lands: the
// role's state, the service's request, the activity trail, the upload jobs on disk.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { VideoRequest as ServiceVideoRequest } from '../../../src/core/clearance/api';
import { PrivilegeDenied } from '../../../src/core/config/privileges';
import { IllegalRequestTransition, type VideoRequest } from '../../../src/core/requests/videoRequest';
import { DEFAULT_UNAVAILABLE_MESSAGE, short } from '../../../src/core/requests/videoRequestDesk';
import type { RoleCommandName } from '../../../src/core/role/commands';
import { Role, type RoleOptions } from '../../../src/core/role/role';
import type { RoleEvent } from '../../../src/core/role/snapshot';
import { readSamplePasswords } from '../../../src/core/site';
import type { UploadJobState } from '../../../src/core/uploads/uploadJob';
import { AREAS, CAMERAS, startWorld, waitFor, type World, testRoleOptions } from './world';

describe('operator commands: video unavailable, pause and resume every upload (in-process, local service, real video)', function () {
  this.timeout(60_000);
  let world: World;
  let role: Role;
  let options: RoleOptions;
  let passwords: Record<string, string>;
  const events: RoleEvent[] = [];

  const open = async (): Promise<Role> => {
    const r = await Role.open(options);
    r.onDidChange((e) => events.push(e));
    return r;
  };
  /** One session per user, signed in through the command table as a console does (before the tests: a sign-in is a trail record). */
  const sessions = new Map<string, string>();
  const run = async <T>(command: RoleCommandName, args: unknown, user: string): Promise<T> => (await role.execute(command, args, sessions.get(user), 'test')) as T;
  /** A new request of the service, once the role holds it (Pending here, its job locked). */
  const pendingRequest = async (cameras: string[]): Promise<ServiceVideoRequest> => {
    const request = await world.fileRequest({ cameras, fromUtc: world.at(0), toUtc: world.at(10), comments: 'operator commands test' });
    await waitFor('the request at the role', () => role.request(request.requestId)?.status === 'Pending');
    return request;
  };
  const recordsOf = (requestId: string) => role.activities().filter((r) => r.requestId === requestId);
  const states = (ids: readonly string[]): (UploadJobState | undefined)[] => ids.map((id) => role.upload(id)?.state);

  before(async () => {
    world = await startWorld('operator-commands');
    passwords = await readSamplePasswords(world.siteDir);
    options = testRoleOptions(world);
    role = await open();
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

  describe('requests.videoUnavailable', () => {
    it('answers a Pending request without exporting: every camera Unavailable, the service told, one trail record naming who and why', async () => {
      const request = await pendingRequest([CAMERAS.lobby, CAMERAS.parkingNorth]);
      const id = request.requestId;
      const reason = 'The recorder of this building was replaced that week';
      const answered = await run<VideoRequest>('requests.videoUnavailable', { request: short(id), reason: `  ${reason}  ` }, 'admin');

      assert.equal(answered.requestId, id, 'found by its first characters');
      assert.equal(answered.status, 'VideoUnavailable');
      assert.equal(answered.decidedBy, 'admin');
      assert.deepEqual(answered.cameras.map((c) => [c.id, c.outcome, c.message]), [
        [CAMERAS.lobby, 'Unavailable', reason],
        [CAMERAS.parkingNorth, 'Unavailable', reason],
      ]);
      assert.equal(answered.pendingResult, undefined, 'the service has the result');
      assert.equal(role.request(id)?.status, 'VideoUnavailable');
      assert.ok(answered.cameras.every((c) => !c.uploadJobId && !c.files), 'nothing exported');
      assert.deepEqual(role.read.listUploads().filter((j) => j.videoRequestId === id), [], 'nothing uploaded');

      const remote = await world.serviceRequest(id);
      assert.equal(remote.status, 'VideoUnavailable');
      assert.deepEqual(remote.history.map((h) => h.status), ['Pending', 'Processing', 'VideoUnavailable']);
      assert.equal(remote.history.at(-1)?.reason, reason, 'the comments reach the requester');
      assert.deepEqual(remote.evidenceIds, []);
      assert.deepEqual(remote.cameraOutcomes, [
        { cameraId: CAMERAS.lobby, outcome: 'Unavailable', message: reason },
        { cameraId: CAMERAS.parkingNorth, outcome: 'Unavailable', message: reason },
      ]);
      const job = await world.job(request.jobId);
      assert.equal(job.state, 'Completed');

      const trail = recordsOf(id).filter((r) => r.type !== 'requestReceived');
      assert.equal(trail.length, 1, trail.map((r) => r.summary).join('\n'));
      assert.equal(trail[0].type, 'requestStatusChanged');
      assert.equal(trail[0].user, 'admin');
      assert.equal(trail[0].summary, `Video request ${short(id)}: Pending → Video unavailable (marked video unavailable by admin: ${reason})`);
      assert.deepEqual(trail[0].details, { from: 'Pending', to: 'VideoUnavailable' });
      assert.deepEqual(trail[0].cameras, [CAMERAS.lobby, CAMERAS.parkingNorth]);
    });

    it('tells each camera and the requester a default without a reason', async () => {
      const request = await pendingRequest([CAMERAS.parkingNorth]);
      const answered = await run<VideoRequest>('requests.videoUnavailable', { request: request.requestId }, 'jrivera');
      assert.equal(answered.status, 'VideoUnavailable');
      assert.equal(answered.decidedBy, 'jrivera');
      assert.deepEqual(answered.cameras.map((c) => [c.outcome, c.message]), [['Unavailable', DEFAULT_UNAVAILABLE_MESSAGE]]);
      const remote = await world.serviceRequest(request.requestId);
      assert.equal(remote.status, 'VideoUnavailable');
      assert.equal(remote.history.at(-1)?.reason, DEFAULT_UNAVAILABLE_MESSAGE);
      assert.deepEqual(remote.cameraOutcomes, [{ cameraId: CAMERAS.parkingNorth, outcome: 'Unavailable', message: DEFAULT_UNAVAILABLE_MESSAGE }]);
      const record = recordsOf(request.requestId).find((r) => r.type === 'requestStatusChanged');
      assert.match(record?.summary ?? '', /Pending → Video unavailable \(marked video unavailable by jrivera: no recordings available at the site\)$/);
    });

    it('refuses a Processing and a Completed request with the state machine\'s message, and changes nothing at the role, the service or in the trail', async () => {
      const request = await pendingRequest([CAMERAS.lobby]);
      const id = request.requestId;
      // Stopped, the upload queue keeps the export's upload queued: the request stays Processing.
      await role.stop();
      try {
        await role.approveRequest('admin', id);
        await waitFor('the export queued for upload', () => role.request(id)?.cameras[0].uploadJobId);
        await waitFor('its trail record', () => recordsOf(id).some((r) => r.type === 'uploadQueued'));
        const refuse = async (status: string) => {
          const before = structuredClone(role.request(id));
          const trail = role.activities().length;
          const remote = await world.serviceRequest(id);
          await assert.rejects(
            run('requests.videoUnavailable', { request: id, reason: 'nothing recorded' }, 'admin'),
            (e: Error) => e instanceof IllegalRequestTransition && e.message === `Video request ${id} is ${status}; it cannot become Video unavailable.`,
          );
          await assert.rejects(role.markVideoUnavailable('admin', id), IllegalRequestTransition);
          assert.deepEqual(role.request(id), before, 'the request is as it was');
          assert.equal(role.activities().length, trail, 'nothing recorded');
          assert.deepEqual(await world.serviceRequest(id), remote, 'the service request is as it was');
        };
        assert.equal(role.request(id)?.status, 'Processing');
        assert.equal((await world.serviceRequest(id)).status, 'Processing');
        await refuse('Processing');
      } finally {
        await role.start();
      }
      const done = await role.whenRequestSettled(id);
      assert.equal(done.status, 'Completed');
      await waitFor('the upload record', () => recordsOf(id).some((r) => r.type === 'uploadCompleted'));
      const before = structuredClone(role.request(id));
      const trail = recordsOf(id).length;
      const remote = await world.serviceRequest(id);
      assert.equal(remote.status, 'Completed');
      await assert.rejects(
        run('requests.videoUnavailable', { request: id }, 'admin'),
        (e: Error) => e instanceof IllegalRequestTransition && e.message === `Video request ${id} is Completed; it cannot become Video unavailable.`,
      );
      assert.deepEqual(role.request(id), before);
      assert.equal(recordsOf(id).length, trail);
      assert.deepEqual(await world.serviceRequest(id), remote);
    });

    it('refuses a user without the privilege to decide requests: the refusal is recorded, the request waits on', async () => {
      const request = await pendingRequest([CAMERAS.lobby]);
      const id = request.requestId;
      const trail = role.activities().length;
      await assert.rejects(run('requests.videoUnavailable', { request: id, reason: 'no' }, 'tbrooks'), PrivilegeDenied);
      const refusal = role.activities().slice(trail).filter((r) => r.type === 'commandRefused');
      assert.equal(refusal.length, 1);
      assert.equal(refusal[0].user, 'tbrooks');
      assert.match(refusal[0].summary, /^Command requests\.videoUnavailable refused to tbrooks: .*View request notifications/);
      await assert.rejects(role.markVideoUnavailable('tbrooks', id, 'no'), PrivilegeDenied);
      await assert.rejects(role.markVideoUnavailable('ghost', id), /no site user "ghost"/);
      assert.equal(role.request(id)?.status, 'Pending');
      assert.equal(role.request(id)?.decidedBy, undefined);
      assert.ok(role.request(id)?.cameras.every((c) => c.outcome === undefined));
      assert.deepEqual(recordsOf(id).map((r) => r.type), ['requestReceived']);
      const remote = await world.serviceRequest(id);
      assert.equal(remote.status, 'Processing', 'still held by the role');
      assert.ok(!remote.history.some((h) => h.status === 'VideoUnavailable'));
    });
  });

  describe('uploads.pauseAll and uploads.resumeAll', () => {
    /** Operator exports of one camera each, queued while the role is stopped (so they stay queued). */
    const queuedExports = async (n: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await role.exportVideo('mchen', { cameras: [CAMERAS.lobby], from: world.at(2 * i), to: world.at(2 * i + 3) })).id);
      assert.deepEqual(states(ids), ids.map(() => 'queued'));
      return ids;
    };

    it('pauses every queued upload and resumes every paused one, counting them; each job changes as its own pause and resume change it, kept on disk', async () => {
      // The uploads of earlier tests end first: only this test's jobs may be counted.
      for (const j of role.read.listUploads()) await role.read.whenUploadSettled(j.id);
      await role.stop();
      const ids = await queuedExports(3);
      const others = role.read.listUploads().filter((j) => !ids.includes(j.id));
      const othersBefore = others.map((j) => [j.id, j.state]);
      const trail = role.activities().length;
      const changes = (from: number) =>
        events.slice(from).flatMap((e) => (e.kind === 'upload' && e.event.kind === 'changed' ? [[e.event.job.id, e.event.job.state] as const] : []));

      // One paused on its own first: the command that pauses all does not count it again.
      let from = events.length;
      assert.equal((await run<{ state: string }>('uploads.pause', { id: ids[0] }, 'mchen')).state, 'paused');
      const single = changes(from);
      assert.deepEqual(single, [[ids[0], 'paused']]);

      from = events.length;
      assert.deepEqual(await run('uploads.pauseAll', {}, 'mchen'), { paused: 2 });
      assert.deepEqual(states(ids), ['paused', 'paused', 'paused']);
      assert.deepEqual(changes(from).sort(), [[ids[1], 'paused'], [ids[2], 'paused']].sort(), 'one change to paused per job, as uploads.pause makes');
      assert.deepEqual(role.read.listUploads().filter((j) => !ids.includes(j.id)).map((j) => [j.id, j.state]), othersBefore, 'the other uploads are left alone');
      assert.equal(role.activities().length, trail, 'recorded as uploads.pause records it: not in the trail');
      assert.deepEqual(await run('uploads.pauseAll', {}, 'mchen'), { paused: 0 });

      // Kept: a reopened role has them paused, and starting it does not run them.
      await role.close();
      role = await open();
      assert.deepEqual(states(ids), ['paused', 'paused', 'paused']);

      from = events.length;
      assert.deepEqual(await run('uploads.resumeAll', {}, 'jrivera'), { resumed: 3 });
      assert.deepEqual(states(ids), ['queued', 'queued', 'queued']);
      assert.deepEqual(changes(from), ids.map((id) => [id, 'queued']), 'oldest first, one change each');
      assert.deepEqual(await run('uploads.resumeAll', {}, 'jrivera'), { resumed: 0 });

      await role.start();
      for (const id of ids) {
        const done = await role.read.whenUploadSettled(id);
        assert.equal(done.state, 'completed', done.error);
        const hashes = await world.evidenceHashes(done.evidenceId!);
        assert.deepEqual([...hashes.entries()].sort(), done.parts.map((p) => [p.name, p.sha256]).sort());
      }
    });

    it('refuses both to a user without the privilege to send evidence: the refusals are recorded, no job changes', async () => {
      await role.stop();
      try {
        const ids = await queuedExports(2);
        await role.pauseUpload('admin', ids[1]);
        const trail = role.activities().length;
        await assert.rejects(run('uploads.pauseAll', {}, 'tbrooks'), PrivilegeDenied);
        await assert.rejects(run('uploads.resumeAll', {}, 'tbrooks'), PrivilegeDenied);
        await assert.rejects(role.pauseAllUploads('tbrooks'), PrivilegeDenied);
        await assert.rejects(role.resumeAllUploads('tbrooks'), PrivilegeDenied);
        assert.deepEqual(states(ids), ['queued', 'paused']);
        const refusals = role.activities().slice(trail);
        assert.deepEqual(refusals.map((r) => [r.type, r.user, r.details?.command]), [
          ['commandRefused', 'tbrooks', 'uploads.pauseAll'],
          ['commandRefused', 'tbrooks', 'uploads.resumeAll'],
        ]);
        assert.match(refusals[0].summary, /Send evidence to Clearance/);
        for (const id of ids) await role.cancelUpload('admin', id);
      } finally {
        await role.start();
      }
    });
  });
});
