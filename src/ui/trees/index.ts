// The console's four trees and their item commands. console.ts calls
// registerTrees once; everything it creates is disposed with the extension.
import type * as vscode from 'vscode';
import type { RoleConnection } from '../../core';
import { ActivitiesTree } from './activitiesTree';
import { CamerasTree, registerCameraCommands } from './camerasTree';
import { ConnectionSlot } from './connectionSlot';
import { registerRequestCommands, RequestsTree } from './requestsTree';
import { registerUploadCommands, UploadsTree } from './uploadsTree';

export { ActivitiesTree, ACTIVITIES_VIEW_ID } from './activitiesTree';
export { CAMERAS_FILTERED_CONTEXT, CAMERAS_VIEW_ID, CamerasTree } from './camerasTree';
export { ConnectionSlot } from './connectionSlot';
export { type Handle, REFRESH_DELAY_MS } from './consoleTree';
export { REQUESTS_VIEW_ID, RequestsTree } from './requestsTree';
export { STAGING_FOLDER_CONTEXT, UPLOADS_VIEW_ID, UploadsTree } from './uploadsTree';

export interface ConsoleTrees {
  /** Renders every tree again from the role's state (debounced). */
  refreshAll(): void;
  /** Points every tree and item command at another connection (another site), or none. */
  setConnection(connection: RoleConnection | undefined): void;
  cameras: CamerasTree;
  requests: RequestsTree;
  uploads: UploadsTree;
  activities: ActivitiesTree;
}

/**
 * Creates the four tree views and registers their item commands on context.subscriptions.
 * `roleConnection` may be undefined (no site yet): call setConnection when there is one.
 */
export function registerTrees(
  context: vscode.ExtensionContext,
  roleConnection: RoleConnection | undefined,
  output: vscode.LogOutputChannel,
  openRequestPanel: (requestId: string) => void,
): ConsoleTrees {
  const connection = new ConnectionSlot(roleConnection);
  const cameras = new CamerasTree(connection, output);
  const requests = new RequestsTree(connection);
  const uploads = new UploadsTree(connection, output);
  const activities = new ActivitiesTree(connection);
  context.subscriptions.push(
    connection,
    cameras,
    requests,
    uploads,
    activities,
    ...registerCameraCommands(cameras, output),
    ...registerRequestCommands(requests, connection, output, openRequestPanel),
    ...registerUploadCommands(uploads, connection, output),
  );
  const all = [cameras, requests, uploads, activities];
  return {
    refreshAll: () => all.forEach((t) => t.refresh()),
    setConnection: (c) => connection.set(c),
    cameras,
    requests,
    uploads,
    activities,
  };
}
