// The role as a service: `clearance-role run --detach` in the background against
// the local service on loopback and a sample site with real video; consoles are
// clients of its control socket (protocol v1) and sign in as site users.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import net from 'node:net';
import * as path from 'node:path';
import type { ActivityRecord } from '../../../src/core/audit/activityTrail';
import { ControlClient, controlPathFor, type ControlError } from '../../../src/core/control';
import type { RoleEvent } from '../../../src/core/role/snapshot';
import { SiteLock, siteLockFileFor } from '../../../src/core/role/siteLock';
import { readSamplePasswords } from '../../../src/core/site';
import { AREAS, CAMERAS, startWorld, waitFor, type World } from '../role/world';
import { cli, samplePasswordFiles } from './cliProcess';



interface Seen {
  seq: number;
  event: RoleEvent;
}

/** A client that says hello and subscribes, then reads nothing more. */
async function stalledSubscriber(socketPath: string, session: string): Promise<{ socket: net.Socket; closed: Promise<void>; readAll(): Promise<string[]> }> {
  const socket = net.connect(socketPath);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  const onData = (d: Buffer): void => void (text += d.toString('utf8'));
  socket.on('data', onData);
  socket.write(`${JSON.stringify({ type: 'hello', id: 1, protocol: 1, client: 'stalled' })}\n`);
  await waitFor('the welcome', () => text.includes('"welcome"'));
  socket.write(`${JSON.stringify({ type: 'subscribe', id: 2, session })}\n`);
  await waitFor('the snapshot', () => text.includes('"id":2'));
  socket.pause();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    readAll: async () => {
      socket.resume();
      await closed;
      return text.split('\n').filter((l) => l);
    },
  };
}

describe('the role as a service (run --detach, control protocol v1, signed-in users)', function () {
  this.timeout(300_000);
  let world: World;
  let site: string;
  let stateDir: string;
  let socketPath: string;
  let passwords: Record<string, string>;
  let passwordFiles: Record<string, string>;
  const as = (user: string): string[] => ['--user', user, '--password-file', passwordFiles[user]];
  const clients: ControlClient[] = [];
  const connect = async (name: string): Promise<ControlClient> => {
    const c = await ControlClient.connect(socketPath, { client: name });
    clients.push(c);
    return c;
  };
  const signIn = async (c: ControlClient, user: string): Promise<string> => (await c.request<{ session: string }>('session.signIn', { user, password: passwords[user] })).session;
  const trail = async (): Promise<ActivityRecord[]> => {
    const c = await connect('trail-reader');
    const session = await signIn(c, 'admin');
    return c.request<ActivityRecord[]>('activities.query', {}, session);
  };

  before(async () => {
    world = await startWorld('service');
    site = world.siteDir;
    stateDir = path.join(site, '.clearance-role');
    socketPath = controlPathFor(stateDir);
    passwords = await readSamplePasswords(site);
    passwordFiles = await samplePasswordFiles(site, world.dir);
    // Throttled, so that the uploads below last long enough for a stalled client to be noticed.
    const props = path.join(world.dir, 'properties.json');
    fs.writeFileSync(props, JSON.stringify({ pollingIntervalSeconds: 30, archiveDestinationFolder: path.join(world.dir, 'archive'), throttlingEnabled: true, maximumBandwidthMbps: 0.15 }));
    const started = await cli('run', '--detach', '--site', site, '--connection', world.connectionFile, '--properties', props, '--poll-interval', '0.3', '--max-part-seconds', '20');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /role running in the background \(pid \d+\); log .*role\.log/);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    const holder = await SiteLock.holder(siteLockFileFor(site));
    if (holder) {
      process.kill(holder.pid, 'SIGKILL');
      await waitFor('the killed runner gone', async () => !(await SiteLock.holder(siteLockFileFor(site))));
    }
    await world?.stop();
  });

  it('answers only what a sign-in box needs without a session; refuses the rest and records every refusal', async () => {
    const c = await connect('anonymous');
    const state = await c.request<{ status: string; accountId: string; site: { name: string } }>('role.state');
    assert.equal(state.status, 'running');
    assert.equal(state.accountId, world.emulator.tenantId);
    const names = await c.request<{ name: string }[]>('site.userNames');
    assert.deepEqual(names.map((u) => u.name).sort(), ['admin', 'jrivera', 'mchen', 'tbrooks']);
    assert.ok(!JSON.stringify(names).includes('scrypt'), 'no hashes');

    const refused = async (p: Promise<unknown>, code: string): Promise<ControlError> => {
      const error = (await p.then(() => undefined, (e: unknown) => e)) as ControlError | undefined;
      assert.equal(error?.code, code, JSON.stringify(error));
      return error!;
    };
    await refused(c.request('requests.list'), 'SessionRequired');
    await refused(c.request('requests.list', {}, 'forged-session-token-0123456789abcdefghijkl'), 'SessionInvalid');
    await refused(c.subscribe(undefined, () => undefined), 'SessionRequired');
    const wrong = await refused(c.request('session.signIn', { user: 'admin', password: 'not-the-password' }), 'SignInRefused');
    assert.equal(wrong.message, 'Wrong user name or password.');
    const bad = await refused(c.request('session.signIn', { user: 'admin' }), 'ValidationFailed');
    assert.ok(bad.issues.length > 0, 'a form can mark the field');
    const guard = await signIn(c, 'tbrooks');
    await refused(c.request('requests.list', {}, guard), 'PrivilegeDenied');
    await refused(c.request('role.stop', {}, guard), 'PrivilegeDenied');
    const mchen = await signIn(c, 'mchen');
    await refused(c.request('role.stop', {}, mchen), 'PrivilegeDenied');
    const unknown = await refused(c.request('selection.add', { kind: 'area', id: 'No Such Area' }, mchen), 'ValidationFailed');
    assert.deepEqual(unknown.issues.map((i) => i.field), ['id']);
    const args = await refused(c.request('selection.add', { kind: 'room', id: 'x', extra: 1 }, mchen), 'ValidationFailed');
    assert.deepEqual(args.issues.map((i) => i.field).sort(), ['(arguments)', 'kind']);

    // --user alone does nothing: no terminal to ask on, no password file.
    const nameAlone = await cli('requests', '--site', site, '--user', 'admin');
    assert.equal(nameAlone.code, 2);
    const wrongFile = path.join(world.dir, 'wrong-password');
    fs.writeFileSync(wrongFile, 'not-it-at-all\n', { mode: 0o600 });
    const wrongCli = await cli('requests', '--site', site, '--user', 'admin', '--password-file', wrongFile);
    assert.equal(wrongCli.code, 1);
    assert.match(wrongCli.stderr, /SignInRefused: Wrong user name or password\./);

    // A one-time sign-in, as `npm start` gives its console: no password typed, the file gone once used.
    const ticketFile = path.join(world.dir, 'console-sign-in');
    const issued = await cli('users', 'sign-in-ticket', 'admin', '--site', site, '--out', ticketFile);
    assert.equal(issued.code, 0, issued.stderr);
    assert.equal(fs.statSync(ticketFile).mode & 0o077, 0, 'owner-only');
    const ticket = fs.readFileSync(ticketFile, 'utf8').trim();
    const byTicket = await c.request<{ userName: string; session: string }>('session.signIn', { ticket });
    assert.equal(byTicket.userName, 'admin');
    assert.ok(await c.request('requests.list', {}, byTicket.session));
    await refused(c.request('session.signIn', { ticket }), 'SignInRefused');
    assert.deepEqual(fs.readdirSync(path.join(stateDir, 'sign-in')), [], 'the role deleted its half when it was used');

    const records = await trail();
    const refusals = records.filter((r) => r.type === 'signInRefused' || r.type === 'commandRefused').map((r) => r.summary);
    for (const expected of [
      /Command requests\.list refused: no session/,
      /Command requests\.list refused: the session is not valid/,
      /Command role\.snapshot refused: no session/,
      /Sign-in refused for "admin": wrong password/,
      /Command requests\.list refused to tbrooks: .*View request notifications/,
      /Command role\.stop refused to tbrooks/,
      /Command role\.stop refused to mchen/,
    ]) {
      assert.ok(refusals.some((s) => expected.test(s)), `${expected} in\n${refusals.join('\n')}`);
    }
    assert.ok(records.filter((r) => r.type === 'signInRefused').length >= 2, 'the CLI with a wrong password too');
    assert.ok(!JSON.stringify(records).includes('not-the-password') && !JSON.stringify(records).includes('not-it-at-all'), 'no password in the trail');
    assert.ok(records.some((r) => r.type === 'userSignedIn' && r.user === 'tbrooks'));
  });

  it('two signed-in clients see every event in order, without a gap, from the snapshot to Completed; a client that stops reading is disconnected', async () => {
    const a = await connect('console-a');
    const b = await connect('console-b');
    const sa = await signIn(a, 'admin');
    const sb = await signIn(b, 'mchen');
    await a.request('selection.add', { kind: 'area', id: AREAS.main }, sa);
    await b.request('selection.add', { kind: 'camera', id: 'Parking North' }, sb);
    await waitFor('the selection at the service', async () => (await world.registryIds()).includes(CAMERAS.parkingNorth) && (await world.registryIds()).includes(CAMERAS.lobby));

    const seenA: Seen[] = [];
    const seenB: Seen[] = [];
    const subA = await a.subscribe<{ requests: { requestId: string }[] }, RoleEvent>(sa, (event, seq) => seenA.push({ seq, event }));
    const subB = await b.subscribe<{ requests: { requestId: string }[] }, RoleEvent>(sb, (event, seq) => seenB.push({ seq, event }));
    const stalled = await stalledSubscriber(socketPath, await signIn(await connect('for-stalled'), 'jrivera'));

    const request = await world.fileRequest({ cameras: [CAMERAS.lobby, CAMERAS.parkingNorth], fromUtc: world.at(5), toUtc: world.at(50), comments: 'service test' });
    const isOurs = (s: Seen): boolean => s.event.kind === 'request' && s.event.event.request.requestId === request.requestId;
    await waitFor('the request at both clients', () => seenA.some(isOurs) && seenB.some(isOurs), 60_000);
    assert.ok(!subA.snapshot.requests.some((r) => r.requestId === request.requestId), 'filed after the snapshot: it comes as an event');

    const settled = await a.request<{ status: string; cameras: { outcome?: string }[] }>('requests.approve', { request: request.requestId.slice(0, 8), wait: true }, sa);
    assert.equal(settled.status, 'Completed');
    assert.deepEqual(settled.cameras.map((c) => c.outcome), ['Exported', 'Exported']);
    const lastStatus = (seen: Seen[]): string | undefined => seen.filter(isOurs).map((s) => (s.event.kind === 'request' ? s.event.event.request.status : '')).at(-1);
    await waitFor('Completed at both clients', () => lastStatus(seenA) === 'Completed' && lastStatus(seenB) === 'Completed');

    for (const [seen, start] of [[seenA, subA.seq], [seenB, subB.seq]] as const) {
      assert.equal(seen[0].seq, start + 1, 'the first event follows the snapshot');
      seen.forEach((s, i) => assert.equal(s.seq, start + 1 + i, 'no gap, no double'));
    }
    // The same events, in the same order, under the same numbers.
    const byB = new Map(seenB.map((s) => [s.seq, JSON.stringify(s.event)]));
    const common = seenA.filter((s) => byB.has(s.seq));
    assert.ok(common.length > 20, `${common.length} events in common`);
    for (const s of common) assert.equal(byB.get(s.seq), JSON.stringify(s.event));
    const progress = seenA.filter((s) => s.event.kind === 'upload' && s.event.event.kind === 'progress');
    assert.ok(progress.length > 10, 'upload progress reached the clients');

    // The stalled client was cut off while the uploads went on; the role was never held up by it.
    // The role destroyed the connection: what the kernel still held is read now, a bye only if it fit.
    const lines = await stalled.readAll();
    const messages = lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as { type: string; code?: string; seq?: number }];
      } catch {
        return []; // the line the cut went through
      }
    });
    assert.ok(messages.filter((m) => m.type === 'event').length > 10, 'it had received events before it stalled');
    assert.ok(messages.filter((m) => m.type === 'bye').every((m) => m.code === 'SlowConsumer'));
    assert.ok(!seenA.length || messages.filter((m) => m.type === 'event').at(-1)!.seq! < seenA.at(-1)!.seq, 'it missed the end');
    const log = fs.readFileSync(path.join(stateDir, 'role.log'), 'utf8').split('\n');
    const cut = log.findIndex((l) => /control: disconnected .*slow consumer/.test(l));
    const lastUpload = log.length - 1 - [...log].reverse().findIndex((l) => /activity #\d+ uploadCompleted/.test(l));
    assert.ok(cut > 0 && cut < lastUpload, 'disconnected before the last upload completed');
    assert.equal(a.closed || b.closed, false, 'the healthy clients stay connected');
  });

  it('stops on `clearance-role stop` by an administrator; the site is released', async () => {
    const denied = await cli('stop', '--site', site, ...as('mchen'));
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /PrivilegeDenied: User "mchen" lacks the privilege "View plugin configuration"/);
    const stopped = await cli('stop', '--site', site, ...as('admin'));
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await SiteLock.holder(siteLockFileFor(site)), undefined);
    const log = fs.readFileSync(path.join(stateDir, 'role.log'), 'utf8');
    assert.match(log, /stop asked by admin: stopping[\s\S]*activity #\d+ roleStopped[\s\S]*stopped\n$/);
    assert.equal(fs.existsSync(socketPath), false, 'no socket left behind');
  });

  it('serves its socket without an account, so that a console can import one; then it polls', async () => {
    // Alone (--grep), the role of `before` still holds the site: stop it first.
    if (await SiteLock.holder(siteLockFileFor(site))) assert.equal((await cli('stop', '--site', site, ...as('admin'))).code, 0);
    const fresh = path.join(world.dir, 'fresh-state');
    const started = await cli('run', '--detach', '--site', site, '--state', fresh, '--poll-interval', '0.3');
    assert.equal(started.code, 0, started.stderr);
    const c = await ControlClient.connect(controlPathFor(fresh), { client: 'console' });
    clients.push(c);
    const before = await c.request<{ status: string; accountId: string | null; connection: string }>('role.state');
    assert.deepEqual([before.status, before.accountId, before.connection], ['stopped', null, 'notConnected']);
    const session = await signIn(c, 'admin');
    const text = fs.readFileSync(world.connectionFile, 'utf8');
    const broken = await c.request('account.import', { text: text.slice(0, 40) }, session).then(() => undefined, (e: ControlError) => e);
    assert.equal(broken?.code, 'ValidationFailed');
    const imported = await c.request<{ ok: boolean }>('account.import', { text, source: 'Local-Role.json' }, session);
    assert.equal(imported.ok, true);
    await waitFor('the role running', async () => (await c.request<{ status: string }>('role.state')).status === 'running');
    assert.equal((await c.request<{ accountId: string }>('role.state')).accountId, world.emulator.tenantId);
    assert.equal((await cli('stop', '--site', site, '--state', fresh, ...as('admin'))).code, 0);
  });
});
