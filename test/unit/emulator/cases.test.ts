import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import fetch from 'node-fetch';
import type {
  AccessPolicy,
  Case,
  Category,
  Department,
  EncryptionKeyResponse,
  Evidence,
  PermissionLevel,
  ResourceCreated,
  ServiceErrorBody,
} from '../../../src/core/clearance/api';
import { ENCRYPTION_METADATA_HEADER } from '../../../src/core/clearance/encryption';
import { encryptForAccount, uploadBlob } from './blobUpload';
import { startHarness, type Harness } from './harness';
import type { ServiceClient } from './serviceClient';

describe('local service: cases, access policies, departments and categories', function () {
  this.timeout(60000);
  let h: Harness;
  let owner: ServiceClient;
  let other: ServiceClient; // gets access through policies
  let stranger: ServiceClient; // never in a policy
  let foreign: ServiceClient; // another account
  let casesUrl: string;
  before(async () => {
    h = await startHarness();
    owner = h.client;
    other = await h.integration('Partner-Site');
    stranger = await h.integration('Stranger-Site');
    foreign = await h.integration('Foreign-Site', 'tenant-other');
    casesUrl = `${owner.ds}/case/${owner.tenantId}`;
  });
  after(async () => h?.stop());

  const grant = (c: ServiceClient, Permission: PermissionLevel): AccessPolicy => ({ PrincipalId: c.clientId, PrincipalType: 'Integration', Permission });
  const setPolicies = (caseId: string, policies: AccessPolicy[]) =>
    owner.ok<Case>('PUT', `${casesUrl}/${caseId}/accesspolicies`, { AccessPolicies: [grant(owner, 'Manage'), ...policies] });

  it('lists departments and categories (each with its retention) and checks them on case creation', async () => {
    const deps = await owner.ok<Department[]>('GET', `${owner.ds}/tenant/${owner.tenantId}/departments`);
    const cats = await owner.ok<Category[]>('GET', `${owner.ds}/tenant/${owner.tenantId}/categories`);
    assert.ok(deps.length >= 1 && cats.length >= 1);
    assert.ok(cats.every((c) => Number.isInteger(c.RetentionDays) && c.RetentionDays > 0));
    const made = await owner.call<Case>('POST', casesUrl, {
      Name: 'Theft at the dock',
      DepartmentId: deps[0].DepartmentId,
      CategoryId: cats[0].CategoryId,
      IncidentTimeUtc: '2024-05-01T12:00:00+02:00',
      CaseInfo: 'pallet missing',
    });
    assert.equal(made.status, 201);
    assert.equal(made.body.DepartmentId, deps[0].DepartmentId);
    assert.equal(made.body.IncidentTimeUtc, '2024-05-01T10:00:00.000Z');
    assert.equal(made.body.State, 'Open');
    assert.deepEqual(made.body.AccessPolicies, [grant(owner, 'Manage')], 'the creator manages its case');
    for (const [field, body] of [
      ['DepartmentId', { Name: 'x', DepartmentId: 'dep-nope' }],
      ['CategoryId', { Name: 'x', CategoryId: 'cat-nope' }],
      ['Name', { Description: 'no name' }],
      ['AccessPolicies[0].Permission', { Name: 'x', AccessPolicies: [{ PrincipalId: 'p', PrincipalType: 'Integration', Permission: 'Owner' }] }],
    ] as const) {
      const bad = await owner.call<ServiceErrorBody>('POST', casesUrl, body);
      assert.equal(bad.status, 400, field);
      assert.equal(bad.body.field, field);
    }
  });

  it('grants by the four permission levels, and answers 403 to a caller without access', async () => {
    const theCase = await owner.ok<Case>('POST', casesUrl, { Name: 'Policy case', AccessPolicies: [grant(other, 'ViewOnly')] });
    const url = `${casesUrl}/${theCase.CaseId}`;
    const mine = await other.ok<Evidence>('POST', `${other.ds}/tenant/${other.tenantId}/evidence`, { Name: 'Partner clip' });

    // Nobody outside the policy sees it, not even inside the same account.
    const denied = await stranger.call<ServiceErrorBody>('GET', url);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error, 'forbidden');
    assert.ok(!(await stranger.ok<Case[]>('GET', casesUrl)).some((c) => c.CaseId === theCase.CaseId));
    assert.equal((await foreign.call('GET', url)).status, 403, 'another account');

    // ViewOnly: read, not link.
    assert.equal((await other.call('GET', url)).status, 200);
    assert.ok((await other.ok<Case[]>('GET', casesUrl)).some((c) => c.CaseId === theCase.CaseId));
    const link = () => other.call<Case & ServiceErrorBody>('POST', `${url}/evidence`, { EvidenceId: mine.EvidenceId });
    const viewOnly = await link();
    assert.equal(viewOnly.status, 403);
    assert.match(viewOnly.body.message, /ViewOnly, Edit is needed/);

    // Edit: link, not manage.
    await setPolicies(theCase.CaseId, [grant(other, 'Edit')]);
    const linked = await link();
    assert.equal(linked.status, 200);
    assert.deepEqual(linked.body.EvidenceIds, [mine.EvidenceId]);
    const manage = () => other.call<ServiceErrorBody>('PUT', `${url}/accesspolicies`, { AccessPolicies: [grant(other, 'Manage'), grant(stranger, 'ViewOnly')] });
    assert.equal((await manage()).status, 403);

    // Manage: change the policies.
    await setPolicies(theCase.CaseId, [grant(other, 'Manage')]);
    assert.equal((await manage()).status, 200);
    assert.equal((await stranger.call('GET', url)).status, 200, 'the new policy lets the stranger read');
    const noManager = await other.call<ServiceErrorBody>('PUT', `${url}/accesspolicies`, { AccessPolicies: [grant(other, 'Edit')] });
    assert.equal(noManager.status, 400);
    assert.equal(noManager.body.field, 'AccessPolicies');
  });

  it('downloads the decrypted file with ViewAndDownload, granted on a case that holds the evidence', async () => {
    const key = await owner.ok<EncryptionKeyResponse>('GET', `${h.connection.KeyStoreBaseAddresses[0]}/tenant/${owner.tenantId}/keys/encryption`);
    const plain = crypto.randomBytes(200_000);
    const ev = await owner.ok<Evidence>('POST', `${owner.ds}/tenant/${owner.tenantId}/evidence`, { Name: 'Encrypted clip' });
    const evUrl = `${owner.ds}/tenant/${owner.tenantId}/evidence/${ev.EvidenceId}`;
    const r = await owner.ok<ResourceCreated>('POST', `${evUrl}/resource`, { Name: 'clip.mp4', MimeType: 'video/mp4' });
    const { cipher, header } = await encryptForAccount(plain, key);
    await uploadBlob(r.UploadUri, cipher, 64 * 1024, { [ENCRYPTION_METADATA_HEADER]: header });
    const contentUrl = `${evUrl}/resource/${r.ResourceId}/content`;
    assert.equal((await owner.call('GET', contentUrl)).status, 409, 'not complete yet');
    await owner.ok('POST', `${evUrl}/resource/${r.ResourceId}/complete`, { Size: cipher.length });

    const theCase = await owner.ok<Case>('POST', casesUrl, { Name: 'Download case', AccessPolicies: [grant(stranger, 'ViewOnly')] });
    await owner.ok('POST', `${casesUrl}/${theCase.CaseId}/evidence`, { EvidenceId: ev.EvidenceId });
    assert.equal((await stranger.call('GET', evUrl)).status, 200, 'the case grants a view of its evidence');
    assert.equal((await stranger.call('GET', contentUrl)).status, 403, 'ViewOnly may not download');
    await setPolicies(theCase.CaseId, [grant(stranger, 'ViewAndDownload')]);
    if (!stranger.token) await stranger.login();
    const res = await fetch(contentUrl, { headers: { authorization: `Bearer ${stranger.token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(crypto.createHash('sha256').update(got).digest('hex'), crypto.createHash('sha256').update(plain).digest('hex'));
    assert.equal((await stranger.call('POST', `${evUrl}/complete`)).status, 403, 'ViewAndDownload may not edit');
  });
});
