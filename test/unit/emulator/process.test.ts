// The service as an operator runs it: a child process started from its command
// line. Covers the CLI (account create, request create, --demo, --fault), and a
// kill -9 in the middle of work followed by a restart on the same folder.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import fetch from 'node-fetch';
import type {
  AgentJob,
  Case,
  ConnectionFile,
  EmulatorFault,
  EncryptionKeyResponse,
  Evidence,
  MediaRequestJobPayload,
  RegistryCamera,
  Resource,
  ResourceCreated,
  ServiceErrorBody,
  VideoRequest,
} from '../../../src/core/clearance/api';
import { BASE_ADDRESS_KEYS, IDEMPOTENCY_KEY_HEADER } from '../../../src/core/clearance/api';
import { ENCRYPTION_METADATA_HEADER } from '../../../src/core/clearance/encryption';
import { systemClock } from '../../../src/emulator/clock';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY } from '../../../src/emulator/blobGateway';
import { RUNTIME_FILE, type RuntimeFile } from '../../../src/emulator/server';
import { blockId, encryptForAccount, putBlock, uploadBlob } from './blobUpload';
import { runCli, startChild, type ChildService } from './child';
import { exited, tempLocation } from '../fixtures/service';
import { ServiceClient } from './serviceClient';

const CONNECTION_KEYS = [...BASE_ADDRESS_KEYS, 'APIKey', 'CertificateThumbprints', 'DisableEncryption', 'ServicePrincipalId', 'ServicePrincipalKey', 'TenantId'].sort();

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;
const runtimeOf = (location: string): RuntimeFile => readJson<RuntimeFile>(path.join(location, RUNTIME_FILE));

async function stopChild(child: ChildService, location: string): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const azurite = runtimeOf(location).azuritePid;
  child.proc.kill('SIGTERM');
  assert.equal(await child.ended, 0, child.output());
  if (azurite) assert.ok(await exited(azurite), `Azurite (pid ${azurite}) outlived the service`);
}

async function publishCameras(c: ServiceClient, agentUrl: string, cameras: { id: string; name: string; location?: string }[]): Promise<void> {
  const discovery = (await c.ok<AgentJob[]>('GET', `${agentUrl}/jobs?type=discovery`))[0];
  await c.ok('POST', `${agentUrl}/jobs/${discovery.jobId}/lock`);
  await c.ok('POST', `${agentUrl}/jobs/${discovery.jobId}/complete`, { result: { cameras } });
}

describe('local service as a process: command line', function () {
  this.timeout(90000);
  let location: string;
  let child: ChildService | undefined;
  before(() => {
    location = tempLocation();
  });
  after(async () => {
    if (child) await stopChild(child, location);
    fs.rmSync(location, { recursive: true, force: true });
  });
  // The tests below build on each other in a whole run; each also runs alone
  // (`--grep "<title>"`): what an earlier test would have left, it makes itself.
  const siteAFile = (): string => path.join(location, 'connections', 'Site_A.json');
  /** The account "account create…" makes offline, made here when that test did not run. */
  async function ensureSiteA(): Promise<void> {
    if (fs.existsSync(siteAFile())) return;
    const out = await runCli(['account', 'create', '--name', 'Site A', '--location', location]);
    assert.equal(out.code, 0, out.stderr);
  }
  /** The service "starts on loopback…" leaves running; started here (with --demo, no faults) when that test did not run. */
  async function runningChild(): Promise<ChildService> {
    child ??= await startChild(['start', '--location', location, '--port', '0', '--demo', '1']);
    return child;
  }

  it('account create writes a connection file with every field of §3 and an RSA-2048 key', async () => {
    const missing = await runCli(['account', 'create', '--location', location]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--name is required/);

    const out = await runCli(['account', 'create', '--name', 'Site A', '--location', location]);
    assert.equal(out.code, 0, out.stderr);
    const file = path.join(location, 'connections', 'Site_A.json');
    assert.ok(out.stdout.includes(file), out.stdout);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'owner-only: it holds a private key');
    const cf = readJson<ConnectionFile>(file);
    assert.deepEqual(Object.keys(cf).sort(), CONNECTION_KEYS);
    for (const k of BASE_ADDRESS_KEYS) assert.ok(cf[k].length >= 1 && cf[k].every((u) => u.startsWith('http://127.0.0.1:')), k);
    assert.equal(cf.TenantId, 'tenant-local');
    assert.equal(cf.DisableEncryption, false);
    assert.ok(cf.APIKey.length > 10);
    const key = cf.ServicePrincipalKey;
    assert.match(key.kid, new RegExp(`^urn:service:tenant-local:site-a:${cf.ServicePrincipalId}$`));
    assert.equal(key.kty, 'RSA');
    assert.equal(Buffer.from(key.n, 'base64url').length * 8, 2048);
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) assert.ok(typeof key[m] === 'string' && key[m].length > 100, m);
    assert.deepEqual([key.k, key.use, key.x5t, key.nbf, key.exp], [null, null, null, '0001-01-01T00:00:00', '0001-01-01T00:00:00']);
    const priv = crypto.createPrivateKey({ key: { kty: 'RSA', n: key.n, e: key.e, d: key.d, p: key.p, q: key.q, dp: key.dp, dq: key.dq, qi: key.qi }, format: 'jwk' });
    assert.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('starts on loopback with --port 0, prints its URLs and connection file, and observes every --fault flag', async () => {
    await ensureSiteA();
    child = await startChild([
      'start',
      '--location',
      location,
      '--port',
      '0',
      '--token-lifetime',
      '90',
      '--demo',
      '1',
      '--fault',
      'departments.list=429,count=1,retryAfter=3',
      '--fault',
      'categories.list=500,count=1',
      '--fault',
      'case.list=503,count=1,retryAfter=2',
      '--fault',
      'registry.list=latency,ms=50,count=1',
      '--fault',
      'evidence.list=reset,count=1',
      '--fault',
      'resource.list=tokenExpiry,count=1',
      '--fault',
      'blob.putBlock=blockReject,count=1',
    ]);
    const base = new URL(child.baseUrl);
    assert.equal(base.hostname, '127.0.0.1');
    assert.notEqual(base.port, '0');
    assert.equal(new URL(child.printed['blob (Azurite)']).hostname, '127.0.0.1');
    assert.equal(child.printed['token service'], `${child.baseUrl}/connect/token`);
    assert.equal(child.printed['connection file'], child.connectionFilePath);
    assert.ok(fs.existsSync(child.connectionFilePath));
    for (const label of ['OpenID config', 'document store', 'key store', 'agent service', 'registry', 'admin']) assert.ok(child.printed[label]?.startsWith(child.baseUrl), label);

    // The account made offline now points at the running service.
    const siteA = new ServiceClient(readJson<ConnectionFile>(siteAFile()), systemClock);
    assert.equal(siteA.api, child.baseUrl);
    const token = await siteA.requestToken();
    assert.equal(token.status, 200);
    assert.equal(token.body.expires_in, 90);

    const faults = await siteA.ok<EmulatorFault[]>('GET', `${child.baseUrl}/admin/api/v1/faults`);
    assert.deepEqual(faults.map((f) => `${f.route}:${f.kind}:${f.fired}`).sort(), [
      'blob.putBlock:blockReject:0',
      'case.list:status:0',
      'categories.list:status:0',
      'departments.list:status:0',
      'evidence.list:reset:0',
      'registry.list:latency:0',
      'resource.list:tokenExpiry:0',
    ]);
    const t = siteA.tenantId;
    const tooMany = await siteA.call('GET', `${siteA.ds}/tenant/${t}/departments`);
    assert.deepEqual([tooMany.status, tooMany.headers.get('retry-after')], [429, '3']);
    assert.equal((await siteA.call('GET', `${siteA.ds}/tenant/${t}/categories`)).status, 500);
    const unavailable = await siteA.call('GET', `${siteA.ds}/case/${t}`);
    assert.deepEqual([unavailable.status, unavailable.headers.get('retry-after')], [503, '2']);
    assert.equal((await siteA.call('GET', `${child.baseUrl}/deviceservice/api/v1/tenant/${t}/registry/cameras`)).status, 200);
    await assert.rejects(siteA.call('GET', `${siteA.ds}/tenant/${t}/evidence`));
    const ev = await siteA.ok<Evidence>('POST', `${siteA.ds}/tenant/${t}/evidence`, { Name: 'cli' });
    assert.equal((await siteA.call('GET', `${siteA.ds}/tenant/${t}/evidence/${ev.EvidenceId}/resource`)).status, 401);
    await siteA.login();
    const r = await siteA.ok<ResourceCreated>('POST', `${siteA.ds}/tenant/${t}/evidence/${ev.EvidenceId}/resource`, { Name: 'x', MimeType: 'video/mp4' });
    const rejected = await putBlock(r.UploadUri, 0, Buffer.from('block'));
    assert.deepEqual([rejected.status, rejected.headers.get('x-ms-error-code')], [400, 'Md5Mismatch']);
    assert.deepEqual(await siteA.ok('GET', `${child.baseUrl}/admin/api/v1/faults`), [], 'every count=1 fault fired once');
    // Each route works again.
    for (const url of [`${siteA.ds}/tenant/${t}/departments`, `${siteA.ds}/tenant/${t}/categories`, `${siteA.ds}/case/${t}`, `${siteA.ds}/tenant/${t}/evidence`]) {
      assert.equal((await siteA.call('GET', url)).status, 200, url);
    }
  });

  it('request create files a request for registry cameras; account create goes through the running service; --demo files requests', async () => {
    const service = await runningChild();
    const c = new ServiceClient(readJson<ConnectionFile>(service.connectionFilePath), systemClock);
    const agentUrl = `${service.baseUrl}/agentservice/api/v1/tenant/${c.tenantId}`;
    await publishCameras(c, agentUrl, [
      { id: 'cam-1', name: 'Lobby', location: 'Main entrance' },
      { id: 'cam-2', name: 'Dock' },
    ]);
    const filed = await runCli(['request', 'create', '--location', location, '--camera', 'cam-1', '--camera', 'cam-2', '--from', '2024-05-01T12:00:00Z', '--to', '2024-05-01T12:30:00Z', '--comments', 'from the CLI']);
    assert.equal(filed.code, 0, filed.stderr);
    const id = /video request (\S+) filed \(Pending\)/.exec(filed.stdout)?.[1];
    assert.ok(id, filed.stdout);
    const req = await c.ok<VideoRequest>('GET', `${agentUrl}/requests/${id}`);
    assert.deepEqual([req.cameras, req.comments, req.status], [['cam-1', 'cam-2'], 'from the CLI', 'Pending']);

    const refused = await runCli(['request', 'create', '--location', location, '--camera', 'cam-404', '--from', '2024-05-01T12:00:00Z', '--to', '2024-05-01T12:30:00Z']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /cameras\[0\]: camera cam-404 is not in the registry/);
    const tooLong = await runCli(['request', 'create', '--location', location, '--camera', 'cam-1', '--from', '2024-05-01T00:00:00Z', '--to', '2024-05-02T00:00:01Z']);
    assert.match(tooLong.stderr, /toUtc/);

    const b = await runCli(['account', 'create', '--name', 'Site B', '--location', location]);
    assert.equal(b.code, 0, b.stderr);
    const siteB = new ServiceClient(readJson<ConnectionFile>(path.join(location, 'connections', 'Site_B.json')), systemClock);
    assert.equal((await siteB.requestToken()).status, 200);

    let demo: VideoRequest | undefined;
    for (let i = 0; i < 100 && !demo; i++) {
      demo = (await c.ok<VideoRequest[]>('GET', `${agentUrl}/requests`)).find((r) => r.requester === 'investigator@clearance.local');
      if (!demo) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(demo, 'the demo filed a request within 10 s');
    assert.ok(demo.cameras.every((cam) => cam === 'cam-1' || cam === 'cam-2'));
    assert.ok(Date.parse(demo.toUtc) - Date.parse(demo.fromUtc) <= 24 * 3600 * 1000);
    assert.ok(demo.comments.length > 0);
  });

  it('stops on SIGTERM with its Azurite, and removes its runtime file', async () => {
    await stopChild(await runningChild(), location);
    assert.equal(fs.existsSync(path.join(location, RUNTIME_FILE)), false);
    child = undefined;
  });
});

describe('local service as a process: kill -9 and restart keep every acknowledged object', function () {
  this.timeout(90000);
  let location: string;
  let child: ChildService | undefined;
  before(() => {
    location = tempLocation();
  });
  after(async () => {
    if (child) await stopChild(child, location);
    fs.rmSync(location, { recursive: true, force: true });
  });

  it('finds accounts, evidence, resources, the committed blob, cases, jobs, requests and the registry after SIGKILL', async () => {
    child = await startChild(['start', '--location', location, '--port', '0']);
    let c = new ServiceClient(readJson<ConnectionFile>(child.connectionFilePath), systemClock);
    const t = c.tenantId;
    const agentUrl = (): string => `${child!.baseUrl}/agentservice/api/v1/tenant/${t}`;
    const adminUrl = (): string => `${child!.baseUrl}/admin/api/v1/tenant/${t}`;

    const kept = await c.ok<ConnectionFile>('POST', `${adminUrl()}/integrations`, { name: 'Kept-Site' });
    const key = await c.ok<EncryptionKeyResponse>('GET', `${c.connection.KeyStoreBaseAddresses[0]}/tenant/${t}/keys/encryption`);
    const plain = crypto.randomBytes(300_000);
    const sha = crypto.createHash('sha256').update(plain).digest('hex');
    const e1 = (await c.call<Evidence>('POST', `${c.ds}/tenant/${t}/evidence`, { Name: 'Durable' }, { headers: { [IDEMPOTENCY_KEY_HEADER]: 'durable-e1' } })).body;
    const e1Url = `${c.ds}/tenant/${t}/evidence/${e1.EvidenceId}`;
    const r1 = await c.ok<ResourceCreated>('POST', `${e1Url}/resource`, { Name: 'clip.mp4', MimeType: 'video/mp4' });
    const { cipher, header } = await encryptForAccount(plain, key);
    await uploadBlob(r1.UploadUri, cipher, 100_000, { [ENCRYPTION_METADATA_HEADER]: header });
    await c.ok('POST', `${e1Url}/resource/${r1.ResourceId}/complete`, { Size: cipher.length, Sha256: sha });
    await c.ok('POST', `${e1Url}/complete`);
    const e2 = await c.ok<Evidence>('POST', `${c.ds}/tenant/${t}/evidence`, { Name: 'Half done' });
    const r2 = await c.ok<ResourceCreated>('POST', `${c.ds}/tenant/${t}/evidence/${e2.EvidenceId}/resource`, { Name: 'part.mp4', MimeType: 'video/mp4' });
    assert.equal((await putBlock(r2.UploadUri, 0, crypto.randomBytes(1000))).status, 201);
    const keptId = `${kept.ServicePrincipalId}@${kept.TenantId}`;
    const k = await c.ok<Case>('POST', `${c.ds}/case/${t}`, { Name: 'Durable case', AccessPolicies: [{ PrincipalId: keptId, PrincipalType: 'Integration', Permission: 'ViewOnly' }] });
    await c.ok('POST', `${c.ds}/case/${t}/${k.CaseId}/evidence`, { EvidenceId: e1.EvidenceId });
    await publishCameras(c, agentUrl(), [
      { id: 'cam-1', name: 'Lobby', location: 'Main entrance' },
      { id: 'cam-2', name: 'Dock' },
    ]);
    const q1 = await c.ok<VideoRequest>('POST', `${adminUrl()}/requests`, { cameras: ['cam-1'], fromUtc: '2024-05-01T12:00:00Z', toUtc: '2024-05-01T13:00:00Z' });
    const q2 = await c.ok<VideoRequest>('POST', `${adminUrl()}/requests`, { cameras: ['cam-2'], fromUtc: '2024-05-01T12:00:00Z', toUtc: '2024-05-01T13:00:00Z' });
    await c.ok('POST', `${agentUrl()}/jobs/${q1.jobId}/lock`, { agentId: 'site-agent', leaseSeconds: 3600 });
    const thumb = await c.ok<AgentJob>('POST', `${adminUrl()}/jobs/thumbnail`, { cameraId: 'cam-2' });

    const azurite = runtimeOf(location).azuritePid;
    assert.ok(azurite);
    child.proc.kill('SIGKILL');
    assert.equal(await child.ended, 'SIGKILL');
    assert.ok(await exited(azurite), 'Azurite follows its service down');

    child = await startChild(['start', '--location', location, '--port', '0']);
    c = new ServiceClient(readJson<ConnectionFile>(child.connectionFilePath), systemClock);
    const rebased = (cf: ConnectionFile): ConnectionFile => ({ ...cf, ...Object.fromEntries(BASE_ADDRESS_KEYS.map((x) => [x, c.connection[x]])) });

    const keptClient = new ServiceClient(rebased(kept), systemClock);
    assert.equal((await keptClient.requestToken()).status, 200, 'the integration made before the crash signs in');
    assert.deepEqual((await keptClient.ok<Case>('GET', `${c.ds}/case/${t}/${k.CaseId}`)).EvidenceIds, [e1.EvidenceId]);

    const e1Again = `${c.ds}/tenant/${t}/evidence/${e1.EvidenceId}`;
    assert.equal((await c.ok<Evidence>('GET', e1Again)).State, 'Complete');
    const res1 = await c.ok<Resource[]>('GET', `${e1Again}/resource`);
    assert.deepEqual(
      res1.map((r) => [r.ResourceId, r.State, r.Size]),
      [[r1.ResourceId, 'Complete', cipher.length]],
    );
    assert.equal((await c.ok<Evidence>('GET', `${c.ds}/tenant/${t}/evidence/${e2.EvidenceId}`)).State, 'Incomplete');
    assert.deepEqual(
      (await c.ok<Resource[]>('GET', `${c.ds}/tenant/${t}/evidence/${e2.EvidenceId}/resource`)).map((r) => [r.ResourceId, r.State]),
      [[r2.ResourceId, 'Pending']],
    );
    const replay = await c.call<Evidence>('POST', `${c.ds}/tenant/${t}/evidence`, { Name: 'Durable' }, { headers: { [IDEMPOTENCY_KEY_HEADER]: 'durable-e1' } });
    assert.deepEqual([replay.status, replay.body.EvidenceId], [200, e1.EvidenceId], 'idempotency keys survive too');

    // The committed blob, read with @azure/storage-blob through the service's blob address.
    const blobs = new BlobServiceClient(`${child.printed['blob (Azurite)']}/${DEV_ACCOUNT}`, new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY));
    const [container, ...name] = new URL(r1.UploadUri).pathname.split('/').slice(2).map(decodeURIComponent);
    const blob = blobs.getContainerClient(container).getBlobClient(name.join('/'));
    const props = await blob.getProperties();
    assert.equal(props.contentLength, cipher.length);
    assert.equal(props.metadata?.encryptiondata, header);
    assert.ok((await blob.downloadToBuffer()).equals(cipher));
    const uncommitted = await blobs.getContainerClient(container).getBlockBlobClient(new URL(r2.UploadUri).pathname.split('/').slice(3).map(decodeURIComponent).join('/')).getBlockList('uncommitted');
    assert.deepEqual(uncommitted.uncommittedBlocks?.map((b) => b.name), [blockId(0)], 'the uncommitted block of the half-done upload is still there');
    if (!c.token) await c.login();
    const content = await fetch(`${e1Again}/resource/${r1.ResourceId}/content`, { headers: { authorization: `Bearer ${c.token}` } });
    assert.equal(crypto.createHash('sha256').update(Buffer.from(await content.arrayBuffer())).digest('hex'), sha, 'and it decrypts to the source');

    const registry = await c.ok<RegistryCamera[]>('GET', `${child.baseUrl}/deviceservice/api/v1/tenant/${t}/registry/cameras`);
    assert.deepEqual(registry.map((x) => [x.id, x.name, x.location]).sort(), [
      ['cam-1', 'Lobby', 'Main entrance'],
      ['cam-2', 'Dock', undefined],
    ]);
    const q1After = await c.ok<VideoRequest>('GET', `${agentUrl()}/requests/${q1.requestId}`);
    assert.equal(q1After.status, 'Processing');
    const j1 = await c.ok<AgentJob>('GET', `${agentUrl()}/jobs/${q1.jobId}`);
    assert.deepEqual([j1.state, j1.lockedBy, (j1.payload as MediaRequestJobPayload).requestId], ['Locked', 'site-agent', q1.requestId]);
    assert.equal((await c.ok<VideoRequest>('GET', `${agentUrl()}/requests/${q2.requestId}`)).status, 'Pending');
    assert.equal((await c.ok<AgentJob>('GET', `${agentUrl()}/jobs/${thumb.jobId}`)).state, 'Open');
    const other = await c.call<ServiceErrorBody>('POST', `${agentUrl()}/jobs/${q1.jobId}/lock`, { agentId: 'another-agent' });
    assert.equal(other.status, 409, 'the lock survived too');
  });
});
