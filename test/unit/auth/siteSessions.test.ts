// Signed-in site users against real files: a LocalFolderSite's site.json holds
// the scrypt hashes, the role's state folder the session journal. The clock is
// the only thing stood in for (sessions last 8 hours; throttling waits).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashPassword, isPasswordHash, verifyPassword } from '../../../src/core/auth/passwords';
import { LOCKOUT_FAILURES, SESSION_LIFETIME_MS, SiteSessions, writeSignInTicket, type SessionEvent } from '../../../src/core/auth/siteSessions';
import { LocalFolderSite, SAMPLE_SITE_FILE, SAMPLE_USER_IDS } from '../../../src/core/site';

const PASSWORD = 'correct horse battery';

describe('site user sessions', function () {
  this.timeout(30_000);
  let dir: string;
  let site: LocalFolderSite;
  let now: number;
  let events: SessionEvent[];
  let sessions: SiteSessions;
  const stateDir = (): string => path.join(dir, 'state');
  const open = (): Promise<SiteSessions> =>
    SiteSessions.open({ stateDir: stateDir(), site, now: () => now, onEvent: async (e) => void events.push(e) });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-sessions-'));
    fs.writeFileSync(path.join(dir, 'site.json'), JSON.stringify(SAMPLE_SITE_FILE));
    site = new LocalFolderSite(dir, '');
    now = Date.parse('2026-12-01T08:00:00Z');
    events = [];
    sessions = await open();
    await sessions.setPassword('test', (await site.getUser(SAMPLE_USER_IDS.admin))!, PASSWORD);
  });
  afterEach(async () => {
    await sessions.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a scrypt hash in site.json, never the password', async () => {
    const text = fs.readFileSync(path.join(dir, 'site.json'), 'utf8');
    assert.ok(!text.includes(PASSWORD));
    const hash = await site.passwordHash(SAMPLE_USER_IDS.admin);
    assert.ok(isPasswordHash(hash) && hash.startsWith('scrypt$'));
    assert.equal(await verifyPassword(PASSWORD, hash), true);
    assert.equal(await verifyPassword('correct horse battery!', hash), false);
    assert.equal(await site.passwordHash(SAMPLE_USER_IDS.mchen), undefined);
    assert.equal((await site.model()).users.some((u) => 'passwordHash' in u), false, 'the model handed to UIs has no hashes');
    assert.equal((fs.statSync(path.join(dir, 'site.json')).mode & 0o077), 0, 'site.json with hashes is owner-only');
  });

  it('signs in with the right password; the session is checked, survives a restart of the role, and ends at sign-out', async () => {
    const signed = await sessions.signIn('admin', PASSWORD, 'vscode');
    assert.equal(signed.userName, 'admin');
    assert.equal(Date.parse(signed.expiresAt) - Date.parse(signed.createdAt), SESSION_LIFETIME_MS);
    assert.equal((await sessions.check(signed.session, 'requests.list')).user.id, SAMPLE_USER_IDS.admin);
    await sessions.close();
    sessions = await open();
    assert.equal((await sessions.check(signed.session, 'requests.list')).user.name, 'admin', 'after a restart');
    const journal = fs.readFileSync(path.join(stateDir(), 'sessions.jsonl'), 'utf8');
    assert.ok(!journal.includes(signed.session), 'only a hash of the token is stored');
    await sessions.signOut(signed.session);
    await assert.rejects(sessions.check(signed.session, 'requests.list'), { code: 'SessionInvalid' });
    assert.deepEqual(events.map((e) => e.kind), ['passwordSet', 'signedIn', 'signedOut', 'sessionRefused']);
  });

  it('refuses a wrong password and an unknown name with one message, and records both without the password', async () => {
    const wrong = await sessions.signIn('admin', 'not the password', 'cli').then(() => undefined, (e: Error) => e);
    const unknown = await sessions.signIn('mallory', 'not the password', 'cli').then(() => undefined, (e: Error) => e);
    assert.equal(wrong?.message, 'Wrong user name or password.');
    assert.equal(unknown?.message, wrong?.message);
    const refused = events.filter((e) => e.kind === 'signInRefused');
    assert.deepEqual(refused.map((e) => e.kind === 'signInRefused' && e.reason), ['wrongPassword', 'unknownUser']);
    assert.ok(!JSON.stringify(events).includes('not the password'));
    await assert.rejects(sessions.signIn('mchen', 'whatever-it-is', 'cli'), { code: 'NoPasswordSet', message: /mchen has no password yet.*set-password mchen/ });
  });

  it('slows down repeated failures, locks after ten, and an administrator clears the lockout', async () => {
    for (let i = 0; i < 3; i++) await assert.rejects(sessions.signIn('admin', 'wrong-password', 'cli'), { code: 'SignInRefused' });
    await assert.rejects(sessions.signIn('admin', PASSWORD, 'cli'), { code: 'SignInThrottled', message: /wait 1 s/ }, 'even the right password waits');
    now += 1000;
    await assert.rejects(sessions.signIn('admin', 'wrong-password', 'cli'), { code: 'SignInRefused' });
    await assert.rejects(sessions.signIn('admin', PASSWORD, 'cli'), { code: 'SignInThrottled', message: /wait 2 s/ }, 'the wait doubles');
    now += 2000;
    assert.equal((await sessions.signIn('admin', PASSWORD, 'cli')).userName, 'admin', 'a success resets the count');
    assert.deepEqual(await sessions.lockout('admin'), { failures: 0, locked: false });

    for (let i = 0; i < LOCKOUT_FAILURES; i++) {
      now += 10 * 60_000;
      await assert.rejects(sessions.signIn('admin', 'wrong-password', 'cli'), { code: 'SignInRefused' });
    }
    now += 5 * 60_000;
    await assert.rejects(sessions.signIn('admin', PASSWORD, 'cli'), { code: 'SignInLocked', message: /locked after 10 wrong passwords/ });
    assert.deepEqual(await sessions.lockout('admin'), { failures: 10, locked: true });
    assert.equal(await sessions.clearLockout('mchen', 'admin'), true);
    assert.equal((await sessions.signIn('admin', PASSWORD, 'cli')).userName, 'admin');
    assert.ok(events.some((e) => e.kind === 'lockoutCleared' && e.by === 'mchen'));
  });

  it('ends a session after eight hours; a forged or missing token is refused', async () => {
    const signed = await sessions.signIn('admin', PASSWORD, 'vscode');
    now += SESSION_LIFETIME_MS - 1;
    assert.ok(await sessions.check(signed.session, 'role.snapshot'));
    now += 1;
    await assert.rejects(sessions.check(signed.session, 'role.snapshot'), { code: 'SessionExpired' });
    await assert.rejects(sessions.check('A'.repeat(43), 'role.snapshot'), { code: 'SessionInvalid' });
    await assert.rejects(sessions.check(undefined, 'role.snapshot'), { code: 'SessionRequired', message: /"role.snapshot" needs a signed-in site user/ });
    assert.deepEqual(events.filter((e) => e.kind === 'sessionRefused').map((e) => e.kind === 'sessionRefused' && e.reason), ['expired', 'invalid', 'none']);
  });

  it('signs in once with a one-time ticket from the state folder', async () => {
    const { ticket, file } = await writeSignInTicket(stateDir(), SAMPLE_USER_IDS.mchen, now);
    assert.equal(fs.statSync(file).mode & 0o077, 0);
    assert.ok(!fs.readFileSync(file, 'utf8').includes(ticket), 'the file holds a hash of the ticket');
    const signed = await sessions.signInWithTicket(ticket, 'vscode');
    assert.equal(signed.userName, 'mchen');
    assert.equal(fs.existsSync(file), false, 'deleted when used');
    await assert.rejects(sessions.signInWithTicket(ticket, 'vscode'), { code: 'SignInRefused', message: /used already/ });
    const old = await writeSignInTicket(stateDir(), SAMPLE_USER_IDS.mchen, now - 25 * 3600_000);
    await assert.rejects(sessions.signInWithTicket(old.ticket, 'vscode'), { code: 'SignInRefused' });
    assert.equal(fs.existsSync(old.file), false, 'an expired ticket is removed');
  });

  it('refuses a short password and a changed password needs the current one', async () => {
    const admin = (await site.getUser(SAMPLE_USER_IDS.admin))!;
    await assert.rejects(sessions.setPassword('test', admin, 'short'), { name: 'ValidationError', message: /password: must be at least 8 characters/ });
    assert.equal(await verifyPassword(PASSWORD, (await site.passwordHash(admin.id))!), true, 'nothing changed');
    await assert.rejects(sessions.changeOwnPassword(admin, 'wrong-current', 'a new passphrase'), { message: /current: is not your current password/ });
    await sessions.changeOwnPassword(admin, PASSWORD, 'a new passphrase');
    assert.ok(await sessions.signIn('admin', 'a new passphrase', 'cli'));
  });

  it('a site.json whose hash was edited by hand is refused, naming the field', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'site.json'), 'utf8'));
    json.users[0].passwordHash = 'plain-text-password';
    fs.writeFileSync(path.join(dir, 'site.json'), JSON.stringify(json));
    await assert.rejects(new LocalFolderSite(dir, '').model(), { message: /users\[0\]\.passwordHash: is not a password hash written by the role/ });
    assert.ok(isPasswordHash(await hashPassword('another password')));
  });
});
