// The Role engine in-process, against the local service on loopback and a
// sample site with real video. The done-when scenarios driven through the
// headless runner are in test/unit/cli; here are the engine's own rules.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from '../../../src/core/config/fieldErrors';
import { PrivilegeDenied } from '../../../src/core/config/privileges';
import { PROXY_PASSWORD_SECRET_KEY } from '../../../src/core/config/roleProperties';
import { IllegalRequestTransition } from '../../../src/core/requests/videoRequest';
import { Role, type RoleOptions } from '../../../src/core/role/role';
import { SiteLockHeld } from '../../../src/core/role/siteLock';
import type { RoleEvent } from '../../../src/core/role/snapshot';
import type { ThumbnailJobResult } from '../../../src/core/clearance/api';
import { AREAS, CAMERAS, startWorld, waitFor, type World, testRoleOptions } from './world';

describe('role engine (in-process, local service, real video)', function () {
  this.timeout(60_000);
  let world: World;
  let role: Role;
  let options: RoleOptions;
  const events: RoleEvent[] = [];

  const open = async (): Promise<Role> => {
    const r = await Role.open(options);
    r.onDidChange((e) => events.push(e));
    return r;
  };
  const settled = async (requestId: string) => {
    await waitFor(`request ${requestId} at the role`, () => role.request(requestId));
    return role.whenRequestSettled(requestId);
  };
  /**
   * What the restart test needs and earlier tests of the file leave behind, made here
   * when missing (the test run alone): throttling off, and an approved request (a
   * Pending → Processing record in the trail), settled before the restart.
   */
  const ensureApprovedRequestAndThrottlingOff = async () => {
    if (role.properties.throttlingEnabled !== false) await role.setProperties('admin', { throttlingEnabled: false });
    const approved = role.activities({ types: ['requestStatusChanged'] }).some((r) => r.details?.from === 'Pending' && r.details?.to === 'Processing');
    if (approved) return;
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(0), toUtc: world.at(5) });
    await waitFor('the request at the role', () => role.request(request.requestId));
    await role.approveRequest('admin', request.requestId);
    assert.equal((await settled(request.requestId)).status, 'Completed');
  };

  before(async () => {
    world = await startWorld('role');
    options = testRoleOptions(world);
    role = await open();
    await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    await role.addToSelection('admin', { kind: 'area', id: AREAS.main });
    await role.addToSelection('admin', { kind: 'camera', id: CAMERAS.parkingNorth });
    await role.start();
    await waitFor('the registry to hold the selection', async () => (await world.registryIds()).length === 6);
  });
  after(async () => {
    await role?.close();
    await world?.stop();
  });

  it('runs one role per site: a second one on the same site is refused', async () => {
    await assert.rejects(Role.open({ ...options, stateDir: path.join(world.dir, 'other-state') }), SiteLockHeld);
  });

  it('keeps the proxy password in the secret store only; a bad one is refused by field and stores nothing', async () => {
    const secretsFile = path.join(options.stateDir, 'secrets.json');
    const trailBefore = role.activities().length;
    await assert.rejects(role.setProxyPassword('mchen', 's3cret-proxy'), PrivilegeDenied);
    await role.setProxyPassword('admin', 's3cret-proxy');
    assert.equal(await options.secrets.get(PROXY_PASSWORD_SECRET_KEY), 's3cret-proxy');
    await assert.rejects(role.setProxyPassword('admin', 'bad\u0007one'), (e: Error) => e instanceof ValidationError && /proxy\.password: must not contain control characters/.test(e.message) && !e.message.includes('bad'));
    assert.equal(await options.secrets.get(PROXY_PASSWORD_SECRET_KEY), 's3cret-proxy', 'nothing stored on error');
    const records = role.activities().slice(trailBefore);
    assert.deepEqual(records.map((r) => [r.type, r.summary]), [['configurationChanged', 'Proxy password changed']]);
    assert.ok(!JSON.stringify(role.activities()).includes('s3cret-proxy'), 'not in the trail');
    assert.ok(fs.readFileSync(secretsFile, 'utf8').includes('s3cret-proxy'));
    for (const f of fs.readdirSync(options.stateDir, { recursive: true }) as string[]) {
      const file = path.join(options.stateDir, f);
      if (file === secretsFile || !fs.statSync(file).isFile()) continue;
      assert.ok(!fs.readFileSync(file).includes('s3cret-proxy'), `not in ${f}`);
    }
    await role.setProxyPassword('admin', undefined);
    assert.equal(await options.secrets.get(PROXY_PASSWORD_SECRET_KEY), undefined);
  });

  it('refuses every command to a user without its privilege, and changes nothing', async () => {
    const before = role.activities().length;
    await assert.rejects(role.addToSelection('tbrooks', { kind: 'area', id: AREAS.parking }), PrivilegeDenied);
    await assert.rejects(role.setProperties('mchen', { maximumBandwidthMbps: 50 }), PrivilegeDenied);
    await assert.rejects(role.sendSnapshot('jrivera', { camera: CAMERAS.lobby, at: world.at(10) }), PrivilegeDenied);
    await assert.rejects(role.approveRequest('ghost', 'whatever'), /no site user "ghost"/);
    await assert.rejects(role.verifyTrail('mchen'), PrivilegeDenied);
    assert.equal(role.activities().length, before);
    assert.equal((await role.snapshot()).registry.effectiveCameraIds.length, 6);
    assert.deepEqual((await role.viewFor('tbrooks')).actions, []);
  });

  it('notifies the chosen users of a new request; a decided request cannot be decided again', async () => {
    await role.setNotificationUsers('admin', ['mchen']);
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(5), toUtc: world.at(25), comments: 'bike theft' });
    await waitFor('the notification', () => events.find((e) => e.kind === 'notification' && e.request.requestId === request.requestId));
    const note = events.find((e) => e.kind === 'notification' && e.request.requestId === request.requestId);
    assert.deepEqual(note?.kind === 'notification' && note.users.map((u) => u.name), ['mchen']);
    assert.equal(role.request(request.requestId)?.status, 'Pending');
    await role.approveRequest('jrivera', request.requestId);
    const done = await settled(request.requestId);
    assert.equal(done.status, 'Completed');
    assert.equal(done.decidedBy, 'jrivera');
    assert.equal(done.cameras[0].files?.length, 2, '20 s cut in parts of at most 10 s');
    await assert.rejects(role.denyRequest('admin', request.requestId, 'too late'), IllegalRequestTransition);
    await assert.rejects(role.approveRequest('admin', request.requestId), IllegalRequestTransition);
    const hashes = await world.evidenceHashes(done.cameras[0].evidenceId!);
    assert.deepEqual([...hashes.entries()].sort(), done.cameras[0].files!.map((f) => [f.name, f.sha256]).sort());
  });

  it('asks for a reason to deny, and sends it to the service', async () => {
    const request = await world.fileRequest({ cameras: [CAMERAS.parkingNorth], fromUtc: world.at(0), toUtc: world.at(10) });
    await waitFor('the request at the role', () => role.request(request.requestId));
    await assert.rejects(role.denyRequest('admin', request.requestId, '   '), (e: Error) => e instanceof ValidationError && e.errors[0].field === 'reason');
    assert.equal(role.request(request.requestId)?.status, 'Pending', 'nothing changed');
    await role.denyRequest('admin', request.requestId, 'Camera was out of order that day');
    const remote = await world.serviceRequest(request.requestId);
    assert.equal(remote.status, 'Denied');
    assert.equal(remote.history.at(-1)?.reason, 'Camera was out of order that day');
  });

  it('answers thumbnail jobs with a JPEG of the camera', async () => {
    const job = await world.fileThumbnail(CAMERAS.lobby);
    const done = await waitFor('the thumbnail job', async () => {
      const j = await world.job(job.jobId);
      return j.state === 'Completed' || j.state === 'Failed' ? j : undefined;
    });
    assert.equal(done.state, 'Completed', done.failureReason ?? '');
    const result = done.result as ThumbnailJobResult;
    assert.equal(result.mimeType, 'image/jpeg');
    assert.deepEqual([...Buffer.from(result.dataBase64, 'base64').subarray(0, 3)], [0xff, 0xd8, 0xff]);
    // The role records the thumbnail once the service took it: the record may follow the job's completion by an fsync.
    const record = await waitFor('the snapshotSent record', () => role.activities({ types: ['snapshotSent'], camera: CAMERAS.lobby }).find((r) => r.details?.jobId === job.jobId), 10_000);
    assert.equal(record.files?.[0]?.bytes, Buffer.from(result.dataBase64, 'base64').length);
  });

  it('follows a request the requester cancels', async () => {
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(0), toUtc: world.at(5) });
    await waitFor('the request at the role', () => role.request(request.requestId));
    await world.client.ok('POST', `${world.emulator.urls.admin}/tenant/${world.emulator.tenantId}/requests/${request.requestId}/cancel`, { reason: 'found the footage elsewhere' });
    await role.renewLeases();
    assert.equal(role.request(request.requestId)?.status, 'Canceled');
    const record = role.activities({ types: ['requestStatusChanged'] }).find((r) => r.requestId === request.requestId);
    assert.match(record?.summary ?? '', /Pending → Canceled.*found the footage elsewhere/);
  });

  it('sees a Pending request canceled at the service at the next poll, long before its lock is due for renewal', async () => {
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(0), toUtc: world.at(5) });
    await waitFor('the request at the role', () => role.request(request.requestId));
    await world.client.ok('POST', `${world.emulator.urls.admin}/tenant/${world.emulator.tenantId}/requests/${request.requestId}/cancel`, { reason: 'not needed <b>any more</b>' });
    // Polls come every 200 ms here; the lock (a lease of minutes) is not renewed for a minute and more.
    await waitFor('the request Canceled at the role', () => role.request(request.requestId)?.status === 'Canceled', 10_000);
    const record = role.activities({ types: ['requestStatusChanged'] }).find((r) => r.requestId === request.requestId);
    assert.match(record?.summary ?? '', /Pending → Canceled \(canceled at the service: not needed <b>any more<\/b>\)/);
  });

  it('backs off while the service is unreachable, then polls normally again', async () => {
    const states: string[] = [];
    const sub = role.onDidChange((e) => {
      if (e.kind === 'connection' && states.at(-1) !== e.connection.state) states.push(e.connection.state);
    });
    world.emulator.faults.add({ route: 'jobs.list', kind: 'status', status: 500, count: 6 });
    const failing = await waitFor('polls to fail', async () => {
      const s = (await role.snapshot()).connection;
      return s.poller.consecutiveFailures >= 2 ? s : undefined;
    });
    assert.equal(failing.state, 'unreachable');
    assert.match(failing.lastError ?? '', /500/);
    await waitFor('the role to be online again', async () => (await role.snapshot()).connection.state === 'online');
    sub.dispose();
    assert.ok(states.includes('unreachable') && states.at(-1) === 'online', states.join(' → '));
  });

  it('validates property changes field by field, applies them and records them', async () => {
    await assert.rejects(role.setProperties('admin', { pollingIntervalSeconds: 1, maximumBandwidthMbps: -3 }), (e: Error) => {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.errors.map((x) => x.field).sort(), ['maximumBandwidthMbps', 'pollingIntervalSeconds']);
      return true;
    });
    assert.equal(role.properties.maximumBandwidthMbps, 10);
    const result = await role.setProperties('admin', { maximumBandwidthMbps: 25, throttlingEnabled: true });
    assert.deepEqual(result.changed.sort(), ['maximumBandwidthMbps', 'throttlingEnabled']);
    assert.equal(role.uploadsThrottled, true);
    const record = role.activities().at(-1)!;
    assert.equal(record.type, 'configurationChanged');
    assert.equal(record.user, 'admin');
    assert.equal(record.details?.['maximumBandwidthMbps.before'], '10');
    assert.equal(record.details?.['maximumBandwidthMbps.after'], '25');
    await role.setProperties('admin', { throttlingEnabled: false, maximumBandwidthMbps: 10 });
  });

  it('sends an operator export of two cameras into a new case, and a snapshot', async () => {
    const job = await role.exportVideo('mchen', {
      cameras: ['Lobby Entrance', CAMERAS.parkingNorth],
      from: world.at(30),
      to: world.at(45),
      caseTarget: { kind: 'new', name: 'Parking lot collision', departmentId: 'dep-traffic', categoryId: 'cat-traffic' },
    });
    assert.equal(job.parts.length, 4);
    const done = await waitFor('the export upload', () => {
      const j = role.upload(job.id);
      return j && (j.state === 'completed' || j.state === 'failed') ? j : undefined;
    });
    assert.equal(done.state, 'completed', done.error);
    assert.ok(done.caseId);
    const hashes = await world.evidenceHashes(done.evidenceId!);
    assert.deepEqual([...hashes.entries()].sort(), job.parts.map((p) => [p.name, p.sha256]).sort());
    await assert.rejects(role.exportVideo('mchen', { cameras: ['No Such Camera'], from: world.at(0), to: 'yesterday' }), (e: Error) => {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.errors.map((x) => x.field), ['cameras[0]', 'to']);
      return true;
    });
    const shot = await role.sendSnapshot('admin', { camera: 'Parking North', at: world.at(20) });
    assert.equal(shot.parts[0].name.endsWith('.jpg'), true);
    const recorded = role.activities({ types: ['uploadCompleted'] }).map((r) => r.details?.uploadJobId);
    assert.ok(recorded.includes(job.id));
  });

  it('refuses requests and thumbnails for cameras outside the selection', async () => {
    await role.stop();
    await role.removeFromSelection('admin', { kind: 'area', id: AREAS.main });
    // The service still lists the area's cameras: the role has not answered a discovery job since.
    assert.ok((await world.registryIds()).includes(CAMERAS.lobby));
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby, CAMERAS.parkingNorth], fromUtc: world.at(0), toUtc: world.at(10) });
    const thumb = await world.fileThumbnail(CAMERAS.reception);
    await role.start();
    const refused = await settled(request.requestId);
    assert.equal(refused.status, 'Denied');
    assert.equal(refused.refused, true);
    assert.match(refused.denyReason ?? '', /Lobby Entrance is not in the camera selection/);
    assert.equal((await world.serviceRequest(request.requestId)).status, 'Denied');
    const job = await waitFor('the thumbnail job', async () => {
      const j = await world.job(thumb.jobId);
      return j.state === 'Failed' || j.state === 'Completed' ? j : undefined;
    });
    assert.equal(job.state, 'Failed');
    assert.match(job.failureReason ?? '', /not in the camera selection/);
    await waitFor('the registry to drop the area', async () => !(await world.registryIds()).includes(CAMERAS.lobby));
    await role.addToSelection('admin', { kind: 'area', id: AREAS.main });
    await waitFor('the registry to hold the area again', async () => (await world.registryIds()).includes(CAMERAS.lobby));
  });

  it('keeps the lock of a waiting request alive, and finishes an approved request after a restart', async () => {
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby, CAMERAS.parkingNorth], fromUtc: world.at(30), toUtc: world.at(50) });
    await waitFor('the request at the role', () => role.request(request.requestId));
    const locked = await world.job(request.jobId);
    assert.equal(locked.state, 'Locked');
    assert.equal(locked.lockedBy, world.client.connection.ServicePrincipalId + '@' + world.client.connection.TenantId);
    await new Promise((r) => setTimeout(r, 20));
    await role.renewLeases();
    const renewed = await world.job(request.jobId);
    assert.ok(Date.parse(renewed.leaseExpiresUtc!) > Date.parse(locked.leaseExpiresUtc!), 'the lease was renewed');

    await role.approveRequest('admin', request.requestId);
    await role.close(); // in the middle of the work
    role = await open();
    assert.equal(role.request(request.requestId)?.status, 'Processing');
    await role.start();
    const done = await role.whenRequestSettled(request.requestId);
    assert.equal(done.status, 'Completed');
    assert.equal((await world.serviceRequest(request.requestId)).status, 'Completed');
    for (const camera of done.cameras) {
      const hashes = await world.evidenceHashes(camera.evidenceId!);
      assert.deepEqual([...hashes.entries()].sort(), camera.files!.map((f) => [f.name, f.sha256]).sort());
    }
  });

  it('keeps its selection, requests and trail across a restart, and the trail verifies', async () => {
    await ensureApprovedRequestAndThrottlingOff();
    const before = await role.snapshot();
    const records = role.activities().length;
    await role.close();
    role = await open();
    const after = await role.snapshot();
    assert.deepEqual(after.registry.entries, before.registry.entries);
    assert.deepEqual(after.requests.map((r) => [r.requestId, r.status]), before.requests.map((r) => [r.requestId, r.status]));
    assert.equal(after.activities.count, records + 1);
    assert.equal(after.activities.recent.at(-1)?.type, 'roleStopped');
    assert.equal(after.properties.throttlingEnabled, false);
    const verified = await role.verifyTrail('admin');
    assert.deepEqual({ ok: verified.ok, records: verified.records, problems: verified.problems }, { ok: true, records: records + 1, problems: [] });
    assert.equal(verified.anchors.ok, true, verified.anchors.summary.join('\n'));
    assert.deepEqual(verified.anchors.mismatched, []);
    const csv = await role.exportActivitiesCsv('admin', { types: ['requestStatusChanged'] });
    assert.match(csv.split('\n')[0], /^seq,time,localTime,type,user,summary,cameras,requestId/);
    assert.ok(csv.includes('Pending → Processing'));
  });
});
