// The view models the console's trees and status bar render: pure functions over
// the console's state (ConsoleState), no `vscode` in any of it. A UI maps each
// node 1:1 to a TreeItem; every text is plain text (textFormat: 'plain'), never
// markdown, so whatever the service sent shows as it was written.
export { ACTIVITY_ICONS, activityItem, activityItems, type ActivityItem } from './activityView';
export { CameraIndex, cameraNodeId, cameraNodes, KIND_LABELS, publishedCount, type CameraNode, type CameraTreeView, type TextFormat } from './cameraView';
export { overduePendingCallOut, pendingBadge, REQUEST_GROUP_ORDER, requestGroups, requestItem, type RequestAction, type RequestGroup, type RequestItem, type RequestLike } from './requestView';
export { CONNECTION_LABELS, ROLE_STATUS_LABELS, STATUS_BAR_IDLE, statusBarText, statusBarTooltip, statusBarWarning, type StatusSource } from './statusBarView';
export { UPLOAD_HISTORY_ID, UPLOAD_ICONS, uploadActions, uploadItem, uploadItems, uploadsInFlight, type UploadAction, type UploadHistoryNode, type UploadItem, type UploadRoot } from './uploadView';
export { formatAge, formatBytes, formatDuration, formatLocal, formatOffset, formatRate, machineOffsetMinutes, percentDone, plural, type ViewOptions } from './viewFormat';
