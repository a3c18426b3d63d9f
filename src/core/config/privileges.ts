// One check for every entry point (tree, webview, command, CLI): may this site
// user do this? The privileges are those the role creates in Security Center
// on its first activation (plugin guide, docs/clearance-api.md §1.3), and later versions' additions.
import type Keyv from 'keyv';
import type { Site, SitePrivilege, SiteUser } from '../site/model';
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

export interface PrivilegeDefinition {
  privilege: SitePrivilege;
  label: string;
  /** What a user without it cannot see or do. */
  description: string;
  /** Plugin version that introduced it: the first three come with the first activation. */
  since: '3.4' | '3.5';
}

/** [doc] The privileges the role creates in Security Center, in the vendor's order. */
export const ROLE_PRIVILEGES: readonly PrivilegeDefinition[] = [
  { privilege: 'viewCameraSelection', label: SITE_PRIVILEGE_LABELS.viewCameraSelection, description: 'See and change which cameras are published to the Clearance registry.', since: '3.4' },
  { privilege: 'viewPluginConfiguration', label: SITE_PRIVILEGE_LABELS.viewPluginConfiguration, description: 'See and change the role properties and the request notification list.', since: '3.4' },
  { privilege: 'viewRequestNotifications', label: SITE_PRIVILEGE_LABELS.viewRequestNotifications, description: 'See video requests, be notified of new ones, approve or deny them.', since: '3.4' },
  { privilege: 'sendEvidence', label: SITE_PRIVILEGE_LABELS.sendEvidence, description: 'Export recordings to Clearance.', since: '3.5' },
  { privilege: 'sendSnapshot', label: SITE_PRIVILEGE_LABELS.sendSnapshot, description: 'Send a snapshot of a camera to Clearance.', since: '3.5' },
  { privilege: 'viewRequestApprovers', label: SITE_PRIVILEGE_LABELS.viewRequestApprovers, description: 'See who may approve video requests.', since: '3.5' },
];

export class PrivilegeDenied extends Error {
  constructor(
    readonly userId: string,
    readonly action: RoleAction,
    readonly privilege: SitePrivilege,
    reason?: string,
  ) {
    super(reason ?? `User ${JSON.stringify(userId)} lacks the privilege "${SITE_PRIVILEGE_LABELS[privilege]}" needed to ${describeAction(action)}.`);
    this.name = 'PrivilegeDenied';
  }
}

function describeAction(action: RoleAction): string {
  return action.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** A site user by id or by login name (ids first: they never change). */
export async function findSiteUser(site: Site, idOrName: string): Promise<SiteUser | undefined> {
  const byId = await site.getUser(idOrName);
  if (byId) return byId;
  return (await site.listUsers()).find((u) => u.name === idOrName);
}

/**
 * Throws PrivilegeDenied unless the user (id or login name) holds the privilege
 * the action needs; answers the user. Unknown users hold none.
 */
export async function checkPrivilege(site: Site, user: string, action: RoleAction): Promise<SiteUser> {
  const privilege = ROLE_ACTIONS[action];
  const found = await findSiteUser(site, user);
  if (!found) {
    throw new PrivilegeDenied(user, action, privilege, `There is no site user ${JSON.stringify(user)}: nobody may ${describeAction(action)} under that name.`);
  }
  if (!(await site.hasPrivilege(found.id, privilege))) {
    throw new PrivilegeDenied(found.name, action, privilege);
  }
  return found;
}

export async function mayDo(site: Site, user: string, action: RoleAction): Promise<boolean> {
  const found = await findSiteUser(site, user);
  return found ? site.hasPrivilege(found.id, ROLE_ACTIONS[action]) : false;
}

/** Every action a user may take, for a UI that hides what it cannot do. */
export async function allowedActions(site: Site, user: string): Promise<RoleAction[]> {
  const found = await findSiteUser(site, user);
  if (!found) return [];
  return (Object.keys(ROLE_ACTIONS) as RoleAction[]).filter((a) => found.privileges.includes(ROLE_ACTIONS[a]));
}

const ACTIVATION_KEY = 'role.privileges.activation';

export interface PrivilegeActivation {
  /** True on the role's first activation (the privileges were created just now). */
  created: boolean;
  activatedAt: string;
  privileges: readonly PrivilegeDefinition[];
}

/**
 * Creates the role's privileges on its first activation and remembers it; later
 * activations find them. A Site that can define privileges is asked to.
 */
export async function activateRolePrivileges(state: Keyv, site: Site, now: Date): Promise<PrivilegeActivation> {
  const previous = (await state.get(ACTIVATION_KEY)) as { activatedAt: string; privileges: SitePrivilege[] } | undefined;
  const missing = ROLE_PRIVILEGES.filter((p) => !previous?.privileges.includes(p.privilege));
  if (previous && missing.length === 0) return { created: false, activatedAt: previous.activatedAt, privileges: ROLE_PRIVILEGES };
  const definer = site as Site & { definePrivileges?: (defs: readonly PrivilegeDefinition[]) => Promise<void> };
  if (typeof definer.definePrivileges === 'function') await definer.definePrivileges(missing);
  const activatedAt = previous?.activatedAt ?? now.toISOString();
  if (!(await state.set(ACTIVATION_KEY, { activatedAt, privileges: ROLE_PRIVILEGES.map((p) => p.privilege) }))) {
    throw new Error('Could not record the role privileges in the role state.');
  }
  return { created: true, activatedAt, privileges: ROLE_PRIVILEGES };
}
