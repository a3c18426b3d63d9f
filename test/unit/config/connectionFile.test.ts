import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  baseAddressSchema,
  checkBaseAddress,
  connectionFileSchema,
  isLoopbackHost,
  parseConnectionFile,
  privateKeyFromJwk,
  readConnectionFileText,
  tenantIdSchema,
} from '../../../src/core/config/connectionFile';
import { ValidationError, type FieldIssue } from '../../../src/core/config/fieldErrors';
import { locateJsonError } from '../../../src/core/config/jsonText';
import { fieldIssues } from '../../../src/core/config/schema';
import { connectionFile, otherJwk, secretValues, testJwk, toFileText, TEST_API_KEY } from './connectionFixture';

type Mutable = Record<string, unknown> & { ServicePrincipalKey: Record<string, unknown> };

function mutated(change: (file: Mutable) => void): string {
  const file = connectionFile() as Mutable;
  change(file);
  return toFileText(file);
}

function errorsOf(text: string, source?: string, now?: Date, label = ""): FieldIssue[] {
  const result = parseConnectionFile(text, source, now ? { now } : {});
  assert.equal(result.ok, false, `expected the file to be refused ${label}`);
  return result.errors;
}

function messageFor(issues: FieldIssue[], field: string): string {
  const issue = issues.find((i) => i.field === field);
  assert.ok(issue, `no issue for ${field}; got ${JSON.stringify(issues)}`);
  return issue.message;
}

/** Catches even a fragment of a secret (12 characters) in any message. */
function assertNoSecrets(issues: FieldIssue[]): void {
  const text = JSON.stringify(issues);
  for (const secret of secretValues()) {
    for (let i = 0; i + 12 <= secret.length; i += 12) {
      assert.ok(!text.includes(secret.slice(i, i + 12)), 'a secret fragment leaked into a message');
    }
  }
}

describe('connection file import', () => {
  const now = new Date('2025-06-01T12:00:00Z');

  it('accepts a file in the documented format and splits public facts from secrets', () => {
    const result = parseConnectionFile(toFileText(connectionFile()), '/home/op/Downloads/SiteA.json', { now });
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    const { account, secret } = result;
    assert.equal(account.accountId, 'tenant123');
    assert.equal(account.servicePrincipalId, '151');
    assert.equal(account.clientId, '151@tenant123');
    assert.equal(account.integrationName, 'SiteA');
    assert.equal(account.keyId, 'urn:service:tenant123:SiteA:151');
    assert.equal(account.keyBits, 2048);
    assert.match(account.publicKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}=$/);
    assert.equal(account.source, 'SiteA.json');
    assert.equal(account.importedAt, now.toISOString());
    assert.equal(account.disableEncryption, false);
    assert.deepEqual(account.certificateThumbprints, ['3F2A9C1E5B7D4E6F8A0B1C2D3E4F5A6B7C8D9E0F']);
    // Trailing slashes are dropped so callers can append paths.
    assert.deepEqual(account.baseAddresses.DocumentStoreBaseAddresses, ['https://tenant123-ds.clearance.example/api/v1']);
    assert.deepEqual(account.baseAddresses.CADApiAddresses, []);
    // The public part holds no secret.
    const publicText = JSON.stringify(account);
    for (const s of secretValues()) assert.ok(!publicText.includes(s));
    assert.equal(secret.apiKey, TEST_API_KEY);
    assert.deepEqual(Object.keys(secret.privateKeyJwk).sort(), ['d', 'dp', 'dq', 'e', 'kid', 'kty', 'n', 'p', 'q', 'qi']);
    // The stored key really signs, and the signature checks against the file's public part.
    const signature = sign('sha256', Buffer.from('x'), privateKeyFromJwk(secret.privateKeyJwk));
    const pub = createPublicKey({ key: { kty: 'RSA', n: testJwk().n, e: testJwk().e }, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from('x'), pub, signature));
    assert.deepEqual(result.warnings, []);
  });

  it('accepts a UTF-8 byte order mark and loopback http addresses', () => {
    const text = '\uFEFF' + mutated((f) => {
      f.SecurityTokenServiceBaseAddresses = ['http://127.0.0.1:7001/connect'];
      f.DocumentStoreBaseAddresses = ['http://localhost:7002/api/v1'];
      f.ApiBaseAddresses = ['http://[::1]:7003'];
    });
    const result = parseConnectionFile(text, undefined, { now });
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    assert.deepEqual(result.account.baseAddresses.ApiBaseAddresses, ['http://[::1]:7003']);
  });

  it('reports malformed JSON with line and column and without quoting the file', () => {
    const good = toFileText(connectionFile());
    // Break the file right after the private exponent: a trailing comma on the last member.
    const broken = good.replace('"TenantId": "tenant123"', '"TenantId": "tenant123",');
    const errors = errorsOf(broken);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.field, '(file)');
    const lines = broken.split('\r\n');
    const expectedLine = lines.length; // the closing brace on the last line
    assert.equal(errors[0]?.message, `not valid JSON at line ${expectedLine}, column 1: trailing comma before '}'`);

    // A stray character inside the key object: the V8 message would quote the key.
    const stray = good.replace(`"d": "${testJwk().d}"`, `"d": ${testJwk().d}`);
    const strayErrors = errorsOf(stray);
    assert.match(strayErrors[0]?.message ?? '', /^not valid JSON at line \d+, column \d+: unexpected character: expected a value$/);
    assertNoSecrets(strayErrors);
  });

  it('locates JSON errors precisely', () => {
    assert.deepEqual(locateJsonError('{\n  "a": 1\n  "b": 2\n}'), { line: 3, column: 3, message: "unexpected '\"': expected ',' or '}'" });
    assert.deepEqual(locateJsonError('{"a": "x\ny"}'), { line: 1, column: 9, message: 'line break or control character inside a string' });
    assert.deepEqual(locateJsonError('[1, 2'), { line: 1, column: 6, message: "unexpected end of file: expected ',' or ']'" });
    assert.deepEqual(locateJsonError('{"a": 1} x'), { line: 1, column: 10, message: 'unexpected character: extra content after the end of the JSON value' });
    assert.equal(locateJsonError('{"a": [1, 2.5e3, true, null, "\\u00e9"]}'), undefined);
  });

  it('refuses a key without its private parts, naming each missing part', () => {
    const errors = errorsOf(mutated((f) => {
      delete f.ServicePrincipalKey.d;
      f.ServicePrincipalKey.qi = null;
    }));
    assert.equal(messageFor(errors, 'ServicePrincipalKey.d'), 'missing — the key must include its private parts');
    assert.equal(messageFor(errors, 'ServicePrincipalKey.qi'), 'missing — the key must include its private parts');
    assert.equal(errors.length, 2);
  });

  it('gives each broken field its own message', () => {
    const cases: { change: (f: Mutable) => void; field: string; message: RegExp }[] = [
      { change: (f) => (f.ServicePrincipalKey.kty = 'EC'), field: 'ServicePrincipalKey.kty', message: /^must be "RSA"; found "EC"$/ },
      { change: (f) => delete f.ServicePrincipalKey.kty, field: 'ServicePrincipalKey.kty', message: /missing/ },
      { change: (f) => (f.ServicePrincipalKey.n = 'abc+/=='), field: 'ServicePrincipalKey.n', message: /must be base64url/ },
      { change: (f) => (f.ServicePrincipalKey.e = 65537), field: 'ServicePrincipalKey.e', message: /must be a base64url string; found a number/ },
      { change: (f) => delete f.ServicePrincipalKey.kid, field: 'ServicePrincipalKey.kid', message: /missing — the key id is needed/ },
      { change: (f) => (f.ServicePrincipalKey.nbf = '2024-13-45'), field: 'ServicePrincipalKey.nbf', message: /must be a date like "0001-01-01T00:00:00"/ },
      { change: (f) => (f.ServicePrincipalKey.exp = '2025-01-01T00:00:00'), field: 'ServicePrincipalKey.exp', message: /the key expired on 2025-01-01T00:00:00.000Z/ },
      { change: (f) => (f.ServicePrincipalKey.x5t = 5), field: 'ServicePrincipalKey.x5t', message: /must be a string or null/ },
      { change: (f) => (f.ServicePrincipalKey.k = {}), field: 'ServicePrincipalKey.k', message: /must be null/ },
      { change: (f) => ((f as Record<string, unknown>).ServicePrincipalKey = 'key'), field: 'ServicePrincipalKey', message: /must be a JSON Web Key object; found a string/ },
      { change: (f) => (f.ServicePrincipalKey.q = otherJwk().q), field: 'ServicePrincipalKey', message: /the private parts do not belong together/ },
      { change: (f) => (f.ServicePrincipalKey.n = otherJwk().n), field: 'ServicePrincipalKey', message: /do not belong together|do not form a valid key/ },
      { change: (f) => (f.TenantId = ''), field: 'TenantId', message: /^must not be empty$/ },
      { change: (f) => (f.TenantId = 'a@b'), field: 'TenantId', message: /must not contain '@'/ },
      { change: (f) => (f.ServicePrincipalId = 151), field: 'ServicePrincipalId', message: /must be a string; found a number \(write it in quotes: "151"\)/ },
      { change: (f) => delete f.ServicePrincipalId, field: 'ServicePrincipalId', message: /^missing$/ },
      { change: (f) => { f.tenantId = f.TenantId; delete f.TenantId; }, field: 'TenantId', message: /missing \(found 'tenantId': field names are case-sensitive\)/ },
      { change: (f) => (f.DisableEncryption = 'false'), field: 'DisableEncryption', message: /must be true or false; found a string/ },
      { change: (f) => (f.APIKey = null), field: 'APIKey', message: /must be a string; found null/ },
      { change: (f) => (f.CertificateThumbprints = 'abc'), field: 'CertificateThumbprints', message: /must be a list of strings/ },
      { change: (f) => (f.CertificateThumbprints = [7]), field: 'CertificateThumbprints[0]', message: /must be a non-empty string/ },
      { change: (f) => (f.DocumentStoreBaseAddresses = ['http://ds.clearance.example/api']), field: 'DocumentStoreBaseAddresses[0]', message: /must use https:\/\/ \(plain http:\/\/ is allowed only for a loopback address\); found http:\/\/ds.clearance.example\/api/ },
      { change: (f) => (f.KeyStoreBaseAddresses = ['ftp://ks.example/']), field: 'KeyStoreBaseAddresses[0]', message: /must be an https:\/\/ URL; found ftp:\/\// },
      { change: (f) => (f.ApiBaseAddresses = ['not a url']), field: 'ApiBaseAddresses[0]', message: /is not a valid absolute URL/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://u:pw@api.example']), field: 'ApiBaseAddresses[0]', message: /must not contain a user name or password/ },
      { change: (f) => (f.SecurityTokenServiceBaseAddresses = []), field: 'SecurityTokenServiceBaseAddresses', message: /must hold at least one URL/ },
      { change: (f) => delete f.DocumentStoreBaseAddresses, field: 'DocumentStoreBaseAddresses', message: /^missing$/ },
      { change: (f) => (f.SearchServiceBaseAddresses = 'https://x'), field: 'SearchServiceBaseAddresses', message: /must be a list of URLs; found a string/ },
    ];
    const all: FieldIssue[] = [];
    for (const c of cases) {
      const errors = errorsOf(mutated(c.change), undefined, now, c.field);
      all.push(...errors);
      assert.match(messageFor(errors, c.field), c.message, `case ${c.field}`);
      assert.equal(errors.length, 1, `case ${c.field} should give one error, got ${JSON.stringify(errors)}`);
    }
    assertNoSecrets(all);
  });

  it('reports every problem of a file at once', () => {
    const errors = errorsOf(mutated((f) => {
      f.TenantId = 5;
      f.DisableEncryption = 1;
      delete f.ServicePrincipalKey.p;
      f.ApiBaseAddresses = ['http://api.example'];
    }));
    assert.deepEqual(errors.map((e) => e.field).sort(), ['ApiBaseAddresses[0]', 'DisableEncryption', 'ServicePrincipalKey.p', 'TenantId']);
  });

  it('refuses a file that is not an object', () => {
    assert.match(messageFor(errorsOf('[1, 2]'), '(file)'), /must be a JSON object/);
  });

  it('warns (not fails) on an unusual key id and takes the name from the file', () => {
    const text = mutated((f) => (f.ServicePrincipalKey.kid = 'key-151'));
    const result = parseConnectionFile(text, 'C:\\Users\\op\\North Gate.json'.replace(/\\/g, '/'), { now });
    assert.ok(result.ok);
    assert.equal(result.account.integrationName, 'North Gate');
    assert.match(messageFor(result.warnings, 'ServicePrincipalKey.kid'), /does not have the usual shape/);
  });

  it('warns when the key id names another tenant, and on unknown fields', () => {
    const result = parseConnectionFile(mutated((f) => {
      f.ServicePrincipalKey.kid = 'urn:service:other:Site:B:151';
      f.Extra = 1;
    }), undefined, { now });
    assert.ok(result.ok);
    assert.equal(result.account.integrationName, 'Site:B');
    assert.match(messageFor(result.warnings, 'ServicePrincipalKey.kid'), /names tenant "other" but TenantId is "tenant123"/);
    assert.match(messageFor(result.warnings, 'Extra'), /not a known connection-file field/);
  });

  it('needs no key store when encryption is disabled, and says so', () => {
    const result = parseConnectionFile(mutated((f) => {
      f.DisableEncryption = true;
      f.KeyStoreBaseAddresses = [];
    }), undefined, { now });
    assert.ok(result.ok);
    assert.match(messageFor(result.warnings, 'DisableEncryption'), /without client-side encryption/);
    assert.match(messageFor(errorsOf(mutated((f) => (f.KeyStoreBaseAddresses = []))), 'KeyStoreBaseAddresses'), /at least one URL/);
  });

  it('accepts real nbf/exp dates in the valid window', () => {
    const result = parseConnectionFile(mutated((f) => {
      f.ServicePrincipalKey.nbf = '2024-01-01T00:00:00.1234567Z';
      f.ServicePrincipalKey.exp = '2030-01-01T00:00:00+02:00';
    }), undefined, { now });
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  });

  it('refuses a 5 MB TenantId quickly: the file by its size, before parsing; a large id by its field; neither quoted', () => {
    const huge = 'T'.repeat(5 * 1024 * 1024);
    const text = mutated((f) => (f.TenantId = huge));
    const started = Date.now();
    const result = parseConnectionFile(text, undefined, { now });
    assert.ok(Date.now() - started < 2000, 'a huge file must not take long to refuse');
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors, [{ field: '(file)', message: `is ${Buffer.byteLength(text).toLocaleString('en')} bytes: a connection file is at most 1,048,576 bytes (1 MiB)` }]);
    assert.ok(JSON.stringify(result).length < 2000);

    // Under the file limit, the id's own limit names the field.
    const large = 'T'.repeat(512 * 1024);
    const field = parseConnectionFile(mutated((f) => (f.TenantId = large)), undefined, { now });
    assert.equal(field.ok, false);
    assert.deepEqual(field.errors, [{ field: 'TenantId', message: `is too long (at most 128 characters; found ${large.length})` }]);
    // It is not quoted anywhere either (the key id warning names the TenantId when it can).
    assert.ok(JSON.stringify(field).length < 2000);
  });

  it('bounds ids, URLs, the API key and the key, each by field', () => {
    const cases: { change: (f: Mutable) => void; field: string; message: RegExp }[] = [
      { change: (f) => (f.TenantId = 'tenant/123'), field: 'TenantId', message: /^must hold only letters, digits and \. _ : -$/ },
      { change: (f) => (f.TenantId = 'ten ant'), field: 'TenantId', message: /^must hold only letters, digits/ },
      { change: (f) => (f.ServicePrincipalId = '1'.repeat(129)), field: 'ServicePrincipalId', message: /^is too long \(at most 128 characters; found 129\)$/ },
      { change: (f) => (f.ServicePrincipalId = '15\u00e91'), field: 'ServicePrincipalId', message: /^must hold only letters, digits/ },
      { change: (f) => (f.ApiBaseAddresses = [`https://api.example/${'a'.repeat(2048)}`]), field: 'ApiBaseAddresses[0]', message: /^is too long \(at most 2048 characters\)$/ },
      { change: (f) => (f.CaseServiceBaseAddresses = Array.from({ length: 33 }, (_, i) => `https://case${i}.example`)), field: 'CaseServiceBaseAddresses', message: /^must hold at most 32 URLs$/ },
      { change: (f) => (f.ApiBaseAddresses = 'x'.repeat(40)), field: 'ApiBaseAddresses', message: /^must be a list of URLs; found a string$/ },
      { change: (f) => (f.APIKey = `${TEST_API_KEY}\r\nX-Injected: 1`), field: 'APIKey', message: /^must not contain control characters/ },
      { change: (f) => (f.APIKey = TEST_API_KEY.repeat(200)), field: 'APIKey', message: /^is too long \(at most 4096 characters\)$/ },
      { change: (f) => (f.CertificateThumbprints = ['A'.repeat(129)]), field: 'CertificateThumbprints[0]', message: /^is too long \(at most 128 characters\)$/ },
      { change: (f) => (f.CertificateThumbprints = Array.from({ length: 65 }, () => 'A'.repeat(40))), field: 'CertificateThumbprints', message: /^must hold at most 64 thumbprints$/ },
      { change: (f) => (f.ServicePrincipalKey.kid = `urn:service:tenant123:${'S'.repeat(600)}:151`), field: 'ServicePrincipalKey.kid', message: /^is too long \(at most 512 characters\)$/ },
      { change: (f) => (f.ServicePrincipalKey.kid = 'urn:service:tenant123:Site\nA:151'), field: 'ServicePrincipalKey.kid', message: /^must not contain control characters$/ },
      { change: (f) => (f.ServicePrincipalKey.d = 'A'.repeat(4097)), field: 'ServicePrincipalKey.d', message: /^is too long \(at most 4096 characters\)$/ },
    ];
    const all: FieldIssue[] = [];
    for (const c of cases) {
      const errors = errorsOf(mutated(c.change), undefined, now, c.field);
      all.push(...errors);
      assert.match(messageFor(errors, c.field), c.message, `case ${c.field}`);
      assert.equal(errors.length, 1, `case ${c.field} should give one error, got ${JSON.stringify(errors)}`);
    }
    assertNoSecrets(all);
  });

  it('gives ids, URLs, key ids, thumbprints, the API key and the key extras a character set, each by field', () => {
    const cases: { change: (f: Mutable) => void; field: string; message: RegExp }[] = [
      { change: (f) => (f.TenantId = '..'), field: 'TenantId', message: /^must start with a letter or a digit$/ },
      { change: (f) => (f.ServicePrincipalId = '.151'), field: 'ServicePrincipalId', message: /^must start with a letter or a digit$/ },
      { change: (f) => (f.TenantId = '../../etc/passwd'), field: 'TenantId', message: /^must hold only letters, digits and \. _ : -$/ },
      { change: (f) => (f.TenantId = '<script>alert(1)</script>'), field: 'TenantId', message: /^must hold only letters, digits/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://api.exa\nmple/v1']), field: 'ApiBaseAddresses[0]', message: /^must hold only URL characters \(RFC 3986; others percent-encoded\); found a control character at position 16$/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://api.example\\evil.example/v1']), field: 'ApiBaseAddresses[0]', message: /found U\+005C at position 20$/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://api.example/<script>']), field: 'ApiBaseAddresses[0]', message: /found U\+003C at position 21$/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://api.example/a b']), field: 'ApiBaseAddresses[0]', message: /found a space at position 22$/ },
      { change: (f) => (f.ApiBaseAddresses = ['https://ápi.example/']), field: 'ApiBaseAddresses[0]', message: /found a non-ASCII character \(write a host name in punycode\) at position 9$/ },
      { change: (f) => (f.DocumentStoreBaseAddresses = ['https://ds.example/api/../admin']), field: 'DocumentStoreBaseAddresses[0]', message: /^must not contain \. or \.\. path segments$/ },
      { change: (f) => (f.DocumentStoreBaseAddresses = ['https://ds.example/api/%2E%2e']), field: 'DocumentStoreBaseAddresses[0]', message: /^must not contain \. or \.\. path segments$/ },
      { change: (f) => (f.APIKey = 'clé-secrète'), field: 'APIKey', message: /^must hold only visible ASCII characters/ },
      { change: (f) => (f.APIKey = 'two words'), field: 'APIKey', message: /^must hold only visible ASCII characters/ },
      { change: (f) => (f.CertificateThumbprints = ['not-a-thumbprint']), field: 'CertificateThumbprints[0]', message: /^must hold only hexadecimal digits/ },
      { change: (f) => (f.ServicePrincipalKey.kid = 'urn:service:tenant123:<img src=x onerror=alert(1)>:151'), field: 'ServicePrincipalKey.kid', message: /^must hold only printable characters, none of < > " ' ` \\ &/ },
      { change: (f) => (f.ServicePrincipalKey.kid = 'urn:service:tenant123:Site\u202eA:151'), field: 'ServicePrincipalKey.kid', message: /^must hold only printable characters/ },
      { change: (f) => (f.ServicePrincipalKey.kid = ' urn:service:tenant123:SiteA:151'), field: 'ServicePrincipalKey.kid', message: /^must not start or end with spaces$/ },
      { change: (f) => (f.ServicePrincipalKey.use = 's'.repeat(129)), field: 'ServicePrincipalKey.use', message: /^is too long \(at most 128 characters\)$/ },
      { change: (f) => (f.ServicePrincipalKey.use = 'sig\u0000'), field: 'ServicePrincipalKey.use', message: /^must hold only visible ASCII/ },
      { change: (f) => (f.ServicePrincipalKey.x5t = 'a+b/c='), field: 'ServicePrincipalKey.x5t', message: /^must be a base64url thumbprint/ },
      { change: (f) => (f.ServicePrincipalKey.k = 'k'.repeat(4097)), field: 'ServicePrincipalKey.k', message: /^is too long \(at most 4096 characters\)$/ },
      { change: (f) => (f.ServicePrincipalKey.kty = '<b>RSA</b>'), field: 'ServicePrincipalKey.kty', message: /^must be "RSA"; found a string of 10 characters$/ },
      { change: (f) => (f.ServicePrincipalKey.nbf = '<script>alert(1)</script>'), field: 'ServicePrincipalKey.nbf', message: /^must be a date like "0001-01-01T00:00:00"; found a string of 25 characters$/ },
    ];
    const all: FieldIssue[] = [];
    for (const c of cases) {
      const errors = errorsOf(mutated(c.change), undefined, now, c.field);
      all.push(...errors);
      assert.match(messageFor(errors, c.field), c.message, `case ${c.field}: ${JSON.stringify(errors)}`);
      assert.equal(errors.length, 1, `case ${c.field} should give one error, got ${JSON.stringify(errors)}`);
    }
    assertNoSecrets(all);
    for (const issue of all) assert.doesNotMatch(issue.message, /<script|<img|\u202e|\n/, 'no hostile text is echoed');

    // Within the character sets: colon-separated thumbprints, percent-encoding, dots inside names.
    const ok = parseConnectionFile(mutated((f) => {
      f.CertificateThumbprints = ['3f:2a:9c:1e:5b:7d:4e:6f:8a:0b:1c:2d:3e:4f:5a:6b:7c:8d:9e:0f'];
      f.ApiBaseAddresses = ['https://api.example/v1.2/a%20b/...x'];
      f.ServicePrincipalKey.kid = 'urn:service:tenant123:North Gate (é):151';
      f.ServicePrincipalKey.x5t = 'A1b2-_';
    }), undefined, { now });
    assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
    assert.equal(ok.account.integrationName, 'North Gate (é)');
  });

  it('names unknown fields only when their names are plain, and only the first ten', () => {
    const result = parseConnectionFile(mutated((f) => {
      f['<script>alert(1)</script>'] = 1;
      f['x'.repeat(100_000)] = 2;
      for (let i = 0; i < 20; i++) f[`Extra${i}`] = i;
    }), undefined, { now });
    assert.ok(result.ok);
    const unknown = result.warnings.filter((w) => /unknown|not a known/.test(w.message));
    assert.deepEqual(unknown.map((w) => w.field), [...Array.from({ length: 10 }, (_, i) => `Extra${i}`), '(file)']);
    assert.equal(unknown.at(-1)?.message, 'and 12 more unknown fields (not named here); ignored');
    assert.ok(JSON.stringify(result.warnings).length < 2000);
  });

  it('refuses UTF-16 text with its own message, and reads a file from disk by its size first', async () => {
    const good = toFileText(connectionFile());
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(good, 'utf16le')]);
    for (const text of [utf16.toString('utf8'), Buffer.from(good, 'utf16le').toString('utf8')]) {
      assert.deepEqual(errorsOf(text), [{ field: '(file)', message: 'is UTF-16 or UTF-32 text: a connection file is UTF-8 JSON (save it again as UTF-8)' }]);
    }
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-connfile-'));
    try {
      const plain = path.join(dir, 'SiteA.json');
      await fs.writeFile(plain, `\uFEFF${good}`);
      assert.ok(parseConnectionFile(await readConnectionFileText(plain), plain, { now }).ok);
      const huge = path.join(dir, 'huge.json');
      await fs.writeFile(huge, '');
      await fs.truncate(huge, 3 * 1024 * 1024 * 1024); // a 3 GiB sparse file: never read
      await assert.rejects(readConnectionFileText(huge), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(error.errors, [{ field: '(file)', message: 'is 3,221,225,472 bytes: a connection file is at most 1,048,576 bytes (1 MiB)' }]);
        return true;
      });
      const wide = path.join(dir, 'wide.json');
      await fs.writeFile(wide, utf16);
      await assert.rejects(readConnectionFileText(wide), /\(file\): is UTF-16 or UTF-32 text/);
      await assert.rejects(readConnectionFileText(dir), /\(file\): is not a file/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('counts the file limit in UTF-8 bytes, exactly at the limit', () => {
    const base = toFileText(connectionFile());
    const padded = (pad: string) => base.replace('"APIKey"', `"Pad": "${pad}",\r\n  "APIKey"`);
    const atLimit = padded('a'.repeat(1024 * 1024 - Buffer.byteLength(padded(''))));
    assert.equal(Buffer.byteLength(atLimit), 1024 * 1024);
    assert.match(messageFor(errorsOf(`${atLimit} `), '(file)'), /^is 1,048,577 bytes/, 'one byte more is refused');
    const read = parseConnectionFile(atLimit, undefined, { now });
    assert.ok(read.ok, JSON.stringify(!read.ok && read.errors));
    // 400 K characters of three bytes each: under the limit in characters, over it in bytes.
    const wide = base.replace('"APIKey"', `"Pad": "${'€'.repeat(400_000)}",\r\n  "APIKey"`);
    assert.ok(wide.length < 1024 * 1024);
    assert.match(messageFor(errorsOf(wide), '(file)'), /^is 1,2\d\d,\d{3} bytes: a connection file is at most 1,048,576 bytes \(1 MiB\)$/);
  });

  it('accepts the ids the service and the emulator issue', () => {
    for (const [tenant, id] of [['tenant-local', '151'], ['3f2a9c1e-5b7d-4e6f-8a0b-1c2d3e4f5a6b', '9'], ['site.a_b', 'sp:1'], ['T'.repeat(128), '1'.repeat(128)]] as const) {
      const result = parseConnectionFile(mutated((f) => {
        f.TenantId = tenant;
        f.ServicePrincipalId = id;
      }), undefined, { now });
      assert.ok(result.ok, `${tenant} / ${id}: ${JSON.stringify(!result.ok && result.errors)}`);
      assert.equal(result.account.clientId, `${id}@${tenant}`);
    }
  });

  it('keeps the messages in field order and the case-sensitivity hint with the schema', () => {
    const errors = errorsOf(mutated((f) => {
      f.apiKey = f.APIKey;
      delete f.APIKey;
      delete f.KeyStoreBaseAddresses;
      f.DisableEncryption = 'no';
      f.ServicePrincipalKey.e = 3;
    }), undefined, now);
    assert.deepEqual(errors, [
      { field: 'DisableEncryption', message: 'must be true or false; found a string' },
      { field: 'APIKey', message: "missing (found 'apiKey': field names are case-sensitive)" },
      // Required because DisableEncryption is not true: a check of the whole file, put with its field.
      { field: 'KeyStoreBaseAddresses', message: 'missing' },
      { field: 'ServicePrincipalKey.e', message: 'must be a base64url string; found a number' },
    ]);
  });

  it('exports the schema: the same field messages without the file-level checks', () => {
    const file = connectionFile();
    assert.ok(connectionFileSchema.safeParse(file).success);
    const result = connectionFileSchema.safeParse({ ...file, TenantId: 5, ApiBaseAddresses: ['ftp://x'] });
    assert.ok(!result.success);
    assert.deepEqual(fieldIssues(result.error, '(file)'), [
      { field: 'TenantId', message: 'must be a string; found a number (write it in quotes: "5")' },
      { field: 'ApiBaseAddresses[0]', message: 'must be an https:// URL; found ftp://' },
    ]);
    assert.equal(tenantIdSchema.safeParse('tenant-local').success, true);
    assert.equal(baseAddressSchema.parse('https://api.example/v1/'), 'https://api.example/v1');
  });

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', 'localhost', 'api.localhost', '[::1]']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['128.0.0.1', '127.0.0.256', 'localhost.example', '[::2]', '10.0.0.1']) assert.ok(!isLoopbackHost(host), host);
    assert.deepEqual(checkBaseAddress('http://127.0.0.2:99/x/?q=1'), { message: 'must not have a query or fragment (http://127.0.0.2:99/x/)' });
  });
});
