import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processStartOf, SiteLock, SiteLockHeld, siteLockFileFor, type SiteLockOwner } from '../../../src/core/role/siteLock';

describe('site lock (one role instance per site)', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'site-lock-'));
    file = siteLockFileFor(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const owner = (changes: Partial<SiteLockOwner>): SiteLockOwner => ({
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    purpose: 'runner',
    nonce: 'someone-else',
    ...changes,
  });

  it('is held by a live process: a second taker is told who holds it', async () => {
    const lock = await SiteLock.acquire(file, { purpose: 'runner', controlPath: '/tmp/x.sock' });
    const stored = JSON.parse(await readFile(file, 'utf8')) as SiteLockOwner;
    assert.equal(stored.pid, process.pid);
    assert.equal(stored.controlPath, '/tmp/x.sock');
    await assert.rejects(SiteLock.acquire(file, { purpose: 'vscode' }), (e: Error) => e instanceof SiteLockHeld && e.owner.nonce === stored.nonce && /pid \d+/.test(e.message));
    assert.equal((await SiteLock.holder(file))?.nonce, stored.nonce);
    await lock.release();
    assert.equal(await SiteLock.holder(file), undefined);
    await (await SiteLock.acquire(file, { purpose: 'vscode' })).release();
  });

  it('takes over a lock whose process is gone (a crash or kill -9)', async () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    await writeFile(file, JSON.stringify(owner({ pid: deadPid })));
    const lock = await SiteLock.acquire(file, { purpose: 'runner' });
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as SiteLockOwner).pid, process.pid);
    await lock.release();
  });

  it('takes over a lock whose pid now belongs to another process, and an empty one', async () => {
    await writeFile(file, JSON.stringify(owner({ processStart: 'another-boot:1' })));
    if (processStartOf(process.pid)) await (await SiteLock.acquire(file, { purpose: 'runner' })).release();
    // Where the OS does not tell start times, a live pid keeps its lock.
    else await assert.rejects(SiteLock.acquire(file, { purpose: 'runner' }), SiteLockHeld);
    await writeFile(file, '');
    await (await SiteLock.acquire(file, { purpose: 'runner' })).release();
  });

  it('releases only its own lock', async () => {
    const lock = await SiteLock.acquire(file, { purpose: 'runner' });
    await writeFile(file, JSON.stringify(owner({ nonce: 'taken-over' })));
    await lock.release();
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as SiteLockOwner).nonce, 'taken-over');
  });
});
