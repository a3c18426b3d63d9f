import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FieldIssue } from '../../../src/core/config/fieldErrors';
import { fieldIssues } from '../../../src/core/config/schema';
import {
  PROXY_PASSWORD_SECRET_KEY,
  prepareArchiveFolder,
  proxyHostProblem,
  roleProxyOf,
  rolePropertiesSchema,
  saveProxyPassword,
  validateRoleProperties,
} from '../../../src/core/config/roleProperties';
import { FileSecretStore } from '../../../src/core/config/secretStore';

function errorsOf(input: unknown): FieldIssue[] {
  const result = validateRoleProperties(input);
  assert.equal(result.ok, false, 'expected the properties to be refused');
  return result.errors;
}

describe('role properties', () => {
  it('fills defaults for missing fields', () => {
    const result = validateRoleProperties({ archiveDestinationFolder: '/var/lib/clearance/archive/' });
    assert.ok(result.ok);
    assert.deepEqual(result.value, {
      pollingIntervalSeconds: 30,
      archiveDestinationFolder: '/var/lib/clearance/archive',
      proxy: { enabled: false, host: '', port: 8080, username: '' },
      throttlingEnabled: true,
      maximumBandwidthMbps: 10,
    });
    assert.deepEqual(result.warnings, []);
  });

  it('uses the default archive folder when none is set, and requires one otherwise', () => {
    const result = validateRoleProperties({ archiveDestinationFolder: '' }, { defaultArchiveFolder: '/srv/storage/archive' });
    assert.ok(result.ok);
    assert.equal(result.value.archiveDestinationFolder, '/srv/storage/archive');
    assert.deepEqual(errorsOf({}), [{ field: 'archiveDestinationFolder', message: 'required: an absolute folder path' }]);
  });

  it('reports every bad field at once, each by name', () => {
    const errors = errorsOf({
      pollingIntervalSeconds: 2,
      archiveDestinationFolder: 'archive',
      proxy: { enabled: 'yes', host: 'http://proxy.example', port: 70000, username: 5 },
      throttlingEnabled: 1,
      maximumBandwidthMbps: 0,
    });
    assert.deepEqual(errors, [
      { field: 'pollingIntervalSeconds', message: 'must be between 5 and 3600 seconds; found 2' },
      { field: 'throttlingEnabled', message: 'must be true or false; found a number' },
      { field: 'maximumBandwidthMbps', message: 'must be between 0.1 and 10000 Mbps; found 0' },
      { field: 'archiveDestinationFolder', message: 'must be an absolute path; found "archive"' },
      { field: 'proxy.enabled', message: 'must be true or false; found a string' },
      { field: 'proxy.port', message: 'must be between 1 and 65535; found 70000' },
      { field: 'proxy.host', message: 'enter the host name or IPv4 address only, without "http://"' },
      { field: 'proxy.username', message: 'must be a string; found a number' },
    ]);
  });

  it('checks types and whole numbers', () => {
    const errors = errorsOf({ archiveDestinationFolder: '/a', pollingIntervalSeconds: 12.5, maximumBandwidthMbps: '10', proxy: { port: 80.5 } });
    assert.deepEqual(errors.map((e) => e.field), ['pollingIntervalSeconds', 'maximumBandwidthMbps', 'proxy.port']);
    assert.match(errors[0]?.message ?? '', /whole number of seconds; found 12.5/);
    assert.match(errors[1]?.message ?? '', /must be a number of megabits per second; found a string/);
    assert.deepEqual(errorsOf('nope'), [{ field: '(properties)', message: 'must be an object; found a string' }]);
  });

  it('accepts the bounds themselves', () => {
    for (const [poll, bw] of [[5, 0.1], [3600, 10000]] as const) {
      const result = validateRoleProperties({ archiveDestinationFolder: '/a', pollingIntervalSeconds: poll, maximumBandwidthMbps: bw, proxy: { port: poll === 5 ? 1 : 65535 } });
      assert.ok(result.ok, JSON.stringify(result.errors));
    }
  });

  it('requires a proxy host when the proxy is on, and never takes a password', () => {
    assert.deepEqual(errorsOf({ archiveDestinationFolder: '/a', proxy: { enabled: true } }), [
      { field: 'proxy.host', message: 'required when the proxy is on' },
    ]);
    assert.deepEqual(errorsOf({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: 'proxy', password: 'hunter2' } }), [
      { field: 'proxy.password', message: 'must not be part of the role properties; it is stored as a secret' },
    ]);
    assert.match(errorsOf({ archiveDestinationFolder: '/a', proxy: { username: 'dom:user' } })[0]?.message ?? '', /must not contain ':'/);
  });

  it('bounds the polling interval on both sides and refuses what is not a finite whole number', () => {
    for (const [value, message] of [
      [4, /between 5 and 3600 seconds; found 4/],
      [3601, /between 5 and 3600 seconds; found 3601/],
      [-30, /between 5 and 3600 seconds; found -30/],
      [Number.POSITIVE_INFINITY, /whole number of seconds; found Infinity/],
      [Number.NaN, /whole number of seconds; found NaN/],
      ['30', /whole number of seconds; found a string/],
      [null, /whole number of seconds; found null/],
    ] as const) {
      const errors = errorsOf({ archiveDestinationFolder: '/a', pollingIntervalSeconds: value });
      assert.deepEqual(errors.map((e) => e.field), ['pollingIntervalSeconds'], String(value));
      assert.match(errors[0]?.message ?? '', message);
    }
  });

  it('takes a fractional bandwidth in Mbps and refuses one out of range or not a number', () => {
    const ok = validateRoleProperties({ archiveDestinationFolder: '/a', maximumBandwidthMbps: 2.5, throttlingEnabled: false });
    assert.ok(ok.ok);
    assert.equal(ok.value.maximumBandwidthMbps, 2.5);
    assert.equal(ok.value.throttlingEnabled, false);
    for (const [value, message] of [
      [10001, /between 0.1 and 10000 Mbps; found 10001/],
      [0.05, /between 0.1 and 10000 Mbps; found 0.05/],
      [-1, /between 0.1 and 10000 Mbps; found -1/],
      [Number.NaN, /must be a number of megabits per second; found NaN/],
      [true, /found a boolean/],
    ] as const) {
      assert.match(errorsOf({ archiveDestinationFolder: '/a', maximumBandwidthMbps: value })[0]?.message ?? '', message, String(value));
    }
  });

  it('refuses bad proxy ports and user names by field', () => {
    for (const port of [0, -1, 65536, 8080.5]) {
      assert.deepEqual(errorsOf({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: 'proxy', port } }).map((e) => e.field), ['proxy.port'], String(port));
    }
    assert.match(errorsOf({ archiveDestinationFolder: '/a', proxy: { username: 'a\nb' } })[0]?.message ?? '', /control characters/);
    assert.match(errorsOf({ archiveDestinationFolder: '/a', proxy: { username: 'u'.repeat(257) } })[0]?.message ?? '', /too long/);
    assert.match(errorsOf({ archiveDestinationFolder: '/a', proxy: 'http://proxy:3128' })[0]?.message ?? '', /proxy: must be an object|must be an object/);
    const off = validateRoleProperties({ archiveDestinationFolder: '/a', proxy: { enabled: false, host: 'proxy.example' } });
    assert.ok(off.ok);
    assert.match(off.warnings.find((w) => w.field === 'proxy.enabled')?.message ?? '', /host is set but the proxy is off/);
  });

  it('notes that the bandwidth cap stays on behind a proxy (unlike the vendor role)', () => {
    const result = validateRoleProperties({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: '10.0.0.8', port: 3128, username: 'site' } });
    assert.ok(result.ok);
    assert.deepEqual(result.value.proxy, { enabled: true, host: '10.0.0.8', port: 3128, username: 'site' });
    assert.match(result.warnings.find((w) => w.field === 'maximumBandwidthMbps')?.message ?? '', /unlike the vendor role/);
  });

  it('keeps "required when the proxy is on" with the host, before the user name', () => {
    assert.deepEqual(errorsOf({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: 5, port: 2.5, username: 'a:b' } }), [
      { field: 'proxy.port', message: 'must be a whole number; found 2.5' },
      { field: 'proxy.host', message: 'must be a string; found a number' },
      { field: 'proxy.host', message: 'required when the proxy is on' },
      { field: 'proxy.username', message: "must not contain ':' (basic authentication cannot carry it)" },
    ]);
    assert.deepEqual(errorsOf({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: '   ' } }), [
      { field: 'proxy.host', message: 'required when the proxy is on' },
    ]);
  });

  it('exports its schema for other callers, with the same messages and the stored field order', () => {
    const parsed = rolePropertiesSchema.safeParse({ archiveDestinationFolder: '/a/', proxy: { host: ' proxy ' } });
    assert.ok(parsed.success);
    assert.equal(parsed.data.archiveDestinationFolder, '/a');
    assert.equal(parsed.data.proxy.host, 'proxy');
    const refused = rolePropertiesSchema.safeParse({ pollingIntervalSeconds: 12.5 });
    assert.ok(!refused.success);
    assert.deepEqual(fieldIssues(refused.error, '(properties)'), [
      { field: 'pollingIntervalSeconds', message: 'must be a whole number of seconds; found 12.5' },
      { field: 'archiveDestinationFolder', message: 'required: an absolute folder path' },
    ]);
    const result = validateRoleProperties({ maximumBandwidthMbps: 5, archiveDestinationFolder: '/a', pollingIntervalSeconds: 60 });
    assert.ok(result.ok);
    assert.deepEqual(Object.keys(result.value), ['pollingIntervalSeconds', 'archiveDestinationFolder', 'proxy', 'throttlingEnabled', 'maximumBandwidthMbps']);
    assert.deepEqual(Object.keys(result.value.proxy), ['enabled', 'host', 'port', 'username']);
  });

  it('validates proxy hosts: IPv4 or host name', () => {
    for (const ok of ['10.1.2.3', 'proxy', 'proxy.corp.example', 'p-1.example.', 'xn--bcher-kva.example']) {
      assert.equal(proxyHostProblem(ok), undefined, ok);
    }
    const bad: [string, RegExp][] = [
      ['256.1.1.1', /not a valid IPv4 address/],
      ['10.1.2', /not a valid IPv4 address/],
      ['proxy:8080', /port in the port field/],
      ['https://proxy', /without "http:\/\/"/],
      ['::1', /IPv6 is not supported/],
      ['pro xy', /letters, digits, hyphens and dots/],
      ['-proxy.example', /letters, digits, hyphens and dots/],
      ['a..b', /letters, digits, hyphens and dots/],
      [`${'a'.repeat(64)}.example`, /letters, digits, hyphens and dots/],
    ];
    for (const [host, message] of bad) assert.match(proxyHostProblem(host) ?? '', message, host);
  });
});

describe('proxy password', () => {
  let dir: string;
  let secrets: FileSecretStore;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-proxy-secret-'));
    secrets = new FileSecretStore(path.join(dir, 'secrets.json'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lives in the secret store and joins the properties only to make the proxy HttpClient uses', async () => {
    const props = validateRoleProperties({ archiveDestinationFolder: '/a', proxy: { enabled: true, host: 'proxy.corp.example', port: 3128, username: 'site' } });
    assert.ok(props.ok);
    assert.deepEqual(await saveProxyPassword(secrets, 'pä:ss wörd'), []);
    assert.equal(await secrets.get(PROXY_PASSWORD_SECRET_KEY), 'pä:ss wörd');
    assert.ok(!JSON.stringify(props.value).includes('pä:ss'));
    assert.deepEqual(await roleProxyOf(props.value.proxy, secrets), {
      enabled: true,
      host: 'proxy.corp.example',
      port: 3128,
      username: 'site',
      password: 'pä:ss wörd',
    });
    // No user name: no password is sent, whatever is stored.
    assert.equal((await roleProxyOf({ ...props.value.proxy, username: '' }, secrets)).password, undefined);
    assert.equal((await fs.stat(path.join(dir, 'secrets.json'))).mode & 0o777, 0o600);
  });

  it('refuses a password with control characters without storing it, and removes an empty one', async () => {
    assert.deepEqual(await saveProxyPassword(secrets, 'good'), []);
    assert.deepEqual(await saveProxyPassword(secrets, 'bad\r\npass'), [{ field: 'proxy.password', message: 'must not contain control characters' }]);
    assert.equal(await secrets.get(PROXY_PASSWORD_SECRET_KEY), 'good');
    assert.deepEqual(await saveProxyPassword(secrets, ''), []);
    assert.equal(await secrets.get(PROXY_PASSWORD_SECRET_KEY), undefined);
  });
});

describe('archive destination folder', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-archive-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates a missing folder, proves it writable and leaves nothing behind', async () => {
    const folder = path.join(dir, 'a', 'b', 'archive');
    const result = await prepareArchiveFolder(folder, { lowSpaceBytes: 0 });
    assert.ok(result.ok, JSON.stringify(result.errors));
    assert.equal(result.created, true);
    assert.ok((await fs.stat(folder)).isDirectory());
    assert.deepEqual(await fs.readdir(folder), []);
    assert.ok((result.freeBytes ?? 0) > 0);
    assert.deepEqual(result.warnings, []);
    const again = await prepareArchiveFolder(folder, { lowSpaceBytes: 0 });
    assert.equal(again.created, false);
  });

  it('fails clearly when a part of the path is a regular file (root ignores chmod)', async () => {
    const file = path.join(dir, 'not-a-folder');
    await fs.writeFile(file, 'x');
    const below = await prepareArchiveFolder(path.join(file, 'archive'));
    assert.equal(below.ok, false);
    assert.match(below.errors[0]?.message ?? '', /a part of this path is a file, not a folder/);
    assert.equal(below.errors[0]?.field, 'archiveDestinationFolder');
    const itself = await prepareArchiveFolder(file);
    assert.equal(itself.ok, false);
    assert.match(itself.errors[0]?.message ?? '', /is a file, not a folder|a part of this path is a file/);
  });

  it('fails on a read-only place where even root cannot write', async () => {
    // /proc is read-only for everyone, root included.
    const result = await prepareArchiveFolder('/proc/clearance-archive');
    assert.equal(result.ok, false);
    assert.match(result.errors[0]?.message ?? '', /cannot be created at \/proc\/clearance-archive/);
  });

  it('fails on an existing folder it cannot write to', async () => {
    // sysfs refuses new files even to root.
    const result = await prepareArchiveFolder('/sys');
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors.map((e) => e.field), ['archiveDestinationFolder']);
    assert.match(result.errors[0]?.message ?? '', /^\/sys is not writable/);
  });

  it('warns when free space is low', async () => {
    const result = await prepareArchiveFolder(dir, { lowSpaceBytes: Number.MAX_SAFE_INTEGER });
    assert.ok(result.ok);
    assert.match(result.warnings[0]?.message ?? '', /^only [\d.]+ [KMGT]?i?B free at /);
  });

  it('needs an absolute path', async () => {
    const result = await prepareArchiveFolder('relative/archive');
    assert.equal(result.ok, false);
    assert.match(result.errors[0]?.message ?? '', /must be an absolute path/);
  });
});
