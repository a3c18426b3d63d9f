// The activity trail anchored at the service: each evidence item of the role
// carries the trail head of its creation in its custom fields, and verify checks
// the local trail against those anchors. A trail rewritten from the start with its
// head passes the hash chain but not the anchors; a service out of reach leaves
// the anchors unchecked, never the local check failed. Real local service, real video.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENESIS_HASH, sealActivityRecord, verifyTrailText, type ActivityRecord } from '../../../src/core/audit/activityTrail';
import type { Evidence } from '../../../src/core/clearance/api';
import { Role, type RoleOptions } from '../../../src/core/role/role';
import { ANCHOR_FIELDS, ANCHOR_FORMAT_VERSION } from '../../../src/core/uploads/evidenceAnchor';
import type { UploadJobSnapshot } from '../../../src/core/uploads/uploadJob';
import { AREAS, CAMERAS, startWorld, testRoleOptions, waitFor, type World } from './world';

/**
 * Rewrites the whole trail file and its head as someone who can write the state
 * folder would: every record's content through `alter`, then the chain sealed
 * again from the genesis hash with the trail's own rules, and the head set to the new last record.
 */
export function rewriteTrail(folder: string, alter: (r: Omit<ActivityRecord, 'hash' | 'prevHash'>) => Omit<ActivityRecord, 'hash' | 'prevHash'>): void {
  const file = path.join(folder, 'activity-trail.jsonl');
  const records = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ActivityRecord);
  let prevHash = GENESIS_HASH;
  const sealed = records.map(({ hash: _h, prevHash: _p, ...content }) => {
    const record = sealActivityRecord({ ...alter(content), prevHash });
    prevHash = record.hash;
    return record;
  });
  fs.writeFileSync(file, sealed.map((r) => JSON.stringify(r) + '\n').join(''));
  const last = sealed.at(-1)!;
  fs.writeFileSync(path.join(folder, 'activity-trail.head'), JSON.stringify({ seq: last.seq, hash: last.hash }));
}

describe('activity trail anchored at the service (local service, real video)', function () {
  this.timeout(60_000);
  let world: World;
  let options: RoleOptions;
  let role: Role;
  let job: UploadJobSnapshot;
  const trailDir = () => path.join(options.stateDir, 'trail');
  const evidenceAtService = (id: string) =>
    world.client.ok<Evidence>('GET', `${world.emulator.urls.documentStore}/tenant/${world.emulator.tenantId}/evidence/${id}`);

  before(async () => {
    world = await startWorld('anchors');
    options = testRoleOptions(world);
    role = await Role.open(options);
    await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    await role.addToSelection('admin', { kind: 'area', id: AREAS.main });
    await role.start();
    const queued = await role.exportVideo('mchen', { cameras: [CAMERAS.lobby], from: world.at(30), to: world.at(36) });
    job = await waitFor('the export upload', () => {
      const j = role.upload(queued.id);
      return j && (j.state === 'completed' || j.state === 'failed') ? j : undefined;
    });
    assert.equal(job.state, 'completed', job.error);
    // The trail records the end just after the job's state changes (a write of its own).
    await waitFor('the completed-upload record', () => role.activities({ types: ['uploadCompleted'] }).some((r) => r.details?.uploadJobId === job.id));
  });
  after(async () => {
    await role?.close();
    await world?.stop();
  });

  it('sends the trail head with the evidence and keeps it on the job', async () => {
    assert.ok(job.anchor, 'the job remembers its anchor');
    const record = role.activities().find((r) => r.seq === job.anchor!.seq);
    assert.ok(record, 'the anchor names a record of the trail');
    assert.equal(record.hash, job.anchor.hash);
    // The head when the evidence was made: before the upload's completion was recorded.
    const completed = role.activities({ types: ['uploadCompleted'] }).find((r) => r.details?.uploadJobId === job.id);
    assert.ok(completed && completed.seq > job.anchor.seq, 'the anchor comes before the completed-upload record');
    const evidence = await evidenceAtService(job.evidenceId!);
    assert.deepEqual(evidence.CustomFields, {
      [ANCHOR_FIELDS.version]: ANCHOR_FORMAT_VERSION,
      [ANCHOR_FIELDS.seq]: String(job.anchor.seq),
      [ANCHOR_FIELDS.hash]: job.anchor.hash,
    });
  });

  it('verifies the trail against the anchor and names the records no anchor covers yet', async () => {
    const result = await role.verifyTrail('admin');
    assert.equal(result.ok, true);
    assert.deepEqual(result.problems, []);
    const a = result.anchors;
    assert.equal(a.ok, true);
    assert.equal(a.evidence, 1);
    assert.equal(a.checked, 1);
    assert.equal(a.matched, 1);
    assert.deepEqual(a.mismatched, []);
    assert.deepEqual(a.unreadable, []);
    assert.equal(a.unreachable, false);
    assert.equal(a.coveredThrough, job.anchor!.seq);
    const last = role.activities().at(-1)!.seq;
    assert.ok(last > job.anchor!.seq, 'the upload\'s own completion came after its anchor');
    assert.deepEqual(a.uncovered, { from: job.anchor!.seq + 1, to: last, count: last - job.anchor!.seq });
    assert.ok(a.summary.includes(`${last - job.anchor!.seq} record(s) are not covered by an anchor yet: seq ${job.anchor!.seq + 1}–${last}.`), a.summary.join('\n'));
  });

  it('finds a trail rewritten from the start with its head, which the hash chain alone passes', async () => {
    await role.close();
    const file = path.join(trailDir(), 'activity-trail.jsonl');
    const head = path.join(trailDir(), 'activity-trail.head');
    const original = { trail: fs.readFileSync(file), head: fs.readFileSync(head) };
    try {
      rewriteTrail(trailDir(), (r) => (r.seq === 1 ? { ...r, summary: `${r.summary} (rewritten)` } : r));
      assert.deepEqual(verifyTrailText(fs.readFileSync(file, 'utf8'), JSON.parse(fs.readFileSync(head, 'utf8')) as { seq: number; hash: string }).problems, [], 'the rewrite is consistent');
      role = await Role.open(options);
      const result = await role.verifyTrail('admin');
      assert.equal(result.ok, true, 'the chain verifies: the rewrite fools it');
      assert.equal(result.anchors.ok, false);
      assert.equal(result.anchors.matched, 0);
      assert.deepEqual(
        result.anchors.mismatched.map((m) => [m.evidenceId, m.seq, m.anchorHash]),
        [[job.evidenceId, job.anchor!.seq, job.anchor!.hash]],
      );
      assert.notEqual(result.anchors.mismatched[0]?.localHash, job.anchor!.hash);
      assert.equal(result.anchors.coveredThrough, undefined);
      assert.equal(result.anchors.uncovered?.from, 1, 'no record is covered');
      assert.ok(result.anchors.summary.some((s) => s.startsWith('ALARM:') && s.includes(`Record ${job.anchor!.seq}`)), result.anchors.summary.join('\n'));
    } finally {
      await role.close();
      fs.writeFileSync(file, original.trail);
      fs.writeFileSync(head, original.head);
      role = await Role.open(options);
    }
  });

  it('says which anchors it could not check when the service is down, and still checks the chain', async () => {
    await world.emulator.stop();
    const result = await role.verifyTrail('admin');
    assert.equal(result.ok, true, 'the local check stands');
    assert.deepEqual(result.problems, []);
    assert.equal(result.anchors.ok, true, 'nothing contradicts the trail');
    assert.equal(result.anchors.unreachable, true);
    assert.equal(result.anchors.checked, 0);
    assert.deepEqual(result.anchors.unreadable.map((u) => u.evidenceId), [job.evidenceId]);
    assert.ok(result.anchors.summary.includes('Could not check 1 anchor(s): the service is unreachable.'), result.anchors.summary.join('\n'));
  });
});
