// The upload queue against the local service (Azurite behind it): real HTTP,
// real encryption, real files. Speed comes from small files and blocks, never
// from timing assertions.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Evidence } from '../../../src/core/clearance/api';
import { UploadInputError } from '../../../src/core/uploads/uploadQueue';
import {
  assertNoSas,
  blobOf,
  filesUnder,
  openQueue,
  plainSha256OfBlob,
  stageRandomFile,
  startService,
  waitForEvent,
  waitForState,
  type ServiceFixture,
} from './serviceFixture';

const KiB = 1024;

describe('UploadQueue against the local service', function () {
  this.timeout(60_000);
  let fx: ServiceFixture;
  let n = 0;
  const freshDir = () => {
    const d = path.join(fx.dir, `q${n++}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  before(async () => {
    fx = await startService();
  });
  after(async () => fx?.stop());
  afterEach(() => fx.emulator.faults.clear());

  it('uploads an encrypted multi-part job: blocks, block list, complete; the service checked every SHA-256; staged files and keys are gone', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 256 * KiB });
    try {
      const id = h.queue.newJobId();
      const parts = [
        stageRandomFile(h.queue, id, 'a.mp4', 1_000_003),
        stageRandomFile(h.queue, id, 'b.mp4', 256 * KiB), // exactly one block of plain: the padding makes a second
        stageRandomFile(h.queue, id, 'c.mp4', 5),
      ];
      await h.queue.enqueue({ id, title: 'Three files', evidence: { name: 'Three files', description: 'test' }, caseTarget: { kind: 'none' }, parts });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.ok(done.evidenceId);
      assert.equal(done.sentBytes, done.totalBytes);
      const ev = await fx.documents.getEvidence(done.evidenceId);
      assert.equal(ev.State, 'Complete');
      const resources = await fx.documents.listResources(done.evidenceId);
      assert.equal(resources.length, 3);
      assert.ok(resources.every((r) => r.State === 'Complete'));
      for (const p of done.parts) {
        assert.ok(p.encrypted);
        const blob = await plainSha256OfBlob(fx, done.evidenceId, p.resourceId!);
        assert.equal(blob.encrypted, true);
        assert.equal(blob.sha256, parts[p.index].sha256, `part ${p.name}`);
        assert.equal(blob.size, (Math.floor(parts[p.index].bytes / 16) + 1) * 16);
      }
      const list = await blobOf(fx, done.evidenceId, done.parts[1].resourceId!).getBlockBlobClient().getBlockList('committed');
      assert.deepEqual(list.committedBlocks?.map((b) => b.size), [256 * KiB, 16]);
      assert.deepEqual(filesUnder(h.archive), []);
      assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(h.secrets.filePath, 'utf8')) as object), []);
      const progress = h.events.filter((e) => e.kind === 'progress');
      assert.ok(progress.length > 0, 'progress events');
    } finally {
      await h.close();
    }
  });

  it('keeps the upload URI (a SAS) in the secret store, never in the state files, and forgets it once the part is complete', async () => {
    const dir = freshDir();
    const h = await openQueue(fx, dir, { blockSize: 64 * KiB, throttling: true, mbps: 8 });
    const stateFiles = () => {
      const state = path.join(dir, 'state');
      const files = filesUnder(state);
      assert.ok(files.length > 0, 'the queue has state files');
      return files.map((f) => fs.readFileSync(path.join(state, f), 'latin1')).join('\n');
    };
    const secrets = () => JSON.parse(fs.readFileSync(h.secrets.filePath, 'utf8')) as Record<string, string>;
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 's.mp4', 400_000);
      await h.queue.enqueue({ id, title: 'SAS at rest', evidence: { name: 'SAS at rest' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.sentBytes > 100_000);
      const uploadUri = secrets()[`clearance.upload.${id}.0.uploadUri`] ?? '';
      assert.match(uploadUri, /^http:\/\/127\.0\.0\.1:\d+\/.*[?&]sig=/, 'the URI is in the secret store');
      const during = stateFiles();
      assert.ok(during.includes(h.queue.get(id)!.parts[0].resourceId!), 'the journal holds the part');
      assertNoSas(during, 'no SAS in the state files while uploading', [uploadUri]);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assertNoSas(stateFiles(), 'no SAS in the state files once complete', [uploadUri]);
      assert.deepEqual(Object.keys(secrets()), []);
    } finally {
      await h.close();
    }
  });

  it('uploads plain files, without metadata, for an account that disables encryption', async () => {
    const plainAccount = await fx.emulator.createIntegration({ name: 'Plain-Role', disableEncryption: true });
    const stack = await fx.clientFor(plainAccount);
    const h = await openQueue(stack, freshDir(), { blockSize: 64 * KiB });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'plain.mp4', 200_000);
      await h.queue.enqueue({ id, title: 'Plain', evidence: { name: 'Plain' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const blob = await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!);
      assert.equal(blob.encrypted, false);
      assert.equal(blob.size, 200_000);
      assert.equal(blob.sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('refuses bad input naming the field, and keeps nothing of it', async () => {
    const h = await openQueue(fx, freshDir());
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'x.mp4', 100);
      const base = { id, title: 'x', evidence: { name: 'x' }, caseTarget: { kind: 'none' as const }, parts: [part] };
      const expectField = async (input: unknown, field: string) => {
        await assert.rejects(h.queue.enqueue(input as Parameters<typeof h.queue.enqueue>[0]), (e: unknown) => e instanceof UploadInputError && e.field === field);
      };
      await expectField({ ...base, title: ' ' }, 'title');
      await expectField({ ...base, parts: [] }, 'parts');
      await expectField({ ...base, parts: [{ ...part, sha256: 'abc' }] }, 'parts[0].sha256');
      await expectField({ ...base, parts: [{ ...part, bytes: 99 }] }, 'parts[0].bytes');
      await expectField({ ...base, parts: [{ ...part, file: path.join(fx.dir, 'elsewhere.mp4') }] }, 'parts[0].file');
      await expectField({ ...base, parts: [part, { ...part }] }, 'parts[1].name');
      await expectField({ ...base, caseTarget: { kind: 'existing', caseId: '' } }, 'caseTarget.caseId');
      await expectField({ ...base, id: '../etc' }, 'id');
      assert.deepEqual(h.queue.snapshot(), []);
    } finally {
      await h.close();
    }
  });

  it('fails on a refused completion, keeps what was acknowledged, and a retry finishes without re-sending blocks', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB });
    try {
      fx.emulator.faults.add({ route: 'resource.complete', kind: 'status', status: 500, count: 20 });
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'r.mp4', 300_000);
      await h.queue.enqueue({ id, title: 'Retry', evidence: { name: 'Retry' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const failed = await waitForState(h.queue, id, ['failed', 'completed']);
      assert.equal(failed.state, 'failed');
      assert.match(failed.error ?? '', /500/);
      assert.equal(failed.parts[0].state, 'committed');
      assert.ok(fs.existsSync(part.file), 'staged file kept for the retry');
      fx.emulator.faults.clear();
      const putsBefore = fx.emulator.faults.list().length;
      assert.equal(putsBefore, 0);
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 0 }); // counts Put Blocks
      await h.queue.retry(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(fx.emulator.faults.list()[0].fired, 0, 'no block sent again');
      assert.equal((await fx.documents.getEvidence(done.evidenceId!)).State, 'Complete');
    } finally {
      await h.close();
    }
  });

  it('links to a new case with department and category, or to an existing one', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB });
    try {
      const [dept] = await fx.documents.listDepartments();
      const [cat] = await fx.documents.listCategories();
      const a = h.queue.newJobId();
      await h.queue.enqueue({
        id: a,
        title: 'New case',
        evidence: { name: 'Lobby' },
        caseTarget: { kind: 'new', name: 'Break-in 42', departmentId: dept.DepartmentId, categoryId: cat.CategoryId, description: 'north doors' },
        parts: [stageRandomFile(h.queue, a, 'a.mp4', 1000)],
      });
      h.queue.start();
      const first = await waitForState(h.queue, a, ['completed', 'failed']);
      assert.equal(first.state, 'completed', first.error);
      const kase = await fx.documents.getCase(first.caseId!);
      assert.equal(kase.Name, 'Break-in 42');
      assert.equal(kase.DepartmentId, dept.DepartmentId);
      assert.equal(kase.CategoryId, cat.CategoryId);
      assert.deepEqual(kase.EvidenceIds, [first.evidenceId]);
      const ev: Evidence = await fx.documents.getEvidence(first.evidenceId!);
      assert.equal(ev.CategoryId, cat.CategoryId);

      const b = h.queue.newJobId();
      await h.queue.enqueue({
        id: b,
        title: 'Existing case',
        evidence: { name: 'Reception' },
        caseTarget: { kind: 'existing', caseId: kase.CaseId },
        parts: [stageRandomFile(h.queue, b, 'b.mp4', 1000)],
      });
      const second = await waitForState(h.queue, b, ['completed', 'failed']);
      assert.equal(second.state, 'completed', second.error);
      assert.deepEqual((await fx.documents.getCase(kase.CaseId)).EvidenceIds, [first.evidenceId, second.evidenceId]);
    } finally {
      await h.close();
    }
  });

  it('runs up to five uploads at once with throttling off, and one at a time with it on', async () => {
    const run = async (throttling: boolean) => {
      const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, throttling, mbps: 400 });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) {
          const id = h.queue.newJobId();
          ids.push(id);
          await h.queue.enqueue({
            id,
            title: `Job ${i}`,
            evidence: { name: `Job ${i}` },
            caseTarget: { kind: 'none' },
            parts: [stageRandomFile(h.queue, id, 'a.mp4', 100_000), stageRandomFile(h.queue, id, 'b.mp4', 100_000)],
          });
        }
        let peak = 0;
        let peakParts = 0;
        h.queue.onDidChange(() => {
          const snap = h.queue.snapshot();
          peak = Math.max(peak, snap.filter((j) => j.state === 'uploading' || j.state === 'completing').length);
          peakParts = Math.max(peakParts, snap.flatMap((j) => j.parts).filter((p) => p.state === 'uploading' && p.sentBytes > 0 && p.sentBytes < p.bytes).length);
        });
        h.queue.start();
        for (const id of ids) assert.equal((await waitForState(h.queue, id, ['completed', 'failed'])).state, 'completed');
        return { peak, peakParts };
      } finally {
        await h.close();
      }
    };
    // Each Put Block waits a little at the gateway, so the uploads overlap whenever they may.
    fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 40 });
    const off = await run(false);
    assert.equal(off.peak, 5);
    const on = await run(true);
    assert.equal(on.peak, 1);
    assert.equal(on.peakParts, 1);
  });

  it('uploads at most five files of one evidence item at once', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB });
    try {
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 40 });
      const id = h.queue.newJobId();
      const parts = Array.from({ length: 7 }, (_, i) => stageRandomFile(h.queue, id, `cam-${i}.mp4`, 150_000));
      let peak = 0;
      h.queue.onDidChange((e) => {
        if (e.kind !== 'removed') peak = Math.max(peak, e.job.parts.filter((p) => p.state === 'uploading').length);
      });
      await h.queue.enqueue({ id, title: 'Seven', evidence: { name: 'Seven' }, caseTarget: { kind: 'none' }, parts });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.equal(peak, 5);
      assert.equal((await fx.documents.listResources(done.evidenceId!)).filter((r) => r.State === 'Complete').length, 7);
    } finally {
      await h.close();
    }
  });

  it('turning throttling on lets one upload go on with one file at a time; the others wait and then resume where they were', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, throttling: false, mbps: 400 });
    try {
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 40 });
      const ids: string[] = [];
      const parts = new Map<string, string[]>();
      for (let i = 0; i < 3; i++) {
        const id = h.queue.newJobId();
        ids.push(id);
        // The first upload, the one that goes on, has three files in flight when throttling turns on.
        const staged = Array.from({ length: i === 0 ? 3 : 1 }, (_, k) => stageRandomFile(h.queue, id, `f${k}.mp4`, 400_000));
        parts.set(id, staged.map((p) => p.sha256));
        await h.queue.enqueue({ id, title: `T${i}`, evidence: { name: `T${i}` }, caseTarget: { kind: 'none' }, parts: staged });
      }
      h.queue.start();
      await waitForEvent(
        h.queue,
        () =>
          h.queue.snapshot().filter((j) => j.state === 'uploading' && j.sentBytes > 0).length === 3 &&
          h.queue.get(ids[0])!.parts.filter((p) => p.sentBytes > 0 && p.state !== 'completed').length === 3,
      );
      await h.queue.setThrottling(true);
      assert.equal(h.queue.snapshot().filter((j) => j.state === 'uploading').length, 1);
      let peak = 0;
      // Files sending at once: those whose sent bytes grew between two consecutive looks at the queue.
      let peakSending = 0;
      let before = new Map(h.queue.snapshot().flatMap((j) => j.parts.map((p) => [`${j.id}:${p.index}`, p.sentBytes] as const)));
      h.queue.onDidChange(() => {
        const snap = h.queue.snapshot();
        peak = Math.max(peak, snap.filter((j) => j.state === 'uploading' || j.state === 'completing').length);
        const now = new Map(snap.flatMap((j) => j.parts.map((p) => [`${j.id}:${p.index}`, p.sentBytes] as const)));
        peakSending = Math.max(peakSending, [...now].filter(([k, sent]) => sent > (before.get(k) ?? 0)).length);
        before = now;
      });
      for (const id of ids) {
        const done = await waitForState(h.queue, id, ['completed', 'failed']);
        assert.equal(done.state, 'completed', done.error);
        for (const p of done.parts) assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, p.resourceId!)).sha256, parts.get(id)![p.index]);
      }
      assert.equal(peak, 1);
      assert.equal(peakSending, 1, 'one file in flight at a time once throttling is on');
    } finally {
      await h.close();
    }
  });

  it('pauses and resumes from the last acknowledged block; progress carries bytes, rate and time left', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, throttling: true, mbps: 8 });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'p.mp4', 600_000);
      await h.queue.enqueue({ id, title: 'Pause', evidence: { name: 'Pause' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const moving = await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.rate > 0 && e.job.sentBytes > 200_000);
      assert.ok(moving.kind === 'progress' && moving.job.secondsLeft !== undefined && moving.job.secondsLeft > 0);
      await h.queue.pause(id);
      const paused = h.queue.get(id)!;
      assert.equal(paused.state, 'paused');
      assert.equal(paused.rate, 0);
      const sentAtPause = paused.sentBytes;
      assert.ok(sentAtPause > 0 && sentAtPause < part.bytes);
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 0 }); // counts Put Blocks from here
      await h.queue.resume(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const blocks = Math.ceil((Math.floor(part.bytes / 16) + 1) * 16 / (64 * KiB));
      const acknowledgedBefore = Math.floor(sentAtPause / (64 * KiB));
      assert.equal(fx.emulator.faults.list()[0].fired, blocks - acknowledgedBefore, 'resumed after the last acknowledged block');
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('pauses every queued and running upload at once and resumes every paused one, counting them; a finished one is left alone; the states are kept', async () => {
    const dir = freshDir();
    const options = { blockSize: 64 * KiB, throttling: true, mbps: 8 };
    let h = await openQueue(fx, dir, options);
    try {
      const done = h.queue.newJobId();
      await h.queue.enqueue({ id: done, title: 'Done', evidence: { name: 'Done' }, caseTarget: { kind: 'none' }, parts: [stageRandomFile(h.queue, done, 'd.mp4', 5)] });
      h.queue.start();
      assert.equal((await waitForState(h.queue, done, ['completed', 'failed'])).state, 'completed');
      const ids: string[] = [];
      const staged = new Map<string, { bytes: number; sha256: string }>();
      for (const [i, bytes] of [600_000, 1000, 1000].entries()) {
        const id = h.queue.newJobId();
        const part = stageRandomFile(h.queue, id, `p${i}.mp4`, bytes);
        staged.set(id, part);
        await h.queue.enqueue({ id, title: `All ${i}`, evidence: { name: `All ${i}` }, caseTarget: { kind: 'none' }, parts: [part] });
        ids.push(id);
      }
      // Throttling on: the first one uploads, the other two wait for its slot.
      await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === ids[0] && e.job.sentBytes > 100_000);
      assert.deepEqual(ids.map((id) => h.queue.get(id)!.state), ['uploading', 'queued', 'queued']);
      const from = h.events.length;
      assert.equal(await h.queue.pauseAll(), 3);
      assert.deepEqual(ids.map((id) => h.queue.get(id)!.state), ['paused', 'paused', 'paused']);
      assert.equal(h.queue.get(done)!.state, 'completed');
      const sentAtPause = h.queue.get(ids[0])!.sentBytes;
      assert.ok(sentAtPause > 0 && sentAtPause < 600_000, `stopped in the middle (${sentAtPause} bytes sent)`);
      const pausedEvents = h.events.slice(from).flatMap((e) => (e.kind === 'changed' && e.job.state === 'paused' ? [e.job.id] : []));
      assert.deepEqual(pausedEvents.sort(), [...ids].sort(), 'one change to paused per job, as pause() makes');
      assert.ok(!h.events.slice(from).some((e) => e.kind !== 'removed' && e.job.id !== ids[0] && e.job.state === 'uploading'), 'no waiting job started when the slot was freed');
      assert.equal(await h.queue.pauseAll(), 0, 'nothing left to pause');

      // Kept: a reopened queue has them paused and does not run them.
      await h.close();
      h = await openQueue(fx, dir, options);
      h.queue.start();
      assert.deepEqual(ids.map((id) => h.queue.get(id)!.state), ['paused', 'paused', 'paused']);
      assert.equal(await h.queue.resumeAll(), 3);
      assert.equal(await h.queue.resumeAll(), 0, 'nothing left to resume');
      for (const id of ids) {
        const job = await waitForState(h.queue, id, ['completed', 'failed']);
        assert.equal(job.state, 'completed', job.error);
        assert.equal((await plainSha256OfBlob(fx, job.evidenceId!, job.parts[0].resourceId!)).sha256, staged.get(id)!.sha256);
      }
      assert.equal(h.queue.get(done)!.state, 'completed');
    } finally {
      await h.close();
    }
  });

  it('starts over with new evidence when the service purged the incomplete one during a pause', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, throttling: true, mbps: 8 });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'late.mp4', 400_000);
      await h.queue.enqueue({ id, title: 'Late', evidence: { name: 'Late' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.sentBytes > 100_000);
      await h.queue.pause(id);
      const first = h.queue.get(id)!.evidenceId!;
      await fx.documents.deleteEvidence(first); // as the 24 h purge would
      await h.queue.resume(id);
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      assert.notEqual(done.evidenceId, first);
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
      const told = h.events.filter((e) => e.kind === 'startedOver' && e.job.id === id);
      assert.deepEqual(told.map((e) => e.kind === 'startedOver' && [e.startOver.why, e.startOver.abandonedEvidenceId]), [['purged', first]], 'one start-over event, saying why');
      assert.deepEqual(done.startedOver?.map((s) => s.why), ['purged'], 'kept on the job for the Uploads view');
    } finally {
      await h.close();
    }
  });

  it('starts over with new evidence when the blob store refuses the upload URI (expired SAS), deleting the old evidence', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'sas.mp4', 300_000);
      fx.emulator.faults.add({ route: 'blob.putBlock', kind: 'blockReject', status: 403, code: 'AuthenticationFailed', count: 1 });
      await h.queue.enqueue({ id, title: 'SAS', evidence: { name: 'SAS' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      const resources = await fx.documents.listResources(done.evidenceId!);
      assert.deepEqual(resources.map((r) => r.State), ['Complete']);
      const abandoned = h.events.find((e) => e.kind === 'changed' && e.job.id === id && e.job.evidenceId && e.job.evidenceId !== done.evidenceId);
      assert.ok(abandoned && abandoned.kind === 'changed', 'the first evidence item was given up');
      await assert.rejects(fx.documents.getEvidence(abandoned.job.evidenceId!), /404/);
      assert.equal((await plainSha256OfBlob(fx, done.evidenceId!, done.parts[0].resourceId!)).sha256, part.sha256);
    } finally {
      await h.close();
    }
  });

  it('cancel stops the upload, deletes the evidence at the service and the staged files', async () => {
    const h = await openQueue(fx, freshDir(), { blockSize: 64 * KiB, throttling: true, mbps: 4 });
    try {
      const id = h.queue.newJobId();
      const part = stageRandomFile(h.queue, id, 'c.mp4', 500_000);
      await h.queue.enqueue({ id, title: 'Cancel', evidence: { name: 'Cancel' }, caseTarget: { kind: 'none' }, parts: [part] });
      h.queue.start();
      const moving = await waitForEvent(h.queue, (e) => e.kind === 'progress' && e.job.id === id && e.job.sentBytes > 0);
      const evidenceId = (moving as { job: { evidenceId?: string } }).job.evidenceId!;
      assert.equal((await fx.documents.getEvidence(evidenceId)).State, 'Incomplete');
      await h.queue.cancel(id);
      const canceled = h.queue.get(id)!;
      assert.equal(canceled.state, 'canceled');
      assert.equal(canceled.error, undefined);
      assert.equal(fs.existsSync(h.queue.stagingFolder(id)), false);
      await assert.rejects(fx.documents.getEvidence(evidenceId), /404/);
      assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(h.secrets.filePath, 'utf8')) as object), []);
    } finally {
      await h.close();
    }
  });
});
