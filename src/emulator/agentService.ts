// The registry agent service (docs/clearance-api.md §7, shapes [ours]): jobs an agent lists, locks,
// reports progress on, completes or fails; the camera registry that discovery
// jobs fill; and the video requests that become mediarequest jobs.
import * as crypto from 'node:crypto';
import type {
  AgentJob,
  AgentJobType,
  DiscoveryJobResult,
  MediaRequestJobPayload,
  MediaRequestJobResult,
  RegistryCamera,
  ThumbnailJobResult,
  VideoRequest,
  VideoRequestCreate,
} from '../core/clearance/api';
import { AGENT_JOB_TYPES, CAMERA_OUTCOMES, MEDIA_REQUEST_RESULT_STATUSES } from '../core/clearance/api';
import type { Clock } from './clock';
import type { DocumentStore } from './documentStore';
import { badRequest, conflict, forbidden, notFound, type Reply, type RouteDef } from './http';
import type { Collection } from './metadataStore';
import type { Principal } from './tokenService';
import { arr, bool, int, isoDate, obj, oneOf, optional, parse, str, text } from './validate';
import { isFinal, transition } from './videoRequests';

export type JobRecord = AgentJob & { tenantId: string; leaseSeconds: number };
export type CameraRecord = RegistryCamera & { tenantId: string };
export type RequestRecord = VideoRequest & { tenantId: string };

export const MAX_REQUEST_RANGE_MS = 24 * 3600 * 1000;
const DEFAULT_LEASE_SECONDS = 300;

const agentIdCheck = optional(str({ max: 200 }));
const lockBody = obj({ agentId: agentIdCheck, leaseSeconds: optional(int({ min: 5, max: 3600 })) });
const progressBody = obj({ agentId: agentIdCheck, taskProgress: int({ min: 0, max: 1e9 }), taskTotal: int({ min: 0, max: 1e9 }) });
const failBody = obj({ agentId: agentIdCheck, reason: str({ max: 2048 }), retryable: optional(bool()) });
const completeEnvelope = obj({ agentId: agentIdCheck, result: (v: unknown) => v });

const mediaResult = obj({
  status: oneOf(MEDIA_REQUEST_RESULT_STATUSES),
  evidenceIds: arr(str({ max: 100 }), { max: 500 }),
  cameras: arr(
    obj({ cameraId: str({ max: 200 }), outcome: oneOf(CAMERA_OUTCOMES), evidenceId: optional(str({ max: 100 })), message: optional(text(1024)) }),
    { max: 500 },
  ),
  caseId: optional(str({ max: 100 })),
  comments: optional(text(4096)),
});
const discoveryResult = obj({
  cameras: arr(obj({ id: str({ max: 200 }), name: str({ max: 256 }), location: optional(text(512)) }), { max: 5000 }),
});
const thumbnailResult = obj({
  mimeType: str({ max: 100, pattern: /^image\/[\w.+-]+$/, patternText: 'an image MIME type' }),
  dataBase64: str({ max: 700_000, pattern: /^[A-Za-z0-9+/]+={0,2}$/, patternText: 'base64' }),
});

export const videoRequestCreate = obj({
  cameras: arr(str({ max: 200 }), { min: 1, max: 100 }),
  fromUtc: isoDate(),
  toUtc: isoDate(),
  incidentTimeUtc: optional(isoDate()),
  comments: optional(text(4096)),
  caseId: optional(str({ max: 100 })),
  requester: optional(str({ max: 256 })),
});
const thumbnailCreate = obj({ cameraId: str({ max: 200 }), timeUtc: optional(isoDate()) });

export interface AgentServiceDeps {
  jobs: Collection<JobRecord>;
  cameras: Collection<CameraRecord>;
  requests: Collection<RequestRecord>;
  documents: DocumentStore;
  tenants: () => string[];
  clock: Clock;
  discoveryIntervalSeconds: number;
  log: (m: string) => void;
}

function publicJob(j: JobRecord): AgentJob {
  const { tenantId: _t, leaseSeconds: _l, ...rest } = j;
  return rest;
}

function publicRequest(r: RequestRecord): VideoRequest {
  const { tenantId: _t, ...rest } = r;
  return rest;
}

function publicCamera(c: CameraRecord): RegistryCamera {
  const { tenantId: _t, ...rest } = c;
  return rest;
}

export class AgentService {
  constructor(private readonly d: AgentServiceDeps) {}

  private now(): Date {
    return this.d.clock.now();
  }

  registry(tenantId: string): RegistryCamera[] {
    return this.d.cameras
      .all()
      .filter((c) => c.tenantId === tenantId)
      .map(publicCamera);
  }

  request(tenantId: string, requestId: string): VideoRequest | undefined {
    const r = this.d.requests.get(requestId);
    return r && r.tenantId === tenantId ? publicRequest(r) : undefined;
  }

  private async newJob(tenantId: string, type: AgentJobType, payload: AgentJob['payload'], notBefore = this.now()): Promise<JobRecord> {
    const job: JobRecord = {
      jobId: crypto.randomUUID(),
      type,
      state: 'Open',
      createdUtc: this.now().toISOString(),
      notBeforeUtc: notBefore.toISOString(),
      lockedBy: null,
      leaseExpiresUtc: null,
      taskProgress: null,
      taskTotal: null,
      payload,
      result: null,
      failureReason: null,
      tenantId,
      leaseSeconds: DEFAULT_LEASE_SECONDS,
    };
    await this.d.jobs.put(job.jobId, job);
    return job;
  }

  /** Files a video request (from the admin route, the CLI or the demo requester). */
  async fileRequest(tenantId: string, body: unknown): Promise<VideoRequest> {
    const input: VideoRequestCreate = parse(videoRequestCreate, body);
    const registry = new Map(this.registry(tenantId).map((c) => [c.id, c]));
    const seen = new Set<string>();
    input.cameras.forEach((id, i) => {
      if (!registry.has(id)) throw badRequest(`cameras[${i}]`, `camera ${id} is not in the registry`);
      if (seen.has(id)) throw badRequest(`cameras[${i}]`, `camera ${id} is listed twice`);
      seen.add(id);
    });
    const from = Date.parse(input.fromUtc);
    const to = Date.parse(input.toUtc);
    if (to <= from) throw badRequest('toUtc', 'must be after fromUtc');
    if (to - from > MAX_REQUEST_RANGE_MS) throw badRequest('toUtc', 'Export range from fromUtc to toUtc must be shorter than 1 days');
    if (input.caseId && !this.d.documents.caseExists(tenantId, input.caseId)) throw badRequest('caseId', `case ${input.caseId} not found`);
    const requestId = crypto.randomUUID();
    const payload: MediaRequestJobPayload = {
      requestId,
      cameras: input.cameras.map((id) => ({ id, name: registry.get(id)!.name })),
      fromUtc: input.fromUtc,
      toUtc: input.toUtc,
      incidentTimeUtc: input.incidentTimeUtc ?? input.fromUtc,
      comments: input.comments ?? '',
      caseId: input.caseId ?? null,
      requester: input.requester ?? 'requester@clearance.local',
    };
    const job = await this.newJob(tenantId, 'mediarequest', payload);
    const at = this.now().toISOString();
    const req: RequestRecord = {
      requestId,
      status: 'Pending',
      cameras: input.cameras,
      fromUtc: input.fromUtc,
      toUtc: input.toUtc,
      incidentTimeUtc: payload.incidentTimeUtc,
      comments: payload.comments,
      caseId: payload.caseId,
      requester: payload.requester!,
      jobId: job.jobId,
      evidenceIds: [],
      cameraOutcomes: [],
      createdUtc: at,
      updatedUtc: at,
      history: [{ status: 'Pending', atUtc: at }],
      tenantId,
    };
    await this.d.requests.put(requestId, req);
    this.d.log(`video request ${requestId} filed for ${input.cameras.length} camera(s)`);
    return publicRequest(req);
  }

  async cancelRequest(tenantId: string, requestId: string, reason: string): Promise<VideoRequest> {
    const r = this.d.requests.get(requestId);
    if (!r || r.tenantId !== tenantId) throw notFound(`video request ${requestId}`);
    transition(r, 'Canceled', this.now(), reason);
    const job = this.d.jobs.get(r.jobId);
    if (job && (job.state === 'Open' || job.state === 'Locked')) {
      job.state = 'Canceled';
      job.failureReason = reason;
      await this.d.jobs.put(job.jobId, job);
    }
    await this.d.requests.put(r.requestId, r);
    return publicRequest(r);
  }

  async fileThumbnail(tenantId: string, body: unknown): Promise<AgentJob> {
    const input = parse(thumbnailCreate, body);
    if (!this.registry(tenantId).some((c) => c.id === input.cameraId)) throw badRequest('cameraId', `camera ${input.cameraId} is not in the registry`);
    return publicJob(await this.newJob(tenantId, 'thumbnail', { cameraId: input.cameraId, timeUtc: input.timeUtc ?? null }));
  }

  async fileDiscovery(tenantId: string): Promise<AgentJob> {
    return publicJob(await this.newJob(tenantId, 'discovery', {}));
  }

  /**
   * [ours] An agent whose camera selection changed asks for discovery now: the
   * open discovery job comes due at once (or a new one is made when none is
   * open), so the registry follows without waiting for the schedule.
   */
  async discoveryNow(tenantId: string): Promise<{ job: AgentJob; created: boolean }> {
    const now = this.now();
    const open = this.d.jobs.all().find((j) => j.tenantId === tenantId && j.type === 'discovery' && j.state === 'Open');
    if (!open) return { job: publicJob(await this.newJob(tenantId, 'discovery', {})), created: true };
    if (Date.parse(open.notBeforeUtc) > now.getTime()) {
      open.notBeforeUtc = now.toISOString();
      await this.d.jobs.put(open.jobId, open);
    }
    return { job: publicJob(open), created: false };
  }

  /** Returns lapsed leases and keeps a discovery job available per tenant. */
  async sweep(): Promise<void> {
    const now = this.now();
    const lapsed = [...this.d.jobs.scan()].filter(
      ([, j]) => j.state === 'Locked' && j.leaseExpiresUtc !== null && Date.parse(j.leaseExpiresUtc) <= now.getTime(),
    );
    for (const [jobId] of lapsed) {
      const job = this.d.jobs.get(jobId);
      if (!job) continue;
      this.d.log(`job ${job.jobId}: lease of ${job.lockedBy} lapsed; the job is open again`);
      await this.reopen(job, 'lease expired');
    }
    const withDiscovery = new Set<string>();
    for (const [, j] of this.d.jobs.scan()) if (j.type === 'discovery' && (j.state === 'Open' || j.state === 'Locked')) withDiscovery.add(j.tenantId);
    for (const tenantId of this.d.tenants()) if (!withDiscovery.has(tenantId)) await this.newJob(tenantId, 'discovery', {});
  }

  private async reopen(job: JobRecord, reason: string): Promise<void> {
    job.state = 'Open';
    job.lockedBy = null;
    job.leaseExpiresUtc = null;
    job.failureReason = reason;
    if (job.type === 'mediarequest') {
      const r = this.d.requests.get((job.payload as MediaRequestJobPayload).requestId);
      if (r && r.status === 'Processing') {
        transition(r, 'Pending', this.now(), reason);
        await this.d.requests.put(r.requestId, r);
      }
    }
    await this.d.jobs.put(job.jobId, job);
  }

  private jobFor(principal: Principal, tenantId: string, jobId: string): JobRecord {
    if (tenantId !== principal.tenantId) throw forbidden(`tenant ${tenantId}: the token is for tenant ${principal.tenantId}`);
    const job = this.d.jobs.get(jobId);
    if (!job || job.tenantId !== tenantId) throw notFound(`job ${jobId}`);
    return job;
  }

  private heldBy(job: JobRecord, agentId: string): void {
    if (job.state !== 'Locked') throw conflict(`job ${job.jobId} is ${job.state}, not locked: lock it first`);
    if (job.lockedBy !== agentId) throw conflict(`job ${job.jobId} is locked by another agent (${job.lockedBy})`);
  }

  private async complete(job: JobRecord, principal: Principal, agentId: string, raw: unknown): Promise<void> {
    const now = this.now();
    if (job.type === 'discovery') {
      const result: DiscoveryJobResult = discoveryResult(raw ?? undefined, 'result');
      const ids = new Set<string>();
      result.cameras.forEach((c, i) => {
        if (ids.has(c.id)) throw badRequest(`result.cameras[${i}].id`, `camera ${c.id} is listed twice`);
        ids.add(c.id);
      });
      const others = this.d.cameras.all().filter((c) => c.tenantId === job.tenantId && c.owner !== agentId && ids.has(c.id));
      if (others.length) throw conflict(`camera ${others[0].id} is already published by agent ${others[0].owner}`);
      for (const c of this.d.cameras.all()) {
        if (c.tenantId === job.tenantId && c.owner === agentId && !ids.has(c.id)) await this.d.cameras.delete(`${c.tenantId}/${c.id}`);
      }
      for (const c of result.cameras) await this.d.cameras.put(`${job.tenantId}/${c.id}`, { ...c, owner: agentId, tenantId: job.tenantId });
      job.result = result;
      await this.newJob(job.tenantId, 'discovery', {}, new Date(now.getTime() + this.d.discoveryIntervalSeconds * 1000));
    } else if (job.type === 'thumbnail') {
      const result: ThumbnailJobResult = thumbnailResult(raw ?? undefined, 'result');
      job.result = result;
    } else {
      const result: MediaRequestJobResult = mediaResult(raw ?? undefined, 'result');
      const payload = job.payload as MediaRequestJobPayload;
      const req = this.d.requests.get(payload.requestId);
      if (!req) throw notFound(`video request ${payload.requestId}`);
      const evidence = result.evidenceIds.map((id, i) => {
        const e = this.d.documents.evidenceExists(job.tenantId, id);
        if (!e) throw badRequest(`result.evidenceIds[${i}]`, `evidence ${id} not found`);
        return e;
      });
      result.cameras.forEach((c, i) => {
        if (!req.cameras.includes(c.cameraId)) throw badRequest(`result.cameras[${i}].cameraId`, `camera ${c.cameraId} is not part of the request`);
      });
      const caseId = result.caseId ?? req.caseId;
      let target = caseId ? this.d.documents.caseExists(job.tenantId, caseId) : undefined;
      if (caseId && !target) throw badRequest('result.caseId', `case ${caseId} not found`);
      transition(req, result.status, now, result.comments);
      if (!target && evidence.length && (result.status === 'Completed' || result.status === 'PartiallyCompleted')) {
        // [doc] With no associated case, the service creates one named after the request.
        target = await this.d.documents.createCase(job.tenantId, {
          Name: `Video request ${req.requestId.slice(0, 8)}`,
          IncidentTimeUtc: req.incidentTimeUtc,
          Description: req.comments,
          AccessPolicies: [{ PrincipalId: principal.clientId, PrincipalType: 'Integration', Permission: 'Manage' }],
          CreatedBy: 'clearance',
        });
      }
      for (const e of evidence) if (target) target = await this.d.documents.linkEvidence(target, e);
      req.evidenceIds = result.evidenceIds;
      req.cameraOutcomes = result.cameras;
      req.caseId = target?.CaseId ?? req.caseId;
      job.result = result;
      await this.d.requests.put(req.requestId, req);
    }
    job.state = 'Completed';
    job.leaseExpiresUtc = null;
    await this.d.jobs.put(job.jobId, job);
  }

  routes(): RouteDef<Principal>[] {
    const A = '/agentservice/api/v1/tenant/:tenantId';
    const ok = (body: unknown, status = 200): Reply => ({ status, body });
    const tenantCheck = (p: Principal, t: string): void => {
      if (t !== p.tenantId) throw forbidden(`tenant ${t}: the token is for tenant ${p.tenantId}`);
    };
    return [
      {
        name: 'jobs.list',
        method: 'GET',
        path: `${A}/jobs`,
        auth: true,
        handler: ({ params, principal, query }) => {
          tenantCheck(principal!, params.tenantId);
          const agentId = agentIdCheck(query.get('agentId') ?? undefined, 'agentId') ?? principal!.clientId;
          const type = query.get('type');
          if (type !== null && !(AGENT_JOB_TYPES as readonly string[]).includes(type)) throw badRequest('type', `must be one of ${AGENT_JOB_TYPES.join(', ')}`);
          const now = this.now().getTime();
          const jobs = this.d.jobs
            .all()
            .filter((j) => j.tenantId === params.tenantId && (type === null || j.type === type))
            .filter((j) => (j.state === 'Open' && Date.parse(j.notBeforeUtc) <= now) || (j.state === 'Locked' && j.lockedBy === agentId))
            .sort((a, b) => a.createdUtc.localeCompare(b.createdUtc));
          return ok(jobs.map(publicJob));
        },
      },
      {
        name: 'jobs.get',
        method: 'GET',
        path: `${A}/jobs/:jobId`,
        auth: true,
        handler: ({ params, principal }) => ok(publicJob(this.jobFor(principal!, params.tenantId, params.jobId))),
      },
      {
        name: 'jobs.lock',
        method: 'POST',
        path: `${A}/jobs/:jobId/lock`,
        auth: true,
        body: 'jsonOptional',
        handler: async ({ params, principal, body }) => {
          const job = this.jobFor(principal!, params.tenantId, params.jobId);
          const input = parse(lockBody, body);
          const agentId = input.agentId ?? principal!.clientId;
          const now = this.now();
          if (job.state === 'Locked' && job.lockedBy !== agentId) {
            throw conflict(`job ${job.jobId} is locked by another agent (${job.lockedBy}) until ${job.leaseExpiresUtc}`);
          }
          if (job.state !== 'Open' && job.state !== 'Locked') throw conflict(`job ${job.jobId} is ${job.state}`);
          if (Date.parse(job.notBeforeUtc) > now.getTime()) throw conflict(`job ${job.jobId} is not open before ${job.notBeforeUtc}`);
          if (job.type === 'mediarequest' && job.state === 'Open') {
            const req = this.d.requests.get((job.payload as MediaRequestJobPayload).requestId);
            if (req) {
              transition(req, 'Processing', now, `locked by ${agentId}`);
              await this.d.requests.put(req.requestId, req);
            }
          }
          job.state = 'Locked';
          job.lockedBy = agentId;
          job.leaseSeconds = input.leaseSeconds ?? job.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
          job.leaseExpiresUtc = new Date(now.getTime() + job.leaseSeconds * 1000).toISOString();
          job.failureReason = null;
          await this.d.jobs.put(job.jobId, job);
          return ok(publicJob(job));
        },
      },
      {
        name: 'jobs.progress',
        method: 'POST',
        path: `${A}/jobs/:jobId/progress`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          const job = this.jobFor(principal!, params.tenantId, params.jobId);
          const input = parse(progressBody, body);
          if (input.taskProgress > input.taskTotal) throw badRequest('taskProgress', 'must not exceed taskTotal');
          this.heldBy(job, input.agentId ?? principal!.clientId);
          job.taskProgress = input.taskProgress;
          job.taskTotal = input.taskTotal;
          job.leaseExpiresUtc = new Date(this.now().getTime() + job.leaseSeconds * 1000).toISOString();
          await this.d.jobs.put(job.jobId, job);
          return ok(publicJob(job));
        },
      },
      {
        name: 'jobs.complete',
        method: 'POST',
        path: `${A}/jobs/:jobId/complete`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          const job = this.jobFor(principal!, params.tenantId, params.jobId);
          const input = parse(completeEnvelope, body);
          const agentId = input.agentId ?? principal!.clientId;
          this.heldBy(job, agentId);
          await this.complete(job, principal!, agentId, (input.result as unknown) ?? undefined);
          return ok(publicJob(job));
        },
      },
      {
        name: 'jobs.fail',
        method: 'POST',
        path: `${A}/jobs/:jobId/fail`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          const job = this.jobFor(principal!, params.tenantId, params.jobId);
          const input = parse(failBody, body);
          this.heldBy(job, input.agentId ?? principal!.clientId);
          if (input.retryable) {
            await this.reopen(job, input.reason);
            return ok(publicJob(job));
          }
          if (job.type === 'mediarequest') {
            const req = this.d.requests.get((job.payload as MediaRequestJobPayload).requestId);
            if (req && !isFinal(req.status)) {
              transition(req, 'VideoUnavailable', this.now(), input.reason);
              await this.d.requests.put(req.requestId, req);
            }
          }
          job.state = 'Failed';
          job.failureReason = input.reason;
          job.leaseExpiresUtc = null;
          await this.d.jobs.put(job.jobId, job);
          if (job.type === 'discovery') await this.newJob(job.tenantId, 'discovery', {}, new Date(this.now().getTime() + this.d.discoveryIntervalSeconds * 1000));
          return ok(publicJob(job));
        },
      },
      {
        name: 'requests.list',
        method: 'GET',
        path: `${A}/requests`,
        auth: true,
        handler: ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          return ok(
            this.d.requests
              .all()
              .filter((r) => r.tenantId === params.tenantId)
              .sort((a, b) => a.createdUtc.localeCompare(b.createdUtc))
              .map(publicRequest),
          );
        },
      },
      {
        name: 'requests.get',
        method: 'GET',
        path: `${A}/requests/:requestId`,
        auth: true,
        handler: ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          const r = this.request(params.tenantId, params.requestId);
          if (!r) throw notFound(`video request ${params.requestId}`);
          return ok(r);
        },
      },
      {
        name: 'registry.list',
        method: 'GET',
        path: '/deviceservice/api/v1/tenant/:tenantId/registry/cameras',
        auth: true,
        handler: ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          return ok(this.registry(params.tenantId));
        },
      },
      {
        name: 'admin.requests.create',
        method: 'POST',
        path: '/admin/api/v1/tenant/:tenantId/requests',
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          tenantCheck(principal!, params.tenantId);
          return ok(await this.fileRequest(params.tenantId, body), 201);
        },
      },
      {
        name: 'admin.requests.cancel',
        method: 'POST',
        path: '/admin/api/v1/tenant/:tenantId/requests/:requestId/cancel',
        auth: true,
        body: 'jsonOptional',
        handler: async ({ params, principal, body }) => {
          tenantCheck(principal!, params.tenantId);
          const input = parse(obj({ reason: optional(text(1024)) }), body);
          return ok(await this.cancelRequest(params.tenantId, params.requestId, input.reason || 'canceled by the requester'));
        },
      },
      {
        name: 'admin.jobs.thumbnail',
        method: 'POST',
        path: '/admin/api/v1/tenant/:tenantId/jobs/thumbnail',
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          tenantCheck(principal!, params.tenantId);
          return ok(await this.fileThumbnail(params.tenantId, body), 201);
        },
      },
      {
        name: 'jobs.discovery',
        method: 'POST',
        path: `${A}/jobs/discovery`,
        auth: true,
        body: 'jsonOptional',
        handler: async ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          const { job, created } = await this.discoveryNow(params.tenantId);
          return ok(job, created ? 201 : 200);
        },
      },
      {
        name: 'admin.jobs.discovery',
        method: 'POST',
        path: '/admin/api/v1/tenant/:tenantId/jobs/discovery',
        auth: true,
        handler: async ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          return ok(await this.fileDiscovery(params.tenantId), 201);
        },
      },
    ];
  }
}
