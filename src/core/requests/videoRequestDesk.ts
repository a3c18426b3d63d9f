// Where video requests are handled. A mediarequest job is locked as soon as it
// is seen (so no other agent takes it) and kept locked while it waits for an
// operator and while it is worked; a request for a camera outside the
// selection is refused at once. Approve = export each camera's range, upload
// each camera's parts as one evidence item through the upload queue, then
// complete the job with every camera's outcome. Every step goes to the
// activity trail (worded by the recorder), every change of status through the
// state machine.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Keyv from 'keyv';
import type { AgentJob, MediaRequestJobPayload, MediaRequestJobResult, VideoRequestStatus } from '../clearance/api';
import type { AgentClient } from '../clearance/agentClient';
import { isConflict } from '../clearance/agentClient';
import type { ActivityFile } from '../audit/activityTrail';
import { ValidationError } from '../config/fieldErrors';
import { Emitter, type Disposable } from '../events';
import type { Clock } from '../net/clock';
import type { ExportResult, Site, SiteError } from '../site/model';
import { isDiskFull, isSiteError, type DiskFullError } from '../site/model';
import { freeBytes, mebibytes } from '../site/diskSpace';
import { newPartFromExport, type NewUploadJob, type UploadEvent } from '../uploads/uploadQueue';
import type { UploadJobSnapshot } from '../uploads/uploadJob';
import { finalStatus, giveBack, IllegalRequestTransition, isFinal, STATUS_LABELS, transition, type VideoRequest, type VideoRequestCamera } from './videoRequest';

/** Who acts when nobody did: the role itself (refusals, outcomes). */
export const ROLE_ACTOR = 'role';
export const DEFAULT_LEASE_SECONDS = 300;
/** A failed upload of a request is retried this often before its camera counts as failed. */
export const UPLOAD_RETRIES = 2;
/** While the archive folder is full, an export is tried again after 1 s, 2 s, 4 s… up to this (and as soon as space is freed). */
export const DISK_FULL_MAX_WAIT_MS = 60_000;
/** How often the free space is looked at while waiting for it. */
const DISK_FULL_CHECK_MS = 1000;
/** Freed space that ends a wait early. */
const DISK_FULL_WAKE_BYTES = 1024 * 1024;
/** What each camera and the requester are told when an operator answers "video unavailable" without a reason. */
export const DEFAULT_UNAVAILABLE_MESSAGE = 'no recordings available at the site';

/** What the desk needs of the upload queue. */
export interface RequestUploads {
  stagingFolder(jobId: string): string;
  enqueue(input: NewUploadJob): Promise<UploadJobSnapshot>;
  get(id: string): UploadJobSnapshot | undefined;
  retry(id: string): Promise<void>;
  cancel(id: string): Promise<void>;
  readonly onDidChange: (listener: (event: UploadEvent) => void) => Disposable;
}

export type RequestAgent = Pick<AgentClient, 'lock' | 'progress' | 'complete' | 'fail' | 'getRequest'>;

/** Why a request's status changed: the recorder words it. */
export type RequestStatusCause =
  | { kind: 'approved'; user: string }
  | { kind: 'denied'; user: string; reason: string }
  | { kind: 'markedUnavailable'; user: string; reason: string }
  | { kind: 'canceledAtService'; reason: string }
  | { kind: 'refused'; reason: string }
  | { kind: 'finished'; outcome: string }
  | { kind: 'givenBack'; reason: string };

/** The trail records of the desk; the role's activity recorder writes them. */
export interface RequestRecorder {
  requestReceived(request: VideoRequest): Promise<void>;
  requestRefused(request: VideoRequest, outside: string[], reason: string): Promise<void>;
  requestStatusChanged(before: VideoRequest, after: VideoRequest, cause: RequestStatusCause): Promise<void>;
  requestExportFailed(request: VideoRequest, camera: VideoRequestCamera, error: SiteError): Promise<void>;
  /** The export waits for space in the archive folder (said once per export; it goes again by itself). */
  requestExportWaiting(request: VideoRequest, camera: VideoRequestCamera, message: string): Promise<void>;
  requestVideoUnavailable(request: VideoRequest, camera: VideoRequestCamera): Promise<void>;
  requestExported(request: VideoRequest, camera: VideoRequestCamera, files: ActivityFile[], result: Pick<ExportResult, 'status' | 'gaps'>): Promise<void>;
  requestUploadQueued(request: VideoRequest, camera: VideoRequestCamera, files: ActivityFile[], job: UploadJobSnapshot): Promise<void>;
}

export interface VideoRequestDeskOptions {
  agent: RequestAgent;
  site: Site;
  uploads: RequestUploads;
  recorder: RequestRecorder;
  state: Keyv;
  clock: Clock;
  /** Ids among `cameraIds` that are not in the registry selection. */
  outsideSelection: (cameraIds: string[]) => Promise<string[]>;
  leaseSeconds?: number;
  /** How long an upload that gets no answer from the service is tried again (default 30 min). */
  unreachableRetryMs?: number;
  /** Longest exported part (default: the site's, 60 min). */
  maxExportPartMs?: number;
  log?: (line: string) => void;
}

export type VideoRequestEvent =
  | { kind: 'received'; request: VideoRequest }
  | { kind: 'statusChanged'; request: VideoRequest; from: VideoRequestStatus; to: VideoRequestStatus }
  | { kind: 'updated'; request: VideoRequest };

export class RequestNotFound extends Error {
  constructor(readonly requestId: string) {
    super(`There is no video request ${JSON.stringify(requestId)}.`);
    this.name = 'RequestNotFound';
  }
}

const INDEX_KEY = 'requests.index';
const requestKey = (id: string) => `request:${id}`;

export class VideoRequestDesk {
  private readonly events = new Emitter<VideoRequestEvent>();
  readonly onDidChange = this.events.event;
  private readonly requests = new Map<string, VideoRequest>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly workers = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly renewedAt = new Map<string, number>();
  private readonly leaseSeconds: number;
  private readonly unreachableRetryMs: number;
  private readonly log: (line: string) => void;
  private keeper: { controller: AbortController; done: Promise<void> } | undefined;

  private constructor(private readonly o: VideoRequestDeskOptions) {
    this.leaseSeconds = o.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.unreachableRetryMs = o.unreachableRetryMs ?? 30 * 60_000;
    this.log = o.log ?? (() => undefined);
  }

  static async open(options: VideoRequestDeskOptions): Promise<VideoRequestDesk> {
    const desk = new VideoRequestDesk(options);
    const ids = ((await options.state.get(INDEX_KEY)) as string[] | undefined) ?? [];
    for (const id of ids) {
      const r = (await options.state.get(requestKey(id))) as VideoRequest | undefined;
      if (r) desk.requests.set(id, r);
    }
    return desk;
  }

  list(): VideoRequest[] {
    return [...this.requests.values()].sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  get(requestId: string): VideoRequest | undefined {
    return this.requests.get(requestId) ?? [...this.requests.values()].find((r) => r.jobId === requestId);
  }

  /** A request by id, job id, or an unambiguous prefix (logs show 8 characters); otherwise a field error. */
  resolve(text: string): string {
    const exact = this.get(text);
    if (exact) return exact.requestId;
    const matches = this.list().filter((r) => r.requestId.startsWith(text));
    if (matches.length === 1) return matches[0].requestId;
    const problem = matches.length === 0 ? `no video request ${JSON.stringify(text)} has reached this role` : `${JSON.stringify(text)} matches ${matches.length} requests; give more of the id`;
    throw new ValidationError('The request', [{ field: 'request', message: problem }]);
  }

  /** True when a request with this id (or id prefix) has reached the role. */
  knows(text: string): boolean {
    return this.list().some((r) => r.requestId.startsWith(text));
  }

  /** Resumes what a stop left: requests being processed go on, locks are kept alive. */
  start(): void {
    for (const r of this.requests.values()) if (r.status === 'Processing') this.startWork(r.requestId);
    if (!this.keeper) {
      const controller = new AbortController();
      this.keeper = { controller, done: this.keepLeases(controller.signal) };
    }
  }

  /** Stops the work in flight (it resumes on the next start) and the lease keeper. */
  async stop(): Promise<void> {
    const keeper = this.keeper;
    this.keeper = undefined;
    keeper?.controller.abort();
    for (const w of this.workers.values()) w.controller.abort(new Error('The role is stopping.'));
    await Promise.all([keeper?.done, ...[...this.workers.values()].map((w) => w.done)]);
  }

  dispose(): void {
    this.events.dispose();
  }

  /** Takes a mediarequest job the poller found: new requests are locked and recorded, known ones kept. */
  async receive(job: AgentJob, signal?: AbortSignal): Promise<void> {
    const payload = job.payload as MediaRequestJobPayload;
    const known = this.requests.get(payload.requestId);
    if (known) return this.serialize(known.requestId, () => this.revisit(known.requestId, job, signal));

    const outside = await this.o.outsideSelection(payload.cameras.map((c) => c.id));
    try {
      await this.o.agent.lock(job.jobId, this.leaseSeconds, signal);
    } catch (error) {
      if (isConflict(error)) {
        this.log(`video request ${payload.requestId}: taken by another agent`);
        return;
      }
      throw error;
    }
    this.renewedAt.set(payload.requestId, this.o.clock.now());
    const now = this.now();
    const request: VideoRequest = {
      requestId: payload.requestId,
      jobId: job.jobId,
      cameras: payload.cameras.map((c) => ({ id: c.id, name: c.name })),
      fromUtc: payload.fromUtc,
      toUtc: payload.toUtc,
      incidentTimeUtc: payload.incidentTimeUtc,
      comments: payload.comments,
      caseId: payload.caseId,
      ...(typeof payload.requester === 'string' && payload.requester.trim() ? { requester: payload.requester.trim().slice(0, 200) } : {}),
      status: 'Pending',
      receivedAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await this.serialize(request.requestId, async () => {
      await this.save(request, true);
      await this.o.recorder.requestReceived(request);
      this.events.fire({ kind: 'received', request });
      if (outside.length > 0) await this.refuse(request.requestId, outside, signal);
    });
  }

  /** Approves a Pending request: it becomes Processing and is exported and uploaded. */
  approve(requestId: string, user: string): Promise<VideoRequest> {
    const id = this.require(requestId).requestId;
    return this.serialize(id, async () => {
      const request = this.require(id);
      const next = transition(request, 'Processing', this.now(), {
        decidedBy: user,
        progress: { done: 0, total: request.cameras.length * 2 },
      });
      await this.changeStatus(request, next, { kind: 'approved', user });
      this.startWork(id);
      return next;
    });
  }

  /** Denies a Pending request with a reason the requester will read. */
  async deny(requestId: string, user: string, reason: string): Promise<VideoRequest> {
    const text = typeof reason === 'string' ? reason.trim() : '';
    if (!text) throw new ValidationError('The denial', [{ field: 'reason', message: 'required: tell the requester why the request is denied' }]);
    if (text.length > 1024) throw new ValidationError('The denial', [{ field: 'reason', message: `at most 1024 characters; found ${text.length}` }]);
    const id = this.require(requestId).requestId;
    return this.serialize(id, async () => {
      const request = this.require(id);
      const next = transition(request, 'Denied', this.now(), {
        decidedBy: user,
        denyReason: text,
        pendingResult: { status: 'Denied', evidenceIds: [], cameras: [], comments: text },
      });
      await this.changeStatus(request, next, { kind: 'denied', user, reason: text });
      await this.report(id);
      return this.require(id);
    });
  }

  /**
   * Answers a Pending request "video unavailable": nothing is exported, every camera's
   * outcome is Unavailable with the reason (or DEFAULT_UNAVAILABLE_MESSAGE), and the
   * result goes to the service like a denial's. Any other status is an
   * IllegalRequestTransition, and nothing changes.
   */
  async markVideoUnavailable(requestId: string, user: string, reason?: string): Promise<VideoRequest> {
    if (reason !== undefined && typeof reason !== 'string') throw new ValidationError('The answer', [{ field: 'reason', message: 'must be text' }]);
    const text = reason?.trim() ?? '';
    if (text.length > 1024) throw new ValidationError('The answer', [{ field: 'reason', message: `at most 1024 characters; found ${text.length}` }]);
    const message = text || DEFAULT_UNAVAILABLE_MESSAGE;
    const id = this.require(requestId).requestId;
    return this.serialize(id, async () => {
      const request = this.require(id);
      // Processing → VideoUnavailable is the table's too, but only as the outcome of an export that found nothing.
      if (request.status !== 'Pending') throw new IllegalRequestTransition(id, request.status, 'VideoUnavailable');
      const next = transition(request, 'VideoUnavailable', this.now(), {
        decidedBy: user,
        cameras: request.cameras.map((c): VideoRequestCamera => ({ ...c, outcome: 'Unavailable', message })),
        pendingResult: {
          status: 'VideoUnavailable',
          evidenceIds: [],
          cameras: request.cameras.map((c) => ({ cameraId: c.id, outcome: 'Unavailable' as const, message })),
          comments: message,
        },
      });
      await this.changeStatus(request, next, { kind: 'markedUnavailable', user, reason: message });
      await this.report(id);
      return this.require(id);
    });
  }

  /**
   * Resolves when the request is final and the service has its result (or gave up on
   * it), or when its processing failed and it is Pending again (to be approved anew).
   */
  whenSettled(requestId: string): Promise<VideoRequest> {
    const id = this.require(requestId).requestId;
    return new Promise((resolve) => {
      const check = (givenBack = false): boolean => {
        const r = this.requests.get(id);
        if (r && ((isFinal(r.status) && !r.pendingResult) || givenBack)) {
          sub.dispose();
          resolve(r);
          return true;
        }
        return false;
      };
      const sub = this.events.event((e) => check(e.kind === 'statusChanged' && e.request.requestId === id && e.from === 'Processing' && e.to === 'Pending'));
      check();
    });
  }

  /** Sends results the service has not acknowledged yet (after an outage or a restart). */
  async reportPending(signal?: AbortSignal): Promise<void> {
    for (const r of this.requests.values()) {
      if (r.pendingResult && isFinal(r.status)) await this.serialize(r.requestId, () => this.report(r.requestId, signal));
    }
  }

  /** Renews the lock of every request still open here whose lease is half gone. */
  async renewLeases(signal?: AbortSignal, force = false): Promise<void> {
    const due = this.o.clock.now() - (this.leaseSeconds * 1000) / 3;
    for (const r of [...this.requests.values()]) {
      if (isFinal(r.status)) continue;
      if (!force && (this.renewedAt.get(r.requestId) ?? 0) > due) continue;
      await this.serialize(r.requestId, () => this.renew(r.requestId, signal));
    }
  }

  /**
   * After a poll: a request still open here whose job the service no longer lists (it lists
   * every job we hold) was canceled or taken meanwhile; renewing its lock finds out which,
   * now rather than at the next scheduled renewal.
   */
  async followUnlisted(listedJobIds: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    for (const r of [...this.requests.values()]) {
      if (isFinal(r.status) || listedJobIds.has(r.jobId)) continue;
      await this.serialize(r.requestId, () => (isFinal(this.require(r.requestId).status) ? Promise.resolve() : this.renew(r.requestId, signal)));
    }
  }

  // ---------------------------------------------------------------------------

  private async revisit(requestId: string, job: AgentJob, signal?: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    if (isFinal(request.status)) {
      if (request.pendingResult) await this.report(requestId, signal);
      return;
    }
    if (job.state === 'Open') {
      // Our lease lapsed while the role was away and the service opened the job again.
      try {
        await this.o.agent.lock(job.jobId, this.leaseSeconds, signal);
        this.renewedAt.set(requestId, this.o.clock.now());
        this.log(`video request ${short(requestId)}: locked again`);
      } catch (error) {
        if (!isConflict(error)) throw error;
        await this.lostToService(requestId, signal);
        return;
      }
    }
    if (request.status === 'Processing') this.startWork(requestId);
  }

  private async renew(requestId: string, signal?: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    if (isFinal(request.status)) return;
    const p = request.progress ?? { done: 0, total: request.cameras.length * 2 };
    try {
      await this.o.agent.progress(request.jobId, p.done, p.total, signal);
      this.renewedAt.set(requestId, this.o.clock.now());
    } catch (error) {
      if (!isConflict(error)) throw error;
      // Not locked by us any more: canceled by the requester, or opened again after a lapse.
      try {
        await this.o.agent.lock(request.jobId, this.leaseSeconds, signal);
        this.renewedAt.set(requestId, this.o.clock.now());
      } catch (again) {
        if (!isConflict(again)) throw again;
        await this.lostToService(requestId, signal);
      }
    }
  }

  /** The service no longer lets us hold the job: follow what it says of the request. */
  private async lostToService(requestId: string, signal?: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    const remote = await this.o.agent.getRequest(requestId, signal);
    if (remote.status === 'Canceled') {
      // Not awaited: the worker may be waiting for this very request's turn.
      this.workers.get(requestId)?.controller.abort(new Error('The request was canceled.'));
      const current = this.require(requestId);
      for (const c of current.cameras) {
        const up = c.uploadJobId ? this.o.uploads.get(c.uploadJobId) : undefined;
        if (up && up.state !== 'completed' && up.state !== 'canceled') await this.o.uploads.cancel(up.id).catch(() => undefined);
      }
      const reason = remote.history.at(-1)?.reason ?? 'canceled by the requester';
      await this.changeStatus(current, transition(current, 'Canceled', this.now(), { error: reason }), { kind: 'canceledAtService', reason });
      return;
    }
    const message = `the service gave the job to another agent (request is ${remote.status} there)`;
    this.log(`video request ${short(requestId)}: ${message}`);
    await this.save({ ...request, error: message });
  }

  private async refuse(requestId: string, outside: string[], signal?: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    const names = request.cameras.filter((c) => outside.includes(c.id)).map((c) => c.name);
    const reason = `Refused: ${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not in the camera selection this site publishes to Clearance.`;
    const next = transition(request, 'Denied', this.now(), {
      decidedBy: ROLE_ACTOR,
      denyReason: reason,
      refused: true,
      cameras: request.cameras.map((c) => (outside.includes(c.id) ? { ...c, message: 'not in the camera selection' } : c)),
      pendingResult: { status: 'Denied', evidenceIds: [], cameras: [], comments: reason },
    });
    await this.o.recorder.requestRefused(request, outside, reason);
    await this.changeStatus(request, next, { kind: 'refused', reason });
    await this.report(requestId, signal);
  }

  /** Sends the final result; kept for a later try when the service cannot be reached. */
  private async report(requestId: string, signal?: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    const result = request.pendingResult;
    if (!result) return;
    try {
      await this.o.agent.complete(request.jobId, result, signal);
      this.log(`video request ${short(requestId)}: ${STATUS_LABELS[request.status]} reported to Clearance`);
      const { pendingResult: _sent, ...rest } = request;
      await this.save(rest);
    } catch (error) {
      if (!isConflict(error)) {
        this.log(`video request ${short(requestId)}: result not delivered yet (${(error as Error).message}); will retry`);
        return;
      }
      // The service refuses it for good (e.g. the requester canceled meanwhile): keep the reason, stop trying.
      const { pendingResult: _dropped, ...rest } = request;
      await this.save({ ...rest, error: `Clearance refused the result: ${(error as Error).message}` });
    }
  }

  private startWork(requestId: string): void {
    if (this.workers.has(requestId)) return;
    const controller = new AbortController();
    const done = this.work(requestId, controller.signal)
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        this.log(`video request ${short(requestId)}: ${(error as Error).message}`);
        return this.serialize(requestId, async () => this.save({ ...this.require(requestId), error: (error as Error).message }));
      })
      // Saving the error may fail too (state store gone): say so rather than reject unhandled.
      .catch((error: unknown) => this.log(`video request ${short(requestId)}: could not record the failure (${(error as Error).message})`))
      .finally(() => this.workers.delete(requestId));
    this.workers.set(requestId, { controller, done });
  }

  private async work(requestId: string, signal: AbortSignal): Promise<void> {
    const initial = this.require(requestId);
    for (let i = 0; i < initial.cameras.length; i++) {
      signal.throwIfAborted();
      await this.exportCamera(requestId, i, signal);
    }
    for (let i = 0; i < initial.cameras.length; i++) {
      const camera = this.require(requestId).cameras[i];
      if (camera.outcome || !camera.uploadJobId) continue;
      const upload = await this.uploadFinished(camera.uploadJobId, signal);
      await this.serialize(requestId, async () => {
        const r = this.require(requestId);
        const cameras = r.cameras.map((c, k): VideoRequestCamera => {
          if (k !== i) return c;
          return upload?.state === 'completed'
            ? { ...c, outcome: 'Exported', ...(upload.evidenceId ? { evidenceId: upload.evidenceId } : {}) }
            : { ...c, outcome: 'Failed', message: upload?.error ?? `the upload was ${upload?.state ?? 'removed'}` };
        });
        await this.save({ ...r, cameras, progress: bump(r, 1) });
      });
      void this.renewQuietly(requestId, signal);
    }
    await this.serialize(requestId, async () => {
      const r = this.require(requestId);
      if (r.status !== 'Processing' || signal.aborted) return;
      const status = finalStatus(r.cameras);
      if (status === 'Failed') {
        await this.giveBackFailed(requestId, signal);
        return;
      }
      const evidenceIds = r.cameras.flatMap((c) => (c.evidenceId ? [c.evidenceId] : []));
      const result: MediaRequestJobResult = {
        status,
        evidenceIds,
        cameras: r.cameras.map((c) => ({
          cameraId: c.id,
          outcome: c.outcome ?? 'Failed',
          ...(c.evidenceId ? { evidenceId: c.evidenceId } : {}),
          ...(c.message ? { message: c.message.slice(0, 1024) } : {}),
        })),
        ...(r.caseId ? { caseId: r.caseId } : {}),
        comments: describeOutcome(r.cameras),
      };
      await this.changeStatus(r, transition(r, status, this.now(), { pendingResult: result }), { kind: 'finished', outcome: describeOutcome(r.cameras) });
      await this.report(requestId, signal);
    });
  }

  /**
   * Nothing was sent and some export or upload failed: the recordings may exist, so
   * the request is not "video unavailable". The job is failed as retryable (the
   * service opens it again, the request Pending there) and the request is Pending
   * here, to be approved again; the failed cameras are tried anew.
   */
  private async giveBackFailed(requestId: string, signal: AbortSignal): Promise<void> {
    const r = this.require(requestId);
    const reason = `Export or upload failed, nothing was sent (${describeOutcome(r.cameras)}); the request can be tried again.`;
    const detail = r.cameras.filter((c) => c.outcome === 'Failed' && c.message).map((c) => `${c.name}: ${c.message}`).join('; ');
    // The cause goes with it, at the service and here: an operator reads why without opening the logs.
    const told = clip(`${reason}${detail ? ` ${detail}` : ''}`, 2000);
    try {
      await this.o.agent.fail(r.jobId, told, true, signal);
    } catch (error) {
      if (!isConflict(error)) throw error; // kept Processing: the next visit tries again
      await this.lostToService(requestId, signal);
      return;
    }
    this.renewedAt.delete(requestId);
    const { decidedBy: _decided, progress: _progress, ...rest } = r;
    const back = giveBack(rest, this.now(), {
      error: told,
      cameras: r.cameras.map((c) => {
        if (c.outcome !== 'Failed') return c;
        const { outcome: _o, message: _m, ...camera } = c;
        return camera;
      }),
    });
    await this.changeStatus(r, back, { kind: 'givenBack', reason: told });
  }

  /** Exports one camera's range into its upload job's staging folder and queues the upload. */
  private async exportCamera(requestId: string, index: number, signal: AbortSignal): Promise<void> {
    const request = this.require(requestId);
    const camera = request.cameras[index];
    if (camera.outcome || camera.uploadJobId) return;
    const uploadJobId = `${requestId}-c${index}`;
    if (this.o.uploads.get(uploadJobId)) {
      // Queued just before a crash, not yet noted here.
      await this.serialize(requestId, async () => this.updateCamera(requestId, index, { uploadJobId }));
      return;
    }
    const staging = this.o.uploads.stagingFolder(uploadJobId);
    const from = new Date(request.fromUtc);
    const to = new Date(request.toUtc);
    let result;
    let waitedForSpace = false;
    for (let waits = 1; ; waits++) {
      await fs.rm(staging, { recursive: true, force: true });
      try {
        result = await this.o.site.exportRange(camera.id, from, to, staging, {
          signal,
          ...(this.o.maxExportPartMs ? { maxPartMs: this.o.maxExportPartMs } : {}),
        });
        break;
      } catch (error) {
        if (signal.aborted) throw error;
        if (isDiskFull(error)) {
          // Not the camera's fault, and nothing was kept: the request stays Processing and the export goes again.
          waitedForSpace = true;
          await this.waitForSpace(requestId, camera, path.dirname(staging), error, waits, signal);
          continue;
        }
        if (!isSiteError(error)) throw error;
        await this.serialize(requestId, async () => {
          await this.o.recorder.requestExportFailed(request, camera, error);
          await this.updateCamera(requestId, index, { outcome: 'Failed', message: error.message }, 2);
        });
        return;
      }
    }
    if (waitedForSpace) {
      this.log(`video request ${short(requestId)}: ${camera.name} exported now that the archive folder has space`);
      await this.serialize(requestId, async () => {
        const { error: _full, ...rest } = this.require(requestId);
        await this.save(rest);
      });
    }
    if (result.status === 'unavailable') {
      await this.serialize(requestId, async () => {
        await this.o.recorder.requestVideoUnavailable(request, camera);
        await this.updateCamera(requestId, index, { outcome: 'Unavailable', message: 'no recordings in the requested range' }, 2);
      });
      return;
    }
    const files = result.parts.map((p) => ({ name: baseName(p.file), bytes: p.bytes, sha256: p.sha256 }));
    await this.o.recorder.requestExported(request, camera, files, result);
    signal.throwIfAborted();
    const job = await this.o.uploads.enqueue({
      id: uploadJobId,
      title: `Request ${short(requestId)} — ${camera.name}`,
      ...(request.decidedBy ? { requestedBy: request.decidedBy } : {}),
      videoRequestId: requestId,
      evidence: {
        name: `Video request ${short(requestId)} — ${camera.name}`,
        ...(request.comments ? { description: request.comments } : {}),
        startTimeUtc: request.fromUtc,
        endTimeUtc: request.toUtc,
      },
      // The service links the evidence to the request's case (or makes one) when the job completes.
      caseTarget: { kind: 'none' },
      parts: result.parts.map((p) => newPartFromExport(p, baseName(p.file))),
    });
    await this.serialize(requestId, async () => {
      await this.o.recorder.requestUploadQueued(request, camera, files, job);
      await this.updateCamera(requestId, index, { uploadJobId, files, ...(result.gaps.length ? { message: `${result.gaps.length} gap(s) without recording` } : {}) }, 1);
    });
    void this.renewQuietly(requestId, signal);
  }

  /**
   * The archive folder is full: says so (the role's log, the request's error and its
   * 'updated' event), then waits 1 s, 2 s, 4 s… (at most DISK_FULL_MAX_WAIT_MS), or
   * less once at least DISK_FULL_WAKE_BYTES more are free than after this failure.
   */
  private async waitForSpace(requestId: string, camera: VideoRequestCamera, archive: string, error: DiskFullError, attempt: number, signal: AbortSignal): Promise<void> {
    const free = error.freeBytes ?? (await freeBytes(archive));
    const delay = Math.min(DISK_FULL_MAX_WAIT_MS, 1000 * 2 ** Math.min(attempt - 1, 16));
    const message = `the archive folder ${archive} is full (${mebibytes(free)} free): waiting for space to export ${camera.name}`;
    this.log(`video request ${short(requestId)}: ${message} (try ${attempt + 1} in at most ${Math.round(delay / 1000)} s)`);
    await this.serialize(requestId, async () => {
      const r = this.require(requestId);
      if (r.status !== 'Processing') return;
      // The trail says why the request was delayed, once: not once per try.
      if (attempt === 1) await this.o.recorder.requestExportWaiting(r, camera, message);
      await this.save({ ...r, error: message });
    });
    const until = this.o.clock.now() + delay;
    while (this.o.clock.now() < until) {
      await this.o.clock.sleep(Math.min(DISK_FULL_CHECK_MS, until - this.o.clock.now()), signal);
      const now = await freeBytes(archive);
      if (free !== undefined && now !== undefined && now >= free + DISK_FULL_WAKE_BYTES) return;
    }
  }

  /** Waits for an upload to complete or be canceled; a failed one is retried a few times first. */
  private async uploadFinished(id: string, signal: AbortSignal): Promise<UploadJobSnapshot | undefined> {
    let retries = 0;
    let waits = 0;
    let unreachableSince: number | undefined;
    for (;;) {
      const job = await new Promise<UploadJobSnapshot | undefined>((resolve, reject) => {
        const finish = (value: UploadJobSnapshot | undefined): void => {
          sub.dispose();
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const onAbort = (): void => {
          sub.dispose();
          reject(signal.reason);
        };
        const sub = this.o.uploads.onDidChange((e) => {
          if (e.kind === 'finished' && e.job.id === id) finish(e.job);
          else if (e.kind === 'removed' && e.jobId === id) finish(undefined);
        });
        signal.addEventListener('abort', onAbort, { once: true });
        const now = this.o.uploads.get(id);
        if (!now || now.state === 'completed' || now.state === 'canceled' || now.state === 'failed') finish(now);
      });
      if (job?.state !== 'failed') return job;
      // No answer at all (the service or the network away): keep trying, backing off, for as long
      // as an outage may last; an answer that refuses gets a few tries only.
      if (job.unreachable) {
        unreachableSince ??= this.o.clock.now();
        if (this.o.clock.now() - unreachableSince < this.unreachableRetryMs) {
          waits++;
          this.log(`upload ${id}: the service does not answer (${job.error ?? 'no answer'}); trying again`);
          await this.o.clock.sleep(Math.min(30_000, 1000 * 2 ** Math.min(waits, 5)), signal);
          await this.o.uploads.retry(id);
          continue;
        }
      } else unreachableSince = undefined;
      if (retries >= UPLOAD_RETRIES) return job;
      retries++;
      this.log(`upload ${id} failed (${job.error ?? 'unknown error'}); retry ${retries} of ${UPLOAD_RETRIES}`);
      await this.o.clock.sleep(Math.min(60_000, 2000 * retries), signal);
      await this.o.uploads.retry(id);
    }
  }

  private async renewQuietly(requestId: string, signal: AbortSignal): Promise<void> {
    try {
      await this.serialize(requestId, () => this.renew(requestId, signal));
    } catch {
      // The lease keeper tries again; progress is only a courtesy to the service.
    }
  }

  private async keepLeases(signal: AbortSignal): Promise<void> {
    const period = Math.max(1000, (this.leaseSeconds * 1000) / 3);
    while (!signal.aborted) {
      try {
        await this.o.clock.sleep(period, signal);
      } catch {
        return;
      }
      try {
        await this.renewLeases(signal);
        await this.reportPending(signal);
      } catch (error) {
        if (!signal.aborted) this.log(`keeping video request locks: ${(error as Error).message}`);
      }
    }
  }

  private async updateCamera(requestId: string, index: number, changes: Partial<VideoRequestCamera>, steps = 0): Promise<void> {
    const r = this.require(requestId);
    await this.save({ ...r, cameras: r.cameras.map((c, k) => (k === index ? { ...c, ...changes } : c)), progress: bump(r, steps) });
  }

  private async changeStatus(before: VideoRequest, after: VideoRequest, cause: RequestStatusCause): Promise<void> {
    await this.save(after, false);
    await this.o.recorder.requestStatusChanged(before, after, cause);
    this.events.fire({ kind: 'statusChanged', request: after, from: before.status, to: after.status });
  }

  private async save(request: VideoRequest, isNew = false, quiet = false): Promise<void> {
    if (!(await this.o.state.set(requestKey(request.requestId), request))) throw new Error(`Could not save video request ${request.requestId}.`);
    this.requests.set(request.requestId, request);
    if (isNew) await this.o.state.set(INDEX_KEY, [...this.requests.keys()]);
    if (!quiet && !isNew) this.events.fire({ kind: 'updated', request });
  }

  private require(requestId: string): VideoRequest {
    const r = this.get(requestId);
    if (!r) throw new RequestNotFound(requestId);
    return r;
  }

  /** One change at a time per request. */
  private serialize<T>(requestId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(requestId) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.chains.set(requestId, next.catch(() => undefined));
    return next;
  }

  private now(): Date {
    return new Date(this.o.clock.now());
  }
}

function bump(r: VideoRequest, steps: number): { done: number; total: number } {
  const p = r.progress ?? { done: 0, total: r.cameras.length * 2 };
  return { done: Math.min(p.total, p.done + steps), total: p.total };
}

function describeOutcome(cameras: readonly VideoRequestCamera[]): string {
  const by = (o: VideoRequestCamera['outcome']) => cameras.filter((c) => c.outcome === o).map((c) => c.name);
  const parts = [
    by('Exported').length ? `sent: ${by('Exported').join(', ')}` : '',
    by('Unavailable').length ? `no recordings: ${by('Unavailable').join(', ')}` : '',
    by('Failed').length ? `failed: ${by('Failed').join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ') || 'nothing to send';
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function short(id: string): string {
  return id.slice(0, 8);
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}
