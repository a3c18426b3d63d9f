// The console's side of the role: attaching, signing in, and the state it renders.
export { ConsoleState, RECENT_ACTIVITY_LIMIT, type StateChange, type StatePart, type VisibleSnapshot } from './consoleState';
export { RoleConnection, type AttachmentState, type RoleConnectionOptions, type SessionKeeper } from './roleConnection';
