// Where a site's role keeps its things, for the runner that writes them and the
// consoles that look for them: one definition, so the two cannot drift apart.
import path from 'node:path';

/** The role's state folder inside the site, unless `--state` names another. */
export const DEFAULT_STATE_DIR_NAME = '.clearance-role';
/** The runner's log in its state folder (rotated to role.log.1 … at 5 MiB). */
export const ROLE_LOG_FILE_NAME = 'role.log';

export function roleStateDirFor(siteDir: string, stateDir?: string): string {
  return path.resolve(stateDir ?? path.join(path.resolve(siteDir), DEFAULT_STATE_DIR_NAME));
}

export function roleLogFileFor(stateDir: string): string {
  return path.join(stateDir, ROLE_LOG_FILE_NAME);
}
