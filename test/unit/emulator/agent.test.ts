import assert from 'node:assert/strict';
import type {
  AgentJob,
  Case,
  Evidence,
  MediaRequestJobPayload,
  RegistryCamera,
  ServiceErrorBody,
  VideoRequest,
  VideoRequestStatus,
} from '../../../src/core/clearance/api';
import { VIDEO_REQUEST_STATUSES } from '../../../src/core/clearance/api';
import { canTransition } from '../../../src/core/requests/videoRequest';
import { VIDEO_REQUEST_TRANSITIONS } from '../../../src/emulator/videoRequests';
import { startHarness, type Harness } from './harness';
import type { ServiceClient } from './serviceClient';

const HOUR = 3600 * 1000;

describe('local service: agent service, registry and video requests (§7)', function () {
  this.timeout(60000);
  let h: Harness;
  let a: ServiceClient; // the site's role (agent A)
  let b: ServiceClient; // a second site of the same account (agent B)
  let agentUrl: string;
  let adminUrl: string;
  before(async () => {
    h = await startHarness({ discoveryIntervalSeconds: 600 });
    a = h.client;
    b = await h.integration('Second-Site');
    agentUrl = `${h.emulator.urls.agentService}/tenant/${a.tenantId}`;
    adminUrl = `${h.emulator.urls.admin}/tenant/${a.tenantId}`;
  });
  after(async () => h?.stop());

  const jobs = (c: ServiceClient, type?: string) => c.ok<AgentJob[]>('GET', `${agentUrl}/jobs${type ? `?type=${type}` : ''}`);
  const job = (c: ServiceClient, id: string) => c.ok<AgentJob>('GET', `${agentUrl}/jobs/${id}`);
  const act = <T = AgentJob>(c: ServiceClient, id: string, verb: string, body?: unknown) =>
    c.call<T & ServiceErrorBody>('POST', `${agentUrl}/jobs/${id}/${verb}`, body);
  const request = (id: string) => a.ok<VideoRequest>('GET', `${agentUrl}/requests/${id}`);
  const fileRequest = (body: unknown) => a.call<VideoRequest & ServiceErrorBody>('POST', `${adminUrl}/requests`, body);
  const from = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
  const range = (ms: number) => ({ fromUtc: from.toISOString(), toUtc: new Date(from.getTime() + ms).toISOString() });

  async function publishCameras(): Promise<void> {
    const discovery = (await jobs(a, 'discovery'))[0];
    assert.ok(discovery, 'the service keeps a discovery job open');
    assert.equal((await act(a, discovery.jobId, 'lock')).status, 200);
    const done = await act(a, discovery.jobId, 'complete', {
      result: {
        cameras: [
          { id: 'cam-1', name: 'Lobby', location: 'Main entrance' },
          { id: 'cam-2', name: 'Loading dock' },
          { id: 'cam-3', name: 'Parking' },
        ],
      },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.state, 'Completed');
  }

  /**
   * The cameras of publishCameras() in the registry, whichever test runs first
   * (a test run alone with --grep finds an empty registry).
   */
  async function ensureCameras(): Promise<void> {
    if ((await a.ok<RegistryCamera[]>('GET', h.emulator.urls.registry)).length > 0) return;
    if ((await jobs(a, 'discovery')).length === 0) assert.equal((await a.call('POST', `${agentUrl}/jobs/discovery`)).status, 200);
    await publishCameras();
  }

  async function mediaJob(requestId: string): Promise<AgentJob> {
    const found = (await jobs(a, 'mediarequest')).find((j) => (j.payload as MediaRequestJobPayload).requestId === requestId);
    assert.ok(found, `a mediarequest job for ${requestId}`);
    return found;
  }

  it('publishes the cameras of a discovery job to the registry (id, name, optional location, owner)', async () => {
    await publishCameras();
    const registry = await a.ok<RegistryCamera[]>('GET', h.emulator.urls.registry);
    assert.deepEqual(
      registry.map((c) => [c.id, c.name, c.location, c.owner]).sort(),
      [
        ['cam-1', 'Lobby', 'Main entrance', a.clientId],
        ['cam-2', 'Loading dock', undefined, a.clientId],
        ['cam-3', 'Parking', undefined, a.clientId],
      ],
    );
    // The next discovery job waits for its interval.
    assert.equal((await jobs(a, 'discovery')).length, 0);
    h.clock.advance(601 * 1000);
    assert.equal((await jobs(a, 'discovery')).length, 1);
  });

  it('brings the scheduled discovery job forward when the agent asks (selection changed), without making a second one', async () => {
    await publishCameras(); // the job that came due above; the next one is scheduled 600 s out
    assert.equal((await jobs(a, 'discovery')).length, 0);
    const asked = await a.call<AgentJob>('POST', `${agentUrl}/jobs/discovery`);
    assert.equal(asked.status, 200, JSON.stringify(asked.body));
    const again = await a.call<AgentJob>('POST', `${agentUrl}/jobs/discovery`, {});
    assert.equal(again.body.jobId, asked.body.jobId);
    const listed = await jobs(a, 'discovery');
    assert.deepEqual(listed.map((j) => j.jobId), [asked.body.jobId]);
    await publishCameras();
    assert.equal((await jobs(a, 'discovery')).length, 0);
  });

  it('locks a job for one agent: 409 for another; progress, and a lapsed lease returns a crashed agent\'s job', async () => {
    await ensureCameras();
    const filed = await fileRequest({ cameras: ['cam-1', 'cam-2'], ...range(HOUR), comments: 'Collision', incidentTimeUtc: from.toISOString() });
    assert.equal(filed.status, 201, JSON.stringify(filed.body));
    assert.equal(filed.body.status, 'Pending');
    const j = await mediaJob(filed.body.requestId);
    const payload = j.payload as MediaRequestJobPayload;
    assert.deepEqual(payload.cameras, [
      { id: 'cam-1', name: 'Lobby' },
      { id: 'cam-2', name: 'Loading dock' },
    ]);
    assert.equal(payload.comments, 'Collision');

    const locked = await act(a, j.jobId, 'lock', { leaseSeconds: 30 });
    assert.equal(locked.status, 200);
    assert.equal(locked.body.lockedBy, a.clientId);
    assert.equal((await request(filed.body.requestId)).status, 'Processing');
    const taken = await act(b, j.jobId, 'lock');
    assert.equal(taken.status, 409);
    assert.match(taken.body.message, /locked by another agent/);
    assert.ok(!(await jobs(b)).some((x) => x.jobId === j.jobId), 'a job locked by A is not offered to B');
    assert.equal((await act(b, j.jobId, 'progress', { taskProgress: 1, taskTotal: 2 })).status, 409);

    const progress = await act(a, j.jobId, 'progress', { taskProgress: 1, taskTotal: 2 });
    assert.equal(progress.status, 200);
    assert.deepEqual([progress.body.taskProgress, progress.body.taskTotal], [1, 2]);
    const over = await act(a, j.jobId, 'progress', { taskProgress: 3, taskTotal: 2 });
    assert.equal(over.status, 400);
    assert.equal(over.body.field, 'taskProgress');

    // Agent A crashes: 31 s later its lease (renewed by the progress report) has lapsed.
    h.clock.advance(31 * 1000);
    const reopened = await job(b, j.jobId);
    assert.equal(reopened.state, 'Open');
    assert.equal(reopened.failureReason, 'lease expired');
    assert.ok((await jobs(b)).some((x) => x.jobId === j.jobId));
    const r = await request(filed.body.requestId);
    assert.deepEqual(
      r.history.map((x) => x.status),
      ['Pending', 'Processing', 'Pending'],
    );
    assert.equal((await act(b, j.jobId, 'lock')).status, 200);
    assert.equal((await act(a, j.jobId, 'complete', { result: { status: 'Completed', evidenceIds: [], cameras: [] } })).status, 409, 'A lost the job');

    const ev = await b.ok<Evidence>('POST', `${b.ds}/tenant/${b.tenantId}/evidence`, { Name: 'Request export' });
    const done = await act(b, j.jobId, 'complete', {
      result: {
        status: 'PartiallyCompleted',
        evidenceIds: [ev.EvidenceId],
        cameras: [
          { cameraId: 'cam-1', outcome: 'Exported', evidenceId: ev.EvidenceId },
          { cameraId: 'cam-2', outcome: 'Unavailable', message: 'no recording' },
        ],
      },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const final = await request(filed.body.requestId);
    assert.equal(final.status, 'PartiallyCompleted');
    assert.deepEqual(final.evidenceIds, [ev.EvidenceId]);
    assert.ok(final.caseId, 'a request without a case gets one named after it');
    const made = await b.ok<Case>('GET', `${b.ds}/case/${b.tenantId}/${final.caseId}`);
    assert.match(made.Name, /^Video request /);
    assert.deepEqual(made.EvidenceIds, [ev.EvidenceId]);
  });

  it('moves requests to Completed, Video unavailable, Denied and Canceled; a retryable failure reopens the job', async () => {
    await ensureCameras();
    const caseId = (await a.ok<Case>('POST', `${a.ds}/case/${a.tenantId}`, { Name: 'Existing case' })).CaseId;
    const statuses: Record<string, VideoRequestStatus> = {};

    const r1 = (await fileRequest({ cameras: ['cam-3'], ...range(HOUR), caseId })).body;
    const j1 = await mediaJob(r1.requestId);
    await act(a, j1.jobId, 'lock');
    const ev = await a.ok<Evidence>('POST', `${a.ds}/tenant/${a.tenantId}/evidence`, { Name: 'Parking' });
    assert.equal((await act(a, j1.jobId, 'complete', { result: { status: 'Completed', evidenceIds: [ev.EvidenceId], cameras: [{ cameraId: 'cam-3', outcome: 'Exported' }] } })).status, 200);
    statuses.completed = (await request(r1.requestId)).status;
    assert.deepEqual((await a.ok<Case>('GET', `${a.ds}/case/${a.tenantId}/${caseId}`)).EvidenceIds, [ev.EvidenceId]);

    const r2 = (await fileRequest({ cameras: ['cam-1'], ...range(HOUR) })).body;
    const j2 = await mediaJob(r2.requestId);
    await act(a, j2.jobId, 'lock');
    const retry = await act(a, j2.jobId, 'fail', { reason: 'export busy', retryable: true });
    assert.equal(retry.body.state, 'Open');
    assert.equal((await request(r2.requestId)).status, 'Pending');
    await act(a, j2.jobId, 'lock');
    const failed = await act(a, j2.jobId, 'fail', { reason: 'archiver offline' });
    assert.equal(failed.body.state, 'Failed');
    assert.equal(failed.body.failureReason, 'archiver offline');
    const r2final = await request(r2.requestId);
    statuses.unavailable = r2final.status;
    assert.equal(r2final.history.at(-1)?.reason, 'archiver offline');
    assert.equal((await act(a, j2.jobId, 'fail', { reason: 'x' })).status, 409, 'a failed job cannot fail again');

    const r3 = (await fileRequest({ cameras: ['cam-2'], ...range(HOUR) })).body;
    const j3 = await mediaJob(r3.requestId);
    await act(a, j3.jobId, 'lock');
    await act(a, j3.jobId, 'complete', { result: { status: 'Denied', evidenceIds: [], cameras: [], comments: 'not authorised' } });
    statuses.denied = (await request(r3.requestId)).status;

    const r4 = (await fileRequest({ cameras: ['cam-2'], ...range(HOUR) })).body;
    const j4 = await mediaJob(r4.requestId);
    const canceled = await a.call<VideoRequest>('POST', `${adminUrl}/requests/${r4.requestId}/cancel`, { reason: 'found the footage' });
    assert.equal(canceled.status, 200);
    statuses.canceled = canceled.body.status;
    assert.equal((await job(a, j4.jobId)).state, 'Canceled');
    assert.equal((await act(a, j4.jobId, 'lock')).status, 409);
    assert.equal((await a.call('POST', `${adminUrl}/requests/${r4.requestId}/cancel`)).status, 409, 'Canceled is final');

    assert.deepEqual(statuses, { completed: 'Completed', unavailable: 'VideoUnavailable', denied: 'Denied', canceled: 'Canceled' });
  });

  it('files requests only for registry cameras and ranges of at most 24 h', async () => {
    await ensureCameras();
    const notInRegistry = await fileRequest({ cameras: ['cam-1', 'cam-404'], ...range(HOUR) });
    assert.equal(notInRegistry.status, 400);
    assert.equal(notInRegistry.body.field, 'cameras[1]');
    const tooLong = await fileRequest({ cameras: ['cam-1'], ...range(24 * HOUR + 1000) });
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body.field, 'toUtc');
    assert.match(tooLong.body.message, /shorter than 1 days/);
    const backwards = await fileRequest({ cameras: ['cam-1'], fromUtc: from.toISOString(), toUtc: from.toISOString() });
    assert.equal(backwards.body.field, 'toUtc');
    const twice = await fileRequest({ cameras: ['cam-1', 'cam-1'], ...range(HOUR) });
    assert.equal(twice.body.field, 'cameras[1]');
    const noCase = await fileRequest({ cameras: ['cam-1'], ...range(HOUR), caseId: 'no-such-case' });
    assert.equal(noCase.body.field, 'caseId');
    assert.equal((await fileRequest({ cameras: ['cam-1'], ...range(24 * HOUR) })).status, 201, 'exactly 24 h is allowed');
    const list = await a.ok<VideoRequest[]>('GET', `${agentUrl}/requests`);
    assert.ok(list.every((r) => Date.parse(r.toUtc) - Date.parse(r.fromUtc) <= 24 * HOUR));
  });

  it('runs thumbnail jobs for registry cameras', async () => {
    await ensureCameras();
    const bad = await a.call<ServiceErrorBody>('POST', `${adminUrl}/jobs/thumbnail`, { cameraId: 'cam-404' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'cameraId');
    const created = await a.ok<AgentJob>('POST', `${adminUrl}/jobs/thumbnail`, { cameraId: 'cam-1' });
    assert.deepEqual(
      (await jobs(a, 'thumbnail')).map((j) => j.jobId),
      [created.jobId],
    );
    await act(a, created.jobId, 'lock');
    const png = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');
    const wrong = await act(a, created.jobId, 'complete', { result: { mimeType: 'text/plain', dataBase64: png } });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.field, 'result.mimeType');
    const done = await act(a, created.jobId, 'complete', { result: { mimeType: 'image/png', dataBase64: png } });
    assert.equal(done.body.state, 'Completed');
    assert.deepEqual(done.body.result, { mimeType: 'image/png', dataBase64: png });
    const unknownType = await a.call<ServiceErrorBody>('GET', `${agentUrl}/jobs?type=bogus`);
    assert.equal(unknownType.body.field, 'type');
  });

  it('request statuses agree with the role\'s state machine (src/core/requests/videoRequest.ts), but for two service-side moves and one role-side', () => {
    const serviceOnly: string[] = [];
    const roleOnly: string[] = [];
    for (const from of VIDEO_REQUEST_STATUSES) {
      for (const to of VIDEO_REQUEST_STATUSES) {
        const service = VIDEO_REQUEST_TRANSITIONS[from].includes(to);
        const role = canTransition(from, to);
        if (role && !service) {
          // A request Pending at the role is one whose job the role has locked: Processing at the service.
          assert.equal(from, 'Pending', `the role may move ${from} → ${to}; the service must accept it`);
          assert.ok(VIDEO_REQUEST_TRANSITIONS.Processing.includes(to), `the role may move Pending → ${to} on a locked job; the service must accept Processing → ${to}`);
          roleOnly.push(`${from}->${to}`);
        }
        if (service && !role) serviceOnly.push(`${from}->${to}`);
      }
    }
    // Processing → Pending: a lapsed lease or a retryable failure gives the job back (service bookkeeping).
    // Processing → Denied: an agent denies after locking the job; the role denies from its own Pending.
    assert.deepEqual(serviceOnly, ['Processing->Pending', 'Processing->Denied']);
    // Pending → VideoUnavailable: an operator answers a waiting request (requests.videoUnavailable); the
    // role holds its job, so the service moves it Processing → VideoUnavailable.
    assert.deepEqual(roleOnly, ['Pending->VideoUnavailable']);
  });
});
