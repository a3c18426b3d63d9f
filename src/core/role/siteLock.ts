// Only one role instance per site (the vendor runs one role per system: docs/clearance-api.md §1.2). The
// lock is a file holding the owner's pid and that process's start time; a lock
// whose process is gone (a crash, kill -9) or whose pid now belongs to another
// process (pid reuse) is stale and is taken over, so a dead runner never leaves
// the site locked.
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The lock of a local folder site: the runner and the VS Code console use the same file. */
export const SITE_LOCK_FILE = '.clearance-role.lock';

export function siteLockFileFor(siteFolder: string): string {
  return path.join(path.resolve(siteFolder), SITE_LOCK_FILE);
}

export interface SiteLockOwner {
  pid: number;
  /** Start time of the owning process as the OS reports it (Linux: boot id + ticks since boot). */
  processStart?: string;
  host: string;
  startedAt: string;
  /** What holds it: "runner", "vscode", "cli approve"… */
  purpose: string;
  /** Where the holder listens for commands (a local socket), if it does. */
  controlPath?: string;
  nonce: string;
}

export class SiteLockHeld extends Error {
  constructor(
    readonly file: string,
    readonly owner: SiteLockOwner,
  ) {
    super(
      `Another Clearance role instance (${owner.purpose}, pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}) ` +
        `already runs for this site. Only one role instance may run per site; stop it first (lock file ${file}).`,
    );
    this.name = 'SiteLockHeld';
  }
}

/** This machine's notion of when process `pid` started, when the OS tells (Linux /proc). */
export function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counts from after the command name, which may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19];
    if (!ticks) return undefined;
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // Without a boot id the start time alone still tells most reuse apart.
    }
    return `${boot}:${ticks}`;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** True while the owner's process still runs (same pid, same start time, same host). */
export function ownerAlive(owner: SiteLockOwner): boolean {
  if (owner.host !== os.hostname()) return true; // a lock on a shared folder from another machine: cannot tell, assume live
  if (!pidAlive(owner.pid)) return false;
  if (owner.processStart) {
    const now = processStartOf(owner.pid);
    if (now !== undefined && now !== owner.processStart) return false;
  }
  return true;
}

async function readOwner(file: string): Promise<SiteLockOwner | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(file, 'utf8')) as SiteLockOwner;
    return typeof value.pid === 'number' && typeof value.nonce === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export class SiteLock {
  private released = false;

  private constructor(
    readonly file: string,
    readonly owner: SiteLockOwner,
  ) {}

  /** The live holder of the lock at `file`, if any. */
  static async holder(file: string): Promise<SiteLockOwner | undefined> {
    const owner = await readOwner(file);
    return owner && ownerAlive(owner) ? owner : undefined;
  }

  /** Resolves true once no live process holds the lock at `file` (a role stopping), false after `timeoutMs`. */
  static async waitForRelease(file: string, timeoutMs = 120_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!(await SiteLock.holder(file).catch(() => undefined))) return true;
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Takes the lock or throws SiteLockHeld naming the live holder. A stale lock is taken over. */
  static async acquire(file: string, info: { purpose: string; controlPath?: string }): Promise<SiteLock> {
    const target = path.resolve(file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const owner: SiteLockOwner = {
      pid: process.pid,
      ...(processStartOf(process.pid) ? { processStart: processStartOf(process.pid) } : {}),
      host: os.hostname(),
      startedAt: new Date().toISOString(),
      purpose: info.purpose,
      ...(info.controlPath ? { controlPath: info.controlPath } : {}),
      nonce: randomBytes(12).toString('hex'),
    };
    const text = JSON.stringify(owner, null, 2) + '\n';
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await createExclusive(target, text)) return new SiteLock(target, owner);
      const current = await readOwner(target);
      if (current && ownerAlive(current)) throw new SiteLockHeld(target, current);
      // Stale (or unreadable, e.g. a crash between create and write): move it aside, then
      // make sure what we moved is what we judged stale, not a lock just taken by another starter.
      const aside = `${target}.stale-${randomBytes(6).toString('hex')}`;
      try {
        await fs.rename(target, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      const moved = await readOwner(aside);
      if (moved && current && moved.nonce !== current.nonce && ownerAlive(moved)) {
        await fs.link(aside, target).catch(() => undefined);
        await fs.rm(aside, { force: true });
        throw new SiteLockHeld(target, moved);
      }
      await fs.rm(aside, { force: true });
    }
    throw new Error(`Could not take the site lock ${target}: it keeps changing (another instance starting at the same time?).`);
  }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const current = await readOwner(this.file);
    if (current?.nonce === this.owner.nonce) await fs.rm(this.file, { force: true });
  }
}

/** Creates `file` with `text` only if it does not exist; the content appears whole (written, then linked). */
async function createExclusive(file: string, text: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, text, { mode: 0o600 });
  try {
    await fs.link(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
    // No hard links on this file system: exclusive create (a crash could leave it empty, which reads as stale).
    try {
      await fs.writeFile(file, text, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw again;
    }
  } finally {
    await fs.rm(temp, { force: true });
  }
}
