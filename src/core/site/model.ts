// What the role needs from Security Center: the entities of the site, its
// users' privileges, and its recordings. `Site` is the seam; LocalFolderSite is
// the default implementation (a folder with site.json and recordings/).

import type { FieldIssue } from '../config/fieldErrors';

/** Privileges the role creates in Security Center (plugin guide, docs/clearance-api.md §1.3), by our stable names. */
export const SITE_PRIVILEGES = [
  'viewCameraSelection',
  'viewPluginConfiguration',
  'viewRequestNotifications',
  'sendEvidence',
  'sendSnapshot',
  'viewRequestApprovers',
] as const;
export type SitePrivilege = (typeof SITE_PRIVILEGES)[number];

/** The vendor's display names, for UI labels. */
export const SITE_PRIVILEGE_LABELS: Readonly<Record<SitePrivilege, string>> = {
  viewCameraSelection: 'View camera selection',
  viewPluginConfiguration: 'View plugin configuration',
  viewRequestNotifications: 'View request notifications',
  sendEvidence: 'Send evidence to Clearance',
  sendSnapshot: 'Send snapshot to Clearance',
  viewRequestApprovers: 'View request approvers page',
};

/** [doc] At most 24 h per export. */
export const MAX_EXPORT_RANGE_MS = 24 * 60 * 60 * 1000;
/** [doc] Exported files are cut in parts of at most 60 min. */
export const MAX_EXPORT_PART_MS = 60 * 60 * 1000;

export interface Federation {
  id: string;
  name: string;
  /** Areas inside this federation. */
  areaIds: string[];
  /** Cameras placed directly in the federation (not through an area). */
  directCameraIds: string[];
  /** Every camera inside: direct ones and those of its areas. Adding the federation adds these. */
  cameraIds: string[];
}

export interface Area {
  id: string;
  name: string;
  federationId?: string;
  cameraIds: string[];
}

export interface Camera {
  id: string;
  name: string;
  location?: string;
  /** The area holding the camera, if any. */
  areaId?: string;
  /** The federation holding the camera, directly or through its area. */
  federationId?: string;
}

export interface SiteUser {
  id: string;
  /** Login name. */
  name: string;
  displayName: string;
  privileges: SitePrivilege[];
}

/** Everything the site knows apart from recordings; a snapshot, safe to hand to a UI. */
export interface SiteModel {
  name: string;
  federations: Federation[];
  areas: Area[];
  cameras: Camera[];
  users: SiteUser[];
}

/** Half-open time range [from, to). */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** One recorded file of a camera, covering [start, end). */
export interface RecordingSegment {
  cameraId: string;
  file: string;
  start: Date;
  end: Date;
}

export interface RecordingCoverage {
  cameraId: string;
  /** Segments overlapping the asked range, by start time. */
  segments: RecordingSegment[];
  /** Parts of the asked range with no recording. */
  gaps: TimeRange[];
}

export interface ExportOptions {
  /** Longest part; default and upper bound MAX_EXPORT_PART_MS (tests use less). */
  maxPartMs?: number;
  /** Aborting kills ffmpeg, deletes the files this export wrote, and rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called after each part is written and hashed. */
  onPart?: (part: ExportPart, index: number, total: number) => void;
}

/** One exported file. `from`/`to` are what was asked for this part (see exportRange on precision). */
export interface ExportPart {
  file: string;
  cameraId: string;
  from: Date;
  to: Date;
  bytes: number;
  /** Lower-case hex SHA-256 of the file as written. */
  sha256: string;
}

/**
 * `complete`: the whole range is recorded; `partial`: some gaps (listed);
 * `unavailable`: nothing recorded in the range (maps to the VideoUnavailable status), no files written.
 */
export type ExportStatus = 'complete' | 'partial' | 'unavailable';

export interface ExportResult {
  status: ExportStatus;
  cameraId: string;
  from: Date;
  to: Date;
  parts: ExportPart[];
  gaps: TimeRange[];
}

export type SnapshotResult =
  | { status: 'ok'; file: string; cameraId: string; at: Date; bytes: number; sha256: string }
  | { status: 'unavailable'; cameraId: string; at: Date };

export interface SnapshotOptions {
  signal?: AbortSignal;
}

export interface ClipOptions {
  /** Aborting kills ffmpeg, removes the partial file, and rejects with an AbortError. */
  signal?: AbortSignal;
}

/**
 * One clip of a camera over a range, for a person to watch (not evidence: that is
 * exportRange). `clipStart` is the instant of its first frame, the start of the
 * recordings inside the range; gaps without recording are left out, so after a
 * gap the clip's time runs behind the wall clock by the gap's length.
 */
export type ClipResult =
  | { status: 'ok'; file: string; cameraId: string; from: Date; to: Date; clipStart: Date; durationMs: number; bytes: number; sha256: string; gaps: TimeRange[] }
  | { status: 'unavailable'; cameraId: string; from: Date; to: Date };

export interface Site {
  /** For logs and UI, e.g. the folder of a LocalFolderSite. */
  readonly description: string;
  /** Re-reads the site's configuration (cameras, users...). */
  reload(): Promise<void>;
  model(): Promise<SiteModel>;
  listFederations(): Promise<Federation[]>;
  listAreas(): Promise<Area[]>;
  listCameras(): Promise<Camera[]>;
  getCamera(cameraId: string): Promise<Camera | undefined>;
  listUsers(): Promise<SiteUser[]>;
  getUser(userId: string): Promise<SiteUser | undefined>;
  /** False for an unknown user. */
  hasPrivilege(userId: string, privilege: SitePrivilege): Promise<boolean>;
  /** The user's stored password hash (see auth/passwords.ts); never part of the model. Undefined: none set. */
  passwordHash(userId: string): Promise<string | undefined>;
  /** Stores the user's password hash (undefined removes it). Throws for an unknown user. */
  setPasswordHash(userId: string, hash: string | undefined): Promise<void>;
  /** Recordings of a camera overlapping `range` (all of them without one). Throws UnknownCamera. */
  listRecordings(cameraId: string, range?: TimeRange): Promise<RecordingCoverage>;
  /**
   * Exports [from, to) of one camera into destDir as MP4 parts of at most maxPartMs.
   * Throws SiteError ExportRangeTooLong (> 24 h), InvalidRange, UnknownCamera, ExportFailed.
   */
  exportRange(cameraId: string, from: Date, to: Date, destDir: string, opts?: ExportOptions): Promise<ExportResult>;
  /**
   * Writes [from, to) of one camera as one H.264 MP4 without audio to destFile
   * (at most 24 h), through a temporary name renamed into place, owner-only.
   * Nothing recorded in the range: status unavailable, nothing written.
   * Throws SiteError ExportRangeTooLong, InvalidRange, UnknownCamera, ExportFailed.
   */
  exportClip(cameraId: string, from: Date, to: Date, destFile: string, opts?: ClipOptions): Promise<ClipResult>;
  /** Writes one JPEG frame of the camera at `at` to destFile. */
  snapshot(cameraId: string, at: Date, destFile: string, opts?: SnapshotOptions): Promise<SnapshotResult>;
}

export type SiteErrorCode =
  | 'SiteFileMissing'
  | 'SiteFileInvalid'
  | 'UnknownCamera'
  | 'InvalidRange'
  | 'ExportRangeTooLong'
  | 'ExportFailed'
  | 'FfmpegMissing'
  /** The folder written to is full (ENOSPC): nothing half-written was kept; try again when there is space. */
  | 'DiskFull'
  /** Nothing is recorded where something has to be (a review clip). */
  | 'NoRecordings';

export class SiteError extends Error {
  constructor(
    readonly code: SiteErrorCode,
    message: string,
    /** The field or argument at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SiteError';
  }
}

/** site.json did not validate; `issues` names every bad field (`field` is the first). */
export class SiteFileError extends SiteError {
  constructor(
    readonly file: string,
    readonly issues: readonly FieldIssue[],
  ) {
    super(
      'SiteFileInvalid',
      `${file} is not valid:\n${issues.map((i) => `${i.field}: ${i.message}`).join('\n')}`,
      issues[0]?.field,
    );
    this.name = 'SiteFileError';
  }
}

/**
 * The disk under `folder` is full (ENOSPC or a quota): what was being written there
 * was removed. `freeBytes`: what is free there now (undefined: unknown).
 */
export class DiskFullError extends SiteError {
  constructor(
    readonly folder: string,
    readonly freeBytes: number | undefined,
    message?: string,
    cause?: unknown,
  ) {
    super('DiskFull', message ?? `the folder ${folder} is full (${freeBytes === undefined ? 'unknown space' : `${(freeBytes / 1048576).toFixed(1)} MiB`} free)`);
    this.name = 'DiskFullError';
    if (cause !== undefined) this.cause = cause;
  }
}

export function isDiskFull(e: unknown): e is DiskFullError {
  return e instanceof DiskFullError;
}

export function isSiteError(e: unknown, code?: SiteErrorCode): e is SiteError {
  return e instanceof SiteError && (code === undefined || e.code === code);
}
