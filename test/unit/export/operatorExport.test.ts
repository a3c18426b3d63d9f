// Operator export end to end: a sample site with real H.264 video (ffmpeg),
// exported into the archive destination folder, uploaded encrypted through the
// queue to the local service, read back from the blob store and decrypted.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportToClearance, loadExportChoices, OperatorExportError, type OperatorExportRequest } from '../../../src/core/export';
import { generateSampleSite, LocalFolderSite, resolveFfmpeg, SAMPLE_CAMERA_IDS, SAMPLE_USER_IDS } from '../../../src/core/site';
import { filesUnder, openQueue, plainSha256OfBlob, startService, waitForState, type QueueHandle, type ServiceFixture } from '../uploads/serviceFixture';

const START = new Date('2026-11-20T10:00:00Z');
const at = (hms: string) => new Date(`2026-11-20T${hms}Z`);
const LOBBY = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
const RECEPTION = SAMPLE_CAMERA_IDS['Reception Desk']!;
const SERVER_ROOM = SAMPLE_CAMERA_IDS['Server Room']!;

describe('operator export to Clearance (sample site, real ffmpeg, local service)', function () {
  this.timeout(90_000);
  let fx: ServiceFixture;
  let site: LocalFolderSite;
  let h: QueueHandle;
  let newCaseId: string;

  before(async () => {
    fx = await startService();
    const ffmpeg = resolveFfmpeg();
    // Small and slow-moving so that an hour encodes in a couple of seconds.
    await generateSampleSite({
      folder: path.join(fx.dir, 'site'),
      ffmpegPath: ffmpeg,
      start: START,
      durationMinutes: 60,
      segmentMinutes: 15,
      cameras: { [LOBBY]: 60, [RECEPTION]: 5 },
      width: 160,
      height: 90,
      fps: 1,
      keyframeSeconds: 2,
    });
    site = new LocalFolderSite(path.join(fx.dir, 'site'), ffmpeg);
    h = await openQueue(fx, path.join(fx.dir, 'role'));
    h.queue.start();
  });
  after(async () => {
    await h?.close();
    await fx?.stop();
  });
  const deps = () => ({ site, queue: h.queue, catalog: fx.documents });
  /** The case the test above makes, holding one evidence item; made here when that test did not run (--grep). */
  const existingCase = async (): Promise<string> => {
    if (newCaseId !== undefined) return newCaseId;
    const { caseId } = await fx.documents.createCase({ idempotencyKey: `case-${crypto.randomUUID()}`, name: 'Lobby incident' });
    const { evidenceId } = await fx.documents.createEvidence({ idempotencyKey: `evidence-${crypto.randomUUID()}`, name: 'Lobby Entrance' });
    await fx.documents.linkEvidenceToCase(caseId, evidenceId);
    newCaseId = caseId;
    return caseId;
  };

  it('offers the departments and categories of the service', async () => {
    const choices = await loadExportChoices(fx.documents);
    assert.ok(choices.departments.length > 0 && choices.departments.every((d) => d.DepartmentId && d.Name));
    assert.ok(choices.categories.length > 0 && choices.categories.every((c) => c.CategoryId && c.Name));
  });

  it('sends an hour of one camera into a new case; the decrypted blob has the SHA-256 of the exported file', async () => {
    const { departments, categories } = await loadExportChoices(fx.documents);
    const result = await exportToClearance(deps(), {
      media: { kind: 'recordings', cameraIds: [LOBBY], from: at('10:00:00'), to: at('11:00:00') },
      caseTarget: { kind: 'new', name: 'Lobby incident', departmentId: departments[1].DepartmentId, categoryId: categories[0].CategoryId, description: 'an hour at the north doors' },
      userId: SAMPLE_USER_IDS.mchen,
    });
    assert.deepEqual(
      result.cameras.map((c) => [c.cameraName, c.status, c.files]),
      [['Lobby Entrance', 'complete', 1]],
    );
    const staged = result.job.parts[0];
    assert.ok(staged.bytes > 4 * 1024 * 1024, `an hour of video spans several 4 MiB blocks (${staged.bytes} bytes)`);
    const done = await waitForState(h.queue, result.job.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', done.error);

    const kase = await fx.documents.getCase(done.caseId!);
    newCaseId = kase.CaseId;
    assert.equal(kase.Name, 'Lobby incident');
    assert.equal(kase.DepartmentId, departments[1].DepartmentId);
    assert.deepEqual(kase.EvidenceIds, [done.evidenceId]);
    const evidence = await fx.documents.getEvidence(done.evidenceId!);
    assert.equal(evidence.State, 'Complete');
    assert.equal(evidence.StartTimeUtc, '2026-11-20T10:00:00.000Z');
    const [resource] = await fx.documents.listResources(done.evidenceId!);
    assert.equal(resource.State, 'Complete');
    assert.equal(resource.MimeType, 'video/mp4');
    assert.match(resource.Name, /^Lobby Entrance 2026-11-20T10-00-00Z - 2026-11-20T11-00-00Z\.mp4$/);

    const blob = await plainSha256OfBlob(fx, done.evidenceId!, resource.ResourceId);
    assert.equal(blob.encrypted, true);
    assert.equal(blob.sha256, staged.sha256, 'decrypted blob = exported file');
    assert.deepEqual(filesUnder(h.archive), [], 'staged files deleted after the upload');
  });

  it('sends a synchronised range of two cameras, cut in parts, into an existing case', async () => {
    const caseId = await existingCase();
    const result = await exportToClearance(
      { ...deps(), maxPartMs: 60_000 },
      { media: { kind: 'recordings', cameraIds: [LOBBY, RECEPTION], from: at('10:01:00'), to: at('10:03:00') }, caseTarget: { kind: 'existing', caseId } },
    );
    assert.deepEqual(
      result.cameras.map((c) => [c.cameraName, c.status, c.files]),
      [
        ['Lobby Entrance', 'complete', 2],
        ['Reception Desk', 'complete', 2],
      ],
    );
    assert.equal(result.job.title, '2 cameras 2026-11-20T10:01:00.000Z - 2026-11-20T10:03:00.000Z');
    const done = await waitForState(h.queue, result.job.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', done.error);
    const kase = await fx.documents.getCase(caseId);
    assert.equal(kase.EvidenceIds.length, 2);
    assert.ok(kase.EvidenceIds.includes(done.evidenceId!));
    const resources = await fx.documents.listResources(done.evidenceId!);
    assert.deepEqual(resources.map((r) => r.Name).sort(), [
      'Lobby Entrance 2026-11-20T10-01-00Z - 2026-11-20T10-02-00Z.mp4',
      'Lobby Entrance 2026-11-20T10-02-00Z - 2026-11-20T10-03-00Z.mp4',
      'Reception Desk 2026-11-20T10-01-00Z - 2026-11-20T10-02-00Z.mp4',
      'Reception Desk 2026-11-20T10-02-00Z - 2026-11-20T10-03-00Z.mp4',
    ]);
    for (const p of done.parts) assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, p.resourceId!)).sha256, p.sha256, p.name);
  });

  it('sends snapshots into no case; a camera without recording is reported unavailable', async () => {
    const result = await exportToClearance(deps(), {
      media: { kind: 'snapshot', cameraIds: [RECEPTION, LOBBY], at: at('10:30:00') },
      caseTarget: { kind: 'none' },
      userId: SAMPLE_USER_IDS.mchen,
    });
    assert.deepEqual(
      result.cameras.map((c) => [c.cameraName, c.status]),
      [
        ['Reception Desk', 'unavailable'],
        ['Lobby Entrance', 'complete'],
      ],
    );
    const done = await waitForState(h.queue, result.job.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', done.error);
    assert.equal(done.caseId, undefined);
    const [resource] = await fx.documents.listResources(done.evidenceId!);
    assert.equal(resource.MimeType, 'image/jpeg');
    const blob = await plainSha256OfBlob(fx, done.evidenceId!, resource.ResourceId);
    assert.equal(blob.sha256, done.parts[0].sha256);
  });

  it('refuses bad requests naming the field, exporting and queueing nothing', async () => {
    const before = h.queue.snapshot().length;
    const recordings = (over: Partial<Extract<OperatorExportRequest['media'], { kind: 'recordings' }>> = {}): OperatorExportRequest['media'] => ({
      kind: 'recordings',
      cameraIds: [LOBBY],
      from: at('10:00:00'),
      to: at('10:05:00'),
      ...over,
    });
    const cases: [OperatorExportRequest, string, RegExp?][] = [
      [{ media: recordings({ cameraIds: [] }), caseTarget: { kind: 'none' } }, 'media.cameraIds'],
      [{ media: recordings({ cameraIds: [LOBBY, 'no-such-camera'] }), caseTarget: { kind: 'none' } }, 'media.cameraIds[1]'],
      [{ media: recordings({ to: new Date(at('10:00:00').getTime() + 25 * 3600_000) }), caseTarget: { kind: 'none' } }, 'media.to', /must be shorter than 1 days/],
      [{ media: recordings({ to: at('09:00:00') }), caseTarget: { kind: 'none' } }, 'media.to'],
      [{ media: { kind: 'snapshot', cameraIds: [LOBBY], at: new Date('x') }, caseTarget: { kind: 'none' } }, 'media.at'],
      [{ media: recordings(), caseTarget: { kind: 'new', name: ' ' } }, 'caseTarget.name'],
      [{ media: recordings(), caseTarget: { kind: 'new', name: 'X', departmentId: 'dep-nope' } }, 'caseTarget.departmentId'],
      [{ media: recordings(), caseTarget: { kind: 'new', name: 'X', categoryId: 'cat-nope' } }, 'caseTarget.categoryId'],
      [{ media: recordings(), caseTarget: { kind: 'existing', caseId: 'no-such-case' } }, 'caseTarget.caseId'],
      [{ media: recordings(), caseTarget: { kind: 'none' }, userId: SAMPLE_USER_IDS.tbrooks }, 'userId', /Send evidence to Clearance/],
      [{ media: { kind: 'snapshot', cameraIds: [LOBBY], at: at('10:00:00') }, caseTarget: { kind: 'none' }, userId: SAMPLE_USER_IDS.jrivera }, 'userId', /Send snapshot/],
      [{ media: recordings({ cameraIds: [SERVER_ROOM] }), caseTarget: { kind: 'none' } }, 'media', /no video is recorded/],
    ];
    for (const [request, field, message] of cases) {
      await assert.rejects(exportToClearance(deps(), request), (e: unknown) => {
        assert.ok(e instanceof OperatorExportError, `${field}: ${String(e)}`);
        assert.equal(e.field, field);
        if (message) assert.match(e.message, message);
        return true;
      });
    }
    assert.equal(h.queue.snapshot().length, before);
    assert.deepEqual(filesUnder(h.archive), []);
    assert.deepEqual(fs.readdirSync(h.archive), []);
  });
});
