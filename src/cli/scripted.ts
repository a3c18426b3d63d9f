// The scripted commands of clearance-role: each maps to one command of the
// role's command table (src/core/role/commands.ts) and shapes its result for a
// terminal or a script. Whether the command goes to a running runner over its
// socket or to a role opened by this process, it passes the same checks.
import type { RoleCommandName } from '../core/role/commands';
import type { VideoRequest } from '../core/requests/videoRequest';
import { STATUS_LABELS } from '../core/requests/videoRequest';
import type { RoleSnapshot } from '../core/role/snapshot';
import type { UploadJobSnapshot } from '../core/uploads/uploadJob';

export const SCRIPTED_COMMANDS = [
  'status',
  'requests',
  'approve',
  'deny',
  'unavailable',
  'export',
  'snapshot',
  'pause-uploads',
  'resume-uploads',
  'select',
  'notify',
  'poll',
  'verify',
  'activities',
  'stop',
] as const;
export type ScriptedCommand = (typeof SCRIPTED_COMMANDS)[number];

export interface ScriptedCall {
  command: RoleCommandName;
  args: Record<string, unknown>;
  /** Turns the role's result into what is printed. */
  shape: (result: unknown) => unknown;
  /** Needs the service (a role opened by this process starts, and finishes the work before it exits). */
  needsService: boolean;
}

const same = (r: unknown): unknown => r;

export function scriptedCall(command: ScriptedCommand, args: Record<string, unknown>): ScriptedCall {
  switch (command) {
    case 'status':
      return { command: 'role.snapshot', args: { recent: 0 }, shape: (r) => describeStatus(r as Partial<RoleSnapshot> & Pick<RoleSnapshot, 'status' | 'connection'>), needsService: false };
    case 'requests':
      return { command: 'requests.list', args: {}, shape: (r) => (r as VideoRequest[]).map(describeRequest), needsService: false };
    case 'approve':
      return { command: 'requests.approve', args, shape: (r) => describeRequest(r as VideoRequest), needsService: true };
    case 'deny':
      return { command: 'requests.deny', args, shape: (r) => describeRequest(r as VideoRequest), needsService: true };
    case 'unavailable':
      return { command: 'requests.videoUnavailable', args, shape: (r) => describeRequest(r as VideoRequest), needsService: true };
    case 'export':
      return { command: 'export.video', args, shape: (r) => describeUpload(r as UploadJobSnapshot), needsService: true };
    case 'snapshot':
      return { command: 'export.snapshot', args, shape: (r) => describeUpload(r as UploadJobSnapshot), needsService: true };
    case 'pause-uploads':
      return { command: 'uploads.pauseAll', args: {}, shape: same, needsService: false };
    case 'resume-uploads':
      return { command: 'uploads.resumeAll', args: {}, shape: same, needsService: false };
    case 'select': {
      const { action, ...entry } = args;
      return {
        command: action === 'remove' ? 'selection.remove' : 'selection.add',
        args: entry,
        shape: (r) => {
          const s = r as RoleSnapshot['registry'];
          return { selection: s.entries, registryCameras: s.effectiveCameraIds };
        },
        needsService: false,
      };
    }
    case 'notify':
      return { command: 'notifications.set', args, shape: (r) => ({ notificationUserIds: (r as { userIds: string[] }).userIds }), needsService: false };
    case 'poll':
      return { command: 'requests.poll', args: {}, shape: same, needsService: true };
    case 'verify':
      return { command: 'activities.verify', args: {}, shape: same, needsService: false };
    case 'activities':
      return args.csv
        ? { command: 'activities.csv', args: {}, shape: (r) => (r as { csv: string }).csv, needsService: false }
        : { command: 'activities.query', args: {}, shape: same, needsService: false };
    case 'stop':
      return { command: 'role.stop', args: {}, shape: same, needsService: false };
  }
}

function describeStatus(s: Partial<RoleSnapshot> & Pick<RoleSnapshot, 'status' | 'connection'>): Record<string, unknown> {
  return {
    status: s.status,
    connection: s.connection.state,
    account: s.account?.accountId ?? null,
    polls: s.connection.poller.polls,
    lastError: s.connection.lastError ?? null,
    ...(s.registry ? { selection: s.registry.entries, registryCameras: s.registry.effectiveCameraIds.length, publishPending: s.registry.publishPending } : {}),
    ...(s.requests ? { requests: s.requests.map(describeRequest) } : {}),
    ...(s.uploads ? { uploads: s.uploads.map(describeUpload) } : {}),
    ...(s.activities ? { activities: s.activities.count } : {}),
  };
}

export function describeRequest(r: VideoRequest): Record<string, unknown> {
  return {
    requestId: r.requestId,
    status: r.status,
    label: STATUS_LABELS[r.status],
    cameras: r.cameras.map((c) => ({
      id: c.id,
      name: c.name,
      ...(c.outcome ? { outcome: c.outcome } : {}),
      ...(c.message ? { message: c.message } : {}),
      ...(c.evidenceId ? { evidenceId: c.evidenceId } : {}),
      ...(c.files ? { files: c.files } : {}),
    })),
    fromUtc: r.fromUtc,
    toUtc: r.toUtc,
    ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}),
    ...(r.denyReason ? { denyReason: r.denyReason } : {}),
    ...(r.error ? { error: r.error } : {}),
    reported: !r.pendingResult,
  };
}

function describeUpload(j: UploadJobSnapshot): Record<string, unknown> {
  return {
    id: j.id,
    title: j.title,
    state: j.state,
    sentBytes: j.sentBytes,
    totalBytes: j.totalBytes,
    ...(j.evidenceId ? { evidenceId: j.evidenceId } : {}),
    ...(j.caseId ? { caseId: j.caseId } : {}),
    ...(j.error ? { error: j.error } : {}),
    parts: j.parts.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256, state: p.state })),
  };
}
