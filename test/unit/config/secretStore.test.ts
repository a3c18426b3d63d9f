import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileSecretStore } from '../../../src/core/config/secretStore';

describe('FileSecretStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-secrets-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates an owner-only file in an owner-only folder and round-trips values', async () => {
    const file = path.join(dir, 'state', 'role', 'secrets.json');
    const store = new FileSecretStore(file);
    assert.equal(await store.get('a'), undefined);
    await store.store('a', 'first secret');
    await store.store('b', 'sécret "two"\n');
    assert.equal((await fs.stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);

    const reopened = new FileSecretStore(file);
    assert.equal(await reopened.get('a'), 'first secret');
    assert.equal(await reopened.get('b'), 'sécret "two"\n');
    await reopened.delete('a');
    await reopened.delete('missing'); // no error
    assert.equal(await store.get('a'), undefined);
    assert.equal(await store.get('b'), 'sécret "two"\n');
    // No temp files left behind by the atomic writes.
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['secrets.json']);
  });

  it('keeps every value of concurrent writes (writes are serialized)', async () => {
    const store = new FileSecretStore(path.join(dir, 'secrets.json'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.store(`k${i}`, `v${i}`)));
    const onDisk = JSON.parse(await fs.readFile(path.join(dir, 'secrets.json'), 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(onDisk).length, 20);
    assert.equal(onDisk.k17, 'v17');
  });

  it('refuses a file other users can read, naming the chmod to run', async () => {
    const file = path.join(dir, 'secrets.json');
    await fs.writeFile(file, JSON.stringify({ a: 'x' }), { mode: 0o644 });
    await fs.chmod(file, 0o644);
    const store = new FileSecretStore(file);
    await assert.rejects(store.get('a'), (error: Error) => {
      assert.equal(error.name, 'SecretFileError');
      assert.match(error.message, /can be read by other users \(mode 0644\)/);
      assert.ok(error.message.includes(`chmod 600 '${file}'`));
      return true;
    });
    await assert.rejects(store.store('b', 'y'), /can be read by other users/);
    // Refused, not rewritten: the file is as it was.
    assert.equal(await fs.readFile(file, 'utf8'), JSON.stringify({ a: 'x' }));
    await fs.chmod(file, 0o600);
    assert.equal(await store.get('a'), 'x');
  });

  it('refuses a symbolic link and reports a damaged file without quoting it', async () => {
    const real = path.join(dir, 'real.json');
    await fs.writeFile(real, '{}', { mode: 0o600 });
    const link = path.join(dir, 'link.json');
    await fs.symlink(real, link);
    await assert.rejects(new FileSecretStore(link).get('a'), /symbolic link/);

    const damaged = path.join(dir, 'damaged.json');
    await fs.writeFile(damaged, '{"a": "TOPSECRET', { mode: 0o600 });
    await assert.rejects(new FileSecretStore(damaged).get('a'), (error: Error) => {
      assert.match(error.message, /is damaged \(not valid JSON\)/);
      assert.ok(!error.message.includes('TOPSECRET'));
      return true;
    });
  });

  it('needs an absolute path', () => {
    assert.throws(() => new FileSecretStore('relative/secrets.json'), /must be absolute/);
  });
});
