import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import fetch from 'node-fetch';
import type { EmulatorFault, Evidence, OAuthErrorBody, ResourceCreated, ServiceErrorBody } from '../../../src/core/clearance/api';
import { parseFaultFlag } from '../../../src/emulator/faults';
import { InputError } from '../../../src/emulator/validate';
import { putBlock, putBlockList } from './blobUpload';
import { startHarness, type Harness } from './harness';
import type { ServiceClient } from './serviceClient';

describe('local service: fault injection through the admin route', function () {
  this.timeout(60000);
  let h: Harness;
  let c: ServiceClient;
  let faultsUrl: string;
  before(async () => {
    h = await startHarness();
    c = h.client;
    faultsUrl = `${h.emulator.urls.admin}/faults`;
  });
  afterEach(async () => c.ok('DELETE', faultsUrl));
  after(async () => h?.stop());

  const addFault = (spec: unknown) => c.ok<EmulatorFault>('POST', faultsUrl, spec);
  const evidenceUrl = (): string => `${c.ds}/tenant/${c.tenantId}/evidence`;

  it('429, 500 and 503 on service routes, with Retry-After, then the route works again', async () => {
    await addFault({ route: 'evidence.create', kind: 'status', status: 429, retryAfterSeconds: 7, count: 1 });
    const busy = await c.call<ServiceErrorBody>('POST', evidenceUrl(), { Name: 'f' });
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('retry-after'), '7');
    assert.equal(busy.body.error, 'too_many_requests');
    assert.equal((await c.call('POST', evidenceUrl(), { Name: 'f' })).status, 201);

    await addFault({ route: 'categories.*', kind: 'status', status: 500, count: 1 });
    const broken = await c.call('GET', `${c.ds}/tenant/${c.tenantId}/categories`);
    assert.equal(broken.status, 500);
    assert.equal(broken.headers.get('retry-after'), null);

    await addFault({ route: 'token', kind: 'status', status: 503, count: 2 });
    const down = await c.requestToken();
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '1');
    assert.deepEqual(Object.keys(down.body).sort(), ['error', 'error_description'], 'the token route answers OAuth-shaped errors');
    assert.equal((await c.requestToken()).status, 503);
    assert.equal((await c.requestToken()).status, 200, 'count=2: spent');
  });

  it('latency: the route answers after the delay, and the fault counts its firing', async () => {
    const f = await addFault({ route: 'departments.list', kind: 'latency', latencyMs: 150 });
    assert.equal((await c.call('GET', `${c.ds}/tenant/${c.tenantId}/departments`)).status, 200);
    const listed = (await c.ok<EmulatorFault[]>('GET', faultsUrl)).find((x) => x.id === f.id);
    assert.equal(listed?.fired, 1);
    assert.equal((await c.call('DELETE', `${faultsUrl}/${f.id}`)).status, 204);
    assert.equal((await c.call('DELETE', `${faultsUrl}/${f.id}`)).status, 404);
  });

  it('reset: the connection drops in the middle of the answer', async () => {
    await addFault({ route: 'evidence.list', kind: 'reset', count: 1 });
    await assert.rejects(c.call('GET', evidenceUrl()), (err: Error) => /premature|aborted|socket|terminated|ECONNRESET/i.test(`${err.message} ${String((err as { code?: string }).code)}`));
    assert.equal((await c.call('GET', evidenceUrl())).status, 200);
  });

  it('early token expiry: a valid token is refused from then on; a new one works', async () => {
    await c.login();
    await addFault({ route: 'evidence.list', kind: 'tokenExpiry', count: 1 });
    const cut = await c.call<OAuthErrorBody>('GET', evidenceUrl());
    assert.equal(cut.status, 401);
    assert.equal(cut.body.error, 'invalid_token');
    assert.equal((await c.call('GET', `${c.ds}/tenant/${c.tenantId}/departments`)).status, 401, 'the same token stays refused everywhere');
    await c.login();
    assert.equal((await c.call('GET', evidenceUrl())).status, 200);
  });

  it('blob faults: block rejection, 503 with Retry-After and a reset in the middle of a Put Block body', async () => {
    const ev = await c.ok<Evidence>('POST', evidenceUrl(), { Name: 'blob faults' });
    const r = await c.ok<ResourceCreated>('POST', `${evidenceUrl()}/${ev.EvidenceId}/resource`, { Name: 'b.bin', MimeType: 'application/octet-stream' });
    const block = crypto.randomBytes(256 * 1024);

    await addFault({ route: 'blob.putBlock', kind: 'blockReject', count: 1 });
    const rejected = await putBlock(r.UploadUri, 0, block);
    assert.equal(rejected.status, 400);
    assert.equal(rejected.headers.get('x-ms-error-code'), 'Md5Mismatch');
    assert.match(await rejected.text(), /<Code>Md5Mismatch<\/Code>/);

    await addFault({ route: 'blob.putBlock', kind: 'status', status: 503, retryAfterSeconds: 4, count: 1 });
    const busy = await putBlock(r.UploadUri, 0, block);
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '4');
    assert.equal(busy.headers.get('x-ms-error-code'), 'ServerBusy');

    await addFault({ route: 'blob.putBlock', kind: 'reset', count: 1 });
    await assert.rejects(putBlock(r.UploadUri, 0, block));

    assert.equal((await putBlock(r.UploadUri, 0, block)).status, 201);
    assert.equal((await putBlockList(r.UploadUri, 1)).status, 201);
    const azurite = new BlobServiceClient(`${h.emulator.blob.azuriteUrl}/${h.emulator.blob.account}`, new StorageSharedKeyCredential(h.emulator.blob.account, h.emulator.blob.accountKey));
    const [container, ...name] = new URL(r.UploadUri).pathname.split('/').slice(2).map(decodeURIComponent);
    const blocks = await azurite.getContainerClient(container).getBlockBlobClient(name.join('/')).getBlockList('all');
    assert.equal(blocks.committedBlocks?.length, 1, 'the rejected, refused and cut attempts left no block behind');
    assert.equal(blocks.committedBlocks?.[0].size, block.length);
  });

  it('checks fault specs: a bad one is refused naming the field', async () => {
    for (const [body, field] of [
      [{ route: 'evidence.create', kind: 'status' }, 'status'],
      [{ route: 'evidence.create', kind: 'status', status: 404 }, 'status'],
      [{ route: 'evidence.create', kind: 'latency' }, 'latencyMs'],
      [{ route: 'evidence create', kind: 'reset' }, 'route'],
      [{ route: 'x', kind: 'explode' }, 'kind'],
      [{ route: 'x', kind: 'reset', count: 0 }, 'count'],
    ] as const) {
      const a = await c.call<ServiceErrorBody>('POST', faultsUrl, body);
      assert.equal(a.status, 400, JSON.stringify(body));
      assert.equal(a.body.field, field);
    }
    assert.deepEqual(await c.ok('GET', faultsUrl), []);
    const anon = await fetch(faultsUrl);
    assert.equal(anon.status, 401, 'the admin routes need a token too');
  });

  it('parses the CLI form of every kind', () => {
    assert.deepEqual(parseFaultFlag('evidence.create=429,count=2,retryAfter=3'), { route: 'evidence.create', kind: 'status', status: 429, count: 2, retryAfterSeconds: 3 });
    assert.deepEqual(parseFaultFlag('*=500'), { route: '*', kind: 'status', status: 500 });
    assert.deepEqual(parseFaultFlag('jobs.*=503'), { route: 'jobs.*', kind: 'status', status: 503 });
    assert.deepEqual(parseFaultFlag('token=latency,ms=250'), { route: 'token', kind: 'latency', latencyMs: 250 });
    assert.deepEqual(parseFaultFlag('resource.complete=reset'), { route: 'resource.complete', kind: 'reset' });
    assert.deepEqual(parseFaultFlag('jobs.list=tokenExpiry,count=1'), { route: 'jobs.list', kind: 'tokenExpiry', count: 1 });
    assert.deepEqual(parseFaultFlag('blob.putBlock=blockReject,code=InvalidBlobOrBlock,status=400'), {
      route: 'blob.putBlock',
      kind: 'blockReject',
      code: 'InvalidBlobOrBlock',
      status: 400,
    });
    for (const bad of ['nokind', 'x=404', 'x=latency', 'x=reset,bogus=1', 'x=reset,count=abc']) {
      assert.throws(() => parseFaultFlag(bad), (err: Error) => err instanceof InputError && err.field === '--fault', bad);
    }
  });
});
