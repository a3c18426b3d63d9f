import assert from 'node:assert/strict';
import { createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Keyv from 'keyv';
import { AccountNotConnectedError, AccountSecretMissingError, AccountStore, type AccountChange } from '../../../src/core/config/accountStore';
import { FileSecretStore, type SecretStore } from '../../../src/core/config/secretStore';
import { connectionFile, otherJwk, testJwk, toFileText } from './connectionFixture';

/** A real FileSecretStore that fails exactly the calls the test picks. */
class FlakySecretStore implements SecretStore {
  failStore = false;
  failDelete = false;
  constructor(readonly inner: FileSecretStore) {}
  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }
  store(key: string, value: string): Promise<void> {
    return this.failStore ? Promise.reject(new Error('keyring locked')) : this.inner.store(key, value);
  }
  delete(key: string): Promise<void> {
    return this.failDelete ? Promise.reject(new Error('keyring locked')) : this.inner.delete(key);
  }
}

/** An in-memory keyv store whose writes of one key can be made to fail. */
class FlakyMap extends Map<string, unknown> {
  failKey?: string;
  override set(key: string, value: unknown): this {
    if (this.failKey && key.endsWith(this.failKey)) throw new Error('disk full');
    return super.set(key, value);
  }
}

function signsLike(jwk: JsonWebKey, privateKey: Parameters<typeof sign>[2]): boolean {
  const data = Buffer.from('probe');
  return verify('sha256', data, createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' }), sign('sha256', data, privateKey));
}

describe('AccountStore', () => {
  let dir: string;
  let secretFile: string;
  let map: FlakyMap;
  let secrets: FlakySecretStore;
  let store: AccountStore;
  let changes: AccountChange[];
  let warnings: string[];
  const fileA = toFileText(connectionFile({ tenant: 'tenantA', name: 'SiteA' }));
  const fileB = toFileText(connectionFile({ tenant: 'tenantB', name: 'SiteB', jwk: otherJwk() }));

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-account-'));
    secretFile = path.join(dir, 'secrets.json');
    map = new FlakyMap();
    secrets = new FlakySecretStore(new FileSecretStore(secretFile));
    warnings = [];
    store = new AccountStore({ state: new Keyv({ store: map }), secrets, onWarning: (m) => warnings.push(m) });
    changes = [];
    store.onDidChange((c) => changes.push(c));
  });
  afterEach(async () => {
    store.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function secretKeysOnDisk(): Promise<string[]> {
    try {
      return Object.keys(JSON.parse(await fs.readFile(secretFile, 'utf8')) as object);
    } catch {
      return [];
    }
  }

  it('imports an account: public facts in state, private key only in the secret store', async () => {
    const result = await store.importConnectionFile(fileA, 'SiteA.json');
    assert.ok(result.ok);
    const current = await store.current();
    assert.equal(current?.accountId, 'tenantA');
    assert.equal(current?.integrationName, 'SiteA');
    assert.ok(signsLike(testJwk(), await store.loadPrivateKey()));
    const creds = await store.loadCredentials();
    assert.equal(creds.keyId, 'urn:service:tenantA:SiteA:151');
    assert.equal(creds.apiKey.length > 0, true);

    const stateText = JSON.stringify([...map.entries()]);
    assert.ok(!stateText.includes(String(testJwk().d)), 'private key must not be in state');
    assert.ok(!stateText.includes(creds.apiKey), 'API key must not be in state');
    assert.ok((await fs.readFile(secretFile, 'utf8')).includes(String(testJwk().d)));
    assert.equal((await secretKeysOnDisk()).length, 1);
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.reason, 'imported');
    assert.equal(changes[0]?.previous, undefined);
    assert.equal(changes[0]?.current?.accountId, 'tenantA');
  });

  it('replaces an account and deletes the previous secret', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    assert.ok((await store.importConnectionFile(fileB)).ok);
    assert.equal((await store.current())?.accountId, 'tenantB');
    assert.ok(signsLike(otherJwk(), await store.loadPrivateKey()));
    assert.equal((await secretKeysOnDisk()).length, 1, 'only the new secret remains');
    assert.equal(changes[1]?.previous?.accountId, 'tenantA');
    assert.equal(changes[1]?.current?.accountId, 'tenantB');
  });

  it('changes nothing when the file is invalid', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    const before = JSON.stringify([...map.entries()]);
    const secretsBefore = await fs.readFile(secretFile, 'utf8');
    const result = await store.importConnectionFile('{"TenantId": "x"}');
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.errors.some((e) => e.field === 'ServicePrincipalKey'));
    assert.equal(JSON.stringify([...map.entries()]), before);
    assert.equal(await fs.readFile(secretFile, 'utf8'), secretsBefore);
    assert.equal(changes.length, 1);
  });

  it('keeps the previous account usable when storing the new secret fails', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    secrets.failStore = true;
    await assert.rejects(store.importConnectionFile(fileB), /previous account is unchanged.*keyring locked/);
    assert.equal((await store.current())?.accountId, 'tenantA');
    assert.ok(signsLike(testJwk(), await store.loadPrivateKey()));
    assert.equal(changes.length, 1, 'no change event for a failed import');
  });

  it('keeps the previous account usable when writing the new state fails, and removes the orphan secret', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    map.failKey = 'clearance.account';
    await assert.rejects(store.importConnectionFile(fileB), /previous account is unchanged/);
    map.failKey = undefined;
    assert.equal((await store.current())?.accountId, 'tenantA');
    assert.ok(signsLike(testJwk(), await store.loadPrivateKey()));
    assert.equal((await secretKeysOnDisk()).length, 1, 'the secret of the failed import was removed');
    assert.equal(changes.length, 1);
  });

  it('recovers a stale secret that could not be deleted at replace time', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    secrets.failDelete = true;
    assert.ok((await store.importConnectionFile(fileB)).ok, 'a failed clean-up does not fail the import');
    assert.equal(warnings.length > 0, true);
    assert.equal((await secretKeysOnDisk()).length, 2);
    secrets.failDelete = false;
    await store.recover();
    assert.equal((await secretKeysOnDisk()).length, 1);
    assert.ok(signsLike(otherJwk(), await store.loadPrivateKey()));
  });

  it('survives a crash between storing the secret and switching the state (new instance recovers)', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    // Simulate the crash: the new secret is written and listed, the state never switched.
    map.failKey = 'clearance.account';
    secrets.failDelete = true; // the process "dies" before it can clean up
    await assert.rejects(store.importConnectionFile(fileB));
    map.failKey = undefined;
    secrets.failDelete = false;
    assert.equal((await secretKeysOnDisk()).length, 2);

    const restarted = new AccountStore({ state: new Keyv({ store: map }), secrets });
    await restarted.recover();
    assert.equal((await restarted.current())?.accountId, 'tenantA');
    assert.ok(signsLike(testJwk(), await restarted.loadPrivateKey()));
    assert.equal((await secretKeysOnDisk()).length, 1);
  });

  it('disconnects: no account, no secret', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    await store.disconnect();
    assert.equal(await store.current(), undefined);
    assert.deepEqual(await secretKeysOnDisk(), []);
    await assert.rejects(store.loadPrivateKey(), AccountNotConnectedError);
    assert.equal(changes.at(-1)?.reason, 'disconnected');
    await store.disconnect(); // idempotent, no extra event
    assert.equal(changes.length, 2);
  });

  it('says clearly when the secret vanished from secure storage', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    await fs.writeFile(secretFile, '{}', { mode: 0o600 });
    await assert.rejects(store.loadPrivateKey(), (error: Error) => {
      assert.ok(error instanceof AccountSecretMissingError);
      assert.match(error.message, /tenantA is missing from secure storage.*Import the connection file again/);
      return true;
    });
  });
});
