// The wording of the activity trail. Every record the role and its video request
// desk write goes through one method here, called with domain values (the job,
// the request, the selection change); the types, fields and summaries are what
// auditors read and what the trail's hash chain covers, so they are written in
// one place only and must not drift.
import path from 'node:path';
import type { ActivityFile, ActivityInput, ActivityRecord, ActivityTrail } from '../audit/activityTrail';
import type { SessionEvent } from '../auth/siteSessions';
import type { AccountInfo } from '../config/connectionFile';
import type { PrivilegeDefinition } from '../config/privileges';
import type { CameraExportOutcome, OperatorExportMedia } from '../export';
import type { SelectionChange } from '../registry/cameraRegistry';
import { STATUS_LABELS, type VideoRequest, type VideoRequestCamera } from '../requests/videoRequest';
import type { ReviewClip, ReviewRecorder } from '../requests/requestReviews';
import { ROLE_ACTOR, short, type RequestRecorder, type RequestStatusCause } from '../requests/videoRequestDesk';
import type { ExportResult, SiteError } from '../site/model';
import type { CaseTarget, UploadJobSnapshot, UploadStartOver } from '../uploads/uploadJob';

/** One changed role property, as it was and as it is. */
export interface PropertyChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** Where the request an upload serves is found (the request desk). */
export interface RequestLookup {
  get(requestId: string): VideoRequest | undefined;
}

const UPLOAD_ENDINGS = ['uploadCompleted', 'uploadCanceled', 'uploadFailed'] as const;

export class ActivityRecorder implements RequestRecorder, ReviewRecorder {
  constructor(private readonly trail: ActivityTrail) {}

  // ---------------------------------------------------------------------------
  // Site users: sign-in, sessions, passwords, refusals

  async sessionEvent(e: SessionEvent): Promise<void> {
    switch (e.kind) {
      case 'signedIn':
        await this.record({ type: 'userSignedIn', summary: `${e.user.name} signed in (${clean(e.client)}${e.method === 'ticket' ? ', one-time sign-in' : ''})`, user: e.user.name, details: { client: clean(e.client), method: e.method } });
        return;
      case 'signedOut':
        await this.record({ type: 'userSignedOut', summary: `${e.user} signed out (${clean(e.client)})`, user: e.user, details: { client: clean(e.client) } });
        return;
      case 'signInRefused': {
        const name = clean(e.name);
        const why = {
          wrongPassword: `wrong password (${e.failures} in a row)`,
          unknownUser: 'no site user of that name',
          noPassword: 'no password is set',
          throttled: `too many wrong passwords (${e.failures}); asked to wait`,
          locked: `locked after ${e.failures} wrong passwords`,
          badTicket: 'the one-time sign-in ticket is not valid',
        }[e.reason];
        await this.record({ type: 'signInRefused', summary: `Sign-in refused for ${JSON.stringify(name)}: ${why}`, user: name, details: { reason: e.reason, client: clean(e.client), failures: e.failures } });
        return;
      }
      case 'sessionRefused': {
        const why = { none: 'no session', invalid: 'the session is not valid', expired: 'the session has expired' }[e.reason];
        await this.record({ type: 'commandRefused', summary: `Command ${e.command} refused: ${why}`, details: { command: e.command, reason: e.reason } });
        return;
      }
      case 'passwordSet':
        await this.record({ type: 'passwordChanged', summary: e.own ? `${e.by} changed their password` : `${e.by} set the password of ${e.user.name}`, user: e.by, details: { siteUser: e.user.name } });
        return;
      case 'lockoutCleared':
        await this.record({ type: 'signInLockoutCleared', summary: `${e.by} cleared the sign-in lockout of ${clean(e.name)}`, user: e.by, details: { siteUser: clean(e.name) } });
        return;
    }
  }

  async commandRefused(user: string, command: string, message: string): Promise<ActivityRecord> {
    return this.record({ type: 'commandRefused', summary: `Command ${command} refused to ${user}: ${message}`, user, details: { command, reason: 'privilege' } });
  }

  // ---------------------------------------------------------------------------
  // The role's life and configuration

  async roleStarted(siteDescription: string, accountId: string, pollIntervalMs: number): Promise<ActivityRecord> {
    return this.record({ type: 'roleStarted', summary: `Role started for ${siteDescription} (account ${accountId})`, user: ROLE_ACTOR, details: { pollIntervalMs } });
  }

  async roleStopped(): Promise<ActivityRecord> {
    return this.record({ type: 'roleStopped', summary: 'Role stopped', user: ROLE_ACTOR });
  }

  async privilegesCreated(privileges: readonly PrivilegeDefinition[]): Promise<ActivityRecord> {
    return this.record({ type: 'privilegesCreated', summary: `First activation: privileges created (${privileges.map((p) => p.label).join(', ')})`, user: ROLE_ACTOR });
  }

  async signedIn(account: AccountInfo): Promise<ActivityRecord> {
    return this.record({
      type: 'signIn',
      summary: `Signed in to Clearance account ${account.accountId} as ${account.clientId}`,
      user: ROLE_ACTOR,
      details: { accountId: account.accountId, clientId: account.clientId, integration: account.integrationName },
    });
  }

  /** `source` is the connection file's path; only its name is recorded. */
  async accountImported(who: string, account: AccountInfo, previous: AccountInfo | undefined, source?: string): Promise<ActivityRecord> {
    return this.record({
      type: 'accountImported',
      summary: `Account ${account.accountId} connected (integration ${account.integrationName})${previous ? `, replacing ${previous.accountId}` : ''}`,
      user: who,
      details: {
        accountId: account.accountId,
        clientId: account.clientId,
        keyFingerprint: account.publicKeyFingerprint,
        ...(source ? { source: path.basename(source) } : {}),
      },
    });
  }

  async accountDisconnected(who: string, previous: AccountInfo): Promise<ActivityRecord> {
    return this.record({ type: 'accountDisconnected', summary: `Account ${previous.accountId} disconnected`, user: who, details: { accountId: previous.accountId } });
  }

  async propertiesChanged(who: string, changes: readonly PropertyChange[]): Promise<ActivityRecord> {
    const details: Record<string, string | number | boolean> = {};
    for (const c of changes) {
      details[`${c.field}.before`] = String(c.before);
      details[`${c.field}.after`] = String(c.after);
    }
    return this.record({ type: 'configurationChanged', summary: `Role properties changed: ${changes.map((c) => c.field).join(', ')}`, user: who, details });
  }

  /** Never the password itself: only that one is set or is gone. */
  async proxyPasswordChanged(who: string, set: boolean): Promise<ActivityRecord> {
    return this.record({ type: 'configurationChanged', summary: `Proxy password ${set ? 'changed' : 'removed'}`, user: who, details: { field: 'proxy.password' } });
  }

  /** `afterNames`: the names of the users in `after`, in the same order. */
  async notificationUsersChanged(who: string, before: readonly string[], after: readonly string[], afterNames: readonly string[]): Promise<ActivityRecord> {
    return this.record({
      type: 'configurationChanged',
      summary: `Request notifications go to ${after.length ? afterNames.join(', ') : 'nobody'}`,
      user: who,
      details: { field: 'requestNotifications', before: before.join(' '), after: after.join(' ') },
    });
  }

  // ---------------------------------------------------------------------------
  // The camera registry

  async selectionChanged(who: string, change: SelectionChange): Promise<ActivityRecord> {
    const added = change.kind === 'added';
    return this.record({
      type: 'cameraSelectionChanged',
      summary: `${added ? 'Added' : 'Removed'} ${change.entry.kind} "${change.name}" ${added ? 'to' : 'from'} the camera selection` +
        ` (${change.camerasAdded.length} camera(s) joined, ${change.camerasRemoved.length} left the registry set)`,
      user: who,
      cameras: added ? change.camerasAdded : change.camerasRemoved,
      details: { entryKind: change.entry.kind, entryId: change.entry.id },
    });
  }

  async registryPublished(cameraIds: string[], jobId: string): Promise<ActivityRecord> {
    return this.record({
      type: 'registryPublished',
      summary: `Registry updated: ${cameraIds.length} camera(s) published to Clearance`,
      user: ROLE_ACTOR,
      cameras: cameraIds,
      details: { jobId },
    });
  }

  async thumbnailSent(cameraId: string, cameraName: string | undefined, at: Date, image: { bytes: number; sha256: string }, jobId: string): Promise<ActivityRecord> {
    return this.record({
      type: 'snapshotSent',
      summary: `Thumbnail of ${cameraName ?? cameraId} at ${at.toISOString()} sent to the registry`,
      user: ROLE_ACTOR,
      cameras: [cameraId],
      files: [{ name: 'thumbnail.jpg', bytes: image.bytes, sha256: image.sha256 }],
      details: { jobId },
    });
  }

  // ---------------------------------------------------------------------------
  // Operator exports and uploads

  async operatorExportFailed(who: string, cameraIds: string[], message: string): Promise<ActivityRecord> {
    return this.record({ type: 'exportFailed', summary: `Export failed: ${message}`, user: who, cameras: cameraIds });
  }

  /** One record per camera (its share of the job's parts, in order), then the queued upload. */
  async operatorExportQueued(who: string, media: OperatorExportMedia, caseTarget: CaseTarget | undefined, job: UploadJobSnapshot, cameras: readonly CameraExportOutcome[]): Promise<void> {
    const what = media.kind === 'recordings' ? `${media.from.toISOString()} – ${media.to.toISOString()}` : `snapshot at ${media.at.toISOString()}`;
    const caseId = caseTarget?.kind === 'existing' ? { caseId: caseTarget.caseId } : {};
    let next = 0;
    for (const c of cameras) {
      const files = filesOf(job.parts.slice(next, next + c.files));
      next += c.files;
      await this.record(
        c.status === 'unavailable'
          ? { type: 'exportFailed', summary: `No recording of ${c.cameraName} for ${what}`, user: who, cameras: [c.cameraId], ...caseId, details: { uploadJobId: job.id } }
          : {
              type: 'exportCompleted',
              summary: `Exported ${c.cameraName} ${what}: ${c.files} file(s)${c.gaps.length ? `, ${c.gaps.length} gap(s) without recording` : ''}`,
              user: who,
              cameras: [c.cameraId],
              ...caseId,
              files,
              details: { status: c.status, uploadJobId: job.id, media: media.kind },
            },
      );
    }
    await this.record({
      type: 'uploadQueued',
      summary: `Upload "${job.title}" queued: ${job.parts.length} file(s), ${job.totalBytes} bytes`,
      user: who,
      cameras: cameras.filter((c) => c.files > 0).map((c) => c.cameraId),
      ...caseId,
      files: filesOf(job.parts),
      details: { uploadJobId: job.id, caseTarget: caseTarget?.kind ?? 'none' },
    });
  }

  /** A finished upload (completed, canceled or failed), of a video request of `requests` or of an operator export. */
  async uploadFinished(job: UploadJobSnapshot, requests: RequestLookup): Promise<ActivityRecord> {
    const request = job.videoRequestId ? requests.get(job.videoRequestId) : undefined;
    const type = job.state === 'completed' ? 'uploadCompleted' : job.state === 'canceled' ? 'uploadCanceled' : 'uploadFailed';
    const camera = request?.cameras.find((c) => c.uploadJobId === job.id);
    return this.record({
      type,
      summary:
        type === 'uploadCompleted'
          ? `Upload "${job.title}" completed: ${job.parts.length} file(s), ${job.totalBytes} bytes, evidence ${job.evidenceId}`
          : type === 'uploadCanceled'
            ? `Upload "${job.title}" canceled`
            : `Upload "${job.title}" failed: ${job.error ?? 'unknown error'}`,
      user: request?.decidedBy ?? ROLE_ACTOR,
      ...(camera ? { cameras: [camera.id] } : {}),
      ...(job.videoRequestId ? { requestId: job.videoRequestId } : {}),
      ...(job.caseId ? { caseId: job.caseId } : {}),
      ...(job.evidenceId ? { evidenceId: job.evidenceId } : {}),
      files: filesOf(job.parts),
      details: { uploadJobId: job.id, state: job.state },
    });
  }

  /** An upload gave up its evidence item and starts over with a new one: nothing sent to the old one is kept. */
  async uploadStartedOver(job: UploadJobSnapshot, startOver: UploadStartOver, requests: RequestLookup): Promise<ActivityRecord> {
    const request = job.videoRequestId ? requests.get(job.videoRequestId) : undefined;
    const camera = request?.cameras.find((c) => c.uploadJobId === job.id);
    const old = startOver.abandonedEvidenceId ? `evidence ${startOver.abandonedEvidenceId}` : 'its evidence';
    const why =
      startOver.why === 'purged'
        ? `the service no longer had ${old} (incomplete evidence is deleted after 24 h)`
        : `the blob store refused the upload link of ${old} (expired or revoked), so that evidence is given up`;
    return this.record({
      type: 'uploadStartedOver',
      summary: `Upload "${job.title}" started over with new evidence: ${why}. All ${job.parts.length} file(s) are sent again.`,
      user: ROLE_ACTOR,
      ...(camera ? { cameras: [camera.id] } : {}),
      ...(job.videoRequestId ? { requestId: job.videoRequestId } : {}),
      ...(startOver.abandonedEvidenceId ? { evidenceId: startOver.abandonedEvidenceId } : {}),
      files: filesOf(job.parts),
      details: { uploadJobId: job.id, reason: startOver.why },
    });
  }

  /** A crash between an upload's end and its record: records the completed and canceled uploads the trail lacks. */
  async uploadsNotRecorded(jobs: readonly UploadJobSnapshot[], requests: RequestLookup): Promise<void> {
    const recorded = new Set(this.trail.query({ types: [...UPLOAD_ENDINGS] }).map((r) => `${r.details?.uploadJobId}:${r.details?.state ?? ''}`));
    for (const job of jobs) {
      if ((job.state === 'completed' || job.state === 'canceled') && !recorded.has(`${job.id}:${job.state}`)) await this.uploadFinished(job, requests);
    }
  }

  // ---------------------------------------------------------------------------
  // Video requests (the desk)

  async requestReceived(request: VideoRequest): Promise<void> {
    await this.record({
      type: 'requestReceived',
      summary: `Video request ${short(request.requestId)} received: ${request.cameras.map((c) => c.name).join(', ')}, ${request.fromUtc} – ${request.toUtc}`,
      user: ROLE_ACTOR,
      cameras: request.cameras.map((c) => c.id),
      requestId: request.requestId,
      ...(request.caseId ? { caseId: request.caseId } : {}),
      details: { jobId: request.jobId, fromUtc: request.fromUtc, toUtc: request.toUtc, incidentTimeUtc: request.incidentTimeUtc },
    });
  }

  async requestRefused(request: VideoRequest, outside: string[], reason: string): Promise<void> {
    await this.record({
      type: 'requestRefused',
      summary: `Video request ${short(request.requestId)} refused: ${reason}`,
      user: ROLE_ACTOR,
      cameras: outside,
      requestId: request.requestId,
      ...(request.caseId ? { caseId: request.caseId } : {}),
    });
  }

  async requestStatusChanged(before: VideoRequest, after: VideoRequest, cause: RequestStatusCause): Promise<void> {
    const { user, reason } = statusReason(cause);
    await this.record({
      type: 'requestStatusChanged',
      summary: `Video request ${short(after.requestId)}: ${STATUS_LABELS[before.status]} → ${STATUS_LABELS[after.status]} (${reason})`,
      user,
      cameras: after.cameras.map((c) => c.id),
      requestId: after.requestId,
      ...(after.caseId ? { caseId: after.caseId } : {}),
      ...(after.cameras.some((c) => c.evidenceId) ? { evidenceId: after.cameras.flatMap((c) => (c.evidenceId ? [c.evidenceId] : [])).join(' ') } : {}),
      details: { from: before.status, to: after.status },
    });
  }

  async requestExportFailed(request: VideoRequest, camera: VideoRequestCamera, error: SiteError): Promise<void> {
    await this.record({
      type: 'exportFailed',
      summary: `Export of ${camera.name} for request ${short(request.requestId)} failed: ${error.message}`,
      user: ROLE_ACTOR,
      cameras: [camera.id],
      requestId: request.requestId,
      details: { code: error.code },
    });
  }

  async requestExportWaiting(request: VideoRequest, camera: VideoRequestCamera, message: string): Promise<void> {
    await this.record({
      type: 'exportWaiting',
      summary: `Export of ${camera.name} for request ${short(request.requestId)} waits: ${message}; it goes again by itself when there is space`,
      user: ROLE_ACTOR,
      cameras: [camera.id],
      requestId: request.requestId,
      details: { code: 'DiskFull' },
    });
  }

  async requestVideoUnavailable(request: VideoRequest, camera: VideoRequestCamera): Promise<void> {
    await this.record({
      type: 'exportFailed',
      summary: `No recordings of ${camera.name} between ${request.fromUtc} and ${request.toUtc} (request ${short(request.requestId)}): video unavailable`,
      user: ROLE_ACTOR,
      cameras: [camera.id],
      requestId: request.requestId,
      details: { outcome: 'Unavailable' },
    });
  }

  async requestExported(request: VideoRequest, camera: VideoRequestCamera, files: ActivityFile[], result: Pick<ExportResult, 'status' | 'gaps'>): Promise<void> {
    await this.record({
      type: 'exportCompleted',
      summary: `Exported ${camera.name} ${request.fromUtc} – ${request.toUtc} for request ${short(request.requestId)}: ${files.length} file(s)${result.gaps.length ? `; ${result.gaps.length} gap(s) without recording` : ''}`,
      user: request.decidedBy ?? ROLE_ACTOR,
      cameras: [camera.id],
      requestId: request.requestId,
      ...(request.caseId ? { caseId: request.caseId } : {}),
      files,
      details: { status: result.status, gaps: result.gaps.length },
    });
  }

  /** An operator watched a review clip of one camera of a request (cut now, or cut before and used again). */
  async requestReviewed(who: string, request: VideoRequest, camera: VideoRequestCamera, clip: ReviewClip): Promise<ActivityRecord> {
    return this.record({
      type: 'requestReviewed',
      summary: `${who} reviewed ${camera.name} from ${request.fromUtc} to ${request.toUtc} (request ${short(request.requestId)})`,
      user: who,
      cameras: [camera.id],
      requestId: request.requestId,
      ...(request.caseId ? { caseId: request.caseId } : {}),
      details: {
        clipStartUtc: clip.clipStartUtc,
        clipSeconds: clip.durationSeconds,
        clipBytes: clip.bytes,
        clipSha256: clip.sha256,
        gaps: clip.gaps.length,
        reused: clip.reused,
      },
    });
  }

  async requestUploadQueued(request: VideoRequest, camera: VideoRequestCamera, files: ActivityFile[], job: UploadJobSnapshot): Promise<void> {
    await this.record({
      type: 'uploadQueued',
      summary: `Upload of ${camera.name} for request ${short(request.requestId)} queued: ${files.length} file(s), ${job.totalBytes} bytes`,
      user: request.decidedBy ?? ROLE_ACTOR,
      cameras: [camera.id],
      requestId: request.requestId,
      files,
      details: { uploadJobId: job.id },
    });
  }

  // ---------------------------------------------------------------------------

  private record(input: ActivityInput): Promise<ActivityRecord> {
    return this.trail.append(input);
  }
}

/** Who changed a request's status, and the words in parentheses of its record. */
function statusReason(cause: RequestStatusCause): { user: string; reason: string } {
  switch (cause.kind) {
    case 'approved':
      return { user: cause.user, reason: `approved by ${cause.user}` };
    case 'denied':
      return { user: cause.user, reason: `denied by ${cause.user}: ${cause.reason}` };
    case 'markedUnavailable':
      return { user: cause.user, reason: `marked video unavailable by ${cause.user}: ${cause.reason}` };
    case 'canceledAtService':
      return { user: ROLE_ACTOR, reason: `canceled at the service: ${cause.reason}` };
    case 'refused':
    case 'givenBack':
      return { user: ROLE_ACTOR, reason: cause.reason };
    case 'finished':
      return { user: ROLE_ACTOR, reason: cause.outcome };
  }
}

function filesOf(parts: readonly { name: string; bytes: number; sha256: string }[]): ActivityFile[] {
  return parts.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256 }));
}

/** A name or client label from outside, fit for one line of the trail. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  const one = text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return one.length > 100 ? `${one.slice(0, 99)}…` : one;
}
