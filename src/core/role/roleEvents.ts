// What the role's parts report becomes the role's own events, for a console to
// render again: trail records, selection and registry changes, requests,
// uploads, the poller's connection state, the account and the properties. A
// few events also start work: a new request tells the chosen users, a finished
// upload is recorded, a new account drops the clients of the old one.
import type { Disposable } from '../events';
import type { VideoRequest } from '../requests/videoRequest';
import { short } from '../requests/videoRequestDesk';
import type { RoleParts } from './roleWiring';
import type { ConnectionSnapshot, RoleEvent } from './snapshot';

export interface RoleEventSink {
  fire(event: RoleEvent): void;
  isRunning(): boolean;
  connectionSnapshot(hasAccount: boolean): ConnectionSnapshot;
}

/** Subscribes to every part; dispose the answer to stop. */
export function relayRoleEvents(parts: RoleParts, role: RoleEventSink): Disposable[] {
  const { account, log, poller, recorder, requests } = parts;
  return [
    parts.settings.onDidChange(({ properties, changed }) => {
      role.fire({ kind: 'properties', properties });
      if (changed.includes('pollingIntervalSeconds') && role.isRunning()) void poller.pollNow();
    }),
    parts.trail.onDidAppend((record) => role.fire({ kind: 'activity', record })),
    parts.registry.onDidChange((e) => role.fire(e.kind === 'selection' ? { kind: 'selection', change: e.change } : { kind: 'published', published: e.published })),
    requests.onDidChange((event) => {
      role.fire({ kind: 'request', event });
      if (event.kind === 'received') void notify(parts, role, event.request);
    }),
    parts.uploads.onDidChange((event) => {
      role.fire({ kind: 'upload', event });
      if (event.kind === 'finished') void recorder.uploadFinished(event.job, requests).catch((e: unknown) => log(`activity trail: ${(e as Error).message}`));
      if (event.kind === 'startedOver') {
        log(`upload ${event.job.id} started over with new evidence (${event.startOver.why === 'purged' ? 'the service purged the incomplete evidence' : 'the upload link was refused'}; was ${event.startOver.abandonedEvidenceId ?? 'none'})`);
        void recorder.uploadStartedOver(event.job, event.startOver, requests).catch((e: unknown) => log(`activity trail: ${(e as Error).message}`));
      }
    }),
    poller.onDidChange(() => role.fire({ kind: 'connection', connection: role.connectionSnapshot(account.inUse) })),
    parts.accounts.onDidChange((change) => {
      account.accountChanged();
      role.fire({ kind: 'account', ...(change.current ? { account: change.current } : {}) });
    }),
  ];
}

/** Request notifications: the chosen users are told of a new request. */
async function notify(parts: RoleParts, role: RoleEventSink, request: VideoRequest): Promise<void> {
  try {
    const users = await parts.notifications.recipients();
    role.fire({ kind: 'notification', request, users });
    parts.log(
      `new video request ${short(request.requestId)} (${request.cameras.map((c) => c.name).join(', ')})` +
        (users.length ? `: notifying ${users.map((u) => u.name).join(', ')}` : ''),
    );
  } catch (error) {
    parts.log(`request notifications: ${(error as Error).message}`);
  }
}
