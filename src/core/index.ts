// The engine's public entry: the only module of src/core that src/ui (and src/extension.ts)
// may import (eslint.config.mjs, import-x/no-restricted-paths). Export here what the console
// needs; keep everything else internal to the engine.

// The Role façade, its options, snapshots and events.
export * from './role';

// The console's side of the role's control socket (the role may run in another process).
export {
  ControlClient,
  ControlError,
  PROTOCOL_VERSION,
  controlPathFor,
  isControlError,
  type CloseInfo,
  type ConnectOptions,
  type ErrorCode,
  type RequestOptions,
  type RoleInfo,
  type SubscribeResult,
  type WireIssue,
} from './control';

// Attaching to the role of a site, signing in, and the state the views render.
export * from './console';
export { ROLE_COMMAND_NAMES, commandAccess, type RoleCommandArgs, type RoleCommandName, type RoleCommandResult } from './role/commands';

// Video requests and upload jobs, as the views show them.
export { STATUS_LABELS, type VideoRequest } from './requests/videoRequest';
export type { UploadJobSnapshot } from './uploads/uploadJob';

// The activity trail's records and its verification, as commands answer them.
export { ACTIVITY_TYPES, type ActivityRecord, type TrailVerification } from './audit/activityTrail';
export { ACTIVITY_SORT_KEYS, MAX_SEARCH_LIMIT, type ActivitySearchResult, type ActivitySortKey, type DailyUploads, type SortDirection } from './audit/activitySearch';
// The chain-of-custody report (custody.report) and a review clip (requests.reviewClip).
export type { CustodyReport } from './audit/custodyReport';
export { reviewFolderFor, type ReviewClip } from './requests/requestReviews';

// The rule a new site-user password must meet (the role checks it; a form says it first).
export { MIN_PASSWORD_LENGTH } from './auth/passwords';

// Configuration the console shows, edits and hands to the role.
export type { AccountChange, ImportResult } from './config/accountStore';
export type { AccountInfo } from './config/connectionFile';
export { ValidationError, type FieldIssue } from './config/fieldErrors';
export type { RoleAction } from './config/privileges';
export { ROLE_PROPERTY_LIMITS, type ProxySettings, type RoleProperties, type RolePropertiesResult } from './config/roleProperties';
export type { SecretStore } from './config/secretStore';

// Subscriptions handed out by the role (onDidChange…).
export type { Disposable, Listener } from './events';
