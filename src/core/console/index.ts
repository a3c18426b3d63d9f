// The console's side of the role: attaching, signing in, and the state it renders.
export { ConsoleState, RECENT_ACTIVITY_LIMIT, type StateChange, type StatePart, type VisibleSnapshot } from './consoleState';
export { RoleConnection, type AttachmentState, type RoleConnectionOptions, type SessionKeeper } from './roleConnection';
export {
  ACTIVITY_ICONS, activityItem, activityItems, CameraIndex, cameraNodeId, cameraNodes, CONNECTION_LABELS, formatAge, formatDuration, formatLocal, formatRate, KIND_LABELS,
  overduePendingCallOut, pendingBadge, publishedCount, REQUEST_GROUP_ORDER, requestGroups, requestItem, ROLE_STATUS_LABELS, STATUS_BAR_IDLE, statusBarText, statusBarTooltip, statusBarWarning,
  UPLOAD_HISTORY_ID, UPLOAD_ICONS, uploadActions, uploadItem, uploadItems, uploadsInFlight,
  type ActivityItem, type CameraNode, type CameraTreeView, type RequestAction, type RequestGroup, type RequestItem, type RequestLike, type StatusSource, type TextFormat,
  type UploadAction, type UploadHistoryNode, type UploadItem, type UploadRoot, type ViewOptions,
} from './views';
export { machineOffsetMinutes, percentDone, pickText, plainMessage } from './viewFormat';
export { cameraChoices, MAX_EXPORT_RANGE_MS, operatorTimeText, parseOperatorTime, videoRangeProblem, type CameraChoice } from './evidenceForm';
