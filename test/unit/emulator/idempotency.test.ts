import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { Case, ConnectionFile, Evidence, ResourceCreated, ServiceErrorBody } from '../../../src/core/clearance/api';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER } from '../../../src/core/clearance/api';
import { DocumentStoreClient } from '../../../src/core/clearance/documentStore';
import { ClearanceSession } from '../../../src/core/clearance/session';
import { TokenProvider } from '../../../src/core/clearance/tokenProvider';
import { HttpClient } from '../../../src/core/net/httpClient';
import { uploadBlob } from './blobUpload';
import { startHarness, type Harness } from './harness';
import { ServiceClient } from './serviceClient';

describe('local service: idempotent creation and evidence cancel', function () {
  this.timeout(60000);
  let h: Harness;
  let c: ServiceClient;
  before(async () => {
    h = await startHarness();
    c = h.client;
  });
  after(async () => h?.stop());

  const key = (): Record<string, string> => ({ [IDEMPOTENCY_KEY_HEADER]: `job-${crypto.randomUUID()}:evidence` });
  const evidenceUrl = (): string => `${c.ds}/tenant/${c.tenantId}/evidence`;
  const create = <T>(client: ServiceClient, url: string, body: unknown, headers: Record<string, string>) =>
    client.call<T & ServiceErrorBody>('POST', url, body, { headers });
  const named = async (client: ServiceClient, name: string): Promise<Evidence[]> =>
    (await client.ok<Evidence[]>('GET', `${client.ds}/tenant/${client.tenantId}/evidence`)).filter((e) => e.Name === name);

  it('answers the same evidence, resource and case for the same key, and creates each once', async () => {
    const k = key();
    const first = await create<Evidence>(c, evidenceUrl(), { Name: 'idem-1' }, k);
    assert.equal(first.status, 201);
    assert.equal(first.headers.get(IDEMPOTENT_REPLAYED_HEADER), null);
    const again = await create<Evidence>(c, evidenceUrl(), { Name: 'idem-1' }, k);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get(IDEMPOTENT_REPLAYED_HEADER), 'true');
    assert.equal(again.body.EvidenceId, first.body.EvidenceId);
    assert.equal((await named(c, 'idem-1')).length, 1);

    const rk = { [IDEMPOTENCY_KEY_HEADER]: 'part-0' };
    const resUrl = `${evidenceUrl()}/${first.body.EvidenceId}/resource`;
    const r1 = await create<ResourceCreated>(c, resUrl, { Name: 'a.mp4', MimeType: 'video/mp4' }, rk);
    const r2 = await create<ResourceCreated>(c, resUrl, { Name: 'a.mp4', MimeType: 'video/mp4' }, rk);
    assert.deepEqual([r1.status, r2.status], [201, 200]);
    assert.equal(r2.body.ResourceId, r1.body.ResourceId);
    assert.equal(new URL(r2.body.UploadUri).pathname, new URL(r1.body.UploadUri).pathname, 'the replay points at the same blob');
    assert.equal((await c.ok<unknown[]>('GET', resUrl)).length, 1);
    // The same key under another evidence item is another request: 422.
    const ev2 = await c.ok<Evidence>('POST', evidenceUrl(), { Name: 'idem-1b' });
    const elsewhere = await create(c, `${evidenceUrl()}/${ev2.EvidenceId}/resource`, { Name: 'a.mp4', MimeType: 'video/mp4' }, rk);
    assert.equal(elsewhere.status, 422);

    const ck = { [IDEMPOTENCY_KEY_HEADER]: 'case-key' };
    const caseUrl = `${c.ds}/case/${c.tenantId}`;
    const c1 = await create<Case>(c, caseUrl, { Name: 'Idem case' }, ck);
    const c2 = await create<Case>(c, caseUrl, { Name: 'Idem case' }, ck);
    assert.deepEqual([c1.status, c2.status], [201, 200]);
    assert.equal(c2.body.CaseId, c1.body.CaseId);
    assert.equal((await c.ok<Case[]>('GET', caseUrl)).filter((x) => x.Name === 'Idem case').length, 1);
  });

  it('refuses a key reused with another body (422) and a malformed key (400), naming the header', async () => {
    const k = key();
    assert.equal((await create(c, evidenceUrl(), { Name: 'idem-2' }, k)).status, 201);
    const other = await create(c, evidenceUrl(), { Name: 'idem-2 changed' }, k);
    assert.equal(other.status, 422);
    assert.equal(other.body.field, IDEMPOTENCY_KEY_HEADER);
    for (const bad of ['has space', 'x'.repeat(256), 'tab\tkey']) {
      const a = await create(c, evidenceUrl(), { Name: 'idem-2' }, { [IDEMPOTENCY_KEY_HEADER]: bad });
      assert.equal(a.status, 400, bad);
      assert.equal(a.body.field, IDEMPOTENCY_KEY_HEADER);
    }
    assert.equal((await named(c, 'idem-2 changed')).length, 0);
  });

  it('scopes keys per integration', async () => {
    const other = await h.integration('Idem-Other');
    const k = key();
    const a = await create<Evidence>(c, evidenceUrl(), { Name: 'idem-3' }, k);
    const b = await create<Evidence>(other, `${other.ds}/tenant/${other.tenantId}/evidence`, { Name: 'idem-3' }, k);
    assert.deepEqual([a.status, b.status], [201, 201]);
    assert.notEqual(a.body.EvidenceId, b.body.EvidenceId);
  });

  it('makes one object for concurrent calls with one key', async () => {
    const k = key();
    const answers = await Promise.all(Array.from({ length: 6 }, () => create<Evidence>(c, evidenceUrl(), { Name: 'idem-4' }, k)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(answers.map((a) => a.body.EvidenceId)).size, 1);
    assert.equal((await named(c, 'idem-4')).length, 1);
  });

  it('a retry after a connection reset in the middle of the answer gets the object the first call made', async () => {
    await c.ok('POST', `${h.emulator.urls.admin}/faults`, { route: 'evidence.create', kind: 'reset', count: 1 });
    const k = key();
    await assert.rejects(create(c, evidenceUrl(), { Name: 'idem-5' }, k));
    const retry = await create<Evidence>(c, evidenceUrl(), { Name: 'idem-5' }, k);
    assert.equal(retry.status, 200);
    const all = await named(c, 'idem-5');
    assert.deepEqual(
      all.map((e) => e.EvidenceId),
      [retry.body.EvidenceId],
    );
  });

  it('the client of src/core sends the header: createEvidence twice with one key makes one evidence item', async () => {
    const http = await HttpClient.create({ timeoutMs: 20000, retry: { baseDelayMs: 10, maxDelayMs: 50 } });
    try {
      const connection = h.connection;
      const tokens = new TokenProvider(http, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection);
      const docs = DocumentStoreClient.forConnection(new ClearanceSession(http, tokens), connection);
      const a = await docs.createEvidence({ idempotencyKey: 'core-client-key', name: 'idem-6' });
      const b = await docs.createEvidence({ idempotencyKey: 'core-client-key', name: 'idem-6' });
      assert.equal(b.evidenceId, a.evidenceId);
      assert.equal((await named(c, 'idem-6')).length, 1);
      await docs.deleteEvidence(a.evidenceId);
      assert.equal((await named(c, 'idem-6')).length, 0);
    } finally {
      http.close();
    }
  });

  it('cancels incomplete evidence with DELETE: its resources and their blobs go; a replay of its key answers 410', async () => {
    const k = key();
    const ev = (await create<Evidence>(c, evidenceUrl(), { Name: 'idem-7' }, k)).body;
    const r = await c.ok<ResourceCreated>('POST', `${evidenceUrl()}/${ev.EvidenceId}/resource`, { Name: 'x.bin', MimeType: 'application/octet-stream' });
    await uploadBlob(r.UploadUri, crypto.randomBytes(4096), 1024);
    const azurite = new BlobServiceClient(`${h.emulator.blob.azuriteUrl}/${h.emulator.blob.account}`, new StorageSharedKeyCredential(h.emulator.blob.account, h.emulator.blob.accountKey));
    const [container, ...blob] = new URL(r.UploadUri).pathname.split('/').slice(2).map(decodeURIComponent);
    const blobClient = azurite.getContainerClient(container).getBlobClient(blob.join('/'));
    assert.equal(await blobClient.exists(), true);

    // Manage is needed: an integration with Edit may not cancel it.
    const other = await h.integration('Idem-Editor');
    const withEdit = await c.ok<Evidence>('POST', evidenceUrl(), {
      Name: 'idem-7b',
      AccessPolicies: [{ PrincipalId: other.clientId, PrincipalType: 'Integration', Permission: 'Edit' }],
    });
    assert.equal((await other.call('DELETE', `${other.ds}/tenant/${other.tenantId}/evidence/${withEdit.EvidenceId}`)).status, 403);

    assert.equal((await c.call('DELETE', `${evidenceUrl()}/${ev.EvidenceId}`)).status, 204);
    assert.equal((await c.call('GET', `${evidenceUrl()}/${ev.EvidenceId}`)).status, 404);
    assert.equal((await c.call('GET', `${evidenceUrl()}/${ev.EvidenceId}/resource`)).status, 404);
    assert.equal(await blobClient.exists(), false);
    assert.equal((await c.call('DELETE', `${evidenceUrl()}/${ev.EvidenceId}`)).status, 404);
    const replay = await create(c, evidenceUrl(), { Name: 'idem-7' }, k);
    assert.equal(replay.status, 410);
    assert.equal(replay.body.field, IDEMPOTENCY_KEY_HEADER);

    const done = await c.ok<Evidence>('POST', evidenceUrl(), { Name: 'idem-7c' });
    await c.ok('POST', `${evidenceUrl()}/${done.EvidenceId}/complete`);
    const refused = await c.call<ServiceErrorBody>('DELETE', `${evidenceUrl()}/${done.EvidenceId}`);
    assert.equal(refused.status, 409);
    assert.equal((await c.call('GET', `${evidenceUrl()}/${done.EvidenceId}`)).status, 200);
  });

  it('keys survive a restart of the service', async () => {
    const k = key();
    const before = (await create<Evidence>(c, evidenceUrl(), { Name: 'idem-8' }, k)).body;
    await h.restart();
    c = new ServiceClient(JSON.parse(fs.readFileSync(h.emulator.connectionFilePath, 'utf8')) as ConnectionFile, h.clock);
    const after = await create<Evidence>(c, evidenceUrl(), { Name: 'idem-8' }, k);
    assert.equal(after.status, 200);
    assert.equal(after.body.EvidenceId, before.EvidenceId);
    assert.equal((await named(c, 'idem-8')).length, 1);
  });
});
