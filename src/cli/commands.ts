// The scripted commands, run against a Role: by the runner for a command that
// came over its control socket, or by the CLI itself when no runner holds the
// site. Either way the same Role command (and its privilege check) does the work.
import { ValidationError } from '../core/config/fieldErrors';
import type { Role } from '../core/role/role';
import type { SelectionKind } from '../core/registry/registrySelection';
import type { VideoRequest } from '../core/requests/videoRequest';
import { STATUS_LABELS } from '../core/requests/videoRequest';
import type { Site } from '../core/site/model';
import type { CaseTarget, UploadJobSnapshot } from '../core/uploads/uploadJob';
import type { ControlRequest } from './control';

export const SCRIPTED_COMMANDS = ['status', 'requests', 'approve', 'deny', 'export', 'snapshot', 'select', 'notify', 'poll', 'verify', 'activities'] as const;

export async function perform(role: Role, site: Site, request: ControlRequest): Promise<unknown> {
  const args = request.args ?? {};
  const user = request.user ?? '';
  const str = (name: string): string | undefined => (typeof args[name] === 'string' ? (args[name] as string) : undefined);
  const need = (name: string): string => {
    const v = str(name);
    if (!v) throw new ValidationError(`The ${request.command} command`, [{ field: name, message: 'required' }]);
    return v;
  };
  switch (request.command) {
    case 'status': {
      // It shows the selection and the requests: both privileges, through the one check.
      await role.authorize(user, 'viewCameraSelection');
      await role.authorize(user, 'viewRequests');
      const s = await role.snapshot(10);
      return {
        status: s.status,
        connection: s.connection.state,
        account: s.account?.accountId ?? null,
        polls: s.connection.poller.polls,
        lastError: s.connection.lastError ?? null,
        selection: s.registry.entries,
        registryCameras: s.registry.effectiveCameraIds.length,
        publishPending: s.registry.publishPending,
        requests: s.requests.map(describeRequest),
        uploads: s.uploads.map(describeUpload),
        activities: s.activities.count,
      };
    }
    case 'requests':
      await role.authorize(user, 'viewRequests');
      return (await role.snapshot(0)).requests.map(describeRequest);
    case 'approve': {
      const id = resolveRequest(role, need('request'));
      await role.approveRequest(user, id);
      return args.wait ? describeRequest(await role.whenRequestSettled(id)) : describeRequest(role.requests.get(id)!);
    }
    case 'deny': {
      const id = resolveRequest(role, need('request'));
      return describeRequest(await role.denyRequest(user, id, str('reason') ?? ''));
    }
    case 'export': {
      const cameras = Array.isArray(args.cameras) ? args.cameras.filter((c): c is string => typeof c === 'string') : [];
      const job = await role.exportVideo(user, {
        cameras,
        from: need('from'),
        to: need('to'),
        caseTarget: caseTargetOf(args),
        ...(str('name') ? { name: str('name') } : {}),
        ...(str('description') ? { description: str('description') } : {}),
      });
      return describeUpload(args.wait ? await uploadSettled(role, job.id) : job);
    }
    case 'snapshot': {
      const job = await role.sendSnapshot(user, { camera: need('camera'), at: need('at'), caseTarget: caseTargetOf(args), ...(str('name') ? { name: str('name') } : {}) });
      return describeUpload(args.wait ? await uploadSettled(role, job.id) : job);
    }
    case 'select': {
      const action = need('action');
      const kind = need('kind') as SelectionKind;
      if (!['camera', 'area', 'federation'].includes(kind)) throw new ValidationError('The select command', [{ field: 'kind', message: 'must be camera, area or federation' }]);
      const id = await resolveEntity(site, kind, need('id'));
      if (action === 'add') await role.addToSelection(user, { kind, id });
      else if (action === 'remove') await role.removeFromSelection(user, { kind, id });
      else throw new ValidationError('The select command', [{ field: 'action', message: 'must be add or remove' }]);
      const s = await role.snapshot(0);
      return { selection: s.registry.entries, registryCameras: s.registry.effectiveCameraIds };
    }
    case 'notify': {
      const users = Array.isArray(args.users) ? args.users.filter((u): u is string => typeof u === 'string') : [];
      return { notificationUserIds: await role.setNotificationUsers(user, users) };
    }
    case 'poll':
      await role.pollNow(user);
      return { polled: true };
    case 'verify':
      return role.verifyTrail(user);
    case 'activities':
      return args.csv ? role.exportActivitiesCsv(user) : role.queryActivities(user);
    default:
      throw new ValidationError('The command', [{ field: 'command', message: `unknown command ${JSON.stringify(request.command)}; one of ${SCRIPTED_COMMANDS.join(', ')}` }]);
  }
}

/** A request by id, job id, or an unambiguous prefix (logs show 8 characters). */
export function resolveRequest(role: Role, text: string): string {
  const exact = role.requests.get(text);
  if (exact) return exact.requestId;
  const matches = role.requests.list().filter((r) => r.requestId.startsWith(text));
  if (matches.length === 1) return matches[0].requestId;
  const problem = matches.length === 0 ? `no video request ${JSON.stringify(text)} has reached this role` : `${JSON.stringify(text)} matches ${matches.length} requests; give more of the id`;
  throw new ValidationError('The request', [{ field: 'request', message: problem }]);
}

async function resolveEntity(site: Site, kind: SelectionKind, text: string): Promise<string> {
  const model = await site.model();
  const list: { id: string; name: string }[] = kind === 'camera' ? model.cameras : kind === 'area' ? model.areas : model.federations;
  const found = list.find((x) => x.id === text) ?? list.find((x) => x.name === text);
  if (!found) throw new ValidationError('The select command', [{ field: 'id', message: `no ${kind} ${JSON.stringify(text)} on this site` }]);
  return found.id;
}

function caseTargetOf(args: Record<string, unknown>): CaseTarget {
  if (typeof args.caseId === 'string' && args.caseId) return { kind: 'existing', caseId: args.caseId };
  if (typeof args.newCase === 'string' && args.newCase) {
    return {
      kind: 'new',
      name: args.newCase,
      ...(typeof args.department === 'string' ? { departmentId: args.department } : {}),
      ...(typeof args.category === 'string' ? { categoryId: args.category } : {}),
      ...(typeof args.caseInfo === 'string' ? { description: args.caseInfo } : {}),
    };
  }
  return { kind: 'none' };
}

function uploadSettled(role: Role, id: string): Promise<UploadJobSnapshot> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const job = role.uploads.get(id);
      if (job && (job.state === 'completed' || job.state === 'canceled' || job.state === 'failed')) {
        sub.dispose();
        resolve(job);
        return true;
      }
      return false;
    };
    const sub = role.uploads.onDidChange(() => check());
    check();
  });
}

export function describeRequest(r: VideoRequest): Record<string, unknown> {
  return {
    requestId: r.requestId,
    status: r.status,
    label: STATUS_LABELS[r.status],
    cameras: r.cameras.map((c) => ({ id: c.id, name: c.name, ...(c.outcome ? { outcome: c.outcome } : {}), ...(c.evidenceId ? { evidenceId: c.evidenceId } : {}), ...(c.files ? { files: c.files } : {}) })),
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
