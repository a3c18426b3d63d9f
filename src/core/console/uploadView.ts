// The Uploads tree as plain data: the jobs still to do in queue order, and the
// finished ones (completed, canceled) under one history node.
import { isFinished, type UploadJobSnapshot, type UploadJobState } from '../uploads/uploadJob';
import type { TextFormat } from './cameraView';
import { formatBytes, formatDuration, formatLocal, formatRate, percentDone, type ViewOptions } from './viewFormat';

export type UploadAction = 'pause' | 'resume' | 'retry' | 'cancel';

/** Codicon names by job state. */
export const UPLOAD_ICONS: Readonly<Record<UploadJobState, string>> = {
  queued: 'clock',
  uploading: 'sync~spin',
  completing: 'sync~spin',
  paused: 'debug-pause',
  failed: 'error',
  completed: 'pass',
  canceled: 'close',
};

export const UPLOAD_HISTORY_ID = 'uploads:history';

export interface UploadItem {
  type: 'upload';
  /** Stable: `upload:<jobId>`. */
  id: string;
  jobId: string;
  state: UploadJobState;
  label: string;
  /** E.g. `42% · 3.1 MB/s · 0:45 left`, `paused at 42%`, `failed at 42%`, `completed · 12.3 MB`. */
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  icon: string;
  percent: number;
  actions: UploadAction[];
  /** `upload`, then the actions allowed (`upload pause cancel`), for `viewItem =~ /\bpause\b/`. */
  contextValue: string;
}

export interface UploadHistoryNode {
  type: 'history';
  id: typeof UPLOAD_HISTORY_ID;
  label: string;
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  icon: string;
  contextValue: 'uploadHistory';
  /** Newest finished first. */
  items: UploadItem[];
}

export type UploadRoot = UploadItem | UploadHistoryNode;

/** What an operator may do with a job in this state (the queue's transitions). */
export function uploadActions(state: UploadJobState): UploadAction[] {
  const actions: UploadAction[] = [];
  if (state === 'uploading' || state === 'queued' || state === 'completing') actions.push('pause');
  if (state === 'paused') actions.push('resume');
  if (state === 'failed') actions.push('retry');
  if (!isFinished(state)) actions.push('cancel');
  return actions;
}

function uploadDescription(u: UploadJobSnapshot, percent: number): string {
  const text = stateDescription(u, percent);
  // Said while it matters: the files go again to new evidence.
  return u.startedOver?.length && !isFinished(u.state) ? `${text} · started over` : text;
}

function stateDescription(u: UploadJobSnapshot, percent: number): string {
  switch (u.state) {
    case 'uploading': {
      const parts = [`${percent}%`];
      if (u.rate > 0) parts.push(formatRate(u.rate));
      if (u.secondsLeft !== undefined) parts.push(`${formatDuration(u.secondsLeft)} left`);
      return parts.join(' · ');
    }
    case 'completing':
      return `${percent}% · finishing`;
    case 'queued':
      return u.sentBytes > 0 ? `queued at ${percent}%` : 'queued';
    case 'paused':
      return `paused at ${percent}%`;
    case 'failed':
      return `failed at ${percent}%`;
    case 'completed':
      return `completed · ${formatBytes(u.totalBytes)}`;
    case 'canceled':
      return 'canceled';
  }
}

const STATE_LABELS: Readonly<Record<UploadJobState, string>> = {
  queued: 'Queued',
  uploading: 'Uploading',
  completing: 'Finishing',
  paused: 'Paused',
  failed: 'Failed',
  completed: 'Completed',
  canceled: 'Canceled',
};

function uploadTooltip(u: UploadJobSnapshot, percent: number, o: ViewOptions): string {
  const local = (iso: string) => formatLocal(iso, o.timeZoneOffsetMinutes);
  const lines: (string | undefined)[] = [
    u.title,
    `State: ${STATE_LABELS[u.state]}`,
    `Sent: ${formatBytes(u.sentBytes)} of ${formatBytes(u.totalBytes)} (${percent}%)`,
    u.state === 'uploading' && u.rate > 0 ? `Rate: ${formatRate(u.rate)}` : undefined,
    u.state === 'uploading' && u.secondsLeft !== undefined ? `Time left: ${formatDuration(u.secondsLeft)}` : undefined,
    `Files: ${u.parts.length}${u.parts.some((p) => p.encrypted) ? ', encrypted' : ''}`,
    u.error ? `Error: ${u.error}` : undefined,
    ...(u.startedOver ?? []).map(
      (s) =>
        `Started over with new evidence at ${local(s.at)}: ${s.why === 'purged' ? 'the service had deleted the incomplete evidence (after 24 h)' : 'the upload link was refused (expired or revoked)'}` +
        (s.abandonedEvidenceId ? ` (was ${s.abandonedEvidenceId})` : ''),
    ),
    u.videoRequestId ? `Video request: ${u.videoRequestId}` : undefined,
    u.caseId ? `Case: ${u.caseId}` : undefined,
    u.evidenceId ? `Evidence: ${u.evidenceId}` : undefined,
    `Queued: ${local(u.createdAt)}`,
    u.completedAt ? `Finished: ${local(u.completedAt)}` : undefined,
  ];
  return lines.filter((l): l is string => l !== undefined).join('\n');
}

/** One job's tree item. */
export function uploadItem(u: UploadJobSnapshot, o: ViewOptions = {}): UploadItem {
  const percent = u.state === 'completed' ? 100 : percentDone(u.sentBytes, u.totalBytes);
  const actions = uploadActions(u.state);
  return {
    type: 'upload',
    id: `upload:${u.id}`,
    jobId: u.id,
    state: u.state,
    label: u.title,
    description: uploadDescription(u, percent),
    tooltip: uploadTooltip(u, percent, o),
    textFormat: 'plain',
    icon: UPLOAD_ICONS[u.state],
    percent,
    actions,
    contextValue: ['upload', ...actions].join(' '),
  };
}

const byTime = (a: string, b: string): number => Date.parse(a) - Date.parse(b);

/**
 * The Uploads tree's roots: jobs not finished in the order they were queued, then
 * (when there is any) the history node holding the finished ones, newest first.
 */
export function uploadItems(uploads: readonly UploadJobSnapshot[], o: ViewOptions = {}): UploadRoot[] {
  const active = uploads.filter((u) => !isFinished(u.state)).sort((a, b) => byTime(a.createdAt, b.createdAt));
  const finished = uploads
    .filter((u) => isFinished(u.state))
    .sort((a, b) => byTime(b.completedAt ?? b.createdAt, a.completedAt ?? a.createdAt));
  const roots: UploadRoot[] = active.map((u) => uploadItem(u, o));
  if (finished.length > 0) {
    const completed = finished.filter((u) => u.state === 'completed').length;
    roots.push({
      type: 'history',
      id: UPLOAD_HISTORY_ID,
      label: 'History',
      description: String(finished.length),
      tooltip: `Finished uploads: ${completed} completed, ${finished.length - completed} canceled`,
      textFormat: 'plain',
      icon: 'history',
      contextValue: 'uploadHistory',
      items: finished.map((u) => uploadItem(u, o)),
    });
  }
  return roots;
}

/** Overall progress of the uploads in flight (queued, uploading, finishing). */
export function uploadsInFlight(uploads: readonly UploadJobSnapshot[]): { count: number; sentBytes: number; totalBytes: number; percent: number } {
  let count = 0;
  let sentBytes = 0;
  let totalBytes = 0;
  for (const u of uploads) {
    if (u.state !== 'queued' && u.state !== 'uploading' && u.state !== 'completing') continue;
    count++;
    sentBytes += u.sentBytes;
    totalBytes += u.totalBytes;
  }
  return { count, sentBytes, totalBytes, percent: percentDone(sentBytes, totalBytes) };
}
