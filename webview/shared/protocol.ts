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
