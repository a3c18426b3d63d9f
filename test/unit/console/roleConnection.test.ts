// The console's attachment to a running role, as a VS Code window has it: the
// runner is a real `clearance-role run` process against the local service and a
// sample site with real video. The console's copy of the state must equal the
// role's after every change, survive the role going away, and come back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RoleConnection, type SessionKeeper } from '../../../src/core/console';
import type { VideoRequest } from '../../../src/core/requests/videoRequest';
import { readSamplePasswords } from '../../../src/core/site';
import { MAIN, ROOT } from '../cli/cliProcess';
import { AREAS, CAMERAS, startWorld, waitFor, type World } from '../role/world';


/** A session kept the way SecretStorage keeps it: outside the role, across reloads. */
class KeptSession implements SessionKeeper {
  token: string | undefined;
  async get(): Promise<string | undefined> {
    return this.token;
  }
  async set(token: string | undefined): Promise<void> {
    this.token = token;
  }
}

describe('ui attachment to the role (RoleConnection)', function () {
  this.timeout(180_000);
  let world: World;
  let runner: ChildProcess | undefined;
  let passwords: Record<string, string>;
  const connections: RoleConnection[] = [];
  const startRunner = async (): Promise<void> => {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'run', '--site', world.siteDir, '--connection', world.connectionFile, '--poll-interval', '0.3', '--max-part-seconds', '20', '--properties', path.join(world.dir, 'properties.json')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    runner = proc;
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await waitFor(`the runner running\n${out}`, () => out.includes('role running for'), 60_000);
  };
  const kill = async (): Promise<void> => {
    const proc = runner;
    runner = undefined;
    if (!proc || proc.exitCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
  };
  const connect = (sessions = new KeptSession()): RoleConnection => {
    const c = new RoleConnection({ siteDir: world.siteDir, client: 'vscode', sessions, retryMs: 200 });
    connections.push(c);
    return c;
  };

  before(async () => {
    world = await startWorld('console');
    passwords = await readSamplePasswords(world.siteDir);
    fs.writeFileSync(path.join(world.dir, 'properties.json'), JSON.stringify({ pollingIntervalSeconds: 30, archiveDestinationFolder: path.join(world.dir, 'archive'), throttlingEnabled: false, maximumBandwidthMbps: 10 }));
    await startRunner();
  });
  after(async () => {
    for (const c of connections) await c.dispose();
    await kill();
    await world?.stop();
  });

  it('attaches, signs in, and keeps a copy of the state equal to the role\'s through a request\'s whole life', async () => {
    const ui = connect();
    await ui.attach();
    assert.equal(ui.state, 'attached');
    assert.equal((await ui.publicState()).status, 'running');
    const view = await ui.signIn('mchen', passwords.mchen);
    assert.ok(view.actions.includes('decideRequest'));
    assert.equal(ui.state, 'signedIn');
    assert.equal(ui.user?.user.name, 'mchen');
    assert.equal(ui.role?.snapshot.properties, undefined, 'mchen may not see the properties: they are not sent');

    await ui.request('selection.add', { kind: 'area', id: AREAS.main });
    await waitFor('the registry refetched after the change', () => ui.role?.snapshot.registry?.entries.some((e) => e.id === AREAS.main));
    await waitFor('published at the service', async () => (await world.registryIds()).includes(CAMERAS.lobby));

    const filed = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(5), toUtc: world.at(25), comments: 'ui test' });
    const mine = (): VideoRequest | undefined => ui.role?.requests.find((r) => r.requestId === filed.requestId);
    await waitFor('the request in the console', () => mine());
    assert.equal(mine()?.status, 'Pending');
    assert.equal(ui.role?.pendingRequests, 1);
    await ui.request('requests.approve', { request: filed.requestId, wait: true });
    await waitFor('Completed in the console', () => mine()?.status === 'Completed');

    // What the ui holds is what the role answers now.
    const atRole = await ui.request<VideoRequest[]>('requests.list');
    assert.deepEqual(ui.role!.requests.map((r) => r.requestId).sort(), atRole.map((r) => r.requestId).sort());
    assert.deepEqual(mine(), atRole.find((r) => r.requestId === filed.requestId));
    const uploads = await ui.request<{ id: string; state: string }[]>('uploads.list');
    assert.deepEqual(ui.role!.uploads.map((u) => [u.id, u.state]).sort(), uploads.map((u) => [u.id, u.state]).sort());
    assert.ok(uploads.every((u) => u.state === 'completed'));
  });

  it('shows a lost role plainly, comes back when it is back, and signs in again with the kept session', async () => {
    const kept = new KeptSession();
    const ui = connect(kept);
    await ui.attach();
    await ui.signIn('admin', passwords.admin);
    assert.ok(kept.token, 'the session is kept outside the role');
    const seen: string[] = [];
    ui.onDidChangeAttachment((s) => seen.push(s));

    await kill();
    await waitFor('the ui to see the role gone', () => ui.state === 'detached');
    assert.equal(ui.role as unknown, undefined, 'no stale state is shown as live');
    assert.throws(() => void ui.request('requests.list'), /No Clearance role is running for/);

    await startRunner();
    await waitFor('signed in again without a password', () => ui.state === 'signedIn', 60_000);
    assert.deepEqual(seen, ['detached', 'attached', 'signedIn']);
    assert.equal(ui.user?.user.name, 'admin');
    assert.ok((ui.role?.snapshot.activities?.count ?? 0) > 0, 'admin sees the trail');

    await ui.signOut();
    assert.equal(ui.state, 'attached');
    assert.equal(kept.token, undefined, 'signed out: nothing kept');
    const later = connect(kept);
    await later.attach();
    assert.equal(later.state, 'attached', 'a new window with no session is not signed in');
  });

  it('forgets a session the role refuses (signed out elsewhere) instead of retrying it', async () => {
    const kept = new KeptSession();
    const first = connect(kept);
    await first.attach();
    await first.signIn('jrivera', passwords.jrivera);
    const token = kept.token;
    await first.signOut(); // the role ends the session
    kept.token = token; // …but another window still holds it
    const second = connect(kept);
    await second.attach();
    assert.equal(second.state, 'attached');
    assert.equal(kept.token, undefined, 'the refused session is forgotten');
  });

  it('signs in once with a one-time ticket; the same ticket is refused after', async () => {
    const out = path.join(world.dir, 'admin.ticket');
    const made = spawn(process.execPath, ['--import', 'tsx', MAIN, 'users', 'sign-in-ticket', 'admin', '--site', world.siteDir, '--out', out], { cwd: ROOT, stdio: 'ignore' });
    assert.equal(await new Promise((r) => made.once('exit', r)), 0);
    assert.equal(fs.statSync(out).mode & 0o777, 0o600, 'the ticket file is owner-only');
    const ticket = fs.readFileSync(out, 'utf8').trim();
    const kept = new KeptSession();
    const c = connect(kept);
    await c.attach();
    const view = await c.signInWithTicket(ticket);
    assert.equal(view.user.name, 'admin');
    assert.equal(c.state, 'signedIn');
    assert.ok(kept.token, 'the session is kept like a password sign-in');
    const again = connect();
    await again.attach();
    await assert.rejects(again.signInWithTicket(ticket), /ticket/i);
    assert.equal(again.state, 'attached');
  });
});
