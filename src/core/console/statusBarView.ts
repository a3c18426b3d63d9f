// The console's status bar item as plain data: uploads in flight and requests
// waiting in its text (codicons are ours, never the service's text), who is
// signed in and how the role is doing in its plain-text tooltip.
import type { SiteUser } from '../site/model';
import type { ConnectionState, RoleStatus, UserView } from '../role/snapshot';
import type { UploadJobSnapshot } from '../uploads/uploadJob';
import type { VideoRequest } from '../requests/videoRequest';
import type { AttachmentState } from './roleConnection';
import type { VisibleSnapshot } from './consoleState';
import { uploadsInFlight } from './uploadView';
import { formatBytes, formatLocal, plural, type ViewOptions } from './viewFormat';

/** What the status bar counts: a ConsoleState or a VisibleSnapshot both fit. */
export interface StatusSource {
  readonly uploads?: readonly UploadJobSnapshot[];
  readonly requests?: readonly Pick<VideoRequest, 'status'>[];
}

export const STATUS_BAR_IDLE = '$(shield) Clearance';

export const ROLE_STATUS_LABELS: Readonly<Record<RoleStatus, string>> = {
  stopped: 'stopped',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
};

export const CONNECTION_LABELS: Readonly<Record<ConnectionState, string>> = {
  notConnected: 'no account connected',
  offline: 'offline (role stopped)',
  signingIn: 'signing in',
  online: 'online',
  unreachable: 'unreachable',
};

function counts(state: StatusSource | undefined): { inFlight: ReturnType<typeof uploadsInFlight>; failed: number; pending: number } {
  const uploads = state?.uploads ?? [];
  return {
    inFlight: uploadsInFlight(uploads),
    failed: uploads.filter((u) => u.state === 'failed').length,
    pending: (state?.requests ?? []).filter((r) => r.status === 'Pending').length,
  };
}

/**
 * E.g. `$(cloud-upload) 2 · 45%  $(error) 1  $(bell) 3`: uploads in flight with
 * their overall progress, failed uploads, pending requests; `$(shield) Clearance`
 * when there is none of these (or no state: nobody signed in).
 */
export function statusBarText(state: StatusSource | undefined): string {
  const { inFlight, failed, pending } = counts(state);
  const parts: string[] = [];
  if (inFlight.count > 0) parts.push(`$(cloud-upload) ${inFlight.count} · ${inFlight.percent}%`);
  if (failed > 0) parts.push(`$(error) ${failed}`);
  if (pending > 0) parts.push(`$(bell) ${pending}`);
  return parts.length > 0 ? parts.join('  ') : STATUS_BAR_IDLE;
}

/** Plain text (the UI gives it as a string, never a MarkdownString): site, user, role, Clearance, counts. */
export function statusBarTooltip(
  snapshot: VisibleSnapshot | undefined,
  user: UserView | SiteUser | undefined,
  attachment?: AttachmentState,
  o: ViewOptions = {},
  roleProcess?: { pid?: number; startedAt?: string },
): string {
  const who = user && 'user' in user ? user.user : user;
  const lines: string[] = [snapshot ? `Clearance — ${snapshot.site.name}` : 'Clearance'];
  if (attachment === 'detached') lines.push('No Clearance role is running for this site.');
  else if (attachment === 'closed') lines.push('Closed.');
  if (who) lines.push(`Signed in as ${who.displayName && who.displayName !== who.name ? `${who.displayName} (${who.name})` : who.name}`);
  else if (attachment !== 'detached' && attachment !== 'closed') lines.push('Not signed in');
  if (snapshot) {
    lines.push(`Role: ${ROLE_STATUS_LABELS[snapshot.status]}`);
    // A role outlives the window that started it: say since when this one runs.
    if (roleProcess?.startedAt) lines.push(`Role process${roleProcess.pid ? ` ${roleProcess.pid}` : ''} running since ${formatLocal(roleProcess.startedAt, o.timeZoneOffsetMinutes)} (it keeps running when VS Code closes)`);
    const c = snapshot.connection;
    lines.push(`Clearance: ${CONNECTION_LABELS[c.state]}`);
    if (c.state === 'unreachable' && c.poller.consecutiveFailures > 0) lines.push(`Failed polls in a row: ${c.poller.consecutiveFailures}`);
    const lastError = c.lastError ?? c.poller.lastError;
    if (lastError && (c.state === 'unreachable' || c.state === 'signingIn')) lines.push(`Last error: ${lastError}`);
    if (c.poller.lastSuccessAt) lines.push(`Last successful poll: ${formatLocal(c.poller.lastSuccessAt, o.timeZoneOffsetMinutes)}`);
    if (snapshot.account) lines.push(`Account: ${snapshot.account.integrationName} (${snapshot.account.accountId})`);
    const { inFlight, failed, pending } = counts(snapshot);
    if (inFlight.count > 0) {
      lines.push(`${plural(inFlight.count, 'upload')} in flight: ${inFlight.percent}% (${formatBytes(inFlight.sentBytes)} of ${formatBytes(inFlight.totalBytes)})`);
    }
    if (failed > 0) lines.push(`${plural(failed, 'upload')} failed`);
    if (snapshot.requests) lines.push(`${plural(pending, 'video request')} pending`);
  }
  return lines.join('\n');
}

/** The item takes the warning colour while Clearance cannot be reached. */
export function statusBarWarning(connectionState: ConnectionState | undefined): boolean {
  return connectionState === 'unreachable';
}
