// What an operator sends to Clearance of their own accord: recordings of some
// cameras over one time range, or a still image of each at one instant, as one
// evidence item. The input is checked field by field first; the export module
// does the work and the upload queue the sending; this adds the trail records.
import { ValidationError, type FieldIssue } from '../config/fieldErrors';
import { exportToClearance, OperatorExportError, type OperatorExportMedia } from '../export';
import { isSiteError, type Camera, type Site, type SiteUser } from '../site/model';
import type { CaseTarget, UploadJobSnapshot } from '../uploads/uploadJob';
import type { UploadQueue } from '../uploads/uploadQueue';
import type { Connection } from './accountController';
import type { ActivityRecorder } from './activityRecorder';

export interface OperatorExportInput {
  cameras: string[];
  from: string | Date;
  to: string | Date;
  caseTarget?: CaseTarget;
  /** Evidence name (default: cameras and range). */
  name?: string;
  description?: string;
}

export interface SnapshotExportInput {
  /** One camera, or several (one image each). */
  camera: string | string[];
  at: string | Date;
  caseTarget?: CaseTarget;
  name?: string;
  description?: string;
}

export interface OperatorExportsOptions {
  site: Site;
  uploads: UploadQueue;
  /** The service clients (the evidence catalog), built when needed. */
  connection: () => Promise<Connection>;
  recorder: ActivityRecorder;
  maxExportPartMs?: number;
}

export class OperatorExports {
  constructor(private readonly o: OperatorExportsOptions) {}

  /** `who` has passed the privilege check for sending evidence. */
  async exportVideo(who: SiteUser, input: OperatorExportInput): Promise<UploadJobSnapshot> {
    const issues: FieldIssue[] = [];
    const cameras = await this.resolveCameras(Array.isArray(input.cameras) ? input.cameras : [], 'cameras', issues);
    const from = toDate(input.from);
    const to = toDate(input.to);
    if (!from) issues.push({ field: 'from', message: 'must be a date and time (ISO 8601)' });
    if (!to) issues.push({ field: 'to', message: 'must be a date and time (ISO 8601)' });
    if (issues.length > 0) throw new ValidationError('The export', issues);
    return this.send(who, { kind: 'recordings', cameraIds: cameras.map((c) => c.id), from: from!, to: to! }, input);
  }

  /** `who` has passed the privilege check for sending snapshots. */
  async sendSnapshot(who: SiteUser, input: SnapshotExportInput): Promise<UploadJobSnapshot> {
    const issues: FieldIssue[] = [];
    const cameras = await this.resolveCameras(Array.isArray(input.camera) ? input.camera : [input.camera], 'camera', issues);
    const at = toDate(input.at);
    if (!at) issues.push({ field: 'at', message: 'must be a date and time (ISO 8601)' });
    if (issues.length > 0) throw new ValidationError('The snapshot', issues);
    return this.send(who, { kind: 'snapshot', cameraIds: cameras.map((c) => c.id), at: at! }, input);
  }

  private async send(who: SiteUser, media: OperatorExportMedia, input: { caseTarget?: CaseTarget; name?: string; description?: string }): Promise<UploadJobSnapshot> {
    const conn = await this.o.connection();
    let result;
    try {
      result = await exportToClearance(
        { site: this.o.site, queue: this.o.uploads, catalog: conn.documents, ...(this.o.maxExportPartMs ? { maxPartMs: this.o.maxExportPartMs } : {}) },
        {
          media,
          caseTarget: input.caseTarget ?? { kind: 'none' },
          userId: who.id,
          ...(input.name?.trim() ? { title: input.name.trim() } : {}),
          ...(input.description?.trim() ? { description: input.description.trim() } : {}),
        },
      );
    } catch (error) {
      if (isSiteError(error) || error instanceof OperatorExportError) await this.o.recorder.operatorExportFailed(who.name, media.cameraIds, error.message);
      throw error;
    }
    await this.o.recorder.operatorExportQueued(who.name, media, input.caseTarget, result.job, result.cameras);
    return result.job;
  }

  private async resolveCameras(list: string[], field: string, issues: FieldIssue[]): Promise<Camera[]> {
    const model = await this.o.site.model();
    if (list.length === 0) issues.push({ field, message: 'choose at least one camera' });
    const out: Camera[] = [];
    list.forEach((c, i) => {
      const cam = model.cameras.find((x) => x.id === c) ?? model.cameras.find((x) => x.name === c);
      if (!cam) issues.push({ field: `${field}[${i}]`, message: `no camera ${JSON.stringify(c)} on this site` });
      else out.push(cam);
    });
    return out;
  }
}

function toDate(value: string | Date | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
