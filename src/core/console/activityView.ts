// The Activities tree as plain data: the trail's records, newest first.
import type { ActivityRecord, ActivityType } from '../audit/activityTrail';
import type { TextFormat } from './cameraView';
import { formatBytes, formatLocal, type ViewOptions } from './viewFormat';

/** Codicon names by record type. */
export const ACTIVITY_ICONS: Readonly<Record<ActivityType, string>> = {
  roleStarted: 'play',
  roleStopped: 'debug-stop',
  privilegesCreated: 'key',
  signIn: 'sign-in',
  accountImported: 'cloud-download',
  accountDisconnected: 'debug-disconnect',
  configurationChanged: 'settings-gear',
  cameraSelectionChanged: 'device-camera',
  registryPublished: 'broadcast',
  snapshotSent: 'device-camera-video',
  requestReceived: 'mail',
  requestRefused: 'circle-slash',
  requestStatusChanged: 'tasklist',
  requestReviewed: 'eye',
  exportCompleted: 'file-media',
  exportFailed: 'warning',
  exportWaiting: 'watch',
  uploadQueued: 'clock',
  uploadCompleted: 'cloud-upload',
  uploadFailed: 'error',
  uploadCanceled: 'close',
  uploadStartedOver: 'refresh',
  userSignedIn: 'account',
  userSignedOut: 'sign-out',
  signInRefused: 'shield',
  commandRefused: 'circle-slash',
  passwordChanged: 'lock',
  signInLockoutCleared: 'unlock',
};

export interface ActivityItem {
  /** Stable: `activity:<seq>`. */
  id: string;
  seq: number;
  type: ActivityType;
  label: string;
  /** Local time and user: `2026-12-01 14:05:09 +01:00 · mchen`. */
  description: string;
  tooltip: string;
  textFormat: TextFormat;
  icon: string;
  contextValue: 'activity';
}

function activityTooltip(r: ActivityRecord, o: ViewOptions): string {
  const lines: (string | undefined)[] = [
    r.summary,
    `${r.type} · record ${r.seq}`,
    `Time: ${formatLocal(r.time, o.timeZoneOffsetMinutes)}`,
    r.user ? `User: ${r.user}` : undefined,
    r.cameras?.length ? `Cameras: ${r.cameras.join(', ')}` : undefined,
    r.requestId ? `Video request: ${r.requestId}` : undefined,
    r.caseId ? `Case: ${r.caseId}` : undefined,
    r.evidenceId ? `Evidence: ${r.evidenceId}` : undefined,
    ...(r.files ?? []).map((f) => `File: ${f.name} (${formatBytes(f.bytes)}, SHA-256 ${f.sha256})`),
    ...Object.entries(r.details ?? {}).map(([k, v]) => `${k}: ${String(v)}`),
  ];
  return lines.filter((l): l is string => l !== undefined).join('\n');
}

export function activityItem(r: ActivityRecord, o: ViewOptions = {}): ActivityItem {
  const time = formatLocal(r.time, o.timeZoneOffsetMinutes);
  return {
    id: `activity:${r.seq}`,
    seq: r.seq,
    type: r.type,
    label: r.summary,
    description: r.user ? `${time} · ${r.user}` : time,
    tooltip: activityTooltip(r, o),
    textFormat: 'plain',
    icon: ACTIVITY_ICONS[r.type] ?? 'circle-outline',
    contextValue: 'activity',
  };
}

/** The trail's records as tree items, newest (highest seq) first. */
export function activityItems(records: readonly ActivityRecord[], o: ViewOptions = {}): ActivityItem[] {
  return [...records].sort((a, b) => b.seq - a.seq).map((r) => activityItem(r, o));
}
