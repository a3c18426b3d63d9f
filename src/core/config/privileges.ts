// One check for every entry point (tree, webview, command, CLI): may this site
// user do this? The privileges are those the role creates in Security Center.
import type { Site, SitePrivilege } from '../site/model';
import { SITE_PRIVILEGE_LABELS } from '../site/model';

export const ROLE_ACTIONS = {
  viewCameraSelection: 'viewCameraSelection',
  changeCameraSelection: 'viewCameraSelection',
  viewConfiguration: 'viewPluginConfiguration',
  changeConfiguration: 'viewPluginConfiguration',
  viewRequests: 'viewRequestNotifications',
  decideRequest: 'viewRequestNotifications',
  sendEvidence: 'sendEvidence',
  sendSnapshot: 'sendSnapshot',
  viewRequestApprovers: 'viewRequestApprovers',
} as const satisfies Record<string, SitePrivilege>;
export type RoleAction = keyof typeof ROLE_ACTIONS;

export class PrivilegeDenied extends Error {
  constructor(
    readonly userId: string,
    readonly action: RoleAction,
    readonly privilege: SitePrivilege,
  ) {
    super(`User ${JSON.stringify(userId)} lacks the privilege "${SITE_PRIVILEGE_LABELS[privilege]}" needed to ${describeAction(action)}.`);
    this.name = 'PrivilegeDenied';
  }
}

function describeAction(action: RoleAction): string {
  return action.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** Throws PrivilegeDenied unless the user holds the privilege the action needs. Unknown users hold none. */
export async function checkPrivilege(site: Site, userId: string, action: RoleAction): Promise<void> {
  const privilege = ROLE_ACTIONS[action];
  if (!(await site.hasPrivilege(userId, privilege))) throw new PrivilegeDenied(userId, action, privilege);
}

export async function mayDo(site: Site, userId: string, action: RoleAction): Promise<boolean> {
  return site.hasPrivilege(userId, ROLE_ACTIONS[action]);
}
