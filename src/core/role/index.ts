// The Role engine: what the VS Code console and the headless runner drive.
export { Role, type OperatorExportInput, type RoleOptions, type SnapshotExportInput } from './role';
export { SiteLock, SiteLockHeld, SITE_LOCK_FILE, siteLockFileFor, type SiteLockOwner } from './siteLock';
export type { ConnectionSnapshot, ConnectionState, RoleEvent, RoleSnapshot, RoleStatus, UserView } from './snapshot';
