import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { EncryptionKeyResponse, Evidence, Resource, ResourceCreated } from '../../../src/core/clearance/api';
import { createBlobDecryptor, ENCRYPTION_METADATA_HEADER, parseEncryptionData } from '../../../src/core/clearance/encryption';
import { encryptForAccount, putBlock, uploadBlob } from './blobUpload';
import { startHarness, type Harness } from './harness';

describe('local service: evidence upload end to end', function () {
  this.timeout(60000);
  let h: Harness;
  let source: string;
  let sourceSha: string;
  before(async () => {
    h = await startHarness();
    source = path.join(h.dir, 'clip.mp4');
    const data = crypto.randomBytes(3 * 1024 * 1024 + 12345);
    fs.writeFileSync(source, data);
    sourceSha = crypto.createHash('sha256').update(data).digest('hex');
  });
  after(async () => h?.stop());

  const evidenceBody = { Name: 'Parking lot collision', Description: 'two cameras', CategoryId: 'cat-traffic', Tags: ['parking'] };

  it('gets a token with the generated connection file (assertion + node-fetch)', async () => {
    const a = await h.client.requestToken();
    assert.equal(a.status, 200);
    assert.equal(a.body.token_type, 'Bearer');
    assert.ok(a.body.expires_in > 0);
    assert.match(a.body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('uploads an encrypted file by blocks, completes it, and the blob decrypts to the source', async () => {
    const c = h.client;
    const key = await c.ok<EncryptionKeyResponse>('GET', `${h.connection.KeyStoreBaseAddresses[0]}/tenant/${c.tenantId}/keys/encryption`);
    assert.equal(key.Algorithm, 'RSA-OAEP');
    assert.match(key.Pem, /BEGIN PUBLIC KEY/);

    const ev = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence`, evidenceBody);
    assert.equal(ev.State, 'Incomplete');
    const res = await c.ok<ResourceCreated>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource`, {
      Name: 'clip.mp4',
      MimeType: 'video/mp4',
      StartTimeUtc: '2024-05-01T12:00:00Z',
      EndTimeUtc: '2024-05-01T12:10:00Z',
    });
    assert.match(res.UploadUri, /[?&]sig=/);
    assert.ok(res.UploadUri.startsWith(h.emulator.urls.blob), 'upload URI points at the blob front');

    const { cipher, header } = await encryptForAccount(fs.readFileSync(source), key);
    const blocks = await uploadBlob(res.UploadUri, cipher, 1024 * 1024, { [ENCRYPTION_METADATA_HEADER]: header, 'x-ms-blob-content-type': 'video/mp4' });
    assert.equal(blocks, 4);

    const done = await c.ok<Resource>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource/${res.ResourceId}/complete`, {
      Size: cipher.length,
      Sha256: sourceSha,
    });
    assert.equal(done.State, 'Complete');
    assert.equal(done.Size, cipher.length);
    assert.ok(done.UploadedTimeUtc);

    const list = await c.ok<Resource[]>('GET', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource`);
    assert.deepEqual(
      list.map((r) => [r.ResourceId, r.State, r.UploadedBy.PrincipalId]),
      [[res.ResourceId, 'Complete', `${h.connection.ServicePrincipalId}@${h.connection.TenantId}`]],
    );
    const completed = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/complete`);
    assert.equal(completed.State, 'Complete');

    // Read it back as a third party would, straight from the blob store, and decrypt with the account's key.
    const svc = new BlobServiceClient(
      `${h.emulator.blob.azuriteUrl}/${h.emulator.blob.account}`,
      new StorageSharedKeyCredential(h.emulator.blob.account, h.emulator.blob.accountKey),
    );
    const blobPath = new URL(res.UploadUri).pathname.split('/').slice(2);
    const blob = svc.getContainerClient(blobPath[0]).getBlobClient(blobPath.slice(1).map(decodeURIComponent).join('/'));
    const props = await blob.getProperties();
    const meta = parseEncryptionData(props.metadata!.encryptiondata);
    const dl = await blob.download(0);
    const hash = crypto.createHash('sha256');
    await pipeline(
      dl.readableStreamBody!,
      createBlobDecryptor({ encryptionData: meta, privateKey: h.emulator.tenantPrivateKey() }),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
    assert.equal(hash.digest('hex'), sourceSha);
  });

  it('refuses to complete a resource whose blob is missing, the wrong size, unencrypted or not matching its SHA-256', async () => {
    const c = h.client;
    const key = await c.ok<EncryptionKeyResponse>('GET', `${h.connection.KeyStoreBaseAddresses[0]}/tenant/${c.tenantId}/keys/encryption`);
    const ev = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence`, evidenceBody);
    const mk = (): Promise<ResourceCreated> =>
      c.ok<ResourceCreated>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource`, { Name: 'x.mp4', MimeType: 'video/mp4' });
    const complete = (r: ResourceCreated, body: unknown) =>
      c.call<{ error: string; message: string; field?: string }>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource/${r.ResourceId}/complete`, body);

    const r1 = await mk();
    const missing = await complete(r1, { Size: 16 });
    assert.equal(missing.status, 409);
    assert.equal(missing.body.error, 'blob_not_committed');

    const { cipher, header } = await encryptForAccount(fs.readFileSync(source), key);
    await uploadBlob(r1.UploadUri, cipher, 2 * 1024 * 1024, { [ENCRYPTION_METADATA_HEADER]: header });
    const wrongSize = await complete(r1, { Size: cipher.length - 16 });
    assert.equal(wrongSize.status, 409);
    assert.equal(wrongSize.body.field, 'Size');
    const wrongSha = await complete(r1, { Size: cipher.length, Sha256: 'a'.repeat(64) });
    assert.equal(wrongSha.status, 409);
    assert.equal(wrongSha.body.field, 'Sha256');

    const r2 = await mk();
    await uploadBlob(r2.UploadUri, fs.readFileSync(source), 4 * 1024 * 1024);
    const plain = await complete(r2, { Size: fs.statSync(source).size });
    assert.equal(plain.status, 409);
    assert.equal(plain.body.field, 'x-ms-meta-encryptiondata');

    const r3 = await mk();
    const bad = JSON.parse(header) as Record<string, unknown>;
    bad.EncryptionMode = 'PerBlock';
    await uploadBlob(r3.UploadUri, cipher, 4 * 1024 * 1024, { [ENCRYPTION_METADATA_HEADER]: JSON.stringify(bad) });
    const badMeta = await complete(r3, { Size: cipher.length });
    assert.equal(badMeta.status, 409);
    assert.match(badMeta.body.message, /EncryptionMode/);

    // Evidence with a pending resource cannot be completed.
    const evDone = await c.call('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/complete`);
    assert.equal(evDone.status, 409);

    // A retried complete after success is answered the same way.
    assert.equal((await complete(r1, { Size: cipher.length, Sha256: sourceSha })).status, 200);
    assert.equal((await complete(r1, { Size: cipher.length })).status, 200);
  });

  it('Azurite checks Content-MD5 of each Put Block', async () => {
    const c = h.client;
    const ev = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence`, evidenceBody);
    const r = await c.ok<ResourceCreated>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource`, { Name: 'y', MimeType: 'video/mp4' });
    const res = await putBlock(r.UploadUri, 0, Buffer.from('hello world'), crypto.createHash('md5').update('other').digest('base64'));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /md5/i);
  });

  it('purges evidence left incomplete for 24 h (injectable clock)', async () => {
    const c = h.client;
    const ev = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence`, evidenceBody);
    h.clock.advance(23 * 3600 * 1000);
    await c.login();
    assert.equal((await c.call('GET', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}`)).status, 200);
    h.clock.advance(3600 * 1000 + 1000);
    await c.login();
    assert.equal((await c.call('GET', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}`)).status, 404);
  });

  it('lists departments and categories with their retention', async () => {
    const c = h.client;
    const deps = await c.ok<{ DepartmentId: string; Name: string }[]>('GET', `${c.ds}/tenant/${c.tenantId}/departments`);
    assert.ok(deps.length > 0 && deps.every((d) => d.DepartmentId && d.Name));
    const cats = await c.ok<{ CategoryId: string; RetentionDays: number }[]>('GET', `${c.ds}/tenant/${c.tenantId}/categories`);
    assert.ok(cats.length > 0 && cats.every((x) => Number.isInteger(x.RetentionDays) && x.RetentionDays > 0));
  });
});
