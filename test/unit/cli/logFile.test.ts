// The detached runner's log: capped in size, rotated, never more than `keep`
// old files; the tail reads across the last rotation.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RotatingLog, tailLog } from '../../../src/cli/logFile';

describe('role log file', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-log-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('rotates at the cap and keeps three old files; the tail spans a rotation', async () => {
    const file = path.join(dir, 'role.log');
    const log = new RotatingLog(file, 1000, 3);
    for (let i = 0; i < 200; i++) log.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`);
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ['role.log', 'role.log.1', 'role.log.2', 'role.log.3']);
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= 1000, `${f} within the cap`);
    assert.equal(fs.statSync(file).mode & 0o077, 0, 'owner-only');
    const tail = await tailLog(file, 30);
    assert.equal(tail.length, 30);
    assert.match(tail.at(-1)!, /^line 199 /);
    assert.match(tail[0], /^line 170 /, 'the newest 30, in order, across role.log.1 and role.log');
    // A new writer on an existing file goes on from its size.
    new RotatingLog(file, 1000, 3).write('after restart');
    assert.equal((await tailLog(file, 1))[0], 'after restart');
  });
});
