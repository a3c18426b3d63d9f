// The role as a client ("agent") of the registry agent service (docs/clearance-api.md §7, paths and
// bodies [ours], shared with the emulator through api.ts): list jobs, lock one,
// report progress (which renews the lease), complete or fail it; read the
// registry and the video requests the service keeps.
import type {
  AgentJob,
  AgentJobType,
  DiscoveryJobResult,
  JobCompleteRequest,
  JobFailRequest,
  JobLockRequest,
  JobProgressRequest,
  MediaRequestJobResult,
  RegistryCamera,
  ThumbnailJobResult,
  VideoRequest as ServiceVideoRequest,
} from './api';
import { ServiceError } from '../net/errors';
import type { ClearanceSession } from './session';

export interface AgentEndpoints {
  /** {ApiBaseAddress}, e.g. https://…/ (agent service paths are prefixed /agentservice/…). */
  apiBase: string;
  /** {DeviceServiceBaseAddress}: the registry. */
  deviceServiceBase: string;
  tenantId: string;
}

export function isConflict(error: unknown): error is ServiceError {
  return error instanceof ServiceError && error.status === 409;
}

export function isNotFound(error: unknown): error is ServiceError {
  return error instanceof ServiceError && error.status === 404;
}

const trim = (url: string) => url.replace(/\/+$/, '');

export class AgentClient {
  private readonly jobsUrl: string;
  private readonly requestsUrl: string;
  private readonly registryUrl: string;

  constructor(
    private readonly session: ClearanceSession,
    endpoints: AgentEndpoints,
  ) {
    const tenant = encodeURIComponent(endpoints.tenantId);
    const agent = `${trim(endpoints.apiBase)}/agentservice/api/v1/tenant/${tenant}`;
    this.jobsUrl = `${agent}/jobs`;
    this.requestsUrl = `${agent}/requests`;
    this.registryUrl = `${trim(endpoints.deviceServiceBase)}/tenant/${tenant}/registry/cameras`;
  }

  /** Jobs this agent may take now (open and due) or already holds. */
  listJobs(type?: AgentJobType, signal?: AbortSignal): Promise<AgentJob[]> {
    const url = type ? `${this.jobsUrl}?type=${encodeURIComponent(type)}` : this.jobsUrl;
    return this.session.json<AgentJob[]>(url, { signal });
  }

  getJob(jobId: string, signal?: AbortSignal): Promise<AgentJob> {
    return this.session.json<AgentJob>(`${this.jobUrl(jobId)}`, { signal });
  }

  /** Locks (or, when already ours, renews) a job; 409 when another agent holds it or it is closed. */
  lock(jobId: string, leaseSeconds: number, signal?: AbortSignal): Promise<AgentJob> {
    const body: JobLockRequest = { leaseSeconds };
    // Locking again is harmless for the holder, so a lost answer may be retried.
    return this.session.json<AgentJob>(`${this.jobUrl(jobId)}/lock`, { method: 'POST', json: body, retryable: true, signal });
  }

  /** Reports progress and renews the lease. */
  progress(jobId: string, taskProgress: number, taskTotal: number, signal?: AbortSignal): Promise<AgentJob> {
    const body: JobProgressRequest = { taskProgress: Math.min(taskProgress, taskTotal), taskTotal };
    return this.session.json<AgentJob>(`${this.jobUrl(jobId)}/progress`, { method: 'POST', json: body, retryable: true, signal });
  }

  complete(jobId: string, result: MediaRequestJobResult | DiscoveryJobResult | ThumbnailJobResult, signal?: AbortSignal): Promise<AgentJob> {
    const body: JobCompleteRequest = { result };
    return this.closing(jobId, 'Completed', signal, () =>
      this.session.json<AgentJob>(`${this.jobUrl(jobId)}/complete`, { method: 'POST', json: body, retryable: true, signal }),
    );
  }

  /** Fails a job; `retryable` opens it again for any agent. */
  fail(jobId: string, reason: string, retryable = false, signal?: AbortSignal): Promise<AgentJob> {
    const body: JobFailRequest = { reason: reason.slice(0, 2048), retryable };
    return this.closing(jobId, retryable ? 'Open' : 'Failed', signal, () =>
      this.session.json<AgentJob>(`${this.jobUrl(jobId)}/fail`, { method: 'POST', json: body, retryable: true, signal }),
    );
  }

  getRequest(requestId: string, signal?: AbortSignal): Promise<ServiceVideoRequest> {
    return this.session.json<ServiceVideoRequest>(`${this.requestsUrl}/${encodeURIComponent(requestId)}`, { signal });
  }

  listRequests(signal?: AbortSignal): Promise<ServiceVideoRequest[]> {
    return this.session.json<ServiceVideoRequest[]>(this.requestsUrl, { signal });
  }

  /** The cameras the service's registry holds (every agent's). */
  registry(signal?: AbortSignal): Promise<RegistryCamera[]> {
    return this.session.json<RegistryCamera[]>(this.registryUrl, { signal });
  }

  /**
   * Asks the service for a discovery job now, so that a changed selection reaches the
   * registry without waiting for the next scheduled one. [ours] route; a service
   * without it (404/405) answers false and the role waits for the scheduled job.
   */
  async requestDiscovery(signal?: AbortSignal): Promise<boolean> {
    const res = await this.session.call(`${this.jobsUrl}/discovery`, {
      method: 'POST',
      json: {},
      retryable: true,
      signal,
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 404 || s === 405,
    });
    return res.status >= 200 && res.status < 300;
  }

  private jobUrl(jobId: string): string {
    return `${this.jobsUrl}/${encodeURIComponent(jobId)}`;
  }

  /** A retried close whose first answer was lost meets a 409: the job's state says whether it went through. */
  private async closing(jobId: string, expected: AgentJob['state'], signal: AbortSignal | undefined, send: () => Promise<AgentJob>): Promise<AgentJob> {
    try {
      return await send();
    } catch (error) {
      if (!isConflict(error) || error.attempts < 2) throw error;
      const job = await this.getJob(jobId, signal);
      if (job.state === expected) return job;
      throw error;
    }
  }
}
