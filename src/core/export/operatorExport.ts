// Operator export (plugin guide, docs/clearance-api.md §1.6: "Send evidence / snapshot to Clearance"):
// recordings of one or more cameras over one synchronised time range, or a
// snapshot of each at one instant, staged in the archive destination folder and
// handed to the upload queue as one evidence item, into a new case, an existing
// case or no case. Departments, categories and cases come from the service.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Case, Category, Department } from '../clearance/api';
import { ServiceError } from '../net/errors';
import { freeBytes, mebibytes } from '../site/diskSpace';
import { DiskFullError, isDiskFull, MAX_EXPORT_RANGE_MS, fileStamp, pathSegmentFor, type Camera, type ExportStatus, type Site, type SitePrivilege, type TimeRange } from '../site';
import type { CaseTarget, UploadJobSnapshot } from '../uploads/uploadJob';
import { newPartFromExport, type NewPart, type UploadQueue } from '../uploads/uploadQueue';

export type OperatorExportMedia =
  /** Recordings of every camera over [from, to) (at most 24 h; cut in parts of at most 60 min). */
  | { kind: 'recordings'; cameraIds: string[]; from: Date; to: Date }
  /** One JPEG per camera at `at`. */
  | { kind: 'snapshot'; cameraIds: string[]; at: Date };

export interface OperatorExportRequest {
  media: OperatorExportMedia;
  caseTarget: CaseTarget;
  /** Name of the evidence item; default: the new case's name, else cameras and time. */
  title?: string;
  description?: string;
  /** The site user who sends it: needs "Send evidence" (recordings) or "Send snapshot" (snapshot). */
  userId?: string;
}

/** What the service offers to file evidence under (DocumentStoreClient is one). */
export interface ExportCatalog {
  listDepartments(): Promise<Department[]>;
  listCategories(): Promise<Category[]>;
  listCases(): Promise<Case[]>;
  getCase(caseId: string): Promise<Case>;
}

export interface OperatorExportDeps {
  site: Site;
  queue: Pick<UploadQueue, 'newJobId' | 'stagingFolder' | 'enqueue'>;
  catalog: ExportCatalog;
  /** Longest part (default and maximum 60 min; tests use less). */
  maxPartMs?: number;
  signal?: AbortSignal;
}

export interface CameraExportOutcome {
  cameraId: string;
  cameraName: string;
  /** complete / partial / unavailable for recordings; complete or unavailable for a snapshot. */
  status: ExportStatus;
  files: number;
  gaps: TimeRange[];
}

export interface OperatorExportResult {
  job: UploadJobSnapshot;
  cameras: CameraExportOutcome[];
}

/** Bad input: names the field; nothing was exported or queued. */
export class OperatorExportError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'OperatorExportError';
  }
}

/** The choices an export form offers, from the service. */
export async function loadExportChoices(catalog: ExportCatalog): Promise<{ departments: Department[]; categories: Category[]; cases: Case[] }> {
  const [departments, categories, cases] = await Promise.all([catalog.listDepartments(), catalog.listCategories(), catalog.listCases()]);
  return { departments, categories, cases: cases.filter((c) => c.State !== 'Closed') };
}

/**
 * Checks everything first (cameras, range, privileges, case), then exports into
 * the staging folder of a new upload and enqueues it. On any failure the staged
 * files are removed and nothing is queued; a full archive folder is a DiskFullError
 * (code DiskFull) that names the folder and its free space.
 */
export async function exportToClearance(deps: OperatorExportDeps, request: OperatorExportRequest): Promise<OperatorExportResult> {
  const cameras = await checkRequest(deps, request);
  const { media } = request;
  const jobId = deps.queue.newJobId();
  const folder = deps.queue.stagingFolder(jobId);
  try {
    const parts: NewPart[] = [];
    const outcomes: CameraExportOutcome[] = [];
    const names = new Set<string>();
    const uniqueName = (wanted: string): string => {
      const ext = path.extname(wanted);
      let name = wanted;
      for (let i = 2; names.has(name); i++) name = `${wanted.slice(0, wanted.length - ext.length)} (${i})${ext}`;
      names.add(name);
      return name;
    };
    for (const camera of cameras) {
      deps.signal?.throwIfAborted();
      if (media.kind === 'recordings') {
        const result = await deps.site.exportRange(camera.id, media.from, media.to, folder, {
          ...(deps.maxPartMs !== undefined ? { maxPartMs: deps.maxPartMs } : {}),
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
        outcomes.push({ cameraId: camera.id, cameraName: camera.name, status: result.status, files: result.parts.length, gaps: result.gaps });
        for (const p of result.parts) {
          parts.push(newPartFromExport(p, uniqueName(`${camera.name} ${fileStamp(p.from)} - ${fileStamp(p.to)}.mp4`)));
        }
      } else {
        const file = path.join(folder, `${pathSegmentFor(camera.id)}_${fileStamp(media.at)}.jpg`);
        const shot = await deps.site.snapshot(camera.id, media.at, file, deps.signal ? { signal: deps.signal } : {});
        if (shot.status === 'ok') {
          parts.push({
            file: shot.file,
            name: uniqueName(`${camera.name} ${fileStamp(media.at)}.jpg`),
            mimeType: 'image/jpeg',
            bytes: shot.bytes,
            sha256: shot.sha256,
            cameraId: camera.id,
            startTimeUtc: media.at.toISOString(),
            endTimeUtc: media.at.toISOString(),
          });
        }
        outcomes.push({
          cameraId: camera.id,
          cameraName: camera.name,
          status: shot.status === 'ok' ? 'complete' : 'unavailable',
          files: shot.status === 'ok' ? 1 : 0,
          gaps: shot.status === 'ok' ? [] : [{ from: media.at, to: media.at }],
        });
      }
    }
    if (parts.length === 0) {
      const what = media.kind === 'recordings' ? `${media.from.toISOString()} - ${media.to.toISOString()}` : media.at.toISOString();
      throw new OperatorExportError('media', `no video is recorded for the selected cameras at ${what}`);
    }
    const from = media.kind === 'recordings' ? media.from : media.at;
    const to = media.kind === 'recordings' ? media.to : media.at;
    const title = request.title?.trim() || defaultTitle(request, cameras);
    const job = await deps.queue.enqueue({
      id: jobId,
      title,
      ...(request.userId !== undefined ? { requestedBy: request.userId } : {}),
      evidence: {
        name: title,
        ...(request.description?.trim() ? { description: request.description.trim() } : {}),
        startTimeUtc: from.toISOString(),
        endTimeUtc: to.toISOString(),
      },
      caseTarget: request.caseTarget,
      parts,
    });
    return { job, cameras: outcomes };
  } catch (err) {
    await rm(folder, { recursive: true, force: true });
    if (isDiskFull(err)) {
      // Said in the archive folder's terms: what the operator configured and has to make room in.
      const archive = path.dirname(folder);
      const free = (await freeBytes(archive)) ?? err.freeBytes;
      throw new DiskFullError(
        archive,
        free,
        `the archive folder ${archive} is full (${mebibytes(free)} free): free some space there and export again; nothing was queued`,
        err,
      );
    }
    throw err;
  }
}

function defaultTitle(request: OperatorExportRequest, cameras: Camera[]): string {
  if (request.caseTarget.kind === 'new') return request.caseTarget.name.trim();
  const who = cameras.length === 1 ? cameras[0].name : `${cameras.length} cameras`;
  const m = request.media;
  return m.kind === 'recordings' ? `${who} ${m.from.toISOString()} - ${m.to.toISOString()}` : `Snapshot ${who} ${m.at.toISOString()}`;
}

const validDate = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());

async function checkRequest(deps: OperatorExportDeps, request: OperatorExportRequest): Promise<Camera[]> {
  const { media, caseTarget } = request;
  if (!media || (media.kind !== 'recordings' && media.kind !== 'snapshot')) throw new OperatorExportError('media.kind', 'must be recordings or snapshot');
  if (!Array.isArray(media.cameraIds) || media.cameraIds.length === 0) throw new OperatorExportError('media.cameraIds', 'choose at least one camera');
  if (new Set(media.cameraIds).size !== media.cameraIds.length) throw new OperatorExportError('media.cameraIds', 'a camera is listed twice');
  if (media.kind === 'recordings') {
    if (!validDate(media.from)) throw new OperatorExportError('media.from', 'must be a valid date');
    if (!validDate(media.to)) throw new OperatorExportError('media.to', 'must be a valid date');
    if (media.to.getTime() <= media.from.getTime()) throw new OperatorExportError('media.to', 'must be after the start');
    if (media.to.getTime() - media.from.getTime() > MAX_EXPORT_RANGE_MS) {
      throw new OperatorExportError('media.to', `Export range ${media.from.toISOString()} - ${media.to.toISOString()} must be shorter than 1 days.`);
    }
  } else if (!validDate(media.at)) throw new OperatorExportError('media.at', 'must be a valid date');

  const cameras: Camera[] = [];
  for (const [i, id] of media.cameraIds.entries()) {
    const camera = typeof id === 'string' ? await deps.site.getCamera(id) : undefined;
    if (!camera) throw new OperatorExportError(`media.cameraIds[${i}]`, `the site has no camera ${JSON.stringify(id)}`);
    cameras.push(camera);
  }

  if (request.userId !== undefined) {
    const privilege: SitePrivilege = media.kind === 'recordings' ? 'sendEvidence' : 'sendSnapshot';
    const user = await deps.site.getUser(request.userId);
    if (!user) throw new OperatorExportError('userId', `the site has no user ${JSON.stringify(request.userId)}`);
    if (!(await deps.site.hasPrivilege(request.userId, privilege))) {
      const label = privilege === 'sendEvidence' ? 'Send evidence to Clearance' : 'Send snapshot to Clearance';
      throw new OperatorExportError('userId', `${user.displayName} does not have the privilege "${label}"`);
    }
  }

  if (!caseTarget || !['none', 'new', 'existing'].includes(caseTarget.kind)) throw new OperatorExportError('caseTarget.kind', 'must be none, new or existing');
  if (caseTarget.kind === 'new') {
    if (typeof caseTarget.name !== 'string' || !caseTarget.name.trim()) throw new OperatorExportError('caseTarget.name', 'a new case needs a name');
    if (caseTarget.departmentId) {
      const departments = await deps.catalog.listDepartments();
      if (!departments.some((d) => d.DepartmentId === caseTarget.departmentId)) {
        throw new OperatorExportError('caseTarget.departmentId', `the service has no department ${JSON.stringify(caseTarget.departmentId)}`);
      }
    }
    if (caseTarget.categoryId) {
      const categories = await deps.catalog.listCategories();
      if (!categories.some((c) => c.CategoryId === caseTarget.categoryId)) {
        throw new OperatorExportError('caseTarget.categoryId', `the service has no category ${JSON.stringify(caseTarget.categoryId)}`);
      }
    }
  } else if (caseTarget.kind === 'existing') {
    if (typeof caseTarget.caseId !== 'string' || !caseTarget.caseId.trim()) throw new OperatorExportError('caseTarget.caseId', 'choose a case');
    let found: Case;
    try {
      found = await deps.catalog.getCase(caseTarget.caseId);
    } catch (err) {
      if (err instanceof ServiceError && (err.status === 404 || err.status === 403)) {
        throw new OperatorExportError('caseTarget.caseId', `the service has no case ${JSON.stringify(caseTarget.caseId)} this account may add to`);
      }
      throw err;
    }
    if (found.State === 'Closed') throw new OperatorExportError('caseTarget.caseId', `case ${found.Name} is closed`);
  }
  return cameras;
}
