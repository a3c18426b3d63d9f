// A realistic sample site for the embedded default and the tests: one
// federation, three areas, twelve cameras, four users with different
// privileges, and real H.264 recordings that show the camera name and the
// wall-clock time burned in (so an exported part can be checked by eye).
// Kept cheap for small machines: tiny frames, low frame rate, ultrafast x264,
// one encoder thread per camera, at most two cameras at a time.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashPassword, randomPassword } from '../auth/passwords';
import { runFfmpeg } from './ffmpeg';
import { SITE_PRIVILEGES, type SiteModel } from './model';
import { readMp4DurationMs } from './mp4';
import { checkSiteFile, SITE_FILE_SCHEMA_VERSION, type SiteFile } from './siteFile';
import { pathSegmentFor, recordingFileName } from './timeline';
import { RECORDINGS_DIR, SITE_FILE_NAME } from './localFolderSite';

/** Security Center ids are GUIDs; derive stable ones so sample ids never change between runs. */
function stableGuid(name: string): string {
  const h = createHash('sha256').update(`clearance-sample-site:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const FEDERATION_ANNEX = stableGuid('federation:harbor-annex');
const AREA_MAIN = stableGuid('area:main-building');
const AREA_PARKING = stableGuid('area:parking');
const AREA_WAREHOUSE = stableGuid('area:annex-warehouse');

const camera = (name: string, location: string, parent: { areaId: string } | { federationId: string }) => ({
  id: stableGuid(`camera:${name}`),
  name,
  location,
  ...parent,
});

/** The sample site's site.json content. */
export const SAMPLE_SITE_FILE: Readonly<SiteFile> = {
  schemaVersion: SITE_FILE_SCHEMA_VERSION,
  name: 'Riverside Campus',
  federations: [{ id: FEDERATION_ANNEX, name: 'Harbor Annex (federated)' }],
  areas: [
    { id: AREA_MAIN, name: 'Main Building' },
    { id: AREA_PARKING, name: 'Parking' },
    { id: AREA_WAREHOUSE, name: 'Annex Warehouse', federationId: FEDERATION_ANNEX },
  ],
  cameras: [
    camera('Lobby Entrance', 'Main Building, ground floor, north doors', { areaId: AREA_MAIN }),
    camera('Reception Desk', 'Main Building, ground floor', { areaId: AREA_MAIN }),
    camera('Elevator Bank', 'Main Building, ground floor, east core', { areaId: AREA_MAIN }),
    camera('Stairwell East', 'Main Building, levels 1-4', { areaId: AREA_MAIN }),
    camera('Server Room', 'Main Building, basement B1', { areaId: AREA_MAIN }),
    camera('Parking North', 'Surface lot, north row', { areaId: AREA_PARKING }),
    camera('Parking South', 'Surface lot, south row', { areaId: AREA_PARKING }),
    camera('Garage Ramp', 'Parking garage, entry ramp', { areaId: AREA_PARKING }),
    camera('Bike Shelter', 'Parking, next to the west gate', { areaId: AREA_PARKING }),
    camera('Loading Dock', 'Annex warehouse, dock doors 1-3', { areaId: AREA_WAREHOUSE }),
    camera('Warehouse Aisle 3', 'Annex warehouse, high racks', { areaId: AREA_WAREHOUSE }),
    camera('Annex Gate', 'Harbor Annex, vehicle gate', { federationId: FEDERATION_ANNEX }),
  ],
  users: [
    { id: stableGuid('user:admin'), name: 'admin', displayName: 'Administrator', privileges: [...SITE_PRIVILEGES] },
    {
      id: stableGuid('user:mchen'),
      name: 'mchen',
      displayName: 'Maya Chen (operator)',
      privileges: ['viewCameraSelection', 'viewRequestNotifications', 'sendEvidence', 'sendSnapshot'],
    },
    {
      id: stableGuid('user:jrivera'),
      name: 'jrivera',
      displayName: 'Jordan Rivera (investigator liaison)',
      privileges: ['viewRequestNotifications', 'viewRequestApprovers', 'sendEvidence'],
    },
    { id: stableGuid('user:tbrooks'), name: 'tbrooks', displayName: 'Tom Brooks (guard)', privileges: [] },
  ],
};

/** Sample camera ids by name, for tests and the embedded default. */
export const SAMPLE_CAMERA_IDS: Readonly<Record<string, string>> = Object.fromEntries(
  SAMPLE_SITE_FILE.cameras.map((c) => [c.name, c.id]),
);
/** Sample user ids by login name. */
export const SAMPLE_USER_IDS: Readonly<Record<string, string>> = Object.fromEntries(
  SAMPLE_SITE_FILE.users.map((u) => [u.name, u.id]),
);

export interface SampleSiteOptions {
  folder: string;
  ffmpegPath: string;
  /** Wall-clock time of the first recorded frame. */
  start: Date;
  /** Recording length of every recorded camera (fractions allowed). */
  durationMinutes: number;
  /** Length of each recording file (fractions allowed, e.g. 0.5). */
  segmentMinutes: number;
  /**
   * Which cameras get recordings: all (default), the first n, these ids, or
   * these ids each with its own recording length in minutes.
   */
  cameras?: number | readonly string[] | Readonly<Record<string, number>>;
  /** Default 320x180 at 5 fps. */
  width?: number;
  height?: number;
  fps?: number;
  /** Keyframe interval; exports are precise to it. Default 1 s. */
  keyframeSeconds?: number;
  /** Cameras encoded at once, 1 or 2 (default 2). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface SampleSiteRecording {
  cameraId: string;
  cameraName: string;
  from: Date;
  to: Date;
  segments: number;
}

export interface SampleSite {
  folder: string;
  model: SiteModel;
  recordings: SampleSiteRecording[];
  /** False when this ffmpeg cannot draw text (then the video is the bare test pattern). */
  textBurnedIn: boolean;
  /** Owner-only file with each sample user's random password, by login name. */
  passwordsFile: string;
}

/** Beside site.json: the sample users' passwords (random, made with the site), owner-only. */
export const SAMPLE_PASSWORDS_FILE = 'sample-passwords.json';

/** The sample users' passwords of a generated site, by login name. */
export async function readSamplePasswords(folder: string): Promise<Record<string, string>> {
  return JSON.parse(await readFile(path.join(folder, SAMPLE_PASSWORDS_FILE), 'utf8')) as Record<string, string>;
}

/** Writes site.json and the recordings; replaces the recordings of the cameras it generates. */
export async function generateSampleSite(opts: SampleSiteOptions): Promise<SampleSite> {
  const width = opts.width ?? 320;
  const height = opts.height ?? 180;
  const fps = opts.fps ?? 5;
  const keyframeSeconds = opts.keyframeSeconds ?? 1;
  const concurrency = Math.min(2, Math.max(1, Math.floor(opts.concurrency ?? 2)));
  positive('durationMinutes', opts.durationMinutes);
  positive('segmentMinutes', opts.segmentMinutes);
  positive('fps', fps);
  positive('keyframeSeconds', keyframeSeconds);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16 || width % 2 || height % 2) {
    throw new Error(`width and height must be even integers of at least 16, found ${width}x${height}`);
  }
  if (!(opts.start instanceof Date) || Number.isNaN(opts.start.getTime())) throw new Error('start must be a valid date');

  const checked = checkSiteFile(SAMPLE_SITE_FILE);
  if (!checked.ok) throw new Error(`sample site is invalid: ${JSON.stringify(checked.issues)}`);
  const folder = path.resolve(opts.folder);
  await mkdir(path.join(folder, RECORDINGS_DIR), { recursive: true });
  const passwords = Object.fromEntries(SAMPLE_SITE_FILE.users.map((u) => [u.name, randomPassword()]));
  const users = await Promise.all(SAMPLE_SITE_FILE.users.map(async (u) => ({ ...u, passwordHash: await hashPassword(passwords[u.name]) })));
  await writeFile(path.join(folder, SITE_FILE_NAME), JSON.stringify({ ...SAMPLE_SITE_FILE, users }, null, 2) + '\n', { mode: 0o600 });
  const passwordsFile = path.join(folder, SAMPLE_PASSWORDS_FILE);
  await rm(passwordsFile, { force: true });
  await writeFile(passwordsFile, JSON.stringify(passwords, null, 2) + '\n', { mode: 0o600 });

  const plan = planRecordings(opts.cameras, opts.durationMinutes);
  const work = await mkdtemp(path.join(os.tmpdir(), 'clearance-sample-'));
  try {
    const font = ['/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'].find(
      (f) => existsSync(f),
    );
    const textBurnedIn = await canDrawText(opts.ffmpegPath, font, opts.signal);
    const recordings: SampleSiteRecording[] = [];
    const queue = [...plan];
    const encodeNext = async (): Promise<void> => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        recordings.push(
          await recordCamera({
            ...job,
            folder,
            work,
            ffmpegPath: opts.ffmpegPath,
            start: opts.start,
            segmentSeconds: opts.segmentMinutes * 60,
            width,
            height,
            fps,
            keyframeSeconds,
            font: textBurnedIn ? (font ?? null) : undefined,
            signal: opts.signal,
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, encodeNext));
    const order = plan.map((p) => p.cameraId);
    recordings.sort((a, b) => order.indexOf(a.cameraId) - order.indexOf(b.cameraId));
    return { folder, model: checked.model, recordings, textBurnedIn, passwordsFile };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, found ${v}`);
}

function planRecordings(
  cameras: SampleSiteOptions['cameras'],
  durationMinutes: number,
): { cameraId: string; cameraName: string; index: number; minutes: number }[] {
  const all = SAMPLE_SITE_FILE.cameras;
  const byId = new Map(all.map((c, index) => [c.id, { c, index }]));
  let chosen: [string, number][];
  if (cameras === undefined) chosen = all.map((c) => [c.id, durationMinutes]);
  else if (typeof cameras === 'number') chosen = all.slice(0, Math.max(0, cameras)).map((c) => [c.id, durationMinutes]);
  else if (Array.isArray(cameras)) chosen = (cameras as readonly string[]).map((id) => [id, durationMinutes]);
  else chosen = Object.entries(cameras as Readonly<Record<string, number>>);
  return chosen.map(([id, minutes]) => {
    const found = byId.get(id);
    if (!found) throw new Error(`cameras: the sample site has no camera ${JSON.stringify(id)}`);
    positive(`cameras[${JSON.stringify(id)}]`, minutes);
    return { cameraId: id, cameraName: found.c.name, index: found.index, minutes };
  });
}

interface CameraJob {
  cameraId: string;
  cameraName: string;
  index: number;
  minutes: number;
  folder: string;
  work: string;
  ffmpegPath: string;
  start: Date;
  segmentSeconds: number;
  width: number;
  height: number;
  fps: number;
  keyframeSeconds: number;
  /** undefined: no text; null: text with fontconfig's default font; string: this font file. */
  font: string | null | undefined;
  signal?: AbortSignal;
}

/** One ffmpeg per camera writes all its segments (segment muxer); they are then renamed after their start times. */
async function recordCamera(job: CameraJob): Promise<SampleSiteRecording> {
  const out = path.join(job.work, pathSegmentFor(job.cameraId));
  await mkdir(out, { recursive: true });
  const durationSeconds = job.minutes * 60;
  const source = job.index % 2 === 0 ? 'testsrc2' : 'smptebars';
  let graph = `${source}=size=${job.width}x${job.height}:rate=${job.fps}`;
  if (job.font !== undefined) {
    const nameFile = path.join(out, 'name.txt');
    await writeFile(nameFile, job.cameraName);
    graph += ',' + drawTextFilters(job.font, nameFile, job.start, job.height);
  }
  graph += '[out]';
  const gop = String(Math.max(1, Math.round(job.fps * job.keyframeSeconds)));
  await runFfmpeg(
    job.ffmpegPath,
    [
      '-filter_complex', graph,
      '-map', '[out]',
      '-t', durationSeconds.toFixed(3),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-threads', '1', '-pix_fmt', 'yuv420p',
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
      // A keyframe exactly at every segment boundary, so each file starts where the last one ended.
      '-force_key_frames', `expr:gte(t,n_forced*${job.segmentSeconds})`,
      '-f', 'segment', '-segment_time', String(job.segmentSeconds), '-reset_timestamps', '1',
      '-segment_format', 'mp4', '-segment_format_options', 'movflags=+faststart',
      '-y', path.join(out, 'seg_%06d.mp4'),
    ],
    { signal: job.signal },
  );
  const dest = path.join(job.folder, RECORDINGS_DIR, pathSegmentFor(job.cameraId));
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  const files = (await readdir(out)).filter((f) => /^seg_\d+\.mp4$/.test(f)).sort();
  let at = job.start.getTime();
  for (const f of files) {
    const ms = await readMp4DurationMs(path.join(out, f));
    if (ms === undefined) throw new Error(`ffmpeg wrote an unreadable segment ${f} for ${job.cameraName}`);
    await rename(path.join(out, f), path.join(dest, recordingFileName(new Date(at))));
    at += Math.round(ms);
  }
  return { cameraId: job.cameraId, cameraName: job.cameraName, from: job.start, to: new Date(at), segments: files.length };
}

/** Camera name at the top (from a file: no escaping of hostile names), UTC wall clock at the bottom. */
function drawTextFilters(font: string | null, nameFile: string, start: Date, height: number): string {
  const fontOpt = font ? `fontfile=${filterValue(font)}:` : '';
  const size = Math.max(10, Math.round(height / 13));
  const style = `fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=2`;
  const epoch = (start.getTime() / 1000).toFixed(3);
  // Inside text='...': '\:' escapes the expansion's argument separator, '\\\:' a literal ':' in the strftime format.
  const clock = String.raw`%{pts\:gmtime\:${epoch}\:%Y-%m-%d %H\\\:%M\\\:%S}Z`;
  return [
    `drawtext=${fontOpt}textfile=${filterValue(nameFile)}:expansion=none:x=4:y=4:${style}`,
    `drawtext=${fontOpt}text='${clock}':x=4:y=h-th-4:${style}`,
  ].join(',');
}

/** Escapes an option value twice: for the filter's option parser, then for the filtergraph parser. */
function filterValue(v: string): string {
  return v.replace(/[\\':]/g, '\\$&').replace(/[\\'[\],;]/g, '\\$&');
}

/** One frame through drawtext; false when this ffmpeg lacks it or has no usable font. */
async function canDrawText(ffmpegPath: string, font: string | undefined, signal?: AbortSignal): Promise<boolean> {
  const fontOpt = font ? `fontfile=${filterValue(font)}:` : '';
  try {
    await runFfmpeg(
      ffmpegPath,
      ['-f', 'lavfi', '-i', `color=size=32x32:rate=1,drawtext=${fontOpt}text=x`, '-frames:v', '1', '-f', 'null', '-'],
      { signal },
    );
    return true;
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    return false;
  }
}
