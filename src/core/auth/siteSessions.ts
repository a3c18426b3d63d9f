// Signed-in site users. A password (or a one-time sign-in ticket) gives a
// session token; every command carries it and the role checks it before the
// privilege. Tokens are kept only as SHA-256 hashes, in a journal of their own,
// so sessions survive a restart of the role and the state holds nothing that
// could be replayed. A session belongs to one window or one CLI call and ends
// at sign-out or after eight hours.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Keyv from 'keyv';
import { ValidationError } from '../config/fieldErrors';
import type { Site, SiteUser } from '../site/model';
import { JournalStore } from '../store/journalStore';
import { migrateState } from '../store/stateVersion';
import { hashPassword, passwordIssues, verifyPassword } from './passwords';

export const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;
/** Failures in a row after which each further try must wait (doubling, up to MAX_WAIT_MS). */
export const FREE_FAILURES = 3;
const MAX_WAIT_MS = 5 * 60 * 1000;
/** Failures in a row that lock the name until an administrator clears it or LOCKOUT_MS pass. */
export const LOCKOUT_FAILURES = 10;
const LOCKOUT_MS = 15 * 60 * 1000;
/** A one-time sign-in ticket older than this is ignored (and deleted). */
const TICKET_LIFETIME_MS = 24 * 60 * 60 * 1000;
export const TICKET_FOLDER = 'sign-in';

/** Errors with a stable code: the control socket keeps it. */
export class SessionError extends Error {
  constructor(
    readonly code: 'SignInRefused' | 'SignInThrottled' | 'SignInLocked' | 'SessionRequired' | 'SessionInvalid' | 'SessionExpired' | 'NoPasswordSet',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

export interface SessionInfo {
  userId: string;
  userName: string;
  /** Who holds it: "vscode", "cli"... */
  client: string;
  createdAt: string;
  expiresAt: string;
}

export interface SignedIn extends SessionInfo {
  /** The bearer token: give it with every command; never logged. */
  session: string;
}

/** What happened, for the activity trail (the role words it). */
export type SessionEvent =
  | { kind: 'signedIn'; user: SiteUser; client: string; method: 'password' | 'ticket' }
  | { kind: 'signedOut'; user: string; client: string }
  | { kind: 'signInRefused'; name: string; client: string; reason: 'unknownUser' | 'wrongPassword' | 'noPassword' | 'throttled' | 'locked' | 'badTicket'; failures: number }
  | { kind: 'sessionRefused'; command: string; reason: 'none' | 'invalid' | 'expired' }
  | { kind: 'passwordSet'; by: string; user: SiteUser; own: boolean }
  | { kind: 'lockoutCleared'; by: string; name: string };

export interface SiteSessionsOptions {
  stateDir: string;
  site: Site;
  now?: () => number;
  /** Every sign-in, sign-out and refusal; awaited, so the trail has it before the answer goes out. */
  onEvent?: (event: SessionEvent) => Promise<void>;
}

interface StoredSession extends SessionInfo {
  tokenHash: string;
}

interface Failures {
  count: number;
  lastAt: number;
}

/** Layout changes of sessions.jsonl, oldest first (see store/stateVersion.ts). */
const SESSION_STATE_MIGRATIONS = [async () => undefined];

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export class SiteSessions {
  private readonly now: () => number;
  private constructor(
    private readonly o: SiteSessionsOptions,
    private readonly journal: JournalStore,
    private readonly sessions: Keyv<StoredSession>,
    private readonly failures: Keyv<Failures>,
  ) {
    this.now = o.now ?? Date.now;
  }

  static async open(options: SiteSessionsOptions): Promise<SiteSessions> {
    await fs.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const journal = new JournalStore({ path: path.join(options.stateDir, 'sessions.jsonl'), now: options.now ?? Date.now });
    await migrateState(new Keyv({ store: journal.view(), namespace: 'meta' }), journal.path, SESSION_STATE_MIGRATIONS).catch(async (error: unknown) => {
      await journal.disconnect();
      throw error;
    });
    const sessions = new Keyv<StoredSession>({ store: journal, namespace: 'session' });
    const failures = new Keyv<Failures>({ store: journal.view(), namespace: 'failures' });
    return new SiteSessions(options, journal, sessions, failures);
  }

  async close(): Promise<void> {
    await this.journal.disconnect();
  }

  /** Signs a site user in with a password. One message for an unknown name and a wrong password. */
  async signIn(name: string, password: string, client: string): Promise<SignedIn> {
    const key = name.trim().toLowerCase();
    await this.checkThrottle(key, name, client);
    const user = (await this.o.site.listUsers()).find((u) => u.name.toLowerCase() === key || u.id === name);
    const hash = user ? await this.o.site.passwordHash(user.id) : undefined;
    if (user && !hash) {
      await this.emit({ kind: 'signInRefused', name, client, reason: 'noPassword', failures: 0 });
      throw new SessionError('NoPasswordSet', `${user.name} has no password yet. An administrator sets one with: clearance-role users set-password ${user.name} --site <site folder>`);
    }
    // An unknown name costs the same scrypt as a wrong password.
    const ok = await verifyPassword(password, hash ?? DUMMY_HASH);
    if (!user || !ok) {
      const count = await this.fail(key);
      await this.emit({ kind: 'signInRefused', name, client, reason: user ? 'wrongPassword' : 'unknownUser', failures: count });
      throw new SessionError('SignInRefused', 'Wrong user name or password.');
    }
    await this.failures.delete(key);
    return this.begin(user, client, 'password');
  }

  /**
   * Signs in with a one-time ticket: a file in <state>/sign-in/ that only the state's
   * owner can write (`clearance-role users sign-in-ticket`). The file is deleted when used.
   */
  async signInWithTicket(ticket: string, client: string): Promise<SignedIn> {
    const folder = path.join(this.o.stateDir, TICKET_FOLDER);
    const names = await fs.readdir(folder).catch(() => [] as string[]);
    const wanted = Buffer.from(sha256(ticket), 'hex');
    for (const name of names.filter((n) => n.endsWith('.ticket'))) {
      const file = path.join(folder, name);
      let content: { user?: unknown; secretHash?: unknown; createdAt?: unknown };
      try {
        content = JSON.parse(await fs.readFile(file, 'utf8')) as typeof content;
      } catch {
        continue;
      }
      const created = typeof content.createdAt === 'string' ? Date.parse(content.createdAt) : NaN;
      if (!(this.now() - created < TICKET_LIFETIME_MS)) {
        await fs.rm(file, { force: true });
        continue;
      }
      const stored = typeof content.secretHash === 'string' ? Buffer.from(content.secretHash, 'hex') : Buffer.alloc(0);
      if (stored.length !== wanted.length || !timingSafeEqual(stored, wanted)) continue;
      await fs.rm(file, { force: true }); // one use, whatever follows
      const user = typeof content.user === 'string' ? await this.o.site.getUser(content.user) : undefined;
      if (user) return this.begin(user, client, 'ticket');
    }
    await this.emit({ kind: 'signInRefused', name: '(sign-in ticket)', client, reason: 'badTicket', failures: 0 });
    throw new SessionError('SignInRefused', 'The sign-in ticket is not valid (it was used already, has expired, or belongs to another role).');
  }

  /** The signed-in user of a session token; refusals are recorded with the command refused. */
  async check(token: string | undefined, command: string): Promise<{ user: SiteUser; session: SessionInfo }> {
    if (!token) {
      await this.emit({ kind: 'sessionRefused', command, reason: 'none' });
      throw new SessionError('SessionRequired', `Sign in first: "${command}" needs a signed-in site user.`);
    }
    const stored = typeof token === 'string' && token.length <= 256 ? await this.sessions.get(sha256(token)) : undefined;
    if (!stored) {
      await this.emit({ kind: 'sessionRefused', command, reason: 'invalid' });
      throw new SessionError('SessionInvalid', 'This session is not valid (signed out, or not issued by this role). Sign in again.');
    }
    if (Date.parse(stored.expiresAt) <= this.now()) {
      await this.sessions.delete(stored.tokenHash);
      await this.emit({ kind: 'sessionRefused', command, reason: 'expired' });
      throw new SessionError('SessionExpired', `Your session ended at ${stored.expiresAt} (sessions last 8 hours). Sign in again.`);
    }
    const user = await this.o.site.getUser(stored.userId);
    if (!user) {
      await this.sessions.delete(stored.tokenHash);
      await this.emit({ kind: 'sessionRefused', command, reason: 'invalid' });
      throw new SessionError('SessionInvalid', 'The user of this session is no longer on the site.');
    }
    return { user, session: publicInfo(stored) };
  }

  async signOut(token: string): Promise<void> {
    const stored = await this.sessions.get(sha256(token));
    if (!stored) return;
    await this.sessions.delete(stored.tokenHash);
    await this.emit({ kind: 'signedOut', user: stored.userName, client: stored.client });
  }

  /** A user changes their own password: the current one is asked again. */
  async changeOwnPassword(user: SiteUser, current: string, next: string): Promise<void> {
    const hash = await this.o.site.passwordHash(user.id);
    if (!hash || !(await verifyPassword(current, hash))) {
      throw new ValidationError('The password change', [{ field: 'current', message: 'is not your current password' }]);
    }
    await this.storePassword(user, next, 'next');
    await this.emit({ kind: 'passwordSet', by: user.name, user, own: true });
  }

  /** An administrator (or the site's owner at the command line) sets a user's password. */
  async setPassword(by: string, user: SiteUser, password: string): Promise<void> {
    await this.storePassword(user, password, 'password');
    await this.failures.delete(user.name.toLowerCase());
    await this.emit({ kind: 'passwordSet', by, user, own: false });
  }

  async clearLockout(by: string, name: string): Promise<boolean> {
    const key = name.trim().toLowerCase();
    const had = await this.failures.delete(key);
    if (had) await this.emit({ kind: 'lockoutCleared', by, name });
    return had;
  }

  /** Failed sign-ins in a row for a name, and whether it is locked now. */
  async lockout(name: string): Promise<{ failures: number; locked: boolean }> {
    const f = await this.failures.get(name.trim().toLowerCase());
    const locked = !!f && f.count >= LOCKOUT_FAILURES && this.now() - f.lastAt < LOCKOUT_MS;
    return { failures: f?.count ?? 0, locked };
  }

  private async storePassword(user: SiteUser, password: string, field: string): Promise<void> {
    const issues = passwordIssues(password, field);
    if (issues.length) throw new ValidationError('The new password', issues);
    await this.o.site.setPasswordHash(user.id, await hashPassword(password));
  }

  private async begin(user: SiteUser, client: string, method: 'password' | 'ticket'): Promise<SignedIn> {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const info: StoredSession = {
      tokenHash: sha256(token),
      userId: user.id,
      userName: user.name,
      client: client.slice(0, 64),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + SESSION_LIFETIME_MS).toISOString(),
    };
    // Kept a day past its end, so a late use is told it expired rather than that it never was.
    if (!(await this.sessions.set(info.tokenHash, info, SESSION_LIFETIME_MS + 24 * 60 * 60 * 1000))) throw new Error('Could not store the session.');
    await this.emit({ kind: 'signedIn', user, client: info.client, method });
    return { ...publicInfo(info), session: token };
  }

  private async checkThrottle(key: string, name: string, client: string): Promise<void> {
    const f = await this.failures.get(key);
    if (!f || f.count < FREE_FAILURES) return;
    const elapsed = this.now() - f.lastAt;
    if (f.count >= LOCKOUT_FAILURES && elapsed < LOCKOUT_MS) {
      await this.emit({ kind: 'signInRefused', name, client, reason: 'locked', failures: f.count });
      const minutes = Math.ceil((LOCKOUT_MS - elapsed) / 60_000);
      throw new SessionError('SignInLocked', `Sign-in for ${name} is locked after ${f.count} wrong passwords. Try again in ${minutes} min, or ask an administrator to clear the lockout.`, Math.ceil((LOCKOUT_MS - elapsed) / 1000));
    }
    const wait = Math.min(1000 * 2 ** (f.count - FREE_FAILURES), MAX_WAIT_MS);
    if (elapsed < wait) {
      await this.emit({ kind: 'signInRefused', name, client, reason: 'throttled', failures: f.count });
      const seconds = Math.ceil((wait - elapsed) / 1000);
      throw new SessionError('SignInThrottled', `Too many wrong passwords for ${name}: wait ${seconds} s before trying again.`, seconds);
    }
  }

  private async fail(key: string): Promise<number> {
    const f = await this.failures.get(key);
    const count = (f?.count ?? 0) + 1;
    await this.failures.set(key, { count, lastAt: this.now() });
    return count;
  }

  private async emit(event: SessionEvent): Promise<void> {
    await this.o.onEvent?.(event);
  }
}

/** Writes a one-time sign-in ticket for a user into the state folder (owner-only); answers the ticket. */
export async function writeSignInTicket(stateDir: string, userId: string, now = Date.now()): Promise<{ ticket: string; file: string }> {
  const folder = path.join(stateDir, TICKET_FOLDER);
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  const ticket = randomBytes(32).toString('base64url');
  const file = path.join(folder, `${randomBytes(8).toString('hex')}.ticket`);
  await fs.writeFile(file, JSON.stringify({ user: userId, secretHash: sha256(ticket), createdAt: new Date(now).toISOString() }), { mode: 0o600, flag: 'wx' });
  return { ticket, file };
}

function publicInfo(s: StoredSession): SessionInfo {
  return { userId: s.userId, userName: s.userName, client: s.client, createdAt: s.createdAt, expiresAt: s.expiresAt };
}

/** A valid hash of a random password, so an unknown name costs one scrypt too. */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
