// DocumentStoreClient (the queue's EvidenceService, plus the reads of the
// console) against the local service over the real session and HTTP client.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { unwrapContentKey, wrapContentKey } from '../../../src/core/clearance/encryption';
import { ServiceError } from '../../../src/core/net/errors';
import { blockId } from '../../../src/core/uploads/partUpload';
import { startService, type ServiceFixture } from '../uploads/serviceFixture';

describe('DocumentStoreClient against the local service', function () {
  this.timeout(60_000);
  let fx: ServiceFixture;
  before(async () => {
    fx = await startService();
  });
  after(async () => fx?.stop());

  it('lists the departments and categories of the account', async () => {
    const departments = await fx.documents.listDepartments();
    const categories = await fx.documents.listCategories();
    assert.ok(departments.length >= 1);
    assert.ok(departments.every((d) => typeof d.DepartmentId === 'string' && typeof d.Name === 'string'));
    assert.ok(categories.every((c) => typeof c.CategoryId === 'string' && Number.isFinite(c.RetentionDays)));
  });

  it('creates a case, evidence and a resource once per idempotency key', async () => {
    const [dept] = await fx.documents.listDepartments();
    const c1 = await fx.documents.createCase({ idempotencyKey: 'case-key-1', name: 'Case one', departmentId: dept.DepartmentId, description: 'why' });
    const c2 = await fx.documents.createCase({ idempotencyKey: 'case-key-1', name: 'Case one', departmentId: dept.DepartmentId, description: 'why' });
    assert.equal(c2.caseId, c1.caseId);
    const kase = await fx.documents.getCase(c1.caseId);
    assert.equal(kase.Name, 'Case one');
    assert.equal(kase.Description, 'why');
    assert.ok((await fx.documents.listCases()).some((c) => c.CaseId === c1.caseId));

    const input = { name: 'Evidence', description: 'd', startTimeUtc: '2026-11-20T10:00:00.000Z', endTimeUtc: '2026-11-20T10:05:00.000Z' };
    const e1 = await fx.documents.createEvidence({ idempotencyKey: 'ev-key-1', ...input });
    const e2 = await fx.documents.createEvidence({ idempotencyKey: 'ev-key-1', ...input });
    const e3 = await fx.documents.createEvidence({ idempotencyKey: 'ev-key-2', ...input });
    assert.equal(e2.evidenceId, e1.evidenceId, 'same key: same evidence');
    assert.notEqual(e3.evidenceId, e1.evidenceId, 'another key: another evidence');
    const ev = await fx.documents.getEvidence(e1.evidenceId);
    assert.equal(ev.Name, 'Evidence');
    assert.equal(ev.State, 'Incomplete');

    const r = { idempotencyKey: 'res-key-1', name: 'a.mp4', mimeType: 'video/mp4' };
    const r1 = await fx.documents.createResource(e1.evidenceId, r);
    const r2 = await fx.documents.createResource(e1.evidenceId, r);
    assert.equal(r2.resourceId, r1.resourceId);
    assert.match(r1.uploadUri, /^http:\/\/127\.0\.0\.1:\d+\/.*[?&]sig=/);
    assert.equal((await fx.documents.listResources(e1.evidenceId)).length, 1);

    await fx.documents.linkEvidenceToCase(c1.caseId, e1.evidenceId);
    await fx.documents.linkEvidenceToCase(c1.caseId, e1.evidenceId);
    assert.deepEqual((await fx.documents.getCase(c1.caseId)).EvidenceIds, [e1.evidenceId]);
  });

  it('completes a plain resource and the evidence, and then refuses to delete it', async () => {
    const plain = await fx.clientFor(await fx.emulator.createIntegration({ name: 'Plain-Docs', disableEncryption: true }));
    assert.equal(await plain.documents.encryptionKey(), undefined, 'no key for an account without encryption');
    const { evidenceId } = await plain.documents.createEvidence({ idempotencyKey: 'plain-ev', name: 'Plain' });
    const { resourceId, uploadUri } = await plain.documents.createResource(evidenceId, { idempotencyKey: 'plain-res', name: 'p.bin', mimeType: 'application/octet-stream' });
    const data = crypto.randomBytes(5000);
    await plain.blobs.putBlock(uploadUri, blockId(0), data, {});
    await plain.blobs.putBlockList(uploadUri, [blockId(0)], {});
    const sha256 = crypto.createHash('sha256').update(data).digest('hex');
    await assert.rejects(plain.documents.completeResource(evidenceId, resourceId, { size: data.length, sha256: 'b'.repeat(64) }), (e: unknown) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, 409);
      assert.match(e.message, /Sha256/);
      return true;
    });
    await plain.documents.completeResource(evidenceId, resourceId, { size: data.length, sha256 });
    await plain.documents.completeResource(evidenceId, resourceId, { size: data.length, sha256 }); // a retry is fine
    await plain.documents.completeEvidence(evidenceId);
    assert.equal((await plain.documents.getEvidence(evidenceId)).State, 'Complete');
    await assert.rejects(plain.documents.deleteEvidence(evidenceId), (e: unknown) => e instanceof ServiceError && e.status === 409);
  });

  it('deletes incomplete evidence; deleting it again is not an error', async () => {
    const { evidenceId } = await fx.documents.createEvidence({ idempotencyKey: 'to-delete', name: 'Cancel me' });
    await fx.documents.createResource(evidenceId, { idempotencyKey: 'to-delete-r', name: 'x.mp4', mimeType: 'video/mp4' });
    await fx.documents.deleteEvidence(evidenceId);
    await assert.rejects(fx.documents.getEvidence(evidenceId), (e: unknown) => e instanceof ServiceError && e.status === 404);
    await fx.documents.deleteEvidence(evidenceId);
  });

  it('fetches the account encryption key once; a content key wrapped with it opens with the service key', async () => {
    const key = await fx.documents.encryptionKey();
    assert.ok(key);
    assert.match(key.keyId, /\S/);
    assert.equal(await fx.documents.encryptionKey(), key, 'cached');
    const contentKey = crypto.randomBytes(32);
    const wrapped = wrapContentKey(contentKey, key.publicKey, key.keyId);
    assert.deepEqual(unwrapContentKey(wrapped, fx.emulator.tenantPrivateKey()), contentKey);
  });

  it('passes on the service message naming the field', async () => {
    await assert.rejects(fx.documents.createEvidence({ idempotencyKey: 'bad-cat', name: 'x', categoryId: 'cat-unknown' }), (e: unknown) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, 400);
      assert.match(e.message, /CategoryId/);
      return true;
    });
    await assert.rejects(fx.documents.createEvidence({ idempotencyKey: '', name: 'x' }), /idempotencyKey/);
  });
});
