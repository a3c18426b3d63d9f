import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import type { BlobPutsResponse, BlobReceivedTimeline, Evidence, ResourceCreated } from '../../../src/core/clearance/api';
import { blockId, putBlock, putBlockList } from './blobUpload';
import { startHarness, type Harness } from './harness';

describe('local service: blob gateway counts what it received (admin route)', function () {
  this.timeout(30000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  it('counts Put Block per block id, Put Block List and body bytes per blob; DELETE resets', async () => {
    const c = h.client;
    const puts = `${h.emulator.urls.admin}/blob/puts`;
    await c.ok('DELETE', puts);
    const ev = await c.ok<Evidence>('POST', `${c.ds}/tenant/${c.tenantId}/evidence`, { Name: 'counted' });
    const r = await c.ok<ResourceCreated>('POST', `${c.ds}/tenant/${c.tenantId}/evidence/${ev.EvidenceId}/resource`, { Name: 'c.bin', MimeType: 'application/octet-stream' });
    const blocks = [crypto.randomBytes(100_000), crypto.randomBytes(100_000), crypto.randomBytes(5_000)];
    for (let i = 0; i < blocks.length; i++) assert.equal((await putBlock(r.UploadUri, i, blocks[i])).status, 201);
    // Block 1 is sent again (as after a crash), once with a wrong MD5 that Azurite refuses: still sent.
    assert.equal((await putBlock(r.UploadUri, 1, blocks[1], crypto.createHash('md5').update('x').digest('base64'))).status, 400);
    assert.equal((await putBlock(r.UploadUri, 1, blocks[1])).status, 201);
    assert.equal((await putBlockList(r.UploadUri, 3)).status, 201);

    const blobPath = new URL(r.UploadUri).pathname.split('/').slice(2).map(decodeURIComponent).join('/');
    assert.equal(blobPath, `evidence-${c.tenantId}/${ev.EvidenceId}/${r.ResourceId}`);
    const stats = await c.ok<BlobPutsResponse>('GET', puts);
    assert.deepEqual(Object.keys(stats.blobs), [blobPath]);
    assert.deepEqual(stats.blobs[blobPath], {
      putBlock: 5,
      putBlockList: 1,
      bytes: 100_000 * 4 + 5_000,
      blockIds: { [blockId(0)]: 1, [blockId(1)]: 3, [blockId(2)]: 1 },
    });

    const timeline = await c.ok<BlobReceivedTimeline>('GET', `${h.emulator.urls.admin}/blob/received?blob=${encodeURIComponent(blobPath)}`);
    assert.equal(timeline.bucketMs, 100);
    assert.equal(
      timeline.points.reduce((n, p) => n + p.bytes, 0),
      405_000,
    );
    assert.ok(timeline.points.every((p, i) => i === 0 || p.atMs > timeline.points[i - 1].atMs));
    const other = await c.ok<BlobReceivedTimeline>('GET', `${h.emulator.urls.admin}/blob/received?blob=nope`);
    assert.deepEqual(other.points, []);

    assert.equal((await c.call('DELETE', puts)).status, 204);
    assert.deepEqual(await c.ok('GET', puts), { blobs: {} });
  });
});
