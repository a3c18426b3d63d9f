// The default Site: a folder holding site.json (see siteFile.ts) and
// recordings/<camera>/<start>.mp4 (see timeline.ts for the names), H.264 MP4
// segments with frequent keyframes.
//
// Export precision: parts are cut by stream copy (no re-encode, so the
// evidence is the recorded bitstream). A part therefore starts at the last
// keyframe at or before the asked `from` and ends at most one keyframe
// interval past `to`; with the sample site's 1 s keyframes that is within 1 s.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { diskFullError, isNoSpace } from './diskSpace';
import { runFfmpeg } from './ffmpeg';
import {
  MAX_EXPORT_PART_MS,
  MAX_EXPORT_RANGE_MS,
  SiteError,
  SiteFileError,
  type Area,
  type Camera,
  type ClipOptions,
  type ClipResult,
  type ExportOptions,
  type ExportPart,
  type ExportResult,
  type Federation,
  type RecordingCoverage,
  type RecordingSegment,
  type Site,
  type SiteModel,
  type SitePrivilege,
  type SiteUser,
  type SnapshotOptions,
  type SnapshotResult,
  type TimeRange,
} from './model';
import { isPasswordHash } from '../auth/passwords';
import { readMp4DurationMs, readMp4Tracks } from './mp4';
import { checkSiteFile } from './siteFile';
import {
  clip,
  concatEntries,
  coveredRuns,
  ffconcatScript,
  fileStamp,
  gapsIn,
  parseRecordingFileName,
  pathSegmentFor,
  splitIntoParts,
} from './timeline';

export const SITE_FILE_NAME = 'site.json';
export const RECORDINGS_DIR = 'recordings';

export interface LocalFolderSiteOptions {
  /** Holes between segments up to this long count as continuous recording (frame timing jitter). Default 1000 ms. */
  joinToleranceMs?: number;
}

export class LocalFolderSite implements Site {
  readonly folder: string;
  private loaded: Promise<SiteModel> | undefined;
  private readonly durations = new Map<string, { size: number; mtimeMs: number; ms: number | undefined }>();
  private readonly joinToleranceMs: number;
  private writingUsers: Promise<void> = Promise.resolve();

  constructor(
    folder: string,
    readonly ffmpegPath: string,
    opts: LocalFolderSiteOptions = {},
  ) {
    this.folder = path.resolve(folder);
    this.joinToleranceMs = opts.joinToleranceMs ?? 1000;
  }

  get description(): string {
    return `local site ${this.folder}`;
  }

  /** Folder of a camera's recordings (the id made path-safe). */
  recordingsFolder(cameraId: string): string {
    return path.join(this.folder, RECORDINGS_DIR, pathSegmentFor(cameraId));
  }

  async reload(): Promise<void> {
    this.loaded = undefined;
    await this.model();
  }

  model(): Promise<SiteModel> {
    if (!this.loaded) {
      const loading = this.load();
      this.loaded = loading;
      // A failed load is not cached: fixing site.json and asking again works.
      loading.catch(() => {
        if (this.loaded === loading) this.loaded = undefined;
      });
    }
    return this.loaded.then(cloneModel);
  }

  private async load(): Promise<SiteModel> {
    const file = path.join(this.folder, SITE_FILE_NAME);
    let raw: string;
    try {
      raw = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SiteError('SiteFileMissing', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      throw new SiteFileError(file, [{ field: '(file)', message: `is not valid JSON: ${(e as Error).message}` }]);
    }
    const checked = checkSiteFile(json);
    if (!checked.ok) throw new SiteFileError(file, checked.issues);
    return checked.model;
  }

  async listFederations(): Promise<Federation[]> {
    return (await this.model()).federations;
  }

  async listAreas(): Promise<Area[]> {
    return (await this.model()).areas;
  }

  async listCameras(): Promise<Camera[]> {
    return (await this.model()).cameras;
  }

  async getCamera(cameraId: string): Promise<Camera | undefined> {
    return (await this.model()).cameras.find((c) => c.id === cameraId);
  }

  async listUsers(): Promise<SiteUser[]> {
    return (await this.model()).users;
  }

  async getUser(userId: string): Promise<SiteUser | undefined> {
    return (await this.model()).users.find((u) => u.id === userId);
  }

  async hasPrivilege(userId: string, privilege: SitePrivilege): Promise<boolean> {
    return (await this.getUser(userId))?.privileges.includes(privilege) ?? false;
  }

  // Password hashes are read from site.json each time (never cached in the model,
  // which goes to UIs), so a hash set by another process counts at once.
  async passwordHash(userId: string): Promise<string | undefined> {
    const { users } = await this.readRawUsers();
    const hash = users.find((u) => u.id === userId)?.passwordHash;
    return isPasswordHash(hash) ? hash : undefined;
  }

  setPasswordHash(userId: string, hash: string | undefined): Promise<void> {
    const next = this.writingUsers.then(async () => {
      const { json, users } = await this.readRawUsers();
      const user = users.find((u) => u.id === userId);
      if (!user) throw new SiteError('SiteFileInvalid', `no site user ${JSON.stringify(userId)} in ${path.join(this.folder, SITE_FILE_NAME)}`, 'user');
      if (hash === undefined) delete user.passwordHash;
      else user.passwordHash = hash;
      const file = path.join(this.folder, SITE_FILE_NAME);
      const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(temp, JSON.stringify(json, null, 2) + '\n', { mode: 0o600 });
      await rename(temp, file);
    });
    this.writingUsers = next.catch(() => undefined);
    return next;
  }

  private async readRawUsers(): Promise<{ json: { users?: { id?: unknown; passwordHash?: unknown }[] }; users: { id?: unknown; passwordHash?: unknown }[] }> {
    await this.model(); // a broken site.json fails here, naming the field
    const json = JSON.parse(await readFile(path.join(this.folder, SITE_FILE_NAME), 'utf8')) as { users?: { id?: unknown; passwordHash?: unknown }[] };
    return { json, users: Array.isArray(json.users) ? json.users : [] };
  }

  async listRecordings(cameraId: string, range?: TimeRange): Promise<RecordingCoverage> {
    await this.requireCamera(cameraId);
    if (range) checkRange(range.from, range.to);
    const all = await this.readSegments(cameraId);
    if (!range) {
      const runs = coveredRuns(all, this.joinToleranceMs);
      const gaps = runs.length > 1 ? gapsIn(runs, { from: runs[0]!.from, to: runs[runs.length - 1]!.to }) : [];
      return { cameraId, segments: all, gaps };
    }
    const a = range.from.getTime();
    const b = range.to.getTime();
    const segments = all.filter((s) => s.end.getTime() > a && s.start.getTime() < b);
    return { cameraId, segments, gaps: gapsIn(coveredRuns(segments, this.joinToleranceMs), range) };
  }

  async exportRange(cameraId: string, from: Date, to: Date, destDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
    checkRange(from, to);
    if (to.getTime() - from.getTime() > MAX_EXPORT_RANGE_MS) {
      const hours = ((to.getTime() - from.getTime()) / 3_600_000).toFixed(1);
      throw new SiteError(
        'ExportRangeTooLong',
        `Export range ${from.toISOString()} - ${to.toISOString()} (${hours} h) must be shorter than 1 days.`,
        'to',
      );
    }
    const maxPartMs = opts.maxPartMs ?? MAX_EXPORT_PART_MS;
    if (!Number.isFinite(maxPartMs) || maxPartMs < 1000 || maxPartMs > MAX_EXPORT_PART_MS) {
      throw new SiteError('InvalidRange', `maxPartMs must be between 1000 and ${MAX_EXPORT_PART_MS}, found ${maxPartMs}`, 'maxPartMs');
    }
    const { signal } = opts;
    signal?.throwIfAborted();
    const range = { from, to };
    const coverage = await this.listRecordings(cameraId, range);
    const covered = clip(coveredRuns(coverage.segments, this.joinToleranceMs), range);
    if (covered.length === 0) {
      return { status: 'unavailable', cameraId, from, to, parts: [], gaps: [{ from, to }] };
    }

    const dest = path.resolve(destDir);
    try {
      await mkdir(dest, { recursive: true });
    } catch (e) {
      if (isNoSpace(e)) throw await diskFullError(path.dirname(dest), e);
      throw e;
    }
    const pieces = splitIntoParts(covered, maxPartMs);
    const stem = pathSegmentFor(cameraId);
    const written: string[] = [];
    const parts: ExportPart[] = [];
    try {
      for (const [i, piece] of pieces.entries()) {
        signal?.throwIfAborted();
        const file = insideDir(dest, `${stem}_${fileStamp(piece.from)}_${fileStamp(piece.to)}.mp4`);
        const temp = insideDir(dest, `.${stem}.${randomBytes(6).toString('hex')}.partial.mp4`);
        const list = insideDir(dest, `.${stem}.${randomBytes(6).toString('hex')}.ffconcat`);
        written.push(temp, list);
        await writeFile(list, ffconcatScript(concatEntries(coverage.segments, piece)), { mode: 0o600 });
        try {
          await runFfmpeg(
            this.ffmpegPath,
            ['-f', 'concat', '-safe', '0', '-i', list, '-map', '0', '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', '-y', temp],
            { signal },
          );
        } catch (e) {
          if ((e as Error).name === 'AbortError' || isNoSpace(e)) throw e;
          throw new SiteError('ExportFailed', `export of camera ${JSON.stringify(cameraId)} ${piece.from.toISOString()} - ${piece.to.toISOString()} failed: ${(e as Error).message}`);
        } finally {
          await rm(list, { force: true });
        }
        const { bytes, sha256 } = await hashFile(temp, signal);
        await rename(temp, file);
        written.push(file);
        const part: ExportPart = { file, cameraId, from: piece.from, to: piece.to, bytes, sha256 };
        parts.push(part);
        opts.onPart?.(part, i, pieces.length);
      }
    } catch (e) {
      // Nobody gets a list of what was written before the failure: remove it all.
      await Promise.all(written.map((f) => rm(f, { force: true })));
      // A full disk is no fault of the recordings: say so (and what is free once the parts are gone).
      if (isNoSpace(e) && (e as Error).name !== 'AbortError') throw await diskFullError(dest, e);
      throw e;
    }
    const gaps = gapsIn(covered, range);
    return { status: gaps.length === 0 ? 'complete' : 'partial', cameraId, from, to, parts, gaps };
  }

  /**
   * One MP4 of the range, for review: the covered runs joined by the concat demuxer,
   * the video stream copied (the recorded H.264, as exportRange writes it; re-encoded
   * to H.264 only when the recordings hold another codec), audio and other streams
   * dropped. Precision as exportRange's: the first frame is the keyframe at or
   * before the start of the recordings inside the range.
   */
  async exportClip(cameraId: string, from: Date, to: Date, destFile: string, opts: ClipOptions = {}): Promise<ClipResult> {
    checkRange(from, to);
    if (to.getTime() - from.getTime() > MAX_EXPORT_RANGE_MS) {
      const hours = ((to.getTime() - from.getTime()) / 3_600_000).toFixed(1);
      throw new SiteError('ExportRangeTooLong', `Export range ${from.toISOString()} - ${to.toISOString()} (${hours} h) must be shorter than 1 days.`, 'to');
    }
    const { signal } = opts;
    signal?.throwIfAborted();
    const range = { from, to };
    const coverage = await this.listRecordings(cameraId, range);
    const covered = clip(coveredRuns(coverage.segments, this.joinToleranceMs), range);
    const first = covered[0];
    const last = covered[covered.length - 1];
    if (!first || !last) return { status: 'unavailable', cameraId, from, to };

    const file = path.resolve(destFile);
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const stem = `.${path.basename(file)}.${randomBytes(6).toString('hex')}`;
    const temp = insideDir(dir, `${stem}.partial.mp4`);
    const list = insideDir(dir, `${stem}.ffconcat`);
    const cut = (video: readonly string[]) =>
      runFfmpeg(
        this.ffmpegPath,
        ['-f', 'concat', '-safe', '0', '-i', list, '-map', '0:v:0', ...video, '-an', '-sn', '-dn', '-movflags', '+faststart', '-f', 'mp4', '-y', temp],
        { signal },
      );
    try {
      await writeFile(list, ffconcatScript(concatEntries(coverage.segments, { from: first.from, to: last.to })), { mode: 0o600 });
      try {
        await cut(['-c:v', 'copy']);
        const codec = (await readMp4Tracks(temp))?.video;
        if (codec !== 'avc1' && codec !== 'avc3') await cut(['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p']);
      } catch (e) {
        if ((e as Error).name === 'AbortError') throw e;
        if (isNoSpace(e)) throw await diskFullError(dir, e);
        throw new SiteError('ExportFailed', `clip of camera ${JSON.stringify(cameraId)} ${from.toISOString()} - ${to.toISOString()} failed: ${(e as Error).message}`);
      }
      const durationMs = await readMp4DurationMs(temp);
      if (durationMs === undefined) throw new SiteError('ExportFailed', `clip of camera ${JSON.stringify(cameraId)}: ffmpeg wrote an MP4 without a readable duration`);
      const { bytes, sha256 } = await hashFile(temp, signal);
      await chmod(temp, 0o600);
      await rename(temp, file);
      return { status: 'ok', file, cameraId, from, to, clipStart: first.from, durationMs, bytes, sha256, gaps: gapsIn(covered, range) };
    } finally {
      await rm(list, { force: true });
      await rm(temp, { force: true });
    }
  }

  async snapshot(cameraId: string, at: Date, destFile: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new SiteError('InvalidRange', 'at must be a valid date', 'at');
    const coverage = await this.listRecordings(cameraId, { from: at, to: new Date(at.getTime() + 1) });
    // The latest-starting segment wins where segments overlap.
    const segment = coverage.segments[coverage.segments.length - 1];
    if (!segment) return { status: 'unavailable', cameraId, at };
    const file = path.resolve(destFile);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomBytes(6).toString('hex')}.partial.jpg`;
    const offset = ((at.getTime() - segment.start.getTime()) / 1000).toFixed(3);
    try {
      await runFfmpeg(
        this.ffmpegPath,
        ['-ss', offset, '-i', segment.file, '-frames:v', '1', '-q:v', '3', '-f', 'image2', '-update', '1', '-y', temp],
        { signal: opts.signal },
      );
      const written = await stat(temp).catch(() => undefined);
      // ffmpeg succeeds without output when `at` falls after the segment's last frame.
      if (!written || written.size === 0) return { status: 'unavailable', cameraId, at };
      const { bytes, sha256 } = await hashFile(temp, opts.signal);
      await rename(temp, file);
      return { status: 'ok', file, cameraId, at, bytes, sha256 };
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      if (isNoSpace(e)) {
        await rm(temp, { force: true });
        throw await diskFullError(path.dirname(file), e);
      }
      throw new SiteError('ExportFailed', `snapshot of camera ${JSON.stringify(cameraId)} at ${at.toISOString()} failed: ${(e as Error).message}`);
    } finally {
      await rm(temp, { force: true });
    }
  }

  private async requireCamera(cameraId: string): Promise<Camera> {
    const camera = await this.getCamera(cameraId);
    if (!camera) throw new SiteError('UnknownCamera', `the site has no camera ${JSON.stringify(cameraId)}`, 'cameraId');
    return camera;
  }

  private async readSegments(cameraId: string): Promise<RecordingSegment[]> {
    const dir = this.recordingsFolder(cameraId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const segments: RecordingSegment[] = [];
    for (const name of names.sort()) {
      const start = parseRecordingFileName(name);
      if (!start) continue;
      const file = path.join(dir, name);
      const ms = await this.durationOf(file);
      if (ms === undefined || ms <= 0) continue;
      segments.push({ cameraId, file, start, end: new Date(start.getTime() + Math.round(ms)) });
    }
    return segments.sort((a, b) => a.start.getTime() - b.start.getTime());
  }

  private async durationOf(file: string): Promise<number | undefined> {
    const st = await stat(file);
    const cached = this.durations.get(file);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached.ms;
    let ms: number | undefined;
    try {
      ms = await readMp4DurationMs(file);
    } catch {
      ms = undefined; // unreadable or still being written: not a recording yet
    }
    this.durations.set(file, { size: st.size, mtimeMs: st.mtimeMs, ms });
    return ms;
  }
}

function checkRange(from: Date, to: Date): void {
  if (!(from instanceof Date) || Number.isNaN(from.getTime())) throw new SiteError('InvalidRange', 'from must be a valid date', 'from');
  if (!(to instanceof Date) || Number.isNaN(to.getTime())) throw new SiteError('InvalidRange', 'to must be a valid date', 'to');
  if (to.getTime() <= from.getTime()) {
    throw new SiteError('InvalidRange', `the range ends (${to.toISOString()}) before it starts (${from.toISOString()})`, 'to');
  }
}

/** Joins a generated name to dir and proves it stayed there. */
function insideDir(dir: string, name: string): string {
  const file = path.resolve(dir, name);
  if (path.dirname(file) !== dir) throw new Error(`refusing to write outside ${dir}: ${JSON.stringify(name)}`);
  return file;
}

/** Streams the file through SHA-256 (parts can be gigabytes; never held in memory). */
async function hashFile(file: string, signal?: AbortSignal): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(file, signal ? { signal } : {});
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

function cloneModel(m: SiteModel): SiteModel {
  return structuredClone(m);
}
