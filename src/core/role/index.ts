// The Role engine: what the VS Code console and the headless runner drive.
export { Role, type OperatorExportInput, type RoleOptions, type SnapshotExportInput } from './role';
export { DEFAULT_STATE_DIR_NAME, hasConnectedAccount, ROLE_LOG_FILE_NAME, roleLogFileFor, roleStateDirFor, roleStateFileFor } from './roleFolders';
export { SiteLock, SiteLockHeld, SITE_LOCK_FILE, siteLockFileFor, type SiteLockOwner } from './siteLock';
export type { ConnectionSnapshot, ConnectionState, RoleEvent, RoleSnapshot, RoleStatus, UserView } from './snapshot';
