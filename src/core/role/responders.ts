// The answers to the service's registry jobs: a discovery job gets the camera
// selection this site publishes, a thumbnail job a JPEG of one selected camera
// (at the asked time, else just before the end of its last recording). Both
// lock the job first, so that no other agent answers it too.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentJob, ThumbnailJobPayload } from '../clearance/api';
import { isConflict, type AgentClient } from '../clearance/agentClient';
import type { Clock } from '../net/clock';
import type { CameraRegistry } from '../registry/cameraRegistry';
import type { Site } from '../site/model';
import type { ActivityRecorder } from './activityRecorder';

/** [ours] The service takes thumbnails up to this much base64. */
const MAX_THUMBNAIL_BASE64 = 700_000;

export type ResponderAgent = Pick<AgentClient, 'lock' | 'complete' | 'fail'>;

export interface RespondersOptions {
  registry: CameraRegistry;
  site: Site;
  clock: Clock;
  recorder: ActivityRecorder;
  /** The selection reached the registry. */
  onPublished: () => void;
  debug?: (line: string) => void;
}

export class Responders {
  constructor(private readonly o: RespondersOptions) {}

  async answerDiscovery(agent: ResponderAgent, job: AgentJob, signal: AbortSignal): Promise<void> {
    const { registry } = this.o;
    await agent.lock(job.jobId, 60, signal);
    const result = await registry.discoveryResult();
    const before = registry.lastPublished?.cameras.map((c) => c.id).join(',');
    try {
      await agent.complete(job.jobId, result, signal);
    } catch (error) {
      if (isConflict(error)) await agent.fail(job.jobId, (error as Error).message, false, signal).catch(() => undefined);
      throw error;
    }
    await registry.markPublished(job.jobId, result, new Date(this.o.clock.now()));
    this.o.onPublished();
    if (before !== result.cameras.map((c) => c.id).join(',')) await this.o.recorder.registryPublished(result.cameras.map((c) => c.id), job.jobId);
    this.o.debug?.(`registry: ${result.cameras.length} camera(s) published`);
  }

  async answerThumbnail(agent: ResponderAgent, job: AgentJob, signal: AbortSignal): Promise<void> {
    const { site } = this.o;
    const payload = job.payload as ThumbnailJobPayload;
    await agent.lock(job.jobId, 120, signal);
    if (!(await this.o.registry.includes(payload.cameraId))) {
      await agent.fail(job.jobId, `camera ${payload.cameraId} is not in the camera selection of this site`, false, signal);
      return;
    }
    const at = payload.timeUtc ? new Date(payload.timeUtc) : await latestRecordedMoment(site, payload.cameraId, this.o.clock);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-thumbnail-'));
    try {
      const shot = at ? await site.snapshot(payload.cameraId, at, path.join(dir, 'thumbnail.jpg'), { signal }) : undefined;
      if (!shot || shot.status !== 'ok') {
        await agent.fail(job.jobId, `no recording of camera ${payload.cameraId}${at ? ` at ${at.toISOString()}` : ''}`, false, signal);
        return;
      }
      const data = await fs.readFile(shot.file);
      if (Math.ceil(data.length / 3) * 4 > MAX_THUMBNAIL_BASE64) {
        await agent.fail(job.jobId, `the image of camera ${payload.cameraId} is ${data.length} bytes, more than a thumbnail may be`, false, signal);
        return;
      }
      await agent.complete(job.jobId, { mimeType: 'image/jpeg', dataBase64: data.toString('base64') }, signal);
      const camera = await site.getCamera(payload.cameraId);
      await this.o.recorder.thumbnailSent(payload.cameraId, camera?.name, at!, shot, job.jobId);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

/** "Live" for a recording site: a moment just before the end of the last recording. */
export async function latestRecordedMoment(site: Site, cameraId: string, clock: Clock): Promise<Date | undefined> {
  const coverage = await site.listRecordings(cameraId);
  const last = coverage.segments.at(-1);
  if (!last) return undefined;
  const end = Math.min(clock.now(), last.end.getTime());
  return new Date(Math.max(last.start.getTime(), end - 1000));
}
