// A start of the local service that fails part-way, for real (no mocks): once
// it rejected (or its command line exited), no port of it is left listening,
// no Azurite child of it is alive and its metadata journal is closed; the same
// folder starts cleanly afterwards.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { RUNTIME_FILE, type RunningEmulator } from '../../../src/emulator/server';
import { azuritesLeft, startTracked, tempLocation } from '../fixtures/service';
import { runCli } from './child';

/** Local ports of the TCP sockets this process listens on (Linux /proc). */
function listeningPorts(): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st … inode: st 0A is LISTEN.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

/** Files of `location` this process still holds open. */
function openFilesUnder(location: string): string[] {
  const open: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(location + path.sep)) open.push(target);
    } catch {
      /* closed meanwhile */
    }
  }
  return open;
}

const azuritesOn = (location: string) => azuritesLeft().filter((a) => a.cmdline.includes(location));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('local service: a failed start stops what it had started', function () {
  this.timeout(90000);
  const logs: string[] = [];
  const log = (l: string): void => void logs.push(l);
  let location: string;
  let before: number[];
  let running: RunningEmulator | undefined;

  beforeEach(() => {
    location = tempLocation('clearance-startfail-');
    before = listeningPorts();
    logs.length = 0;
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    fs.rmSync(location, { recursive: true, force: true });
  });

  /** Every check of a failed start, then a clean start on the same folder once `repair` ran. */
  async function assertCleanFailure(servicePort: number | undefined, repair: () => void): Promise<void> {
    assert.deepEqual(listeningPorts(), before, 'a port of the failed start is still listening');
    if (servicePort !== undefined) assert.ok(await refused(servicePort), `port ${servicePort} still answers`);
    assert.deepEqual(azuritesOn(location), [], 'the Azurite child of the failed start is alive');
    assert.deepEqual(openFilesUnder(location), [], 'the failed start left files open (the metadata journal)');
    assert.equal(fs.existsSync(path.join(location, RUNTIME_FILE)) && fs.statSync(path.join(location, RUNTIME_FILE)).isFile(), false, 'no runtime file');
    repair();
    running = await startTracked('start-failure', { location, log });
    assert.ok(running.azuritePid);
    await running.stop();
    running = undefined;
    assert.deepEqual(openFilesUnder(location), []);
  }

  it('fails after listening (its runtime file cannot be written): HTTP server, Azurite and journal are closed', async () => {
    const port = await freePort();
    const runtime = path.join(location, RUNTIME_FILE);
    fs.mkdirSync(runtime, { recursive: true }); // a folder where the file goes: the last step of the start fails
    await assert.rejects(startTracked('start-failure', { location, port, log }), (err: NodeJS.ErrnoException) => err.code === 'EISDIR');
    await assertCleanFailure(port, () => fs.rmSync(runtime, { recursive: true }));
  });

  it('fails after listening (the default connection file is gone): HTTP server, Azurite and journal are closed', async () => {
    const first = await startTracked('start-failure', { location, log });
    const file = first.connectionFilePath;
    await first.stop();
    const saved = fs.readFileSync(file);
    fs.rmSync(file);
    const port = await freePort();
    await assert.rejects(startTracked('start-failure', { location, port, log }), /is missing; its private key exists nowhere else/);
    await assertCleanFailure(port, () => fs.writeFileSync(file, saved, { mode: 0o600 }));
  });

  it('cannot listen (its port is busy): Azurite and journal are closed', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    before = listeningPorts();
    try {
      await assert.rejects(startTracked('start-failure', { location, port, log }), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
      assert.deepEqual(listeningPorts(), before, 'a port of the failed start is still listening');
    } finally {
      await new Promise((r) => busy.close(r));
    }
    before = listeningPorts();
    await assertCleanFailure(undefined, () => undefined);
  });

  it('cannot start Azurite (its folder is a file): the journal is closed', async () => {
    const blob = path.join(location, 'blob');
    fs.writeFileSync(blob, 'not a folder');
    await assert.rejects(startTracked('start-failure', { location, log }), /Azurite exited/);
    await assertCleanFailure(undefined, () => fs.rmSync(blob));
  });

  it('the command line exits 1 once the failed start stopped its server and Azurite', async () => {
    const port = await freePort();
    fs.mkdirSync(path.join(location, RUNTIME_FILE), { recursive: true });
    const out = await runCli(['start', '--location', location, '--port', String(port)]);
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.match(out.stderr, /EISDIR/);
    assert.doesNotMatch(out.stdout, /READY/);
    // Checked right at its exit: an Azurite merely orphaned would still be shutting down.
    assert.deepEqual(azuritesOn(location), [], 'the Azurite child outlived the command');
    assert.ok(await refused(port), `port ${port} still answers`);
  });
});
