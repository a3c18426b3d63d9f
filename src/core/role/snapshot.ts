// What the Role engine shows: plain data a tree or a webview renders, and the
// events that tell them to render again. No secrets in any of it.
import type { ActivityRecord } from '../audit/activityTrail';
import type { AccountInfo } from '../config/connectionFile';
import type { PrivilegeDefinition, RoleAction } from '../config/privileges';
import type { RoleProperties } from '../config/roleProperties';
import type { CameraRegistrySnapshot, PublishedRegistry, SelectionChange } from '../registry/cameraRegistry';
import type { PollerStatus } from '../requests/poller';
import type { VideoRequest } from '../requests/videoRequest';
import type { VideoRequestEvent } from '../requests/videoRequestDesk';
import type { SiteUser } from '../site/model';
import type { UploadEvent } from '../uploads/uploadQueue';
import type { UploadJobSnapshot } from '../uploads/uploadJob';

export type RoleStatus = 'stopped' | 'starting' | 'running' | 'stopping';

/**
 * notConnected: no account imported. offline: stopped. signingIn: running, no token yet.
 * online: the last poll worked. unreachable: polls fail; the poller backs off.
 */
export type ConnectionState = 'notConnected' | 'offline' | 'signingIn' | 'online' | 'unreachable';

export interface ConnectionSnapshot {
  state: ConnectionState;
  signedIn: boolean;
  poller: PollerStatus;
  /** Effective polling interval (the property, or an override for tests and demos). */
  pollIntervalMs: number;
  lastError?: string;
}

export interface RoleSnapshot {
  status: RoleStatus;
  site: { name: string; description: string };
  account?: AccountInfo;
  properties: RoleProperties;
  connection: ConnectionSnapshot;
  registry: CameraRegistrySnapshot;
  requests: VideoRequest[];
  uploads: UploadJobSnapshot[];
  /** Site user ids told of new requests. */
  notificationUserIds: string[];
  activities: { count: number; recent: ActivityRecord[] };
  privileges: { activatedAt: string; definitions: readonly PrivilegeDefinition[] };
}

export type RoleEvent =
  | { kind: 'status'; status: RoleStatus }
  | { kind: 'connection'; connection: ConnectionSnapshot }
  | { kind: 'account'; account?: AccountInfo }
  | { kind: 'properties'; properties: RoleProperties }
  | { kind: 'selection'; change: SelectionChange }
  | { kind: 'published'; published: PublishedRegistry }
  | { kind: 'request'; event: VideoRequestEvent }
  /** A new request: these users are to be told (request notifications). */
  | { kind: 'notification'; request: VideoRequest; users: SiteUser[] }
  | { kind: 'upload'; event: UploadEvent }
  | { kind: 'notificationUsers'; userIds: string[] }
  | { kind: 'activity'; record: ActivityRecord };

/** What one user may see and do, for a UI that hides the rest. */
export interface UserView {
  user: SiteUser;
  actions: RoleAction[];
}
