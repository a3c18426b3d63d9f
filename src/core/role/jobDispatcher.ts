// One poll of the service: sign in when needed, list the agent jobs and hand
// each to what answers it (discovery and thumbnail jobs to the responders,
// mediarequest jobs to the video request desk), skipping jobs for cameras
// another agent owns. A failing job is logged and the others go on, unless
// the service itself is unreachable: then the whole poll fails and the poller
// backs off. A selection not yet published asks the service for a discovery.
import type { MediaRequestJobPayload, ThumbnailJobPayload } from '../clearance/api';
import type { Clock } from '../net/clock';
import { NetworkError, ServiceError, TimeoutError } from '../net/errors';
import type { CameraRegistry } from '../registry/cameraRegistry';
import { short, type VideoRequestDesk } from '../requests/videoRequestDesk';
import type { Site } from '../site/model';
import type { AccountController } from './accountController';
import type { ActivityRecorder } from './activityRecorder';
import { Responders } from './responders';

export interface JobDispatcherOptions {
  account: AccountController;
  registry: CameraRegistry;
  requests: VideoRequestDesk;
  site: Site;
  clock: Clock;
  recorder: ActivityRecorder;
  /** Polls again at once (a discovery job is on its way). */
  pollNow: () => void;
  log: (line: string) => void;
  debug?: (line: string) => void;
}

export class JobDispatcher {
  private discoveryAsked = false;
  private readonly responders: Responders;

  constructor(private readonly o: JobDispatcherOptions) {
    this.responders = new Responders({
      registry: o.registry,
      site: o.site,
      clock: o.clock,
      recorder: o.recorder,
      onPublished: () => (this.discoveryAsked = false),
      ...(o.debug ? { debug: o.debug } : {}),
    });
  }

  /** After a start or a selection change: a selection not yet published asks for a discovery again. */
  askDiscoveryAgain(): void {
    this.discoveryAsked = false;
  }

  async tick(signal: AbortSignal, poll: number): Promise<void> {
    const { registry, requests } = this.o;
    const conn = await this.o.account.signedInConnection(signal);
    const jobs = await conn.agent.listJobs(undefined, signal);
    let owners: Map<string, string> | undefined;
    const ownerOf = async (cameraId: string): Promise<string | undefined> => {
      owners ??= new Map((await conn.agent.registry(signal)).map((c) => [c.id, c.owner]));
      return owners.get(cameraId);
    };
    const ours = async (cameraIds: string[]): Promise<boolean> => {
      for (const id of cameraIds) {
        const owner = await ownerOf(id);
        if (owner === undefined || owner === conn.account.clientId) return true;
      }
      return false;
    };
    let sawDiscovery = false;
    for (const job of jobs) {
      signal.throwIfAborted();
      try {
        if (job.type === 'discovery') {
          sawDiscovery = true;
          await this.responders.answerDiscovery(conn.agent, job, signal);
        } else if (job.type === 'thumbnail') {
          const payload = job.payload as ThumbnailJobPayload;
          if (job.state === 'Locked' || (await ours([payload.cameraId]))) await this.responders.answerThumbnail(conn.agent, job, signal);
        } else if (job.type === 'mediarequest') {
          const payload = job.payload as MediaRequestJobPayload;
          if (requests.get(payload.requestId) || (await ours(payload.cameras.map((c) => c.id)))) await requests.receive(job, signal);
        }
      } catch (error) {
        if (signal.aborted) throw error;
        this.o.log(`poll ${poll}: ${job.type} job ${short(job.jobId)}: ${(error as Error).message}`);
        if (isUnreachable(error)) throw error;
      }
    }
    if (!sawDiscovery && !this.discoveryAsked && (await registry.publishPending())) {
      this.discoveryAsked = true;
      if (await conn.agent.requestDiscovery(signal)) this.o.pollNow();
      else this.o.log('the selection changed: it reaches the registry with the next discovery job');
    }
    await requests.followUnlisted(new Set(jobs.map((j) => j.jobId)), signal);
    await requests.reportPending(signal);
    this.o.debug?.(`poll ${poll}: ${jobs.length} job(s)`);
  }
}

/** The service cannot be reached (or is overloaded): the whole poll fails and the poller backs off. */
function isUnreachable(error: unknown): boolean {
  if (error instanceof NetworkError || error instanceof TimeoutError) return true;
  return error instanceof ServiceError && (error.status >= 500 || error.status === 429 || error.status === 401);
}
