// Connection file import as the headless runner does it: state in an on-disk keyv
// journal, secrets in the owner-only secret file. A set of broken files, each refused
// with its own message naming the field, none of them touching the previous account.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import Keyv from 'keyv';
import { clientIdOf, createClientAssertion } from '../../../src/core/clearance/assertion';
import { AccountStore } from '../../../src/core/config/accountStore';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { JournalStore } from '../../../src/core/store/journalStore';
import { connectionFile, otherJwk, secretValues, testJwk, toFileText, TEST_API_KEY } from './connectionFixture';

type Mutable = Record<string, unknown> & { ServicePrincipalKey: Record<string, unknown> };

function broken(change: (file: Mutable) => void, base = connectionFile({ tenant: 'tenantB', name: 'SiteB', jwk: otherJwk() })): string {
  const file = structuredClone(base) as Mutable;
  change(file);
  return toFileText(file);
}

/** The broken files of the issue, each with the field its message must name. */
const BROKEN_FILES: { name: string; text: string; field: string; message: RegExp }[] = [
  { name: 'not JSON at all', text: 'Clearance connection for SiteB', field: '(file)', message: /^not valid JSON at line 1, column 1/ },
  { name: 'cut off halfway', text: toFileText(connectionFile()).slice(0, 400), field: '(file)', message: /not valid JSON at line \d+, column \d+: (unexpected end of file|string is not closed)/ },
  { name: 'empty', text: '', field: '(file)', message: /not valid JSON/ },
  { name: 'a list, not an object', text: '[]', field: '(file)', message: /must be a JSON object/ },
  { name: 'missing TenantId', text: broken((f) => delete f.TenantId), field: 'TenantId', message: /^missing$/ },
  { name: 'missing ServicePrincipalKey', text: broken((f) => delete (f as Record<string, unknown>).ServicePrincipalKey), field: 'ServicePrincipalKey', message: /^missing$/ },
  { name: 'missing STS addresses', text: broken((f) => delete f.SecurityTokenServiceBaseAddresses), field: 'SecurityTokenServiceBaseAddresses', message: /^missing$/ },
  {
    name: 'an EC key instead of RSA',
    text: broken((f) => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
      f.ServicePrincipalKey = { kid: 'urn:service:tenantB:SiteB:151', ...ec, k: null, use: 'sig', x5t: null, nbf: '0001-01-01T00:00:00', exp: '0001-01-01T00:00:00' };
    }),
    field: 'ServicePrincipalKey.kty',
    message: /^must be "RSA"; found "EC"$/,
  },
  {
    name: 'only the public key',
    text: broken((f) => {
      for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) delete f.ServicePrincipalKey[part];
    }),
    field: 'ServicePrincipalKey.d',
    message: /^missing — the key must include its private parts$/,
  },
  {
    name: 'private parts of another key',
    text: broken((f) => {
      f.ServicePrincipalKey.d = testJwk().d;
    }),
    field: 'ServicePrincipalKey',
    message: /private parts do not belong together|do not match the public modulus/,
  },
  { name: 'http on a real host', text: broken((f) => (f.DocumentStoreBaseAddresses = ['http://tenantb-ds.clearance.example/api/v1'])), field: 'DocumentStoreBaseAddresses[0]', message: /must use https:\/\/ \(plain http:\/\/ is allowed only for a loopback address\)/ },
  { name: 'http on a private address', text: broken((f) => (f.ApiBaseAddresses = ['http://10.1.2.3:8080'])), field: 'ApiBaseAddresses[0]', message: /must use https:\/\// },
  { name: 'an expired key', text: broken((f) => (f.ServicePrincipalKey.exp = '2020-01-01T00:00:00')), field: 'ServicePrincipalKey.exp', message: /the key expired on 2020-01-01/ },
  { name: 'a boolean written as text', text: broken((f) => (f.DisableEncryption = 'no')), field: 'DisableEncryption', message: /must be true or false; found a string/ },
  { name: 'the principal id as a number', text: broken((f) => (f.ServicePrincipalId = 151)), field: 'ServicePrincipalId', message: /must be a string; found a number \(write it in quotes: "151"\)/ },
  { name: 'a .NET date of the wrong type', text: broken((f) => (f.ServicePrincipalKey.nbf = true)), field: 'ServicePrincipalKey.nbf', message: /must be a date like "0001-01-01T00:00:00" or null; found a boolean/ },
  { name: 'a .NET symmetric key value on an RSA key', text: broken((f) => (f.ServicePrincipalKey.k = 17)), field: 'ServicePrincipalKey.k', message: /must be null; found a number/ },
  // Issue 13, defect 2: sizes and character sets.
  { name: 'a 5 MB TenantId', text: broken((f) => (f.TenantId = 'T'.repeat(5 * 1024 * 1024))), field: '(file)', message: /^is 5,2\d\d,\d{3} bytes: a connection file is at most 1,048,576 bytes \(1 MiB\)$/ },
  { name: 'a 200 KB TenantId', text: broken((f) => (f.TenantId = 'T'.repeat(200_000))), field: 'TenantId', message: /^is too long \(at most 128 characters; found 200000\)$/ },
  { name: 'a path in TenantId', text: broken((f) => (f.TenantId = '../admin')), field: 'TenantId', message: /^must hold only letters, digits and \. _ : -$/ },
  { name: 'TenantId ..', text: broken((f) => (f.TenantId = '..')), field: 'TenantId', message: /^must start with a letter or a digit$/ },
  { name: 'markup in the key id', text: broken((f) => (f.ServicePrincipalKey.kid = 'urn:service:tenantB:<script>:151')), field: 'ServicePrincipalKey.kid', message: /^must hold only printable characters/ },
  { name: 'a line break in a URL', text: broken((f) => (f.ApiBaseAddresses = ['https://api.exa\r\nmple'])), field: 'ApiBaseAddresses[0]', message: /^must hold only URL characters .*found a control character at position 16$/ },
  { name: 'saved as UTF-16', text: Buffer.from(`\uFEFF${toFileText(connectionFile({ tenant: 'tenantB' }))}`, 'utf16le').toString('utf8'), field: '(file)', message: /^is UTF-16 or UTF-32 text/ },
];

describe('account import on disk (journal state + 0600 secret file)', () => {
  let dir: string;
  let stateFile: string;
  let secretFile: string;
  let journal: JournalStore;
  let store: AccountStore;
  const fileA = toFileText(connectionFile({ tenant: 'tenantA', name: 'SiteA' }));
  const fileB = toFileText(connectionFile({ tenant: 'tenantB', name: 'SiteB', jwk: otherJwk() }));

  const open = (): AccountStore => {
    journal = new JournalStore({ path: stateFile });
    return new AccountStore({ state: new Keyv({ store: journal, namespace: 'clearance' }), secrets: new FileSecretStore(secretFile) });
  };

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-import-'));
    stateFile = path.join(dir, 'state', 'state.jsonl');
    secretFile = path.join(dir, 'secrets', 'secrets.json');
    store = open();
  });
  afterEach(async () => {
    store.dispose();
    await journal.disconnect();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps the private key and the API key in the secret file only, never in the state file', async () => {
    const result = await store.importConnectionFile(fileA, '/downloads/SiteA.json');
    assert.ok(result.ok, JSON.stringify(result));
    const stateText = await fs.readFile(stateFile, 'utf8');
    assert.match(stateText, /tenantA/, 'the public facts are in state');
    for (const secret of secretValues()) assert.ok(!stateText.includes(secret), 'a secret is in the state file');
    const secretText = await fs.readFile(secretFile, 'utf8');
    assert.ok(secretText.includes(String(testJwk().d)) && secretText.includes(TEST_API_KEY));
    assert.equal((await fs.stat(secretFile)).mode & 0o777, 0o600);
    assert.equal((await fs.stat(path.dirname(secretFile))).mode & 0o777, 0o700);

    // After a restart (state replayed from disk) the account still signs in.
    store.dispose();
    await journal.disconnect();
    store = open();
    const current = await store.current();
    assert.equal(current?.accountId, 'tenantA');
    assert.equal(current?.servicePrincipalId, '151');
  });

  it('hands TokenProvider credentials whose assertion verifies with the public key of the file', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    const credentials = await store.signingCredentials();
    assert.equal(clientIdOf(credentials), '151@tenantA');
    const tokenUrl = 'https://tenanta-sts.clearance.example/connect/token';
    const assertion = await createClientAssertion(credentials, tokenUrl, new Date());
    assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'RS256', kid: 'urn:service:tenantA:SiteA:151', typ: 'JWT' });
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: testJwk().n, e: testJwk().e }, format: 'jwk' });
    const { payload } = await jwtVerify(assertion, publicKey, { audience: tokenUrl, issuer: '151@tenantA', subject: '151@tenantA' });
    assert.ok(typeof payload.jti === 'string' && (payload.exp as number) - (payload.iat as number) <= 3600);
  });

  it('refuses each broken file with its own message naming the field, and leaves the previous account untouched', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    const stateBefore = await fs.readFile(stateFile, 'utf8');
    const secretsBefore = await fs.readFile(secretFile, 'utf8');
    const messages = new Set<string>();
    for (const bad of BROKEN_FILES) {
      const result = await store.importConnectionFile(bad.text, `${bad.name}.json`);
      assert.equal(result.ok, false, bad.name);
      if (result.ok) continue;
      const issue = result.errors.find((e) => e.field === bad.field);
      assert.ok(issue, `${bad.name}: no error for ${bad.field}; got ${JSON.stringify(result.errors)}`);
      assert.match(issue.message, bad.message, bad.name);
      messages.add(`${issue.field}: ${issue.message}`);
      const all = JSON.stringify(result);
      for (const secret of [...secretValues(), ...secretValues(otherJwk())]) {
        assert.ok(!all.includes(secret.slice(0, 16)), `${bad.name}: a secret leaked into the errors`);
      }
    }
    assert.equal(messages.size, BROKEN_FILES.length, 'each broken file has its own message');
    assert.equal(await fs.readFile(stateFile, 'utf8'), stateBefore, 'state file unchanged');
    assert.equal(await fs.readFile(secretFile, 'utf8'), secretsBefore, 'secret file unchanged');
    assert.equal((await store.current())?.accountId, 'tenantA');
    assert.equal((await store.signingCredentials()).ServicePrincipalKey.d, testJwk().d);
  });

  it('replaces the account on a second import, also when two imports race: one account, one secret', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    const [b, a] = await Promise.all([store.importConnectionFile(fileB), store.importConnectionFile(fileA)]);
    assert.ok(b.ok && a.ok);
    assert.equal((await store.current())?.accountId, 'tenantA', 'the import that came last wins');
    const secrets = JSON.parse(await fs.readFile(secretFile, 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(secrets).length, 1);
    assert.equal((await store.signingCredentials()).ServicePrincipalKey.d, testJwk().d);

    assert.ok((await store.importConnectionFile(fileB)).ok);
    assert.equal((await store.current())?.accountId, 'tenantB');
    assert.equal((await store.signingCredentials()).ServicePrincipalKey.d, otherJwk().d);
    const after = await fs.readFile(secretFile, 'utf8');
    assert.ok(!after.includes(String(testJwk().d)), 'the replaced key is gone from the secret file');
  });

  it('says the stored key is damaged rather than signing with garbage', async () => {
    assert.ok((await store.importConnectionFile(fileA)).ok);
    const secrets = JSON.parse(await fs.readFile(secretFile, 'utf8')) as Record<string, string>;
    for (const key of Object.keys(secrets)) secrets[key] = JSON.stringify({ privateKeyJwk: { kty: 'RSA' }, apiKey: 'x' });
    await fs.writeFile(secretFile, JSON.stringify(secrets), { mode: 0o600 });
    await assert.rejects(store.signingCredentials(), /stored private key of account tenantA is damaged\. Import the connection file again/);
  });
});
