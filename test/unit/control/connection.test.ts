// Control protocol v1 over a real Unix socket: the handshake, requests and
// replies matched by id, errors that keep their shape, and the socket itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { ValidationError } from '../../../src/core/config/fieldErrors';
import { PrivilegeDenied } from '../../../src/core/config/privileges';
import { ControlClient, ControlError, serveControl, type CloseInfo, type ControlServer } from '../../../src/core/control';
import { FakeRole, RawClient, tempSocket, waitFor } from './helpers';

const posix = process.platform !== 'win32';

describe('control protocol: connection', function () {
  let tmp: Awaited<ReturnType<typeof tempSocket>>;
  let role: FakeRole;
  let server: ControlServer | undefined;
  const clients: ControlClient[] = [];
  const raws: RawClient[] = [];

  const connect = async (name = 'test') => {
    const c = await ControlClient.connect(tmp.socketPath, { client: name, timeoutMs: 10_000 });
    clients.push(c);
    return c;
  };
  const raw = () => {
    const r = new RawClient(tmp.socketPath);
    raws.push(r);
    return r;
  };

  beforeEach(async () => {
    tmp = await tempSocket();
    role = new FakeRole();
    server = await serveControl(tmp.socketPath, role.backend(), { role: { version: '9.9.9' } });
  });

  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    server = undefined;
    await tmp.cleanup();
  });

  it('greets a client of the same protocol and tells it about the role', async () => {
    const c = await connect('vscode');
    assert.deepEqual(c.role, { version: '9.9.9' });
    assert.equal(c.maxRequestLineBytes, 1024 * 1024);
  });

  it('tells a client of another protocol so plainly, then closes', async () => {
    const r = raw();
    r.send({ type: 'hello', id: 1, protocol: 2, client: 'future' });
    const bye = await r.next((m) => m.type === 'bye');
    assert.deepEqual(bye, {
      type: 'bye',
      code: 'ProtocolMismatch',
      message: 'This role speaks control protocol 1; the client speaks 2. Update the console or the role so that both match.',
    });
    await waitFor(() => r.closed, 'the close');
  });

  it('answers a client of the one-command protocol (0) in the shape it reads', async () => {
    const r = raw();
    r.send({ command: 'status', user: 'admin' });
    const answer = await r.next();
    assert.equal(answer.ok, false);
    assert.deepEqual(answer.error, {
      code: 'ProtocolMismatch',
      name: 'ProtocolMismatch',
      message: 'This role speaks control protocol 1; the client speaks 0. Update the console or the role so that both match.',
    });
    await waitFor(() => r.closed, 'the close');
  });

  it('wants hello first', async () => {
    const r = raw();
    r.send({ type: 'request', id: 1, command: 'status' });
    const bye = await r.next((m) => m.type === 'bye');
    assert.equal(bye.code, 'HandshakeRequired');
    assert.match(bye.message as string, /first message must be hello/);
    await waitFor(() => r.closed, 'the close');
    assert.equal(role.executed.length, 0, 'the request did not run');
  });

  it('a client of protocol 1 is told plainly by an older role (protocol 0)', async () => {
    // What the one-command-per-connection role answered to a line without "command".
    const legacy = net.createServer((s) =>
      s.once('data', () => s.end(`${JSON.stringify({ ok: false, error: { name: 'BadRequest', message: 'The command is not valid JSON with a "command" field.' } })}\n`)),
    );
    const legacyPath = `${tmp.dir}/legacy.sock`;
    await new Promise<void>((r) => legacy.listen(legacyPath, r));
    try {
      await assert.rejects(ControlClient.connect(legacyPath, { client: 'cli' }), (e: ControlError) => {
        assert.equal(e.code, 'ProtocolMismatch');
        assert.equal(e.message, 'This role speaks control protocol 0; the client speaks 1. Update the console or the role so that both match.');
        return true;
      });
    } finally {
      await new Promise<void>((r) => legacy.close(() => r()));
    }
  });

  it('runs requests with their args and session, and matches replies by id when several are in flight', async () => {
    const release: (() => void)[] = [];
    role.commands.slow = (args) => new Promise((resolve) => release.push(() => resolve({ slow: args })));
    role.commands.fast = async (args) => ({ fast: args });
    const c = await connect('cli');
    const slow = c.request('slow', { n: 1 }, 'alice');
    const fast = await c.request('fast', { n: 2 }, 'bob');
    assert.deepEqual(fast, { fast: { n: 2 } }, 'the second request is answered before the first');
    await waitFor(() => release.length === 1, 'the slow command');
    release[0]!();
    assert.deepEqual(await slow, { slow: { n: 1 } });
    assert.deepEqual(
      role.executed.map((e) => [e.command, e.session, e.client.name]),
      [
        ['slow', 'alice', 'cli'],
        ['fast', 'bob', 'cli'],
      ],
    );
    assert.equal(role.executed[0]!.client.connectionId, role.executed[1]!.client.connectionId);
  });

  it('answers null for a command that returns nothing', async () => {
    role.commands.nothing = async () => undefined;
    const c = await connect();
    assert.equal(await c.request('nothing'), null);
  });

  it('keeps the shape of errors: code, name, message and every field issue', async () => {
    role.commands.save = async () => {
      throw new ValidationError('The role properties', [
        { field: 'proxy.port', message: 'must be between 1 and 65535' },
        { field: 'maximumBandwidthMbps', message: 'must be a number' },
      ]);
    };
    role.commands.approve = async () => {
      throw new PrivilegeDenied('u2', 'decideRequest', 'viewRequestNotifications');
    };
    role.commands.crash = async () => {
      throw new TypeError('x is undefined');
    };
    const c = await connect();
    await assert.rejects(c.request('save', {}), (e: ControlError) => {
      assert.ok(e instanceof ControlError);
      assert.equal(e.code, 'ValidationFailed');
      assert.equal(e.name, 'ValidationError');
      assert.deepEqual(e.issues, [
        { field: 'proxy.port', message: 'must be between 1 and 65535' },
        { field: 'maximumBandwidthMbps', message: 'must be a number' },
      ]);
      return true;
    });
    await assert.rejects(c.request('approve'), { code: 'PrivilegeDenied', name: 'PrivilegeDenied' });
    await assert.rejects(c.request('crash'), { code: 'InternalError', name: 'TypeError', message: 'x is undefined' });
    assert.equal(await c.request('crash').catch(() => 'still open'), 'still open', 'an error does not close the connection');
  });

  it('answers BadRequest to a bad line and keeps the connection', async () => {
    const r = raw();
    r.send({ type: 'hello', id: 'h', protocol: 1, client: 'raw' });
    await r.next((m) => m.type === 'welcome');
    r.send('{not json');
    r.send({ type: 'request', id: 7 });
    r.send({ type: 'hello', id: 8, protocol: 1, client: 'raw' });
    role.commands.ping = async () => 'pong';
    r.send({ type: 'request', id: 9, command: 'ping' });
    const pong = await r.next((m) => m.id === 9);
    assert.deepEqual(pong, { type: 'reply', id: 9, ok: true, result: 'pong' });
    const errors = r.messages.filter((m) => m.type === 'reply' && m.ok === false);
    assert.deepEqual(
      errors.map((m) => [m.id, (m.error as { code: string }).code]),
      [
        [null, 'BadRequest'],
        [7, 'BadRequest'],
        [8, 'BadRequest'],
      ],
    );
  });

  it('refuses a line over 1 MiB with RequestTooLarge, then closes', async () => {
    const r = raw();
    r.send({ type: 'hello', id: 1, protocol: 1, client: 'raw' });
    await r.next((m) => m.type === 'welcome');
    r.socket.write(`{"type":"request","id":2,"command":"x","args":"${'a'.repeat(1024 * 1024 + 10)}"}\n`);
    const reply = await r.next((m) => m.type === 'reply');
    assert.equal((reply.error as { code: string }).code, 'RequestTooLarge');
    assert.equal((await r.next((m) => m.type === 'bye')).code, 'RequestTooLarge');
    await waitFor(() => r.closed, 'the close');
    assert.equal(role.executed.length, 0);
  });

  it('the client refuses to send a request over the limit itself', async () => {
    const c = await connect();
    await assert.rejects(c.request('x', 'a'.repeat(1024 * 1024)), { code: 'RequestTooLarge' });
    role.commands.ping = async () => 'pong';
    assert.equal(await c.request('ping'), 'pong');
  });

  it('says bye Shutdown to every client when it closes; pending requests fail with it', async () => {
    role.commands.forever = () => new Promise(() => {});
    const a = await connect('a');
    const b = await connect('b');
    const closes: CloseInfo[] = [];
    a.onClose((i) => closes.push(i));
    b.onClose((i) => closes.push(i));
    const pending = a.request('forever');
    await waitFor(() => role.executed.length === 1, 'the request');
    await server!.close();
    server = undefined;
    await assert.rejects(pending, { code: 'Shutdown' });
    await waitFor(() => closes.length === 2, 'both closes');
    assert.deepEqual(closes, [
      { code: 'Shutdown', message: 'The role is stopping.', bye: true },
      { code: 'Shutdown', message: 'The role is stopping.', bye: true },
    ]);
    await assert.rejects(a.request('x'), { code: 'Shutdown' }, 'a closed client refuses at once');
  });

  it('a client that closes fails its pending requests with ConnectionClosed', async () => {
    role.commands.forever = () => new Promise(() => {});
    const c = await connect();
    const pending = c.request('forever');
    await c.close();
    await assert.rejects(pending, { code: 'ConnectionClosed' });
    assert.ok(c.closed);
  });

  it('names the socket when no role listens', async () => {
    await server!.close();
    server = undefined;
    await assert.rejects(ControlClient.connect(tmp.socketPath, { client: 'cli' }), (e: ControlError) => {
      assert.equal(e.code, 'RoleNotRunning');
      assert.equal(e.message, `No role is running for this site (nothing listens at ${tmp.socketPath}).`);
      return true;
    });
    await assert.rejects(ControlClient.connect(`${tmp.dir}/nothing.sock`, { client: 'cli' }), { code: 'RoleNotRunning' });
  });

  it('times a request out when asked to; a late reply is ignored', async () => {
    let release!: () => void;
    role.commands.slow = () => new Promise((resolve) => (release = () => resolve('late')));
    role.commands.ping = async () => 'pong';
    const c = await connect();
    await assert.rejects(c.request('slow', undefined, undefined, { timeoutMs: 20 }), { code: 'Timeout' });
    release();
    assert.equal(await c.request('ping'), 'pong');
  });

  (posix ? describe : describe.skip)('the socket file', () => {
    it('is owner-only (0600)', async () => {
      const st = await fs.stat(tmp.socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
    });

    it('replaces a stale socket, refuses to replace anything else', async () => {
      await server!.close();
      server = undefined;
      // A killed role leaves its socket file behind.
      const killed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(tmp.socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      await new Promise((r) => killed.once('exit', r));
      assert.ok((await fs.lstat(tmp.socketPath)).isSocket(), 'a stale socket is left');
      await assert.rejects(ControlClient.connect(tmp.socketPath, { client: 'cli' }), { code: 'RoleNotRunning' });
      server = await serveControl(tmp.socketPath, role.backend());
      const c = await connect();
      assert.ok(!c.closed);
      await c.close();
      await server.close();
      server = undefined;
      await fs.rm(tmp.socketPath, { force: true });
      await fs.writeFile(tmp.socketPath, 'not a socket');
      await assert.rejects(serveControl(tmp.socketPath, role.backend()), { code: 'ControlSocketUnsafe' });
    });

    it('refuses a folder others may write to', async () => {
      await server!.close();
      server = undefined;
      await fs.chmod(tmp.dir, 0o777);
      await assert.rejects(serveControl(tmp.socketPath, role.backend()), { code: 'ControlSocketUnsafe' });
      await fs.chmod(tmp.dir, 0o700);
    });
  });
});
