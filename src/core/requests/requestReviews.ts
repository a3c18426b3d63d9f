// Review clips: before deciding a video request, an operator watches what the
// site recorded of one of its cameras over the request's range. The site cuts one
// H.264 MP4 (no audio) into <stateDir>/review/<requestId>/<cameraId>.mp4, owner-only,
// through a temporary name; a clip already cut for the same range is used again.
// Every review is recorded in the activity trail. A request's clips are deleted
// when it reaches a final status (and, at the next open, those a crash left).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../config/fieldErrors';
import type { Disposable } from '../events';
import type { Clock } from '../net/clock';
import { SiteError, type Site } from '../site/model';
import { pathSegmentFor } from '../site/timeline';
import { isFinal, STATUS_LABELS, type VideoRequest, type VideoRequestCamera } from './videoRequest';
import type { VideoRequestEvent } from './videoRequestDesk';

/** The review clips' folder in the role's state folder. */
export const REVIEW_DIR_NAME = 'review';

export function reviewFolderFor(stateDir: string): string {
  return path.join(path.resolve(stateDir), REVIEW_DIR_NAME);
}

/** What `requests.reviewClip` answers. */
export interface ReviewClip {
  /** Absolute path of the clip. */
  file: string;
  /** Absolute path of <stateDir>/review. */
  folder: string;
  cameraId: string;
  cameraName: string;
  /** The request's range. */
  fromUtc: string;
  toUtc: string;
  /** The instant of the clip's first frame: the start of the recordings inside the range. */
  clipStartUtc: string;
  /** The clip's length (from its MP4 header), in seconds. */
  durationSeconds: number;
  bytes: number;
  sha256: string;
  /** Parts of the range without recording: left out of the clip. */
  gaps: { fromUtc: string; toUtc: string }[];
  /** True when the clip was cut before and used again. */
  reused: boolean;
}

/** The trail record of a review; the role's activity recorder words it. */
export interface ReviewRecorder {
  requestReviewed(who: string, request: VideoRequest, camera: VideoRequestCamera, clip: ReviewClip): Promise<unknown>;
}

/** What the reviews need of the request desk. */
export interface ReviewedRequests {
  get(requestId: string): VideoRequest | undefined;
  list(): VideoRequest[];
  readonly onDidChange: (listener: (event: VideoRequestEvent) => void) => Disposable;
}

export interface RequestReviewsOptions {
  /** <stateDir>/review (reviewFolderFor). */
  folder: string;
  site: Pick<Site, 'exportClip'>;
  requests: ReviewedRequests;
  recorder: ReviewRecorder;
  clock: Clock;
  log?: (line: string) => void;
}

/** Kept beside each clip: what it was cut of, so that it is used again only for the same thing. */
interface ClipFacts {
  cameraId: string;
  fromUtc: string;
  toUtc: string;
  clipStartUtc: string;
  durationSeconds: number;
  bytes: number;
  sha256: string;
  gaps: { fromUtc: string; toUtc: string }[];
  /** When it was cut: a range that had not ended then may hold more recordings now. */
  cutAt: string;
}

export class RequestReviews {
  readonly folder: string;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly controller = new AbortController();
  private readonly subscription: Disposable;
  private readonly log: (line: string) => void;

  constructor(private readonly o: RequestReviewsOptions) {
    this.folder = path.resolve(o.folder);
    this.log = o.log ?? (() => undefined);
    this.subscription = o.requests.onDidChange((e) => {
      if (e.kind === 'statusChanged' && isFinal(e.to)) void this.clear(e.request.requestId);
    });
  }

  /**
   * Cuts (or finds) the review clip of one camera of a request over its range, and
   * records the review. Refused by field: a request that has not reached the role
   * or is final (`request`), a camera not in the request (`camera`); a range with no
   * recordings of the camera is a SiteError NoRecordings.
   */
  async review(requestId: string, cameraId: string, who: string): Promise<ReviewClip> {
    const request = this.o.requests.get(requestId);
    if (!request) throw new ValidationError('The review', [{ field: 'request', message: `no video request ${JSON.stringify(requestId)} has reached this role` }]);
    return this.serialize(request.requestId, async () => {
      const current = this.o.requests.get(request.requestId) ?? request;
      if (isFinal(current.status)) {
        throw new ValidationError('The review', [
          { field: 'request', message: `video request ${current.requestId.slice(0, 8)} is ${STATUS_LABELS[current.status]}: review clips are for a request still Pending or Processing` },
        ]);
      }
      const camera = current.cameras.find((c) => c.id === cameraId);
      if (!camera) {
        const cameras = current.cameras.map((c) => `${c.name} (${c.id})`).join(', ');
        throw new ValidationError('The review', [{ field: 'camera', message: `video request ${current.requestId.slice(0, 8)} does not ask for camera ${JSON.stringify(cameraId)}; it asks for ${cameras}` }]);
      }
      const clip = await this.clipOf(current, camera);
      await this.o.recorder.requestReviewed(who, current, camera, clip);
      return clip;
    });
  }

  /** Deletes the clips of every request that is final or no longer known (after a crash). Answers how many folders went. */
  async sweep(): Promise<number> {
    const open = new Set(this.o.requests.list().filter((r) => !isFinal(r.status)).map((r) => pathSegmentFor(r.requestId)));
    const names = await fs.readdir(this.folder).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : Promise.reject(e)));
    let removed = 0;
    for (const name of names) {
      if (open.has(name)) continue;
      await fs.rm(path.join(this.folder, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** Stops a clip being cut (ffmpeg is killed) and waits for the reviews in flight. */
  async close(): Promise<void> {
    this.subscription.dispose();
    this.controller.abort(new Error('The role is closing.'));
    await Promise.all([...this.chains.values()]);
  }

  private async clipOf(request: VideoRequest, camera: VideoRequestCamera): Promise<ReviewClip> {
    const dir = path.join(this.folder, pathSegmentFor(request.requestId));
    const file = path.join(dir, `${pathSegmentFor(camera.id)}.mp4`);
    const factsFile = path.join(dir, `${pathSegmentFor(camera.id)}.json`);
    const base = { file, folder: this.folder, cameraId: camera.id, cameraName: camera.name, fromUtc: request.fromUtc, toUtc: request.toUtc };
    const kept = await this.keptClip(file, factsFile, request, camera.id);
    if (kept) return { ...base, ...facts(kept), reused: true };

    await fs.mkdir(this.folder, { recursive: true, mode: 0o700 });
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const cutAt = new Date(this.o.clock.now()).toISOString();
    const from = new Date(request.fromUtc);
    const to = new Date(request.toUtc);
    const result = await this.o.site.exportClip(camera.id, from, to, file, { signal: this.controller.signal });
    if (result.status !== 'ok') {
      throw new SiteError('NoRecordings', `no recordings of ${camera.name} between ${request.fromUtc} and ${request.toUtc}`, 'camera');
    }
    const cut: ClipFacts = {
      cameraId: camera.id,
      fromUtc: request.fromUtc,
      toUtc: request.toUtc,
      clipStartUtc: result.clipStart.toISOString(),
      durationSeconds: Math.round(result.durationMs) / 1000,
      bytes: result.bytes,
      sha256: result.sha256,
      gaps: result.gaps.map((g) => ({ fromUtc: g.from.toISOString(), toUtc: g.to.toISOString() })),
      cutAt,
    };
    const temp = `${factsFile}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(temp, JSON.stringify(cut) + '\n', { mode: 0o600 });
    await fs.rename(temp, factsFile);
    return { ...base, ...facts(cut), reused: false };
  }

  /** The clip cut before for this very camera and range, when it is whole and the range had ended when it was cut. */
  private async keptClip(file: string, factsFile: string, request: VideoRequest, cameraId: string): Promise<ClipFacts | undefined> {
    try {
      const kept = JSON.parse(await fs.readFile(factsFile, 'utf8')) as ClipFacts;
      const size = (await fs.stat(file)).size;
      const same = kept.cameraId === cameraId && kept.fromUtc === request.fromUtc && kept.toUtc === request.toUtc;
      const ended = Date.parse(kept.cutAt) >= Date.parse(request.toUtc);
      return same && ended && size === kept.bytes ? kept : undefined;
    } catch {
      return undefined;
    }
  }

  private clear(requestId: string): Promise<void> {
    return this.serialize(requestId, async () => {
      try {
        await fs.rm(path.join(this.folder, pathSegmentFor(requestId)), { recursive: true, force: true });
      } catch (error) {
        this.log(`video request ${requestId.slice(0, 8)}: could not delete its review clips (${(error as Error).message})`);
      }
    });
  }

  /** One thing at a time per request: two reviews of one camera, or a review and the request's end. */
  private serialize<T>(requestId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(requestId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(requestId, settled);
    void settled.then(() => {
      if (this.chains.get(requestId) === settled) this.chains.delete(requestId);
    });
    return next;
  }
}

function facts(f: ClipFacts): Pick<ReviewClip, 'clipStartUtc' | 'durationSeconds' | 'bytes' | 'sha256' | 'gaps'> {
  return { clipStartUtc: f.clipStartUtc, durationSeconds: f.durationSeconds, bytes: f.bytes, sha256: f.sha256, gaps: f.gaps };
}
