// BlobClient (Put Block with Content-MD5, Get Block List, Put Block List)
// against the local service's blob gateway with Azurite behind it.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { BlobSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { BLOB_CHUNK_BYTES } from '../../../src/core/clearance/blobClient';
import { ServiceError } from '../../../src/core/net/errors';
import { blockId } from '../../../src/core/uploads/partUpload';
import { startService, type ServiceFixture } from '../uploads/serviceFixture';

describe('BlobClient against the blob gateway (Azurite)', function () {
  this.timeout(60_000);
  let fx: ServiceFixture;
  const container = 'blob-client-test';
  let n = 0;
  /** A SAS upload URI through the gateway, like the document store hands out. */
  const uploadUri = (permissions: string): { uri: string; name: string } => {
    const name = `blob-${n++}`;
    const { account, accountKey } = fx.emulator.blob;
    const sas = generateBlobSASQueryParameters(
      { containerName: container, blobName: name, permissions: BlobSASPermissions.parse(permissions), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 3600_000), version: '2021-12-02' },
      new StorageSharedKeyCredential(account, accountKey),
    ).toString();
    return { uri: `${fx.emulator.urls.blob}/${account}/${container}/${name}?${sas}`, name };
  };

  before(async () => {
    fx = await startService();
    await fx.azurite.getContainerClient(container).createIfNotExists();
  });
  after(async () => fx?.stop());
  afterEach(() => fx.emulator.faults.clear());

  it('puts blocks in limiter-sized chunks, lists them uncommitted, commits them with metadata', async () => {
    const { uri, name } = uploadUri('rcw');
    const a = crypto.randomBytes(100_000);
    const b = crypto.randomBytes(1234);
    const gated: number[] = [];
    let reported = 0;
    await fx.blobs.putBlock(uri, blockId(0), a, { beforeBytes: async (k) => void gated.push(k), onBytes: (k) => (reported += k) });
    await fx.blobs.putBlock(uri, blockId(1), b, {});
    assert.equal(gated.reduce((x, y) => x + y, 0), a.length);
    assert.ok(gated.every((k) => k <= BLOB_CHUNK_BYTES));
    assert.equal(reported, a.length);

    const before = await fx.blobs.getBlockList(uri);
    assert.deepEqual(before, {
      committed: [],
      uncommitted: [
        { name: blockId(0), size: a.length },
        { name: blockId(1), size: b.length },
      ],
    });
    await fx.blobs.putBlockList(uri, [blockId(0), blockId(1)], { 'x-ms-meta-encryptiondata': '{"x":1}', 'x-ms-blob-content-type': 'video/mp4' });
    const after = await fx.blobs.getBlockList(uri);
    assert.deepEqual(after?.committed.map((x) => x.size), [a.length, b.length]);
    assert.deepEqual(after?.uncommitted, []);

    const blob = fx.azurite.getContainerClient(container).getBlobClient(name);
    const props = await blob.getProperties();
    assert.equal(props.metadata?.encryptiondata, '{"x":1}');
    assert.equal(props.contentType, 'video/mp4');
    assert.deepEqual(await blob.downloadToBuffer(), Buffer.concat([a, b]));
  });

  it('answers an empty list for a blob not yet written, and undefined when the SAS may not read the list', async () => {
    assert.deepEqual(await fx.blobs.getBlockList(uploadUri('rcw').uri), { committed: [], uncommitted: [] });
    const writeOnly = uploadUri('cw').uri;
    await fx.blobs.putBlock(writeOnly, blockId(0), Buffer.from('abc'), {});
    assert.equal(await fx.blobs.getBlockList(writeOnly), undefined);
  });

  it('retries a block the gateway answered 503, and fails at once on a rejected Content-MD5', async () => {
    const { uri } = uploadUri('rcw');
    fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'status', status: 503, retryAfterSeconds: 0, count: 1 });
    let sent = 0;
    await fx.blobs.putBlock(uri, blockId(0), crypto.randomBytes(40_000), { onBytes: (k) => (sent += k) });
    assert.equal(sent, 80_000, 'the block went out twice');
    assert.equal((await fx.blobs.getBlockList(uri))?.uncommitted.length, 1);

    fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'blockReject', count: 1 });
    await assert.rejects(fx.blobs.putBlock(uri, blockId(1), Buffer.from('x'), {}), (e: unknown) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, 400);
      assert.equal(e.attempts, 1);
      assert.match(e.message, /^the blob store refused a block \(400 Md5Mismatch: The MD5 value specified in the request did not match/);
      assert.equal(e.storage?.code, 'Md5Mismatch');
      assert.doesNotMatch(e.message, /sig=|<\?xml|<Error>|devstoreaccount1/, 'no SAS, XML or blob path in what the operator reads');
      return true;
    });
  });

  it("words Azurite's own refusals as its code and first message line, keeping status and URL on the error", async () => {
    const { uri, name } = uploadUri('rcw');
    // A block list naming a block that was never put: Azurite answers 400 InvalidBlockList in XML.
    await assert.rejects(fx.blobs.putBlockList(uri, [blockId(7)], {}), (e: unknown) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, 400);
      assert.equal(e.storage?.code, 'InvalidBlockList');
      assert.match(e.message, /^the blob store refused the block list \(400 InvalidBlockList: [^\n]+\)$/);
      assert.doesNotMatch(e.message, /RequestId|<|sig=/);
      assert.ok(e.url.endsWith(`/${container}/${name}`), 'the URL (without its SAS) stays on the error for the log');
      return true;
    });
  });

  it('stops sending when aborted', async () => {
    const { uri } = uploadUri('rcw');
    const controller = new AbortController();
    const put = fx.blobs.putBlock(uri, blockId(0), crypto.randomBytes(200_000), {
      signal: controller.signal,
      beforeBytes: async () => {
        controller.abort(new Error('paused by the operator'));
      },
    });
    await assert.rejects(put, /paused by the operator/);
    assert.deepEqual((await fx.blobs.getBlockList(uri))?.uncommitted, []);
  });
});
