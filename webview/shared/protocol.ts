// The messages between a panel's webview and its host (the extension), for
// every panel: the webview says `ready`, then sends requests (an id, a
// command, its arguments); the host answers each with a reply (the result, or
// an error with the fields at fault) and pushes `update`s when the role's state
// changes. Imported by both sides; no Node, no `vscode`.

export interface FieldIssue {
  field: string;
  message: string;
}

export interface PanelError {
  message: string;
  /** The control protocol's code when the role refused (e.g. PrivilegeDenied, ValidationFailed). */
  code?: string;
  /** One per field at fault, named as the role names it (e.g. `proxy.port`). */
  issues: FieldIssue[];
}

/** Webview → host. */
export type ToHost =
  | { type: 'ready' }
  | { type: 'request'; id: number; command: string; args?: unknown };

/** Host → webview. */
export type ToWebview =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: PanelError }
  | { type: 'update'; topic: string; data: unknown };

/** The view types of the console's panels (also their serializer ids). */
export const PANEL_VIEW_TYPES = {
  properties: 'clearance.propertiesPanel',
  notifications: 'clearance.notificationsPanel',
  activities: 'clearance.activitiesPanel',
  request: 'clearance.requestPanel',
} as const;

export type PanelKind = keyof typeof PANEL_VIEW_TYPES;

// ---- what each panel asks and is told ------------------------------------------------------

export interface ProxyView {
  enabled: boolean;
  host: string;
  port: number;
  username: string;
}

export interface PropertiesView {
  properties: {
    pollingIntervalSeconds: number;
    archiveDestinationFolder: string;
    proxy: ProxyView;
    throttlingEnabled: boolean;
    maximumBandwidthMbps: number;
  };
  /** Whether the role holds a proxy password; never the password. */
  proxyPasswordSet: boolean;
  account: { accountId: string; integrationName: string } | null;
  /** The signed-in user may change the properties (else the form is read-only). */
  mayChange: boolean;
  limits: { pollingIntervalSeconds: { min: number; max: number }; maximumBandwidthMbps: { min: number; max: number }; proxyPort: { min: number; max: number } };
}

export interface ApplyPropertiesResult {
  changed: string[];
  warnings: string[];
}

export interface NotificationsView {
  users: { id: string; name: string; displayName: string; notified: boolean }[];
  mayChange: boolean;
}

export interface ActivityRow {
  seq: number;
  time: string;
  /** `time` in the console's local time with its offset. */
  localTime: string;
  type: string;
  user?: string;
  summary: string;
  cameras?: string[];
  requestId?: string;
  evidenceId?: string;
  hash: string;
}

export interface ActivityFilter {
  /** As the operator typed them: local `YYYY-MM-DD HH:MM` or ISO 8601 (the host reads them). */
  from?: string;
  to?: string;
  types?: string[];
  user?: string;
  camera?: string;
  text?: string;
}

export interface ActivitySearch extends ActivityFilter {
  sort?: { by: 'seq' | 'time' | 'type' | 'user'; direction: 'asc' | 'desc' };
  offset?: number;
  limit?: number;
}

export interface ActivityPage {
  total: number;
  offset: number;
  records: ActivityRow[];
}

export interface ActivitiesSetup {
  types: string[];
  /** Minutes east of UTC of the console's machine, for local times and days. */
  offsetMinutes: number;
}

export interface DailyUploads {
  day: string;
  uploads: number;
  bytes: number;
}

export interface TrailCheck {
  ok: boolean;
  records: number;
  problems: { line?: number; seq?: number; message: string }[];
  /** The trail against the anchors the service keeps (false ok: the trail was rewritten); its summary in sentences. */
  anchors?: { ok: boolean; summary: string[] };
}

export interface RequestCameraView {
  id: string;
  name: string;
  outcome?: string;
  message?: string;
  evidenceId?: string;
  files: { name: string; bytes: number; sha256: string }[];
  /** The upload of this camera's evidence, when there is one. */
  upload?: { state: string; percent: number; verified: boolean };
}

export interface RequestView {
  requestId: string;
  status: string;
  statusLabel: string;
  requester?: string;
  comments: string;
  /** Local times with their offset. */
  from: string;
  to: string;
  incident: string;
  received: string;
  fromUtc: string;
  toUtc: string;
  caseId: string | null;
  decidedBy?: string;
  denyReason?: string;
  error?: string;
  progress?: { done: number; total: number };
  cameras: RequestCameraView[];
  history: { localTime: string; summary: string; user?: string }[];
  /** What the signed-in user may do with it now. */
  may: { decide: boolean; review: boolean; custody: boolean };
}

export interface ReviewClipView {
  cameraId: string;
  cameraName: string;
  /** A webview URI of the clip (never a data URL). */
  src: string;
  fromUtc: string;
  toUtc: string;
  clipStartUtc: string;
  durationSeconds: number;
}
