// Issue 13, "the archive destination folder fills up": the real role against the
// local service, its archive folder inside a small tmpfs (the state folder, with
// the upload journal, stays on the ordinary disk). A filler file leaves less
// space than a five-part export needs: the export fails part-way, the request
// stays Processing with an error that names the folder and says it is full,
// nothing half-written is kept; once the filler is gone the export goes again by
// itself and the request ends Completed with every file intact at the service.
// Then an upload in progress meets a full archive folder: it is not disturbed,
// and the journal holds after a reopen.
//
// Needs root (or CAP_SYS_ADMIN) to mount the tmpfs; without it the test fails and says so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Role, type RoleOptions } from '../../../src/core/role/role';
import type { VideoRequest } from '../../../src/core/requests/videoRequest';
import { RECORDINGS_DIR } from '../../../src/core/site';
import { waitFor } from '../role/world';
import { faultRoleOptions, startFaultWorld, type FaultWorld } from './faultWorld';
import { checkGuarantees } from './guarantees';

const TMPFS_BYTES = 8 * 1024 * 1024;

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Writes `bytes` of zeros (real pages on tmpfs) to `file`; stops quietly at ENOSPC when `untilFull`. */
function fill(file: string, bytes: number, untilFull = false): void {
  const chunk = Buffer.alloc(64 * 1024);
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      try {
        fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      } catch (e) {
        if (untilFull && (e as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw e;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe('faults: the archive destination folder fills up (a small tmpfs)', function () {
  this.timeout(60_000);
  let world: FaultWorld | undefined;
  let role: Role | undefined;
  let options: RoleOptions;
  let mountPoint: string | undefined;
  let mounted = false;
  let archive: string;
  let filler: string;
  const logs: string[] = [];

  const fileAndApprove = async (comments: string): Promise<string> => {
    const request = await world!.fileRequest({ cameras: [world!.camera], fromUtc: world!.at(0), toUtc: world!.at(50), comments });
    await waitFor('the request at the role', () => role!.request(request.requestId));
    await role!.approveRequest('admin', request.requestId);
    return request.requestId;
  };

  before(async function () {
    this.timeout(120_000);
    world = await startFaultWorld('diskfull');
    mountPoint = path.join(world.dir, 'small-disk');
    fs.mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0700`, 'tmpfs', mountPoint], { stdio: 'pipe' });
      mounted = true;
    } catch (e) {
      const why = ((e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message).trim();
      throw new Error(
        `this test needs to mount a ${TMPFS_BYTES / 1048576} MiB tmpfs (\`mount -t tmpfs -o size=${TMPFS_BYTES} tmpfs ${mountPoint}\`): ` +
          `run it as root or with CAP_SYS_ADMIN (uid ${process.getuid?.() ?? '?'}); mount said: ${why}`,
      );
    }
    archive = path.join(mountPoint, 'archive');
    filler = path.join(mountPoint, 'filler.bin');
    const base = faultRoleOptions(world, (line) => logs.push(line));
    options = { ...base, properties: { ...base.properties!, archiveDestinationFolder: archive } };
    role = await Role.open(options);
    await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    await role.addToSelection('admin', { kind: 'camera', id: world.camera });
    await role.start();
    await waitFor('the registry to list the camera', async () => (await world!.registryIds()).includes(world!.camera));
  });

  after(async function () {
    this.timeout(60_000);
    await role?.close();
    if (mounted && mountPoint) {
      try {
        execFileSync('umount', [mountPoint], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
      }
    }
    await world?.stop();
  });

  it('a full archive folder: the export waits (Processing, a clear error, nothing kept), then completes by itself once space returns', async function () {
    const w = world!;
    // What the five parts weigh, about: 50 s of the camera's one-minute recording.
    const recordings = path.join(w.siteDir, RECORDINGS_DIR);
    const recorded = (fs.readdirSync(recordings, { recursive: true }) as string[])
      .map((f) => path.join(recordings, f))
      .filter((f) => fs.statSync(f).isFile() && f.endsWith('.mp4'))
      .reduce((n, f) => n + fs.statSync(f).size, 0);
    const exportBytes = Math.round((recorded * 50) / 60);
    fs.mkdirSync(archive, { recursive: true });
    const room = Math.round(exportBytes * 0.4);
    assert.ok(freeBytes(mountPoint!) > room + exportBytes, `the tmpfs holds the export (${exportBytes} bytes) once the filler is gone`);
    fill(filler, freeBytes(mountPoint!) - room);
    const freeAtStart = freeBytes(mountPoint!);
    assert.ok(freeAtStart < exportBytes, `less space (${freeAtStart}) than the export needs (${exportBytes})`);

    // What the staging folder holds each time the role says it is waiting (the failed try's files are gone by then).
    const stagedWhileWaiting: string[][] = [];
    const errors: string[] = [];
    const sub = role!.onDidChange((e) => {
      if (e.kind !== 'request' || e.event.kind !== 'updated' || !/is full/.test(e.event.request.error ?? '')) return;
      errors.push(e.event.request.error!);
      stagedWhileWaiting.push(w.stagedFiles(archive));
    });
    logs.length = 0;
    try {
      const requestId = await fileAndApprove('disk full');
      const uploadId = `${requestId}-c0`;
      // Two failed tries: the first, and one after the first wait.
      await waitFor('two tries that found the archive folder full', () => errors.length >= 2, 20_000);
      const waiting = role!.request(requestId)!;
      assert.equal(waiting.status, 'Processing', `the request waits, it is not given back or failed (${waiting.error})`);
      assert.equal((await w.serviceRequest(requestId)).status, 'Processing', 'the service sees it Processing still');
      const camera = waiting.cameras[0];
      assert.equal(camera.outcome, undefined, 'no outcome for the camera while waiting');
      assert.equal(camera.files, undefined, 'no file counted as exported');
      assert.equal(camera.uploadJobId, undefined, 'nothing queued');
      assert.equal(role!.upload(uploadId), undefined, 'no upload job');
      assert.deepEqual(await w.evidenceNamed(requestId.slice(0, 8)), [], 'nothing at the service');
      const error = waiting.error ?? '';
      assert.ok(error.includes(archive), `the error names the archive folder: ${error}`);
      assert.match(error, /is full \(\d+\.\d MiB free\): waiting for space/);
      assert.ok(logs.some((l) => l.includes(`the archive folder ${archive} is full (`) && l.includes('waiting for space')), `the role's log says so:\n${logs.join('\n')}`);
      const waits = (await role!.queryActivities('admin', { types: ['exportWaiting'] })).filter((r) => r.requestId === requestId);
      assert.equal(waits.length, 1, 'the trail says once that the export waits, not once per try');
      assert.ok(waits[0]!.summary.includes(archive) && /waits: .*is full .*goes again by itself/.test(waits[0]!.summary), waits[0]!.summary);
      for (const staged of stagedWhileWaiting) {
        assert.deepEqual(staged.filter((f) => !f.endsWith('/')), [], 'no part (whole or partial) left in staging after a failed try');
      }
      assert.ok(fs.existsSync(filler), 'the filler is still there');

      // Space returns: the export goes again by itself.
      fs.rmSync(filler);
      const settled: VideoRequest = await Promise.race([
        role!.whenRequestSettled(requestId),
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`the request did not settle 30 s after space returned:\n${logs.join('\n')}`)), 30_000).unref()),
      ]);
      assert.equal(settled.error, undefined, 'the waiting error is cleared');
      const counts = w.routeCounts();
      const figures = await checkGuarantees({
        name: 'archive folder full, then space again',
        world: w,
        request: settled,
        upload: role!.upload(uploadId),
        archive,
        seconds: 0,
        counts,
        blobs: w.blobTotals(),
        baseline: counts,
        fired: {},
        logs: [...logs],
        expect: { outcome: 'Completed' },
      });
      assert.deepEqual(figures.problems, []);
      assert.equal(figures.evidenceItems, 1, 'one evidence item');
      assert.deepEqual(w.stagedFiles(archive), [], 'staging empty');
      assert.equal(role!.upload(uploadId)?.state, 'completed');
    } finally {
      sub.dispose();
      fs.rmSync(filler, { force: true });
    }
  });

  it("an operator export into a full archive folder: an error naming the folder, nothing queued or left staged", async function () {
    const w = world!;
    const before = (await role!.snapshot()).uploads.length;
    fill(filler, TMPFS_BYTES, true);
    try {
      await assert.rejects(role!.exportVideo('admin', { cameras: [w.camera], from: w.at(0), to: w.at(30) }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'DiskFull', e.message);
        assert.ok(e.message.startsWith(`the archive folder ${archive} is full (`), e.message);
        assert.match(e.message, /MiB free\): free some space there and export again; nothing was queued$/);
        return true;
      });
      assert.equal((await role!.snapshot()).uploads.length, before, 'nothing queued');
      assert.deepEqual(w.stagedFiles(archive), [], 'nothing left staged');
    } finally {
      fs.rmSync(filler, { force: true });
    }
  });

  it('an upload in progress is not disturbed by a full archive folder, and its journal holds (it lives in the state folder)', async function () {
    const w = world!;
    await w.resetCounts();
    // Slow blocks: the upload is still going when the folder fills.
    w.svc.emulator.faults.add({ route: 'blob.putBlock', kind: 'latency', latencyMs: 150 });
    try {
      const requestId = await fileAndApprove('disk full during upload');
      const uploadId = `${requestId}-c0`;
      await waitFor('the upload under way', () => role!.upload(uploadId)?.state === 'uploading', 20_000);
      fill(filler, TMPFS_BYTES, true);
      assert.ok(freeBytes(mountPoint!) < 64 * 1024, 'the archive folder is full');
      const settled = await role!.whenRequestSettled(requestId);
      w.svc.emulator.faults.clear();
      const counts = w.routeCounts();
      const figures = await checkGuarantees({
        name: 'archive folder full during an upload',
        world: w,
        request: settled,
        upload: role!.upload(uploadId),
        archive,
        seconds: 0,
        counts,
        blobs: w.blobTotals(),
        baseline: counts,
        fired: {},
        logs: [...logs],
        expect: { outcome: 'Completed' },
      });
      assert.deepEqual(figures.problems, []);

      // The journal, read back by a new role on the same state: both uploads there, completed, every part acknowledged.
      await role!.close();
      role = undefined;
      role = await Role.open(options);
      const mine = (await role.snapshot()).requests.filter((x) => x.comments.startsWith('disk full'));
      assert.equal(mine.length, 2);
      for (const r of mine) {
        const up = role.upload(r.cameras[0].uploadJobId ?? '');
        assert.equal(r.status, 'Completed', r.requestId);
        assert.equal(up?.state, 'completed', `upload of ${r.requestId} after a reopen`);
        assert.ok(up.parts.length === 5 && up.parts.every((p) => p.state === 'completed' && p.sentBytes === p.bytes), `every part acknowledged: ${JSON.stringify(up.parts)}`);
      }
    } finally {
      w.svc.emulator.faults.clear();
      fs.rmSync(filler, { force: true });
    }
  });
});
