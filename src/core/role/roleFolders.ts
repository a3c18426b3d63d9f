// Where a site's role keeps its things, for the runner that writes them and the
// consoles that look for them: one definition, so the two cannot drift apart.
import path from 'node:path';
import { ACCOUNT_NAMESPACE, ACCOUNT_RECORD_KEY } from '../config/accountStore';
import { readJournal } from '../store/journalStore';

/** The role's state folder inside the site, unless `--state` names another. */
export const DEFAULT_STATE_DIR_NAME = '.clearance-role';
/** The runner's log in its state folder (rotated to role.log.1 … at 5 MiB). */
export const ROLE_LOG_FILE_NAME = 'role.log';

export function roleStateDirFor(siteDir: string, stateDir?: string): string {
  return path.resolve(stateDir ?? path.join(path.resolve(siteDir), DEFAULT_STATE_DIR_NAME));
}

/** The role's own state (properties, account, uploads) in its state folder. */
export const ROLE_STATE_FILE_NAME = 'role-state.jsonl';

export function roleStateFileFor(stateDir: string): string {
  return path.join(stateDir, ROLE_STATE_FILE_NAME);
}

/**
 * Whether the role of this state folder has a connected account, read while no
 * role runs (a console deciding to start one). Unreadable state counts as no.
 */
export function hasConnectedAccount(stateDir: string): boolean {
  try {
    return readJournal(roleStateFileFor(stateDir)).entries.has(`${ACCOUNT_NAMESPACE}:${ACCOUNT_RECORD_KEY}`);
  } catch {
    return false;
  }
}

export function roleLogFileFor(stateDir: string): string {
  return path.join(stateDir, ROLE_LOG_FILE_NAME);
}
