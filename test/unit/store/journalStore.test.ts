import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Keyv from 'keyv';
import { JournalStore } from '../../../src/core/store/journalStore';

describe('JournalStore (keyv adapter over an fsync-ed journal)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-'));
    file = path.join(dir, 'data', 'meta.journal');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('supports get/set/delete/has/clear through keyv and survives reopening', async () => {
    const store = new JournalStore({ path: file });
    const keyv = new Keyv({ store, namespace: 'a' });
    await keyv.set('one', { x: 1 });
    await keyv.set('two', 'deux');
    await keyv.set('buf', Buffer.from([1, 2, 3]));
    assert.deepEqual(await keyv.get('one'), { x: 1 });
    assert.equal(await keyv.has('two'), true);
    assert.equal(await keyv.delete('two'), true);
    assert.equal(await keyv.delete('two'), false);
    assert.equal(await keyv.has('two'), false);
    await store.disconnect();

    const again = new JournalStore({ path: file });
    const keyv2 = new Keyv({ store: again, namespace: 'a' });
    assert.deepEqual(await keyv2.get('one'), { x: 1 });
    assert.equal(await keyv2.get('two'), undefined);
    assert.deepEqual(await keyv2.get('buf'), Buffer.from([1, 2, 3]));
    await again.disconnect();
  });

  it('keeps namespaces apart; clear() only clears its own namespace', async () => {
    const store = new JournalStore({ path: file });
    const a = new Keyv({ store, namespace: 'a' });
    const b = new Keyv({ store: store.view(), namespace: 'b' });
    await a.set('k', 'from a');
    await b.set('k', 'from b');
    assert.equal(await a.get('k'), 'from a');
    assert.equal(await b.get('k'), 'from b');
    await a.clear();
    assert.equal(await a.get('k'), undefined);
    assert.equal(await b.get('k'), 'from b');
    const keys: string[] = [];
    for await (const [k] of store.view().iterator('b')) keys.push(k);
    assert.deepEqual(keys, ['b:k']);
    await store.disconnect();
    const reopened = new Keyv({ store: new JournalStore({ path: file }), namespace: 'b' });
    assert.equal(await reopened.get('k'), 'from b');
    await reopened.disconnect();
  });

  it('honours ttl against its clock', async () => {
    let now = 1_000_000;
    const store = new JournalStore({ path: file, now: () => now });
    await store.set('t:x', 'v', 1000);
    assert.equal(await store.get('t:x'), 'v');
    now += 1001;
    assert.equal(await store.get('t:x'), undefined);
    await store.disconnect();
  });

  it('compacts on open: the journal keeps only live entries', async () => {
    const store = new JournalStore({ path: file });
    for (let i = 0; i < 50; i++) await store.set('c:k', `v${i}`);
    await store.set('c:gone', 1);
    await store.delete('c:gone');
    await store.disconnect();
    assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 52);
    const again = new JournalStore({ path: file });
    assert.equal(again.openReport.linesRead, 52);
    assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 1);
    assert.equal(await again.get('c:k'), 'v49');
    assert.equal(fs.readdirSync(path.dirname(file)).length, 1, 'no temp file left behind');
    await again.disconnect();
  });

  it('drops a torn last line and keeps everything before it', async () => {
    const store = new JournalStore({ path: file });
    await store.set('n:a', 1);
    await store.set('n:b', 2);
    await store.disconnect();
    fs.appendFileSync(file, '{"op":"set","k":"n:c","v":');
    const again = new JournalStore({ path: file });
    assert.equal(again.openReport.tornTail, true);
    assert.equal(await again.get('n:b'), 2);
    assert.equal(await again.get('n:c'), undefined);
    await again.set('n:d', 4);
    await again.disconnect();
    const third = new JournalStore({ path: file });
    assert.equal(third.openReport.tornTail, false);
    assert.equal(await third.get('n:d'), 4);
    await third.disconnect();
  });

  it('refuses a journal corrupt in the middle, naming the line', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"op":"set","k":"a","v":1}\nnot json\n{"op":"set","k":"b","v":2}\n');
    assert.throws(() => new JournalStore({ path: file }), /line 2/);
  });

  it('loses no acknowledged write when the writer is killed with SIGKILL', async function () {
    this.timeout(30000);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'journalWriter.ts'), file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastAck = -1;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) if (l.startsWith('ack ')) lastAck = Number(l.slice(4));
        if (lastAck >= 300) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.on('exit', r));
    const store = new JournalStore({ path: file });
    const keyv = new Keyv({ store, namespace: 'crash' });
    for (let i = 0; i <= lastAck; i++) assert.deepEqual((await keyv.get<{ n: number }>(`k${i}`))?.n, i, `acknowledged k${i} lost`);
    await store.disconnect();
  });
});
