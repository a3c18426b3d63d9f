// The Requests tree as plain data: video requests grouped by status, the ones
// that wait for an operator first. Everything a request carries came from the
// service (comments, camera names): it is plain text here and stays plain text
// in the UI, which never renders it as markdown.
import type { VideoRequestStatus } from '../clearance/api';
import { STATUS_LABELS, type VideoRequest } from '../requests/videoRequest';
import type { TextFormat } from './cameraView';
import { formatAge, formatLocal, plural, type ViewOptions } from './viewFormat';

/** Group order: what needs an operator, what runs, then how requests ended. */
export const REQUEST_GROUP_ORDER: readonly VideoRequestStatus[] = [
  'Pending',
  'Processing',
  'Completed',
  'PartiallyCompleted',
  'VideoUnavailable',
  'Denied',
  'Canceled',
];

/** A request as the console may know it: the service's requester when it was told. */
export type RequestLike = VideoRequest & { requester?: string };

export type RequestAction = 'approve' | 'deny' | 'unavailable';

export interface RequestItem {
  /** Stable: `request:<requestId>`. */
  id: string;
  requestId: string;
  status: VideoRequestStatus;
  /** The cameras' names (the first three, then how many more). */
  label: string;
  /** Incident time (local, with its UTC offset) and age of the request: `2026-12-01 14:05:09 +01:00 · 5 min ago`. */
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  actions: RequestAction[];
  /** `request`, then the actions allowed (`request approve deny`), for `viewItem =~ /\bapprove\b/`. */
  contextValue: string;
}

export interface RequestGroup {
  /** Stable: `requests:<status>`. */
  id: string;
  status: VideoRequestStatus;
  label: string;
  /** How many requests. */
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  /** Pending and Processing open; the final statuses start collapsed. */
  expanded: boolean;
  items: RequestItem[];
}

const LABEL_CAMERAS = 3;

function cameraLabel(r: RequestLike): string {
  const names = r.cameras.map((c) => c.name || c.id);
  if (names.length === 0) return `Request ${r.requestId}`;
  if (names.length <= LABEL_CAMERAS) return names.join(', ');
  return `${names.slice(0, LABEL_CAMERAS).join(', ')} +${names.length - LABEL_CAMERAS} more`;
}

function statusLine(r: RequestLike): string {
  const parts = [`Status: ${STATUS_LABELS[r.status]}`];
  if (r.progress && r.status === 'Processing') parts.push(`${r.progress.done} of ${r.progress.total} steps done`);
  return parts.join(' · ');
}

function requestTooltip(r: RequestLike, o: ViewOptions): string {
  const local = (iso: string) => formatLocal(iso, o.timeZoneOffsetMinutes);
  const lines: (string | undefined)[] = [
    `Video request ${r.requestId}`,
    r.requester ? `Requested by: ${r.requester}` : undefined,
    `Cameras: ${r.cameras.map((c) => c.name || c.id).join(', ') || 'none'}`,
    `Range: ${local(r.fromUtc)} – ${local(r.toUtc)}`,
    `Incident: ${local(r.incidentTimeUtc)}`,
    statusLine(r),
    r.decidedBy ? `Decided by: ${r.decidedBy}` : undefined,
    r.denyReason ? `Reason: ${r.denyReason}` : undefined,
    r.error ? `Error: ${r.error}` : undefined,
    r.refused ? 'Refused: cameras outside the registry selection' : undefined,
    r.caseId ? `Case: ${r.caseId}` : undefined,
    `Received: ${local(r.receivedAt)}`,
    r.comments ? `Comments: ${r.comments}` : undefined,
  ];
  return lines.filter((l): l is string => l !== undefined).join('\n');
}

/** One request's tree item. */
export function requestItem(r: RequestLike, now: Date, o: ViewOptions = {}): RequestItem {
  const actions: RequestAction[] = r.status === 'Pending' ? ['approve', 'deny', 'unavailable'] : [];
  return {
    id: `request:${r.requestId}`,
    requestId: r.requestId,
    status: r.status,
    label: cameraLabel(r),
    description: `${formatLocal(r.incidentTimeUtc, o.timeZoneOffsetMinutes)} · ${formatAge(now.getTime() - Date.parse(r.receivedAt))}`,
    tooltip: requestTooltip(r, o),
    textFormat: 'plain',
    actions,
    contextValue: ['request', ...actions].join(' '),
  };
}

/**
 * Requests by status in REQUEST_GROUP_ORDER; groups with no request are left out.
 * In a group the newest request comes first (received last).
 */
export function requestGroups(requests: readonly RequestLike[], now: Date, o: ViewOptions = {}): RequestGroup[] {
  const by = new Map<VideoRequestStatus, RequestLike[]>();
  for (const r of requests) {
    const list = by.get(r.status);
    if (list) list.push(r);
    else by.set(r.status, [r]);
  }
  const groups: RequestGroup[] = [];
  for (const status of REQUEST_GROUP_ORDER) {
    const list = by.get(status);
    if (!list?.length) continue;
    list.sort((a, b) => Date.parse(b.receivedAt) - Date.parse(a.receivedAt) || (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
    groups.push({
      id: `requests:${status}`,
      status,
      label: STATUS_LABELS[status],
      description: String(list.length),
      tooltip: `${STATUS_LABELS[status]}: ${plural(list.length, 'video request')}`,
      textFormat: 'plain',
      expanded: status === 'Pending' || status === 'Processing',
      items: list.map((r) => requestItem(r, now, o)),
    });
  }
  return groups;
}

/** The Requests view's badge: how many wait for a decision; undefined (no badge) when none. */
export function pendingBadge(requests: readonly Pick<VideoRequest, 'status'>[]): { value: number; tooltip: string } | undefined {
  const value = requests.filter((r) => r.status === 'Pending').length;
  return value > 0 ? { value, tooltip: `${plural(value, 'video request')} pending` } : undefined;
}

/**
 * The call-out a console makes when it attaches: requests Pending for longer
 * than `minutes`, or undefined when there are none (or minutes is 0: off).
 */
export function overduePendingCallOut(requests: readonly Pick<VideoRequest, 'status' | 'receivedAt'>[], now: Date, minutes: number): string | undefined {
  if (!(minutes > 0)) return undefined;
  const ages = requests
    .filter((r) => r.status === 'Pending')
    .map((r) => now.getTime() - Date.parse(r.receivedAt))
    .filter((age) => age > minutes * 60_000);
  if (ages.length === 0) return undefined;
  const oldest = formatAge(Math.max(...ages));
  const verb = ages.length === 1 ? 'has' : 'have';
  return `${plural(ages.length, 'video request')} ${verb} been pending for more than ${minutes} min (the oldest arrived ${oldest}).`;
}
